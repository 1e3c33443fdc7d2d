"""What an account may hold: pure rules (no I/O), each refusal one sentence for a person.

Names, organisations and mailboxes follow ``models.limits`` like every name in a case, with a
tighter length for account names (they are typed at sign-in and shown in every history line).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum

from idri.auth.errors import AccountError
from models.case import SYSTEM
from models.catalog import DISTRICTS, UnknownEntry
from models.limits import mailbox_problem, name_problem

ACCOUNT_NAME_MAX = 64
"""Characters of an account name."""

RESERVED_NAMES = frozenset({SYSTEM.name, "temporal"})
"""Names a case's history gives to idri itself and to Temporal (``activities.ended``): an
account called so would read, in a history, as the system acting."""

PASSWORD_MIN = 10
PASSWORD_MAX = 1024
"""Characters of a password: a longer one is refused rather than hashed (argon2 would take it,
but nobody types it, and a megabyte password is work for the server at every sign-in)."""


class AccountRole(str, Enum):
    """What an account is; what each role may do on a case stays ``models.permissions``."""

    ADMIN = "admin"
    BUREAU_OFFICER = "bureau_officer"
    DISTRICT_OFFICER = "district_officer"
    EXPERT = "expert"
    APPLICANT = "applicant"


@dataclass(frozen=True)
class AccountFields:
    """An account's fields as they are stored: checked, trimmed, the district as its code."""

    name: str
    role: AccountRole
    district: str | None
    organisation: str | None
    email: str | None


def normal_name(name: object) -> str:
    """``name`` as accounts are keyed: NFC, without surrounding spaces ("" for a non-string).

    Used wherever a name comes in (adding, looking up, signing in), so ``陈工`` typed with
    decomposed characters or a trailing space is the same account.
    """
    return unicodedata.normalize("NFC", name).strip() if isinstance(name, str) else ""


def account_fields(
    name: object,
    role: object,
    *,
    district: str | None = None,
    organisation: str | None = None,
    email: str | None = None,
) -> AccountFields:
    """The fields of a new account, or :class:`AccountError` saying what is wrong."""
    name = checked_name(name)
    try:
        role = AccountRole(role)
    except ValueError:
        roles = ", ".join(r.value for r in AccountRole)
        raise AccountError(f"unknown role {role!r}: give one of {roles}") from None
    return AccountFields(
        name=name,
        role=role,
        district=_district(role, district),
        organisation=_organisation(role, organisation),
        email=_email(role, email),
    )


def checked_name(name: object) -> str:
    """``name`` normalised (:func:`normal_name`) if it can be an account name."""
    if not isinstance(name, str):
        raise AccountError("the account name must be text")
    name = normal_name(name)
    problem = name_problem(name, "the account name", limit=ACCOUNT_NAME_MAX)
    if problem is None and not name.isprintable():
        hidden = next(c for c in name if not c.isprintable())
        problem = (
            f"the account name holds a character that does not show (U+{ord(hidden):04X}): "
            "type it again with letters, digits, spaces and punctuation only"
        )
    if problem is None and name.casefold() in RESERVED_NAMES:
        problem = f"{name!r} is idri's own name in case histories: choose another account name"
    if problem is not None:
        raise AccountError(problem)
    return name


def check_password(password: object) -> str:
    """``password`` if it may be set; :class:`AccountError` otherwise (it is never shown)."""
    if not isinstance(password, str):
        raise AccountError("the password must be text")
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"the password is too short: give at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"the password is too long: give at most {PASSWORD_MAX} characters")
    return password


def _district(role: AccountRole, district: str | None) -> str | None:
    if role is not AccountRole.DISTRICT_OFFICER:
        if district is not None:
            raise AccountError(
                f"only a district officer has a district, not an account of role {role.value}: "
                "leave the district out"
            )
        return None
    if district is None or not str(district).strip():
        raise AccountError("a district officer needs a district: give its code or its name")
    try:
        return DISTRICTS.find(district).code
    except UnknownEntry as error:
        raise AccountError(str(error)) from None


def _organisation(role: AccountRole, organisation: str | None) -> str | None:
    if organisation is None:
        if role in (AccountRole.EXPERT, AccountRole.APPLICANT):
            raise AccountError(f"an account of role {role.value} needs its organisation")
        return None
    problem = name_problem(organisation, "the organisation")
    if problem is not None:
        raise AccountError(problem)
    return organisation.strip()


def _email(role: AccountRole, email: str | None) -> str | None:
    if email is None and role is AccountRole.EXPERT:
        raise AccountError("an expert account needs an e-mail address (review requests go there)")
    problem = mailbox_problem(email, "the account's")
    if problem is not None:
        raise AccountError(problem)
    return email

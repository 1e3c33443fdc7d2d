"""A candidate's identity and free-form fields, checked the same way wherever it enters: the
API's ``POST /api/cases``, ``idri survey add`` and each row of a survey sheet.

One organisation, one case. The case id is derived from the district and the organisation's
name (``<district>-<8 hex digits of SHA-256 of the folded name>``, e.g. ``binhai-3f9a1c2e``);
a re-application after a rejection gets the next id of that organisation (``binhai-3f9a1c2e-2``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from models import limits

_REAPPLICATION = re.compile(r"^(?P<base>.+?)-(?P<n>\d+)$")


def organisation_key(name: str) -> str:
    """The organisation's name as compared for duplicates: width-folded (全角 → 半角), without
    spaces, case-insensitive."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def case_id_for(district: str, organisation: str) -> str:
    """The case id of an organisation's first case: the same name always gives the same id."""
    digest = hashlib.sha256(organisation_key(organisation).encode("utf-8")).hexdigest()
    return f"{district}-{digest[:8]}"


def next_case_id(previous: str) -> str:
    """The case id of a re-application after case ``previous``."""
    match = _REAPPLICATION.match(previous)
    if match and match["base"].count("-") == 1:
        return f"{match['base']}-{int(match['n']) + 1}"
    return f"{previous}-2"


def candidate_problems(
    organisation: str,
    *,
    contact: str | None,
    email: str | None,
    phone: str | None,
    qualifications: Iterable[str],
    empty_name: bool = True,
) -> list[str]:
    """What is wrong with a candidate's free-form fields: too long, control characters, an
    address that is not one plain mailbox.

    Checked before a case starts: its workflow takes the survey as it is given.
    """
    checks = [
        limits.name_problem(organisation, "the organisation's name")
        if organisation or empty_name
        else None,
        limits.mailbox_problem(email, "the contact's"),
    ]
    for value, what in ((contact, "the contact's name"), (phone, "the contact's phone")):
        if value:
            checks.append(limits.name_problem(value, what))
    checks += [limits.name_problem(q, "a qualification") for q in qualifications if q.strip()]
    return [problem for problem in checks if problem is not None]

"""Who acts, and which cases an account may see: built from the signed-in account only.

The workflow decides who may take which action on a case (``models/permissions.py``); it cannot
know which cases an account may look at, nor which organisation an applicant speaks for, so
those are decided here.
"""

from __future__ import annotations

from collections.abc import Sequence

from idri.auth.accounts import Account, AccountRole
from models import permissions
from models.candidates import organisation_key
from models.case import Actor, CaseStatus, Role

ROLE_OF: dict[AccountRole, Role] = {
    # An admin runs cases as a bureau officer (a fresh `idri up` has only the admin); history
    # records the account's name with the role it acted in.
    AccountRole.ADMIN: Role.BUREAU_OFFICER,
    AccountRole.BUREAU_OFFICER: Role.BUREAU_OFFICER,
    AccountRole.DISTRICT_OFFICER: Role.DISTRICT_OFFICER,
    AccountRole.EXPERT: Role.EXPERT,
    AccountRole.APPLICANT: Role.APPLICANT,
}

SEES_EVERY_CASE = frozenset({AccountRole.ADMIN, AccountRole.BUREAU_OFFICER})


def actor_of(account: Account) -> Actor:
    """The actor a case records for ``account``: its name, role and district, nothing stated."""
    return Actor(name=account.name, role=ROLE_OF[account.role], district=account.district)


def status_refusal(account: Account, status: CaseStatus) -> str | None:
    """``case_refusal`` for a case whose status is in hand."""
    return case_refusal(
        account,
        case_id=status.case_id,
        district=status.district,
        organisation=status.organisation,
        experts=[r.expert for r in status.reviews],
        former=status.former_organisations,
    )


def case_refusal(
    account: Account,
    *,
    case_id: str,
    district: str,
    organisation: str,
    experts: list[str],
    former: Sequence[str] = (),
) -> str | None:
    """Why ``account`` may not see (nor act on) this case, or ``None``."""
    role = account.role
    if role in SEES_EVERY_CASE:
        return None
    if role is AccountRole.DISTRICT_OFFICER and account.district != district:
        return (
            f"{account.name} is a district officer of {account.district}; case {case_id} "
            f"belongs to {district}"
        )
    if role is AccountRole.EXPERT and account.name not in experts:
        return f"{account.name} is not an expert assigned to case {case_id}"
    # A renamed organisation's applicant account still speaks for it under its former name.
    names = {organisation_key(n) for n in (organisation, *former)}
    if role is AccountRole.APPLICANT and organisation_key(account.organisation or "") not in names:
        return f"{account.name} speaks for {account.organisation}; case {case_id} is not its case"
    return None


def actions_for(account: Account, allowed: list[str]) -> list[str]:
    """Of a case's ``allowed`` actions now, those ``account``'s role may take (the workbench
    shows a form for each; the workflow still decides when one is sent)."""
    role = ROLE_OF[account.role]
    return [action for action in allowed if role in permissions.ROLE_ACTIONS.get(action, ())]


def may_survey(account: Account) -> bool:
    """Whether ``account`` records candidates (starts cases) at all; its district is checked
    when it does."""
    return ROLE_OF[account.role] in permissions.ROLE_ACTIONS["survey"]


def sees_personal_data(account: Account, district: str) -> bool:
    """Whether ``account`` may read a case's personal contact data (names, e-mail addresses of
    contacts and experts): the bureau, and the officers of the case's own district, who
    notify them. Experts and applicants see the case, not the people's addresses."""
    if account.role in SEES_EVERY_CASE:
        return True
    return account.role is AccountRole.DISTRICT_OFFICER and account.district == district

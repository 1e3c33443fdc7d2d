"""What waits on me: the work waiting on the signed-in account, oldest first (issue 20, item 10).

Read from the registry, not from Temporal: each case's waits are written with every event it
records (``models.inbox``, the ``waits`` table, indexed by role, district, expert and
organisation), so the inbox is one indexed query whatever the number of cases; visibility would
need a query per role and cannot say which expert still owes a review. Work becomes someone's at
its ``since`` (an evaluation once its window opens) and is overdue after ``due_at``.

- a district officer: its district's plans, recommendations and rectification reports;
- an expert: its own reviews; an applicant: its organisation's plan;
- the bureau (and admin): experts to assign, inspections, decisions, objections, evaluations to
  open and to record, MIIT's outcomes, and anything overdue, whoever it waits on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from activities.tables import InstituteRow, WaitRow, table_of
from idri.auth.accounts import Account, AccountRole
from idri.service.access import SEES_EVERY_CASE
from idri.service.errors import Invalid
from models.candidates import organisation_key
from models.case import Role
from models.time import CST

INBOX_LIMIT = 200


@dataclass(frozen=True)
class InboxItem:
    """One action waiting on the account."""

    case_id: str
    organisation: str
    district: str
    direction: str
    stage: str
    role: str
    """Whose work it is: district_officer, applicant, expert or bureau_officer."""
    who: str
    """The expert, for an expert's review."""
    action: str
    description: str
    since: datetime
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class Inbox:
    items: list[InboxItem]
    total: int
    """How many wait in all; more than ``len(items)`` when the limit cut the list."""


def inbox(
    account: Account, engine: Engine, *, limit: int = INBOX_LIMIT, now: datetime | None = None
) -> Inbox:
    """The actions waiting on ``account``'s role (and district, expertise, organisation), oldest
    first, with their deadlines. Blocks: call it in a thread."""
    if not 1 <= limit <= 10_000:
        raise Invalid(f"the limit is a number from 1 to 10000, not {limit}")
    now = now or datetime.now(UTC)
    waits, institutes = table_of(WaitRow), table_of(InstituteRow)
    mine = _mine(account, waits, now)
    query = (
        select(
            waits.c.case_id,
            institutes.c.organisation,
            waits.c.district,
            institutes.c.direction,
            institutes.c.stage,
            waits.c.role,
            waits.c.who,
            waits.c.action,
            waits.c.description,
            waits.c.since,
            waits.c.due_at,
        )
        .join(institutes, institutes.c.case_id == waits.c.case_id)
        .where(mine)
        .order_by(waits.c.since, waits.c.case_id, waits.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        total = conn.execute(select(func.count()).select_from(waits).where(mine)).scalar_one()
    items = [_item(row._mapping, now) for row in rows]
    return Inbox(items, int(total))


def _mine(account: Account, waits: Any, now: datetime) -> ColumnElement[bool]:
    """The waits that are ``account``'s work now."""
    started = waits.c.since <= now
    role = account.role
    if role in SEES_EVERY_CASE:
        overdue = and_(waits.c.due_at.is_not(None), waits.c.due_at < now)
        return or_(and_(waits.c.role == Role.BUREAU_OFFICER.value, started), overdue)
    if role is AccountRole.DISTRICT_OFFICER:
        return and_(
            waits.c.district == (account.district or ""),
            waits.c.role == Role.DISTRICT_OFFICER.value,
            started,
        )
    if role is AccountRole.EXPERT:
        return and_(waits.c.who == account.name, waits.c.role == Role.EXPERT.value, started)
    if role is AccountRole.APPLICANT:
        return and_(
            waits.c.organisation_key == organisation_key(account.organisation or ""),
            waits.c.role == Role.APPLICANT.value,
            started,
        )
    raise Invalid(f"{account.name} ({role.value}) has no case work waiting on it")


def _item(row: Any, now: datetime) -> InboxItem:
    due = row["due_at"]
    return InboxItem(
        case_id=row["case_id"],
        organisation=row["organisation"],
        district=row["district"],
        direction=row["direction"],
        stage=row["stage"],
        role=row["role"],
        who=row["who"],
        action=row["action"],
        description=row["description"],
        since=_aware(row["since"]),
        due_at=_aware(due) if due else None,
        overdue=due is not None and _aware(due) < now,
    )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def waiting_cases(
    engine: Engine,
    *,
    role: str | None = None,
    overdue: bool = False,
    due_before: date | None = None,
    now: datetime | None = None,
) -> set[str]:
    """The cases with work waiting (on ``role``, overdue, or due before the start of the day
    ``due_before`` in Beijing): the registry's answer to ``idri list --waiting-on/--overdue/
    --due-before``. Blocks."""
    now = now or datetime.now(UTC)
    waits = table_of(WaitRow)
    clauses: list[ColumnElement[bool]] = [waits.c.since <= now]
    if role is not None:
        clauses.append(waits.c.role == waiting_role(role).value)
    if overdue:
        clauses += [waits.c.due_at.is_not(None), waits.c.due_at < now]
    if due_before is not None:
        before = datetime.combine(due_before, time(), tzinfo=CST)
        clauses += [waits.c.due_at.is_not(None), waits.c.due_at < before]
    query = select(waits.c.case_id).where(*clauses).distinct()
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


ROLE_NAMES = {
    "district": Role.DISTRICT_OFFICER,
    "district_officer": Role.DISTRICT_OFFICER,
    "expert": Role.EXPERT,
    "bureau": Role.BUREAU_OFFICER,
    "bureau_officer": Role.BUREAU_OFFICER,
    "applicant": Role.APPLICANT,
}


def waiting_role(text: str) -> Role:
    """The role named by ``text`` (``district``, ``expert``, ``bureau``, ``applicant``, or the
    role's full name)."""
    try:
        return ROLE_NAMES[text.strip().lower().replace("-", "_")]
    except KeyError:
        names = ", ".join(("district", "expert", "bureau", "applicant"))
        raise Invalid(f"unknown role {text!r} to wait on (roles: {names})") from None

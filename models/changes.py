"""What changes on a case that lives for years without moving its stage: the organisation's
willingness (企业自愿), its contact and name, and the bureau's extension of a deadline.

Payloads of the updates ``record_willingness``, ``change_contact`` and ``extend_deadline``, and the
pure rules behind them: which values really change (recorded with the old value), and whether an
extension may be granted. The workflow applies them under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from models import limits
from models.case import Actor, CaseState, Contact, Policy, Stage
from models.deadlines import round_due, stage_due
from models.time import add_years, cst_date, end_of_day, round_deadline

AMENDMENTS = ("record_willingness", "change_contact", "extend_deadline")
"""Actions that change a case's data, not its stage (outside the lifecycle table)."""


@dataclass
class WillingnessChange:
    """The organisation says it is (or is no longer) willing to build an institute (企业自愿)."""

    actor: Actor
    willing: bool
    note: str = ""


@dataclass
class ContactChange:
    """New contact details or a new name for the organisation. ``None`` leaves a field as it is;
    an empty e-mail or phone removes it."""

    actor: Actor
    contact_name: str | None = None
    email: str | None = None
    phone: str | None = None
    organisation: str | None = None
    """The organisation's new name (a renamed company); its case id stays."""
    note: str = ""


class DeadlineKind(str, Enum):
    RECTIFICATION = "rectification"
    REVIEW = "review"
    ROUND = "round"


EXTENDABLE_IN: dict[DeadlineKind, frozenset[Stage]] = {
    DeadlineKind.RECTIFICATION: frozenset({Stage.RECTIFYING}),
    DeadlineKind.REVIEW: frozenset({Stage.RECOMMENDED, Stage.UNDER_REVIEW}),
    DeadlineKind.ROUND: frozenset({Stage.SURVEYED, Stage.PLAN_SUBMITTED}),
}


@dataclass
class DeadlineExtension:
    """The bureau moves a deadline of the case to the end of ``until`` (an ISO date, Beijing
    time; a string because Temporal's JSON converter has no ``date``)."""

    actor: Actor
    kind: str
    until: str
    reason: str


# --- Contact and name -------------------------------------------------------------------------


def contact_changes(case: CaseState, change: ContactChange) -> list[tuple[str, str, str]]:
    """(field, old value, new value) for every field ``change`` really changes."""
    survey = case.survey
    contact = survey.contact or Contact("")
    current = {
        "contact": contact.name,
        "email": contact.email or "",
        "phone": contact.phone or "",
        "organisation": survey.organisation,
    }
    wanted = {
        "contact": change.contact_name,
        "email": change.email,
        "phone": change.phone,
        "organisation": change.organisation,
    }
    return [
        (name, current[name], " ".join(value.split()) if name != "email" else value.strip())
        for name, value in wanted.items()
        if isinstance(value, str) and _differs(current[name], value)
    ]


def _differs(old: str, new: str) -> bool:
    return " ".join(old.split()) != " ".join(new.split())


def contact_problems(change: ContactChange) -> list[str]:
    """What is wrong with the new values (each checked as ``survey add`` checks it)."""
    problems = []
    if change.organisation is not None:
        problems.append(limits.name_problem(change.organisation, "the organisation's new name"))
    if change.contact_name:
        problems.append(limits.name_problem(change.contact_name, "the contact's name"))
    if change.phone:
        problems.append(limits.name_problem(change.phone, "the contact's phone"))
    if change.email:
        problems.append(limits.mailbox_problem(change.email.strip(), "the contact's"))
    if change.note:
        problems.append(limits.text_problem(change.note, "the note"))
    return [p for p in problems if p]


def apply_contact(case: CaseState, changes: list[tuple[str, str, str]]) -> None:
    """Write ``changes`` into the case; a former name is kept (access, the Web UI)."""
    survey = case.survey
    contact = survey.contact or Contact("")
    for name, old, new in changes:
        if name == "organisation":
            case.former_organisations.append(old)
            survey.organisation = new
        elif name == "contact":
            contact.name = new
        elif name == "email":
            contact.email = new or None
        else:
            contact.phone = new or None
    survey.contact = contact if (contact.name or contact.email or contact.phone) else None


def describe_changes(changes: list[tuple[str, str, str]], note: str) -> str:
    """The history's reason: every field with its old and its new value."""
    text = "; ".join(
        f"{name} {old or '(none)'!r} → {new or '(none)'!r}" for name, old, new in changes
    )
    return f"changed {text}" + (f" ({note})" if note else "")


# --- Deadlines --------------------------------------------------------------------------------


def current_due(case: CaseState, policy: Policy, kind: DeadlineKind) -> datetime | None:
    """The deadline of ``kind`` the case runs by now."""
    if kind is DeadlineKind.RECTIFICATION:
        return case.rectification_due
    if kind is DeadlineKind.ROUND:
        return round_due(case, policy) if case.round_year is not None else None
    return stage_due(case, policy)


def extension_refusal(
    case: CaseState, policy: Policy, now: datetime, extension: DeadlineExtension
) -> str | None:
    """Why the bureau may not extend as asked, or ``None``: the deadline must be the case's
    (its stage's), and the new one later than both it and now, within reason."""
    try:
        kind = DeadlineKind(extension.kind)
    except ValueError:
        kinds = ", ".join(k.value for k in DeadlineKind)
        return f"the deadline to extend is one of {kinds}, not {extension.kind!r}"
    if case.stage not in EXTENDABLE_IN[kind]:
        stages = ", ".join(sorted(s.value for s in EXTENDABLE_IN[kind]))
        return (
            f"case {case.case_id} is in stage '{case.stage.value}': it has no {kind.value} "
            f"deadline to extend (that is in stage {stages})"
        )
    try:
        until = date.fromisoformat(extension.until)
    except (TypeError, ValueError):
        return f"the new deadline {extension.until!r} is not a date such as 2027-06-30"
    due = current_due(case, policy, kind)
    if due is None:
        return (
            f"case {case.case_id} has no {kind.value} deadline to extend (it belongs to no round)"
        )
    new_due = end_of_day(until)
    if new_due <= due:
        return (
            f"the {kind.value} deadline is already {cst_date(due - timedelta(seconds=1))}: an extension "
            f"must be later than that, not {until}"
        )
    if new_due <= now:
        return f"the new deadline {until} is already past"
    if until > cst_date(add_years(now, 10)):
        return f"the new deadline {until} is more than 10 years away"
    if kind is DeadlineKind.ROUND:
        assert case.round_year is not None
        next_round = round_deadline(
            case.round_year + 1, policy.round_deadline_month, policy.round_deadline_day
        )
        if new_due >= next_round:
            return (
                f"a round deadline may be extended only within its round: {until} is not before "
                f"the {case.round_year + 1} round closes"
            )
    return None

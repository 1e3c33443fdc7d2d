"""Which deadline a case waits for next, by stage. Pure: the workflow sleeps until it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from models.case import CaseState, Deadline, Policy, Stage
from models.time import cst_date, round_deadline


def round_due(case: CaseState, policy: Policy) -> datetime:
    assert case.round_year is not None, "a case waiting for a round knows its round year"
    return round_deadline(case.round_year, policy.round_deadline_month, policy.round_deadline_day)


def reminders_already_past(case: CaseState, policy: Policy, now: datetime) -> list[int]:
    """Lead days whose reminder time lies before ``now``: a case recorded on 29 April is not
    sent the 30-day and 7-day reminders after the fact."""
    due = round_due(case, policy)
    return [lead for lead in policy.reminder_lead_days if due - timedelta(days=lead) <= now]


def _after(start: datetime | None, days: int) -> datetime | None:
    return start + timedelta(days=days) if start else None


def next_deadline(case: CaseState, policy: Policy) -> Deadline | None:
    """The next moment the case must act on its own, or ``None`` while it only waits for people."""
    stage = case.stage
    if stage in (Stage.SURVEYED, Stage.PLAN_SUBMITTED):
        due = round_due(case, policy)
        for lead in sorted(policy.reminder_lead_days, reverse=True):
            if lead not in case.reminders_sent:
                return Deadline(
                    "round_reminder",
                    due - timedelta(days=lead),
                    f"reminder: {lead} days before the {case.round_year} round closes",
                )
        return Deadline(
            "round_deadline",
            due,
            f"round {case.round_year} closes ({cst_date(due - timedelta(seconds=1))})",
        )
    if stage is Stage.PUBLIC_NOTICE and case.notice is not None:
        return Deadline("notice_end", case.notice.end, "public notice period ends")
    if case.overdue_notified:
        return None
    overdue = _OVERDUE.get(stage)
    if overdue is None:
        return None
    kind, due_at, description = overdue
    at = due_at(case, policy)
    return Deadline(kind, at, description) if at else None


def _review_starts(case: CaseState, policy: Policy) -> datetime:
    """The review is due a period after the recommendation or the round's close, the later."""
    return max(filter(None, [case.stage_entered_at, _round_close(case, policy)]))


_OVERDUE: dict[Stage, tuple[str, Callable[[CaseState, Policy], datetime | None], str]] = {
    # Each due time is computed only for the stage the case is in: the workflow asks after
    # every event.
    Stage.RECOMMENDED: (
        "review_due",
        lambda case, policy: _after(_review_starts(case, policy), policy.review_period_days),
        "expert review should have started",
    ),
    Stage.UNDER_REVIEW: (
        "review_due",
        lambda case, policy: _after(case.stage_entered_at, policy.review_period_days),
        "expert review and the bureau's decision are due",
    ),
    Stage.INVESTIGATING: (
        "investigation_due",
        lambda case, policy: _after(case.stage_entered_at, policy.investigation_period_days),
        "the objection investigation is due",
    ),
    Stage.DESIGNATED: (
        "evaluation_due",
        lambda case, policy: case.next_evaluation_due,
        "tracking evaluation due",
    ),
    Stage.UNDER_EVALUATION: (
        "evaluation_overdue",
        lambda case, policy: _after(case.stage_entered_at, policy.evaluation_period_days),
        "the evaluation result is due",
    ),
    Stage.RECTIFYING: (
        "rectification_due",
        lambda case, policy: case.rectification_due,
        "rectification due",
    ),
}


def _round_close(case: CaseState, policy: Policy) -> datetime | None:
    if case.round_year is None:
        return None
    return round_deadline(case.round_year, policy.round_deadline_month, policy.round_deadline_day)


def stage_due(case: CaseState, policy: Policy) -> datetime | None:
    """When the work of the case's current stage is due, whether or not its overdue notice has
    gone out (``next_deadline`` stops showing it then): the inbox's deadline of that work."""
    if case.stage in (Stage.SURVEYED, Stage.PLAN_SUBMITTED):
        return round_due(case, policy) if case.round_year is not None else None
    if case.stage is Stage.PUBLIC_NOTICE:
        return case.notice.end if case.notice is not None else None
    overdue = _OVERDUE.get(case.stage)
    return overdue[1](case, policy) if overdue else None

"""Which deadline a case waits for next, by stage. Pure: the workflow sleeps until it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from models.case import CaseState, Deadline, Policy, Rules, Stage
from models.time import cst_date, round_deadline

ALL_RULES = Rules()


def round_due(case: CaseState, policy: Policy) -> datetime:
    """The case's round deadline: its round's, or later where the bureau extended it."""
    if case.round_extended_to is not None:
        return case.round_extended_to
    assert case.round_year is not None, "a case waiting for a round knows its round year"
    return round_deadline(case.round_year, policy.round_deadline_month, policy.round_deadline_day)


def idle(case: CaseState, rules: Rules = ALL_RULES) -> bool:
    """企业自愿 (participation is voluntary): an organisation that has not said it is willing
    belongs to no round and is not chased; the case waits for its willingness."""
    return rules.voluntary and not case.survey.willing and case.stage in _BEFORE_RECOMMENDATION


_BEFORE_RECOMMENDATION = (Stage.SURVEYED, Stage.PLAN_SUBMITTED)


def reminders_already_past(case: CaseState, policy: Policy, now: datetime) -> list[int]:
    """Lead days whose reminder time lies before ``now``: a case recorded on 29 April is not
    sent the 30-day and 7-day reminders after the fact."""
    due = round_due(case, policy)
    return [lead for lead in policy.reminder_lead_days if due - timedelta(days=lead) <= now]


def _after(start: datetime | None, days: int) -> datetime | None:
    return start + timedelta(days=days) if start else None


def next_deadline(case: CaseState, policy: Policy, rules: Rules = ALL_RULES) -> Deadline | None:
    """The next moment the case must act on its own, or ``None`` while it only waits for people.

    ``rules``: the rules the run keeps (a run recorded before a rule replays without it).
    """
    stage = case.stage
    if idle(case, rules):
        return None
    if stage in _BEFORE_RECOMMENDATION:
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
    candidates = reminders_due(case, policy) if rules.reminders else []
    overdue = None if case.overdue_notified else _stage_deadline(case, policy)
    if overdue is not None:
        candidates.append(overdue)
    return min(candidates, key=lambda d: d.at) if candidates else None


def _stage_deadline(case: CaseState, policy: Policy) -> Deadline | None:
    """When the work of the case's stage is due (the bureau is told once it is overdue)."""
    overdue = _OVERDUE.get(case.stage)
    if overdue is None:
        return None
    kind, due_at, description = overdue
    at = due_at(case, policy)
    return Deadline(kind, at, description) if at else None


def reminders_due(case: CaseState, policy: Policy) -> list[Deadline]:
    """Reminders still to send in the case's stage: an expert's review still missing, the
    institute's rectification deadline, the opening of its evaluation window. A reminder whose
    moment lies before ``reminders_from`` (the stage entry, or the last extension) is not sent
    after the fact."""
    since = case.reminders_from or case.stage_entered_at
    found: list[Deadline] = []
    if case.stage is Stage.UNDER_REVIEW:
        found += _review_reminders(case, policy)
    elif case.stage is Stage.RECTIFYING and case.rectification_due is not None:
        for lead in sorted(set(policy.rectification_reminder_days), reverse=True):
            found.append(
                Deadline(
                    "rectification_reminder",
                    case.rectification_due - timedelta(days=lead),
                    f"reminder: {lead} days before the rectification deadline",
                    subject=f"rectification:{lead}",
                )
            )
    elif case.stage is Stage.DESIGNATED and case.next_evaluation_due is not None:
        opens = case.next_evaluation_due - timedelta(days=policy.evaluation_open_window_days)
        lead = policy.evaluation_reminder_days
        found.append(
            Deadline(
                "evaluation_reminder",
                opens - timedelta(days=lead),
                f"reminder: the tracking evaluation opens in {lead} days",
                subject=f"evaluation:{case.evaluation_cycle + 1}",
            )
        )
    return [
        d
        for d in found
        if d.subject not in case.due_reminders_sent and (since is None or d.at >= since)
    ]


def _review_reminders(case: CaseState, policy: Policy) -> list[Deadline]:
    """Per missing review: remind the expert after ``review_reminder_days``, then tell the bureau
    after ``review_overdue_days`` (not before a review deadline the bureau extended)."""
    found = []
    for review in case.reviews:
        if review.score is not None or review.assigned_at is None:
            continue
        if not review.reminded:
            found.append(
                Deadline(
                    "review_reminder",
                    review.assigned_at + timedelta(days=policy.review_reminder_days),
                    f"reminder to {review.expert}: review still missing",
                    subject=review.expert,
                )
            )
        elif not review.escalated:
            at = review.assigned_at + timedelta(days=policy.review_overdue_days)
            if case.review_extended_to is not None:
                at = max(at, case.review_extended_to)
            found.append(
                Deadline(
                    "review_overdue", at, f"{review.expert}'s review is overdue", review.expert
                )
            )
    return found


def _review_starts(case: CaseState, policy: Policy) -> datetime:
    """The review is due a period after the recommendation or the round's close, the later."""
    return max(filter(None, [case.stage_entered_at, _round_close(case, policy)]))


_OVERDUE: dict[Stage, tuple[str, Callable[[CaseState, Policy], datetime | None], str]] = {
    # Each due time is computed only for the stage the case is in: the workflow asks after
    # every event.
    Stage.RECOMMENDED: (
        "review_due",
        lambda case, policy: (
            case.review_extended_to
            or _after(_review_starts(case, policy), policy.review_period_days)
        ),
        "expert review should have started",
    ),
    Stage.UNDER_REVIEW: (
        "review_due",
        lambda case, policy: (
            case.review_extended_to or _after(case.stage_entered_at, policy.review_period_days)
        ),
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

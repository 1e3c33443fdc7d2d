"""What waits on whom: the work a case expects next, by role (issue 20, item 10).

Pure: the workflow computes a case's waits after every event (``waits_of``) and hands them to
the registry with the event, which keeps one row per wait (``activities/tables.py``,
``WaitRow``); ``idri inbox`` reads those rows. A wait becomes someone's work at ``since`` (an
evaluation is the bureau's once its window opens) and is overdue after ``due_at``.

Who waits, by stage (DOMAIN.md, "The lifecycle of one institute"):

- district officers: the creation plan and the recommendation before the round closes
  (每年4月30日前), the rectification report (整改) by its deadline;
- the applicant: its creation plan (创建方案);
- experts: their own reviews (专家评审);
- the bureau: experts to assign, the site inspection (现场考查), the decision (综合评价),
  objections (异议) to resolve, evaluations (跟踪评估) to open and to record, MIIT's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from models.case import CaseState, Policy, Role, Stage
from models.deadlines import idle, stage_due


@dataclass(frozen=True)
class Wait:
    """One piece of work a case waits for, and whose it is."""

    role: Role
    """district_officer, applicant, expert or bureau_officer."""
    action: str
    """The action that ends the wait: an update's trigger (``recommend``, ``submit_review``...)."""
    description: str
    since: datetime
    """From when it is the role's work (the stage's start, or an evaluation window's opening)."""
    due_at: datetime | None = None
    who: str = ""
    """For an expert's wait, the expert's account name; empty for every other role."""


WAITING_ROLES = (Role.DISTRICT_OFFICER, Role.APPLICANT, Role.EXPERT, Role.BUREAU_OFFICER)


def waits_of(case: CaseState, policy: Policy) -> list[Wait]:
    """The work ``case`` waits for now, oldest first; none once it is closed."""
    if idle(case):
        return []  # 企业自愿: an organisation not willing is nobody's work until it says it is
    since = case.stage_entered_at or case.created_at
    due = stage_due(case, policy)
    stage = case.stage
    district, bureau = Role.DISTRICT_OFFICER, Role.BUREAU_OFFICER
    if stage is Stage.SURVEYED:
        return [
            Wait(district, "submit_plan", "the creation plan (创建方案)", since, due),
            Wait(Role.APPLICANT, "submit_plan", "the creation plan (创建方案)", since, due),
        ]
    if stage is Stage.PLAN_SUBMITTED:
        return [Wait(district, "recommend", "the recommendation opinion (推荐意见)", since, due)]
    if stage is Stage.RECOMMENDED:
        return [Wait(bureau, "assign_expert", "experts to assign (专家评审)", since, due)]
    if stage is Stage.UNDER_REVIEW:
        return _review_waits(case, since, due)
    if stage in (Stage.PUBLIC_NOTICE, Stage.INVESTIGATING) and case.open_objections():
        first = min(o.lodged_at for o in case.open_objections())
        return [Wait(bureau, "resolve_objection", "objections to resolve (异议)", first, due)]
    if stage is Stage.DESIGNATED and case.next_evaluation_due is not None:
        window = timedelta(days=policy.evaluation_open_window_days)
        opens = case.next_evaluation_due - window
        return [Wait(bureau, "open_evaluation", "tracking evaluation (跟踪评估) due", opens, due)]
    if stage is Stage.UNDER_EVALUATION:
        return [Wait(bureau, "record_evaluation", "the evaluation's result", since, due)]
    if stage is Stage.RECTIFYING:
        return [Wait(district, "complete_rectification", "the rectification report", since, due)]
    if stage is Stage.NATIONAL_REVIEW:
        return [Wait(bureau, "record_national_outcome", "MIIT's national outcome", since, due)]
    return []


def _review_waits(case: CaseState, since: datetime, due: datetime | None) -> list[Wait]:
    missing = [r.expert for r in case.reviews if r.score is None]
    waits = [
        Wait(Role.EXPERT, "submit_review", "your review (专家评审)", since, due, who=expert)
        for expert in missing
    ]
    bureau = Role.BUREAU_OFFICER
    rules = case.review_rules
    short = rules is not None and len(case.reviews) < rules.min_experts
    if rules is not None and short:
        panel = f"experts to assign (a panel of at least {rules.min_experts}, models/review.py)"
        waits.append(Wait(bureau, "assign_expert", panel, since, due))
    if case.inspection is None:
        waits.append(
            Wait(bureau, "record_inspection", "the site inspection (现场考查)", since, due)
        )
    if not missing and not short and case.inspection is not None:
        waits.append(Wait(bureau, "decide", "the decision (综合评价)", since, due))
    return waits

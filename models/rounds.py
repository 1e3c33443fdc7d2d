"""择优: a round's candidates ranked by their panel, and the bureau's batch approval.

The plan: "对公示无异议的，本着“成熟一家、创建一家”，择优确定为市级工业设计研究院" (the best are
designated). The bureau sees the round's cases by the panel's aggregate score, with what each
still needs, and approves a batch at once: one public notice, one period, one page.

A batch's period is computed once, by the first case's ``notice_period`` activity; every other
case of the batch is approved with that period, which its own ``notice_period`` activity must
reproduce from the same start (``NoticeBatch``): the calendar stays the activity's, each case's
history records the period it used, and a case whose policy or calendar would give another
period is refused instead of being put into the notice with a different one.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from models.time import cst_date

if TYPE_CHECKING:
    from models.case import CaseState, CaseStatus

BATCH_MAX_AGE = timedelta(hours=1)
"""How long after its first approval a batch's period may still be given to another case: a
batch is approved in one go; an older start would backdate a notice."""

BATCH_MAX_CASES = 100


@dataclass
class NoticeBatch:
    """A batch approval's shared public notice, carried in each case's decision."""

    round_year: int
    cases: list[str] = field(default_factory=list)
    """The batch's case ids, in the order approved."""
    start: datetime | None = None
    """The period the batch's first case computed; ``None`` for that first case itself."""
    end: datetime | None = None


def batch_problem(batch: NoticeBatch, case: CaseState, now: datetime) -> str | None:
    """Why ``case`` may not join ``batch`` now, or ``None``."""
    if not isinstance(batch.round_year, int) or case.round_year != batch.round_year:
        return (
            f"case {case.case_id} belongs to the {case.round_year} round, not to the batch of the "
            f"{batch.round_year} round"
        )
    if case.case_id not in batch.cases:
        return f"case {case.case_id} is not one of the batch's cases"
    if (batch.start is None) != (batch.end is None):
        return "a batch's notice period needs both its start and its end"
    if batch.start is not None and batch.end is not None:
        if not batch.start <= now <= batch.start + BATCH_MAX_AGE:
            return (
                f"the batch's public notice started at {batch.start.isoformat()}: a case joins "
                f"a batch within {BATCH_MAX_AGE} of its start, never before it"
            )
        if batch.end <= now:
            return f"the batch's public notice ended at {batch.end.isoformat()}"
    return None


def period_mismatch(case_id: str, batch: NoticeBatch, start: datetime, end: datetime) -> str:
    """The refusal when a case's own notice period differs from the batch's."""
    return (
        f"case {case_id}'s public notice would run {start.isoformat()} … {end.isoformat()}, "
        f"not the batch's {batch.start.isoformat() if batch.start else '?'} … "
        f"{batch.end.isoformat() if batch.end else '?'} (its notice period or calendar differs); "
        "approve it on its own"
    )


STAGE_WORK: dict[str, str] = {
    "surveyed": "the creation plan and the district's recommendation",
    "plan_submitted": "the district's recommendation",
    "recommended": "experts to assign",
    "investigating": "the objection investigation",
}


def missing_work(status: CaseStatus) -> list[str]:
    """What a case of the round still needs before the bureau can approve it, in words."""
    stage = status.stage.value
    if status.panel is not None and stage == "under_review":
        return list(status.panel.missing)
    if stage in STAGE_WORK:
        return [STAGE_WORK[stage]]
    if stage == "public_notice" and status.notice is not None:
        last = cst_date(status.notice.end - timedelta(seconds=1))
        return [f"the public notice, until {last.isoformat()}"]
    return []


def ranking_key(status: CaseStatus) -> tuple[bool, float, str]:
    """Best first: the highest aggregate score; cases without one last; then by case id."""
    score = status.panel.score if status.panel else None
    return (score is None, -(score or 0.0), status.case_id)

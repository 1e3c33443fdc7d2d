"""The expert panel's rules: its minimum size, the criteria it scores, the site inspection.

The plan: "市工业和信息化局组织专家通过评审和现场考查 … 进行综合评价 … 择优确定" (experts review and
inspect the site; the bureau evaluates comprehensively and designates the best). So approval
needs a panel of at least ``min_experts`` experts, each scoring every criterion of the creation
guide (``IDRI_REVIEW_CRITERIA``), and a site inspection that *passed*: a failed one means the
candidate is not ready.

A case keeps the rules it started with (:class:`ReviewRules`, carried on the case): a case
started before these rules has none (``None``) and is approved as it was then: every assigned
expert's single score and any recorded inspection.

Pure: no I/O; the workflow, the service and the CLI share these functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.case import CaseState, ReviewEntry, SiteInspection

DEFAULT_CRITERIA = ["capability", "team", "service", "plan"]
"""The creation guide's headings (附件1): design capability, team, public service, the plan."""

DEFAULT_MIN_EXPERTS = 3


@dataclass
class ReviewRules:
    """The review rules a case runs by, fixed when the case starts."""

    min_experts: int = DEFAULT_MIN_EXPERTS
    """Approval needs at least this many experts assigned, every one of them having reviewed."""
    criteria: list[str] = field(default_factory=lambda: list(DEFAULT_CRITERIA))
    """Each review scores each of these from 0 to 100; its score is their mean. Empty: one
    overall score per review."""


@dataclass
class Panel:
    """The panel's aggregate, as the case shows it (status, API, CLI) and the round ranks it."""

    assigned: int
    reviewed: int
    min_experts: int
    criteria: list[str]
    score: float | None
    """The mean of the reviews received (each review's score is the mean of its criteria)."""
    by_criterion: dict[str, float]
    """Each criterion's mean over the reviews received."""
    inspection: str
    """``none``, ``passed`` or ``failed``."""
    missing: list[str]
    """What approval still needs, in words; empty when the panel's work is complete."""


def overall(scores: Mapping[str, float]) -> float:
    """A review's score from its criteria scores: their mean, to two decimals."""
    return round(sum(scores.values()) / len(scores), 2)


def scores_problem(
    rules: ReviewRules | None, score: object, scores: Mapping[str, object] | None
) -> str | None:
    """Why a review's scores are not acceptable under ``rules``, or ``None``.

    With criteria, ``scores`` names each criterion once with a number from 0 to 100, and
    ``score`` is their mean (:func:`overall`); without, ``score`` alone, from 0 to 100.
    """
    criteria = rules.criteria if rules else []
    if not criteria:
        if scores:
            return "this case's reviews give one overall score, not scores per criterion"
        return _number_problem(score, "a score")
    if not isinstance(scores, Mapping) or not scores:
        return (
            f"this case's reviews score each criterion ({', '.join(criteria)}) from 0 to 100; "
            "one overall score is not enough"
        )
    unknown = [name for name in scores if name not in criteria]
    missing = [name for name in criteria if name not in scores]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown criteria {', '.join(map(str, unknown))}")
        return f"the review scores the criteria {', '.join(criteria)}: {'; '.join(parts)}"
    for name, value in scores.items():
        problem = _number_problem(value, f"the score for {name}")
        if problem:
            return problem
    numbers = {name: float(value) for name, value in scores.items()}  # type: ignore[arg-type]
    total = overall(numbers)
    if _number_problem(score, "the overall score") or not math.isclose(
        float(score),  # type: ignore[arg-type]
        total,
        abs_tol=0.005,
    ):
        return (
            f"the overall score {score!r} is not the mean of the criteria scores "
            f"({overall(numbers):g})"
        )
    return None


def _number_problem(value: object, what: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        return f"{what} is a number from 0 to 100, not {value!r}"
    return None


def approval_missing(case: CaseState) -> list[str]:
    """What approval still needs from the panel and the inspection, in words (empty: nothing)."""
    return _missing(case.review_rules, case.reviews, case.inspection)


def _missing(
    rules: ReviewRules | None,
    reviews: Sequence[ReviewEntry],
    inspection: SiteInspection | None,
) -> list[str]:
    parts = []
    if not reviews:
        parts.append("no expert is assigned")
    elif rules is not None and len(reviews) < rules.min_experts:
        parts.append(
            f"a panel of at least {rules.min_experts} experts ({len(reviews)} assigned so far)"
        )
    waiting = [r.expert for r in reviews if r.score is None]
    if waiting:
        parts.append(f"reviews still missing from {', '.join(waiting)}")
    if inspection is None:
        parts.append("no site inspection is recorded")
    elif rules is not None and not inspection.passed:
        parts.append(
            f"the site inspection failed ({inspection.note}): a failed site inspection means "
            "the candidate is not ready; defer or reject it, or record a new inspection once "
            "it has remedied what failed"
        )
    return parts


def approval_refusal(case: CaseState) -> str:
    """Why the case may not be approved yet (when :func:`approval_missing` is not empty)."""
    rules = case.review_rules
    if rules is None:
        needs = "every assigned expert's review and a site inspection"
    else:
        needs = (
            f"a panel of at least {rules.min_experts} experts, every one's review, and a "
            "site inspection that passed"
        )
    return f"approval needs {needs}: " + "; ".join(approval_missing(case))


def panel_of(case: CaseState) -> Panel | None:
    """The panel's aggregate, or ``None`` before any expert is assigned."""
    if not case.reviews:
        return None
    rules = case.review_rules
    done = [r for r in case.reviews if r.score is not None]
    criteria = list(rules.criteria) if rules else []
    by_criterion = {
        name: round(sum(r.scores[name] for r in done) / len(done), 2)
        for name in criteria
        if done and all(name in r.scores for r in done)
    }
    inspection = case.inspection
    return Panel(
        assigned=len(case.reviews),
        reviewed=len(done),
        min_experts=rules.min_experts if rules else 1,
        criteria=criteria,
        score=round(sum(r.score or 0 for r in done) / len(done), 2) if done else None,
        by_criterion=by_criterion,
        inspection="none" if inspection is None else "passed" if inspection.passed else "failed",
        missing=approval_missing(case),
    )

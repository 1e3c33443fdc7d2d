"""The actions a person takes on a case, as the API receives them: what was decided, never who
decided it. :meth:`CaseAction.payload` adds the actor the service built from the account, and
names the workflow update that carries it (by method reference).

Bodies are strict (no coercion of ``"1"`` into a number or ``"yes"`` into a boolean) and refuse
unknown fields: a caller who sends ``"actor"`` or ``"role"`` is told so instead of ignored.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.case import (
    Actor,
    Decision,
    EvaluationOpening,
    EvaluationRecord,
    EvaluationResult,
    NationalNomination,
    NationalOutcome,
    Objection,
    ObjectionResolution,
    Outcome,
    PlanSubmission,
    Recommendation,
    RectificationReport,
    SiteInspection,
    Withdrawal,
)
from models.limits import NAME_MAX, TEXT_MAX
from workflows.institute import InstituteWorkflow

Text = Annotated[str, Field(max_length=TEXT_MAX)]
"""A free text of the case (an opinion, a reason); the workflow checks its content."""


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CaseAction(Body):
    """One workflow update's worth of decision."""

    path: ClassVar[str]
    """The route under ``/api/cases/{id}/``, and the action's name in the API's log."""

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        """The update (an ``InstituteWorkflow`` method) and its payload, carrying ``actor``."""
        raise NotImplementedError


_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class SubmitPlan(CaseAction):
    path = "plan"
    file_name: str = Field(min_length=1, max_length=255)
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError("the plan's SHA-256 must be 64 hexadecimal characters")
        return value.lower()

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.submit_plan, PlanSubmission(actor, self.file_name, self.sha256)


class Recommend(CaseAction):
    path = "recommend"
    opinion: Text
    national: bool = False

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.recommend, Recommendation(
            actor, self.opinion, national_ambition=self.national
        )


class Inspect(CaseAction):
    path = "inspection"
    passed: bool
    note: Text

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.record_inspection, SiteInspection(actor, self.passed, self.note)


class Decide(CaseAction):
    path = "decision"
    outcome: Literal["approve", "defer", "reject"]
    reason: Text

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.decide, Decision(actor, Outcome(self.outcome), self.reason)


class Object(CaseAction):
    path = "objections"
    by: str = Field(max_length=NAME_MAX)
    reason: Text

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.lodge_objection, Objection(actor, self.by, self.reason)


class ResolveObjection(CaseAction):
    path = "objections/resolve"
    upheld: bool
    reason: Text
    objection: int | None = None

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.resolve_objection, ObjectionResolution(
            actor, self.upheld, self.reason, self.objection
        )


class OpenEvaluation(CaseAction):
    path = "evaluation/open"
    reason: str = Field(default="", max_length=TEXT_MAX)
    """Why evaluate now: required outside the regular window (an out-of-cycle evaluation)."""
    note: str = Field(default="", max_length=TEXT_MAX)
    """A note for the history of a regular evaluation (the older name of ``reason``)."""

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.open_evaluation, EvaluationOpening(
            actor, self.note, reason=self.reason
        )


class RecordEvaluation(CaseAction):
    path = "evaluation"
    result: Literal["good", "rectify", "delist", "excellent"]
    note: Text
    deadline: str | None = None
    """The rectification deadline, an ISO date (with ``rectify``)."""

    @field_validator("deadline")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(
                f"the deadline must be an ISO date like 2025-06-30, not {value!r}"
            ) from None

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.record_evaluation, EvaluationRecord(
            actor, EvaluationResult(self.result), self.note, self.deadline
        )


class ReportRectification(CaseAction):
    path = "rectification"
    report: Text

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.complete_rectification, RectificationReport(actor, self.report)


class RecordNational(CaseAction):
    path = "national"
    designated: bool
    note: str = Field(default="", max_length=TEXT_MAX)

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.record_national_outcome, NationalOutcome(
            actor, self.designated, self.note
        )


class NominateNational(CaseAction):
    """The ministry's call answered (根据工业和信息化部统一部署), with the seed's criteria."""

    path = "national/nomination"
    call: str = Field(max_length=NAME_MAX)
    industry_advantage: Text
    """行业优势突出"""
    service: Text
    """服务良好"""

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.nominate_national, NationalNomination(
            actor, self.call, self.industry_advantage, self.service
        )


class Withdraw(CaseAction):
    path = "withdrawal"
    reason: Text

    def payload(self, actor: Actor) -> tuple[Any, Any]:
        return InstituteWorkflow.withdraw, Withdrawal(actor, self.reason)


SIMPLE_ACTIONS: tuple[type[CaseAction], ...] = (
    SubmitPlan,
    Recommend,
    Inspect,
    Decide,
    Object,
    ResolveObjection,
    OpenEvaluation,
    RecordEvaluation,
    ReportRectification,
    RecordNational,
    NominateNational,
    Withdraw,
)
"""Actions that are one update carrying the body as it is. Assigning experts and submitting a
review need the accounts (``idri.service.cases``)."""


class AssignExperts(Body):
    experts: list[str] = Field(min_length=1, max_length=20)
    """Names of expert accounts; each one's organisation and e-mail come from its account."""


class SubmitReview(Body):
    score: float | None = Field(default=None, ge=0, le=100)
    """One overall score: for a case reviewed without criteria."""
    scores: dict[str, float] | None = Field(default=None, max_length=20)
    """The score of each review criterion, from 0 to 100; the review's score is their mean."""
    opinion: Text
    expert: str | None = Field(default=None, max_length=NAME_MAX)
    """Only when a bureau officer enters a review received on paper: whose review it is."""


class Contact(Body):
    name: str = ""
    email: str | None = None
    phone: str | None = None


class NewCase(Body):
    """A candidate recorded during the survey (调研发动): ``POST /api/cases``."""

    organisation: str
    district: str
    """Code, Chinese or English name."""
    direction: str
    contact: Contact | None = None
    qualifications: list[str] = Field(default_factory=list, max_length=20)
    willing: bool = True
    previous_case_id: str | None = None

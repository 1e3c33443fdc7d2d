"""The data of one institute case: what starts it, what operators send it, what it carries.

All payloads are plain dataclasses shared by the workflow, the activities and the CLI; Temporal's
default converter turns them into JSON. Times are timezone-aware UTC datetimes taken from
``workflow.now()``; dates a person reads are shown in China Standard Time (see ``models.time``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from models.national import NominationRecord
from models.review import DEFAULT_CRITERIA, DEFAULT_MIN_EXPERTS, Panel, ReviewRules, panel_of
from models.rounds import NoticeBatch


class Stage(str, Enum):
    """Where a case stands. The values are the names used in queries, the CLI and ``IdriStage``."""

    SURVEYED = "surveyed"
    PLAN_SUBMITTED = "plan_submitted"
    RECOMMENDED = "recommended"
    UNDER_REVIEW = "under_review"
    PUBLIC_NOTICE = "public_notice"
    INVESTIGATING = "investigating"
    DESIGNATED = "designated"
    UNDER_EVALUATION = "under_evaluation"
    RECTIFYING = "rectifying"
    NATIONAL_REVIEW = "national_review"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    WITHDRAWN = "withdrawn"
    DELISTED = "delisted"
    LAPSED = "lapsed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STAGES


TERMINAL_STAGES = frozenset(
    {Stage.REJECTED, Stage.DEFERRED, Stage.WITHDRAWN, Stage.DELISTED, Stage.LAPSED}
)


class Level(str, Enum):
    MUNICIPAL = "municipal"
    NATIONAL = "national"


class Role(str, Enum):
    """Who acts on a case (DOMAIN.md, "Who takes part")."""

    DISTRICT_OFFICER = "district_officer"
    BUREAU_OFFICER = "bureau_officer"
    EXPERT = "expert"
    APPLICANT = "applicant"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The person (or the system) behind an action, written into the case's history.

    The role has no default: an actor that names no role has no rights (least privilege), and a
    payload sent without one is refused by every update's validator rather than read as a
    bureau officer's.
    """

    name: str
    role: Role | None = None
    district: str | None = None
    """For a district officer: the district code they serve."""

    @property
    def recorded_role(self) -> Role:
        """The role as history records it. Without a role, a bureau officer: how an update
        accepted before roles were required was read, which its replay must repeat. Only such
        replays meet a role-less actor here; every validator refuses one now."""
        return Role(self.role) if self.role is not None else Role.BUREAU_OFFICER


SYSTEM = Actor(name="idri", role=Role.SYSTEM)


@dataclass
class Contact:
    """A person to notify about the case. Personal data: never put in search attributes."""

    name: str
    email: str | None = None
    phone: str | None = None


# --- Starting a case --------------------------------------------------------------------------


@dataclass
class SurveyRecord:
    """A candidate recorded by a district officer during the survey (调研发动)."""

    case_id: str
    organisation: str
    district: str
    """District code from ``models/data/districts.json``."""
    direction: str
    """Industry direction code from ``models/data/directions.json``."""
    actor: Actor
    contact: Contact | None = None
    qualifications: list[str] = field(default_factory=list)
    """Existing qualifications: national/municipal design centre, design park, university ties."""
    willing: bool = True
    """Whether the organisation says it is willing to build an institute."""
    previous_case_id: str | None = None
    """A re-application after rejection or deferral links to the earlier case."""


# --- Operator actions (each is one workflow update) -------------------------------------------


@dataclass
class PlanSubmission:
    """The creation plan (创建方案): the case records its name, SHA-256 and size; the document
    store keeps the file under its SHA-256 (``idri/documents/``)."""

    actor: Actor
    file_name: str
    sha256: str
    size: int | None = None
    """Bytes; None for a plan recorded by its hash alone (before documents were kept)."""
    media_type: str | None = None


@dataclass
class DocumentAttachment:
    """A document kept in the store, recorded on its case (the ``attach_document`` update)."""

    actor: Actor
    kind: str
    """A ``models.documents.DocumentKind`` value other than ``plan`` (the plan goes through ``submit_plan``)."""
    name: str
    sha256: str
    size: int
    media_type: str


@dataclass
class Recommendation:
    """The district's recommendation opinion (推荐意见, 附件3)."""

    actor: Actor
    opinion: str
    national_ambition: bool = False


@dataclass
class ExpertAssignment:
    actor: Actor
    expert: str
    organisation: str
    """The expert's own organisation; it may not be the applicant's (conflict of interest)."""
    email: str | None = None


@dataclass
class ExpertReview:
    actor: Actor
    expert: str
    score: float
    opinion: str
    scores: dict[str, float] = field(default_factory=dict)
    """The score of each review criterion (``ReviewRules.criteria``); ``score`` is their mean.
    Empty for a case reviewed with one overall score."""


@dataclass
class SiteInspection:
    actor: Actor
    passed: bool
    note: str


class Outcome(str, Enum):
    """The bureau's comprehensive evaluation (综合评价) after review."""

    APPROVE = "approve"
    DEFER = "defer"
    REJECT = "reject"


@dataclass
class Decision:
    actor: Actor
    outcome: Outcome
    reason: str
    batch: NoticeBatch | None = None
    """An approval as one of a batch (择优): the batch's shared public notice."""


@dataclass
class Objection:
    """An objection (异议) lodged during the public notice."""

    actor: Actor
    objector: str
    reason: str


@dataclass
class ObjectionResolution:
    actor: Actor
    upheld: bool
    reason: str
    objection_id: int | None = None
    """Which objection; by default the oldest open one."""


@dataclass
class EvaluationOpening:
    actor: Actor
    note: str = ""
    reason: str = ""
    """Why the bureau evaluates now: required outside the regular window (an out-of-cycle
    evaluation); a note for the history otherwise."""


class EvaluationResult(str, Enum):
    GOOD = "good"
    RECTIFY = "rectify"
    DELIST = "delist"
    EXCELLENT = "excellent"


@dataclass
class EvaluationRecord:
    actor: Actor
    result: EvaluationResult
    note: str
    deadline: str | None = None
    """Rectification deadline, an ISO date in China Standard Time (``2027-06-30``); default from
    settings. A string because Temporal's JSON converter has no ``date``."""


@dataclass
class RectificationReport:
    actor: Actor
    report: str


@dataclass
class NationalOutcome:
    actor: Actor
    designated: bool
    note: str = ""


@dataclass
class NationalNomination:
    """The bureau's answer to the ministry's call (``nominate_national``), with the seed's
    criteria (行业优势突出、服务良好; the workflow measures 稳定运行2年以上)."""

    actor: Actor
    call: str
    """The ministry's call it answers (e.g. its notice's title and number)."""
    industry_advantage: str
    """行业优势突出: the institute's outstanding advantage in its industry."""
    service: str
    """服务良好: the service it gives."""


@dataclass
class Withdrawal:
    actor: Actor
    reason: str


# --- What the case carries --------------------------------------------------------------------


@dataclass
class Policy:
    """Periods in force for a case, read from settings by an activity and so recorded in history."""

    round_deadline_month: int = 4
    round_deadline_day: int = 30
    reminder_lead_days: list[int] = field(default_factory=lambda: [30, 7, 1])
    max_missed_rounds: int = 2
    notice_working_days: int = 5
    notice_override_seconds: float | None = None
    review_period_days: int = 90
    investigation_period_days: int = 30
    evaluation_interval_years: int = 3
    evaluation_open_window_days: int = 90
    evaluation_period_days: int = 60
    rectification_period_days: int = 180
    national_min_stable_years: int = 2
    review_reminder_days: int = 14
    """An expert whose review is still missing this many days after assignment is reminded."""
    review_overdue_days: int = 30
    """...and the bureau is told after this many days."""
    rectification_reminder_days: list[int] = field(default_factory=lambda: [30, 7])
    """Reminders to the institute this many days before its rectification deadline."""
    evaluation_reminder_days: int = 30
    """A reminder to the institute this many days before its evaluation window opens."""
    min_experts: int = DEFAULT_MIN_EXPERTS
    review_criteria: list[str] = field(default_factory=lambda: list(DEFAULT_CRITERIA))


@dataclass
class NoticePeriod:
    """A public notice window computed by the calendar activity."""

    start: datetime
    end: datetime
    working_days: int
    warnings: list[str] = field(default_factory=list)
    """E.g. a year the holiday calendar has no data for (Monday-Friday assumed)."""


@dataclass
class ObjectionEntry:
    id: int
    objector: str
    reason: str
    lodged_at: datetime
    status: str = "open"
    """open, upheld or dismissed."""
    resolution: str = ""


@dataclass
class ReviewEntry:
    expert: str
    organisation: str
    email: str | None = None
    score: float | None = None
    opinion: str = ""
    assigned_at: datetime | None = None
    """When the expert was assigned (reviews assigned before the reminders have none, and are
    not reminded)."""
    reminded: bool = False
    """The expert was reminded of the missing review (once)."""
    escalated: bool = False
    """The bureau was told the review is overdue (once)."""
    scores: dict[str, float] = field(default_factory=dict)
    """The score of each criterion, for a case reviewed on criteria."""


@dataclass
class HistoryEntry:
    """One line of the case's history: who did what, when, and why."""

    seq: int
    at: datetime
    event: str
    from_stage: Stage
    to_stage: Stage
    actor: str
    role: Role
    reason: str = ""


@dataclass
class Deadline:
    """The next thing the case is waiting for in time."""

    kind: str
    """round_reminder, round_deadline, notice_end, review_due, investigation_due,
    evaluation_due, evaluation_overdue, rectification_due."""
    at: datetime
    description: str
    subject: str = ""
    """What a reminder is about: the expert of a ``review_reminder``, the lead of a reminder."""


@dataclass(frozen=True)
class Rules:
    """Rules a run keeps that earlier versions did not: each decided once per run by its
    ``workflow.patched`` marker, so a run recorded before the rule replays without it."""

    voluntary: bool = True
    """企业自愿: an organisation not willing gets no round and no case actions."""
    reminders: bool = True
    """Reminders before due dates: missing reviews, rectification, evaluation."""


@dataclass
class CaseState:
    """Everything a case carries from one workflow run to the next (continue-as-new)."""

    survey: SurveyRecord
    created_at: datetime
    stage: Stage = Stage.SURVEYED
    level: Level = Level.MUNICIPAL
    stage_entered_at: datetime | None = None
    seq: int = 0
    """Number of recorded events; with the workflow id it keys every registry write."""
    plan: PlanSubmission | None = None
    recommendation: Recommendation | None = None
    round_year: int | None = None
    """The round the case belongs to: the recommendation year, or the round it is waiting for."""
    missed_rounds: int = 0
    reminders_sent: list[int] = field(default_factory=list)
    """Lead days already reminded for the current round."""
    reviews: list[ReviewEntry] = field(default_factory=list)
    inspection: SiteInspection | None = None
    notice: NoticePeriod | None = None
    objections: list[ObjectionEntry] = field(default_factory=list)
    designated_at: datetime | None = None
    last_evaluated_at: datetime | None = None
    next_evaluation_due: datetime | None = None
    evaluation_cycle: int = 0
    rectification_due: datetime | None = None
    overdue_notified: bool = False
    """The current stage's overdue notice has gone out (sent once per stage entry)."""
    history: list[HistoryEntry] = field(default_factory=list)
    history_dropped: int = 0
    """Older history entries not carried across continue-as-new (the registry keeps them all)."""
    warnings: list[str] = field(default_factory=list)
    duplicate_warning: str | None = None
    """错位发展: the designated institutes and open applications already in this district and
    direction when the case was recorded (a warning for the reviewers, not a refusal)."""
    former_organisations: list[str] = field(default_factory=list)
    """Earlier names of a renamed organisation, oldest first."""
    review_extended_to: datetime | None = None
    """The bureau extended the current stage's review deadline to this moment."""
    round_extended_to: datetime | None = None
    """The bureau extended this case's round deadline to this moment (its round only)."""
    reminders_from: datetime | None = None
    """Reminders falling before this moment are not sent (set when a due date moves)."""
    due_reminders_sent: list[str] = field(default_factory=list)
    """Reminders sent before the current stage's due dates (``rectification:30``...)."""
    review_rules: ReviewRules | None = None
    """The panel rules the case started with; ``None`` for a case started before them."""
    stable_since: datetime | None = None
    """When the last rectification was completed: stable operation counts from then."""
    nomination: NominationRecord | None = None
    """The national nomination answering the ministry's call, with its criteria."""
    undelivered: list[str] = field(default_factory=list)
    """Events whose mail was still going out when the last run continued as new: this run
    delivers them (the case never waits for a mail server to move on)."""

    @property
    def case_id(self) -> str:
        return self.survey.case_id

    def open_objections(self) -> list[ObjectionEntry]:
        return [o for o in self.objections if o.status == "open"]

    def status(self, deadline: Deadline | None, allowed_actions: list[str]) -> CaseStatus:
        """The case as the ``status`` query shows it, given its next deadline and the actions
        it allows now (the workflow computes those once per event and reuses them)."""
        survey = self.survey
        return CaseStatus(
            case_id=survey.case_id,
            organisation=survey.organisation,
            district=survey.district,
            direction=survey.direction,
            stage=self.stage,
            level=self.level,
            round_year=self.round_year,
            deadline=deadline,
            allowed_actions=allowed_actions,
            designated_at=self.designated_at,
            next_evaluation_due=self.next_evaluation_due,
            missed_rounds=self.missed_rounds,
            open_objections=len(self.open_objections()),
            reviews=self.reviews,
            warnings=self.warnings,
            previous_case_id=survey.previous_case_id,
            notice=self.notice,
            rectification_due=self.rectification_due,
            history_length=self.history_dropped + len(self.history),
            willing=survey.willing,
            duplicate_warning=self.duplicate_warning,
            former_organisations=list(self.former_organisations),
            panel=panel_of(self),
            nomination=self.nomination,
        )

    def compact(self, history_kept: int) -> CaseState:
        """Shed what the next workflow run need not carry (continue-as-new): history beyond the
        last ``history_kept`` entries, and at designation the review and notice details (the
        registry keeps them all)."""
        dropped = max(0, len(self.history) - history_kept)
        self.history = self.history[dropped:]
        self.history_dropped += dropped
        if self.stage is Stage.DESIGNATED:
            self.reviews, self.objections, self.inspection, self.notice = [], [], None, None
        self.warnings = self.warnings[-20:]
        return self


@dataclass
class CaseStatus:
    """What the ``status`` query returns."""

    case_id: str
    organisation: str
    district: str
    direction: str
    stage: Stage
    level: Level
    round_year: int | None
    deadline: Deadline | None
    allowed_actions: list[str]
    designated_at: datetime | None
    next_evaluation_due: datetime | None
    missed_rounds: int
    open_objections: int
    reviews: list[ReviewEntry]
    warnings: list[str]
    previous_case_id: str | None = None
    notice: NoticePeriod | None = None
    rectification_due: datetime | None = None
    history_length: int = 0
    willing: bool = True
    duplicate_warning: str | None = None
    former_organisations: list[str] = field(default_factory=list)
    panel: Panel | None = None
    """The review panel's aggregate (score, criteria, inspection, what approval needs)."""
    nomination: NominationRecord | None = None


@dataclass
class InstituteInput:
    """Workflow input: a new survey record, or the carried state of a continued case."""

    survey: SurveyRecord
    carried: CaseState | None = None
    duplicate_warning: str | None = None
    """错位发展, found by the service when it records the candidate; kept on the case."""

"""Payloads of the scheduled workflows (the annual round, the evaluation sweep) and their rules.

Pure data shared by ``workflows/schedules.py``, ``activities/schedules.py`` and ``idri/schedules.py``.
Every result is a handful of counts and at most a few ids, so a sweep over 10,000 institutes keeps
a small history: the lists a person reads go into the bureau's mail, not into the workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from models.time import round_deadline

ANNUAL_ROUND_ID = "idri-annual-round"
"""Schedule id of the annual round; its workflows are ``idri-annual-round-<start time>``."""
EVALUATION_SWEEP_ID = "idri-evaluation-sweep"
"""Schedule id of the evaluation sweep; its workflows are ``idri-evaluation-sweep-<start time>``."""

SAMPLE_LIMIT = 20
"""At most this many case ids are carried in a result (examples for the operator, not the list)."""


@dataclass
class ScheduleRules:
    """The settings the scheduled workflows run by, read by an activity (so recorded in history)."""

    round_deadline_month: int = 4
    round_deadline_day: int = 30
    reminder_lead_days: list[int] = field(default_factory=lambda: [30, 7, 1])
    evaluation_open_window_days: int = 90
    sweep_page_size: int = 500
    """Institutes looked at per activity call."""
    sweep_pages_per_run: int = 10
    """Pages per workflow run before it continues as new (history stays small)."""


def round_opens_at(year: int, rules: ScheduleRules) -> datetime:
    """When the annual round workflow of ``year`` starts: a day before its first reminder.

    The schedule fires at this moment; the day of margin keeps the first reminder inside the
    run even when the schedule starts it late (catch-up) or the lead days cross 29 February.
    """
    deadline = round_deadline(year, rules.round_deadline_month, rules.round_deadline_day)
    return deadline - timedelta(days=max(rules.reminder_lead_days, default=0) + 1)


# --- The annual round -------------------------------------------------------------------------


@dataclass
class RoundInput:
    """Start of an annual round run. The schedule leaves ``round_year`` unset: the run takes the
    round open at its start (``models.time.round_year_for``)."""

    round_year: int | None = None


@dataclass
class RoundReminderRequest:
    """Send each district its summary of cases not yet recommended for ``round_year``."""

    round_year: int
    lead_days: int
    deadline: datetime
    at: datetime
    """The workflow's time of the reminder (activities never read the wall clock for it)."""
    key: str
    """Outbox key of this reminder: the same reminder sent twice is stored once."""
    workflow_id: str
    run_id: str


@dataclass
class RoundReminderResult:
    key: str
    lead_days: int
    at: datetime
    districts: int
    cases: int
    queued: bool
    """False when nothing was due (no case waiting) or the reminder had already been sent."""


@dataclass
class RoundCloseRequest:
    """Tell the bureau the round's batch: recommended cases, and older ones still unreviewed."""

    round_year: int
    deadline: datetime
    at: datetime
    key: str
    workflow_id: str
    run_id: str


@dataclass
class RoundCloseResult:
    key: str
    at: datetime
    batch: int
    """Cases recommended in this round (whatever stage they reached since)."""
    unreviewed: int
    """Cases of earlier rounds still waiting for their review to start."""
    queued: bool
    batch_sample: list[str] = field(default_factory=list)


@dataclass
class RoundResult:
    round_year: int
    deadline: datetime
    reminders: list[RoundReminderResult]
    skipped_leads: list[int]
    """Reminders whose time had already passed when the run started (never sent late)."""
    closed: RoundCloseResult


# --- The evaluation sweep ---------------------------------------------------------------------


@dataclass
class SweepTotals:
    pages: int = 0
    found: int = 0
    opened: int = 0
    refused: int = 0
    """The case refused the opening: already open, or not yet in its window."""
    missing: int = 0
    """No running case workflow behind a registry row."""
    opened_sample: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    """A few refusal messages, for the operator."""

    def add(self, page: SweepPageResult) -> None:
        self.pages += 1
        self.found += page.found
        self.opened += page.opened
        self.refused += page.refused
        self.missing += page.missing
        room = SAMPLE_LIMIT - len(self.opened_sample)
        self.opened_sample.extend(page.opened_sample[: max(room, 0)])
        room = SAMPLE_LIMIT - len(self.refusals)
        self.refusals.extend(page.refusals[: max(room, 0)])


@dataclass
class SweepInput:
    """Start (or continuation) of an evaluation sweep. The schedule passes an empty one."""

    as_of: datetime | None = None
    """The moment the sweep looks from; kept across continue-as-new so every page agrees."""
    cursor: str | None = None
    """Where the next page starts (opaque to the workflow)."""
    totals: SweepTotals | None = None


@dataclass
class SweepPageRequest:
    as_of: datetime
    due_before: datetime
    """Open every designated institute whose evaluation is due before this moment."""
    cursor: str | None
    page_size: int


@dataclass
class SweepPageResult:
    next_cursor: str | None
    """None: this was the last page."""
    found: int
    opened: int
    refused: int
    missing: int
    opened_sample: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


@dataclass
class OverdueReportRequest:
    """Report overdue evaluations, rectifications and reviews to the bureau, with the totals."""

    as_of: datetime
    key: str
    workflow_id: str
    run_id: str
    totals: SweepTotals


@dataclass
class OverdueReportResult:
    key: str
    by_kind: dict[str, int]
    """Deadline kind (``evaluation_due``, ``rectification_due``...) → overdue cases."""
    total: int
    queued: bool
    """False when there was nothing to tell (nothing opened, nothing overdue)."""


@dataclass
class SweepResult:
    as_of: datetime
    totals: SweepTotals
    overdue: OverdueReportResult


class ScheduleActivityName:
    """Activity names of the scheduled workflows (workflow code imports no activity module)."""

    LOAD_RULES = "load_schedule_rules"
    REMIND_DISTRICTS = "remind_districts"
    CLOSE_ROUND = "close_round"
    OPEN_DUE_EVALUATIONS = "open_due_evaluations"
    REPORT_OVERDUE = "report_overdue"
    RECONCILE_REGISTRY = "reconcile_registry"


@dataclass
class ReconcileResult:
    """What the sweep's reconciliation of the registry with Temporal found."""

    checked: int
    """Institutes whose workflow was described: open ones visibility lists as ended (every open
    one on a server without visibility lists), and marked ones the bureau has not closed."""
    marked: int
    """Of them, newly marked as ended outside the lifecycle."""
    marked_sample: list[str] = field(default_factory=list)
    cleared: int = 0
    """Marked ones whose workflow runs again (a reset): their mark cleared."""
    cleared_sample: list[str] = field(default_factory=list)


# --- Overdue items ----------------------------------------------------------------------------

OVERDUE_KINDS: dict[str, dict[str, str]] = {
    "evaluation_due": {"zh": "到期未启动的跟踪评估", "en": "Evaluations due and not opened"},
    "evaluation_overdue": {
        "zh": "逾期未出结果的跟踪评估",
        "en": "Evaluations without a result in time",
    },
    "rectification_due": {"zh": "逾期未完成的整改", "en": "Rectifications past their deadline"},
    "review_due": {"zh": "逾期的专家评审", "en": "Expert reviews overdue"},
    "investigation_due": {"zh": "逾期的异议调查", "en": "Objection investigations overdue"},
}
"""The deadline kinds a case reports overdue (``models.deadlines``), in reporting order."""

OVERDUE_KIND_OF_STAGE: dict[str, str] = {
    "designated": "evaluation_due",
    "under_evaluation": "evaluation_overdue",
    "rectifying": "rectification_due",
    "recommended": "review_due",
    "under_review": "review_due",
    "investigating": "investigation_due",
}
"""Which deadline a case in a stage can be overdue on (stages without one are never overdue)."""

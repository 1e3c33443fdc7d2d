"""The registry's tables (SQLModel). The schema itself is created by Alembic (``migrations/``);
these classes must match it, which ``tests/registry/test_migrations.py`` checks.

The audit trail (``events``) is the record that outlives Temporal's history retention: one row per
recorded event, keyed ``<workflow id>#<seq>`` so a retried or replayed activity cannot add a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, DateTime, Index, Table, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones and would hand back naive values,
    so values are stored as naive UTC there and made aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the registry stores aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=UTCDateTime, index=index, nullable=nullable)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for ``INSERT ... ON CONFLICT`` statements."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]  # set by table=True


class InstituteRow(SQLModel, table=True):
    """One case as the registry sees it now; the registry (名录) is the designated ones."""

    __tablename__ = "institutes"

    case_id: str = Field(primary_key=True)
    organisation: str
    district: str = Field(index=True)
    direction: str = Field(index=True)
    level: str
    """municipal or national."""
    stage: str = Field(index=True)
    round_year: int | None = None
    designated_at: datetime | None = _time()
    last_evaluated_at: datetime | None = _time()
    next_evaluation_due: datetime | None = _time()
    delisted_at: datetime | None = _time()
    previous_case_id: str | None = None
    ended_at: datetime | None = _time()
    """When the case's workflow ended outside the lifecycle (terminated, cancelled, timed out or
    failed): marked by the evaluation sweep, which asks Temporal (``activities.ended``)."""
    ended_how: str | None = None
    """terminated, cancelled, timed_out or failed; None: the case did not end that way."""
    ended_by: str | None = Field(default=None, sa_type=Text)
    """Who ended it and why, where Temporal knows (a termination's identity and reason)."""
    workflow_id: str
    last_event_seq: int
    """Seq of the event that last wrote this row: an older event replayed late cannot undo it."""
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class EventRow(SQLModel, table=True):
    """The audit trail: who did what, when and why, from which workflow run."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_case_seq", "case_id", "seq"),)

    key: str = Field(primary_key=True)
    """``<workflow id>#<seq>``."""
    case_id: str
    workflow_id: str
    run_id: str
    seq: int
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    event: str = Field(index=True)
    from_stage: str
    to_stage: str
    actor: str
    role: str
    reason: str = Field(default="", sa_type=Text)
    details: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class EvaluationRow(SQLModel, table=True):
    """A tracking evaluation (跟踪评估) result, a rectification report or a national outcome."""

    __tablename__ = "evaluations"

    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(foreign_key="events.key", unique=True)
    case_id: str = Field(index=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    result: str
    """good, rectify, rectified, delist, excellent, national or municipal."""
    note: str = Field(default="", sa_type=Text)
    deadline: datetime | None = _time()
    """Rectification deadline (整改期限)."""
    actor: str


class ObjectionRow(SQLModel, table=True):
    """An objection (异议) lodged during a public notice, and how the bureau resolved it."""

    __tablename__ = "objections"

    id: int | None = Field(default=None, primary_key=True)
    event_key: str = Field(foreign_key="events.key", unique=True)
    """The event that lodged it."""
    case_id: str = Field(index=True)
    objection_no: int | None = None
    """The workflow's number for it (``ObjectionEntry.id``)."""
    objector: str
    reason: str = Field(default="", sa_type=Text)
    lodged_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    status: str = "open"
    """open, upheld or dismissed."""
    resolution: str = Field(default="", sa_type=Text)
    resolved_at: datetime | None = _time()
    resolved_event_key: str | None = None


class NotificationRow(SQLModel, table=True):
    """The transactional outbox: written with its event, delivered later (``activities.notify``)."""

    __tablename__ = "notifications"

    key: str = Field(primary_key=True)
    """``<event key>/<role>/<address or name>``."""
    event_key: str = Field(foreign_key="events.key", index=True)
    case_id: str = Field(index=True)
    role: str
    name: str = ""
    address: str | None = None
    """None: nobody to send it to (status ``undeliverable``, reason in ``last_error``)."""
    subject: str
    body: str = Field(sa_type=Text)
    status: str = Field(default="pending", index=True)
    """pending, sending (claimed), sent, undeliverable or failed (refused by the server)."""
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    claimed_by: str | None = None
    claimed_until: datetime | None = _time()
    """A claim's lease: a deliverer that dies mid-batch leaves rows claimable after this."""
    retry_at: datetime | None = _time()
    """A pending row refused for now (4xx) is not tried again before this: the worker's
    deliverer looks every few seconds and would otherwise ask the server again at each look."""
    sent_at: datetime | None = _time()
    message_id: str
    """Stable ``Message-ID`` derived from ``key``: a resend is recognisable as the same mail."""
    transport: str | None = None
    """How it went out: ``smtp`` or the ``.eml`` file it was written to."""


class PublicationRow(SQLModel, table=True):
    """A page on the bureau's website and when its current content was first published."""

    __tablename__ = "publications"

    path: str = Field(primary_key=True)
    """Relative to the publish directory, e.g. ``notice/2025-06-03.html``."""
    kind: str = Field(index=True)
    """index, notice, registry or delisting."""
    sha256: str
    first_published_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    """When the content last changed (unchanged content keeps its time)."""


class PageDueRow(SQLModel, table=True):
    """An event whose public page is still to be published (see ``activities.publish``)."""

    __tablename__ = "pages_due"

    event_key: str = Field(foreign_key="events.key", primary_key=True)
    kind: str
    """notice, registry or delisting (``models.notifications.publication_for``)."""
    case_id: str
    queued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class WaitRow(SQLModel, table=True):
    """What a case waits for now, and whose work it is (``models.inbox``): rewritten with each
    event that carries its waits, read by ``idri inbox`` and ``idri list --overdue``."""

    __tablename__ = "waits"
    __table_args__ = (
        Index("ix_waits_role_since", "role", "since"),
        Index("ix_waits_district_role_since", "district", "role", "since"),
        Index("ix_waits_who_since", "who", "since"),
        Index("ix_waits_org_role_since", "organisation_key", "role", "since"),
        Index("ix_waits_due_at", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True)
    event_key: str
    """The event after which the case waits so."""
    role: str
    """district_officer, applicant, expert or bureau_officer."""
    who: str = ""
    """The expert's account name for an expert's wait, else empty."""
    action: str
    description: str
    since: datetime = Field(sa_type=UTCDateTime, nullable=False)
    due_at: datetime | None = _time()
    district: str
    organisation_key: str
    """The organisation as compared for an applicant (``models.candidates.organisation_key``)."""


class DocumentRow(SQLModel, table=True):
    """A document recorded on a case; its content is in the document store under ``sha256``."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_case_name", "case_id", "name"),)

    event_key: str = Field(foreign_key="events.key", primary_key=True)
    """The event that recorded it (``submit_plan`` or ``attach_document``)."""
    case_id: str
    kind: str
    """plan, recommendation, inspection, rectification or evaluation."""
    name: str
    sha256: str
    size: int | None = Field(default=None, sa_type=BigInteger)
    """None for a plan recorded by its hash alone (before documents were kept)."""
    media_type: str | None = None
    recorded_by: str
    recorded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class CalendarImportRow(SQLModel, table=True):
    """One year's official holiday arrangement as imported (``idri calendar import``).

    Rows are only ever added: the newest row of a year is in force, the older ones are its audit
    trail (who imported what, from which file, when).
    """

    __tablename__ = "calendar_imports"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    holidays: list[str] = Field(default_factory=list, sa_type=JSON)
    """ISO dates off by the arrangement, all inside ``year``."""
    workdays: list[str] = Field(default_factory=list, sa_type=JSON)
    """ISO dates of the adjusted working days (调休), all inside ``year``."""
    source: str
    """What the file says it is (the State Council's notice), else the file's name."""
    sha256: str
    """The imported file's SHA-256, to tell which file it was."""
    imported_by: str
    imported_at: datetime = Field(sa_type=UTCDateTime, nullable=False)

"""The registry's read side, for the CLI, reports and the public pages.

Plain functions over an engine returning frozen dataclasses (no ORM objects escape a session).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, Select, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from activities.db import read_session
from activities.tables import EventRow, InstituteRow, NotificationRow, table_of
from models.case import Stage
from models.time import cst_date

REGISTRY_STAGES: tuple[Stage, ...] = (
    Stage.DESIGNATED,
    Stage.UNDER_EVALUATION,
    Stage.RECTIFYING,
    Stage.NATIONAL_REVIEW,
)
"""Stages of a designated institute still in the registry (名录)."""

CountKey = Literal["district", "direction", "level", "year"]


@dataclass(frozen=True)
class Institute:
    case_id: str
    organisation: str
    district: str
    direction: str
    level: str
    stage: str
    round_year: int | None
    designated_at: datetime | None
    last_evaluated_at: datetime | None
    next_evaluation_due: datetime | None
    delisted_at: datetime | None
    previous_case_id: str | None
    ended_at: datetime | None = None
    """Set when the case's workflow ended outside the lifecycle (``activities.ended``)."""
    ended_how: str | None = None
    ended_by: str | None = None

    @property
    def designation_year(self) -> int | None:
        """Year of designation in Beijing (what "designated in 2025" means to the bureau)."""
        return cst_date(self.designated_at).year if self.designated_at else None


@dataclass(frozen=True)
class TrailEntry:
    """One line of a case's audit trail."""

    key: str
    case_id: str
    seq: int
    at: datetime
    event: str
    from_stage: str
    to_stage: str
    actor: str
    role: str
    reason: str
    workflow_id: str
    run_id: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxEntry:
    key: str
    event_key: str
    case_id: str
    role: str
    name: str
    address: str | None
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    retry_at: datetime | None
    sent_at: datetime | None
    message_id: str
    transport: str | None


@dataclass(frozen=True)
class RegistryCounts:
    by_district: dict[str, int]
    by_direction: dict[str, int]
    by_level: dict[str, int]
    by_year: dict[int, int]
    """Designation year (Beijing time)."""
    total: int


def _institute(row: InstituteRow) -> Institute:
    return Institute(*(getattr(row, name) for name in _INSTITUTE_FIELDS))


_INSTITUTE_FIELDS = tuple(f.name for f in fields(Institute))
_TRAIL_FIELDS = tuple(f.name for f in fields(TrailEntry))
_INSTITUTE_COLUMNS = tuple(table_of(InstituteRow).c[name] for name in _INSTITUTE_FIELDS)
_TRAIL_COLUMNS = tuple(table_of(EventRow).c[name] for name in _TRAIL_FIELDS)
"""The columns lists are read from: rows as tuples, without building ORM objects first (the
public pages read every institute and every approval on each pass)."""


def _institutes_from(engine: Engine, query: Select[Any]) -> list[Institute]:
    with engine.connect() as conn:
        return [Institute(*row) for row in conn.execute(query)]


def _trail_from(engine: Engine, query: Select[Any]) -> list[TrailEntry]:
    with engine.connect() as conn:
        entries = []
        for row in conn.execute(query).mappings():
            values = dict(row)
            values["details"] = dict(values["details"] or {})
            entries.append(TrailEntry(**values))
        return entries


def in_registry(known: Iterable[Institute]) -> list[Institute]:
    """Those of ``known`` in the registry, in :func:`current_registry`'s order (an institute
    whose case ended outside the lifecycle is not)."""
    stages = {s.value for s in REGISTRY_STAGES}
    return sorted(
        (
            i
            for i in known
            if i.stage in stages and i.designated_at is not None and i.ended_how is None
        ),
        key=lambda i: (i.designated_at, i.case_id),
    )


def current_registry(engine: Engine) -> list[Institute]:
    """Designated institutes still in the registry, in order of designation.

    An institute whose case ended outside the lifecycle is left out until the bureau decides:
    nothing runs its evaluations any more, so the registry would promise a deadline nobody keeps.
    """
    query = sa_select(*_INSTITUTE_COLUMNS).where(
        col(InstituteRow.stage).in_([s.value for s in REGISTRY_STAGES]),
        col(InstituteRow.designated_at).is_not(None),
        col(InstituteRow.ended_how).is_(None),
    )
    return _institutes_from(
        engine, query.order_by(col(InstituteRow.designated_at), col(InstituteRow.case_id))
    )


def institutes(engine: Engine, *, stages: Sequence[Stage] | None = None) -> list[Institute]:
    """Every case the registry knows (candidates too), optionally only in ``stages``."""
    query = sa_select(*_INSTITUTE_COLUMNS)
    if stages is not None:
        query = query.where(col(InstituteRow.stage).in_([s.value for s in stages]))
    return _institutes_from(engine, query.order_by(col(InstituteRow.case_id)))


def institute(engine: Engine, case_id: str) -> Institute | None:
    with read_session(engine) as session:
        row = session.get(InstituteRow, case_id)
        return _institute(row) if row else None


def _trail(row: EventRow) -> TrailEntry:
    return TrailEntry(
        key=row.key,
        case_id=row.case_id,
        seq=row.seq,
        at=row.at,
        event=row.event,
        from_stage=row.from_stage,
        to_stage=row.to_stage,
        actor=row.actor,
        role=row.role,
        reason=row.reason,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        details=dict(row.details or {}),
    )


def audit_trail(engine: Engine, case_id: str) -> list[TrailEntry]:
    """Every recorded event of a case, across all its workflow runs, oldest first."""
    query = (
        sa_select(*_TRAIL_COLUMNS)
        .where(col(EventRow.case_id) == case_id)
        .order_by(col(EventRow.seq), col(EventRow.key))
    )
    return _trail_from(engine, query)


def event(engine: Engine, key: str) -> TrailEntry | None:
    """One recorded event by its key (``<workflow id>#<seq>``)."""
    with read_session(engine) as session:
        row = session.get(EventRow, key)
        return _trail(row) if row else None


def events_of_kind(engine: Engine, kind: str) -> list[TrailEntry]:
    """Every recorded event of one kind (e.g. all ``approve``), oldest first."""
    query = (
        sa_select(*_TRAIL_COLUMNS)
        .where(col(EventRow.event) == kind)
        .order_by(col(EventRow.at), col(EventRow.key))
    )
    return _trail_from(engine, query)


def outbox(
    engine: Engine,
    *,
    case_id: str | None = None,
    status: str | None = None,
    newest: int | None = None,
) -> list[OutboxEntry]:
    """Notifications, oldest first, optionally of one case or in one status; with ``newest``,
    only that many of the most recent (still listed oldest first)."""
    query = _outbox_filtered(select(NotificationRow), case_id, status)
    order = (col(NotificationRow.created_at), col(NotificationRow.key))
    if newest is None:
        query = query.order_by(*order)
    else:
        query = query.order_by(*(column.desc() for column in order)).limit(newest)
    with read_session(engine) as session:
        rows = list(session.exec(query))
    if newest is not None:
        rows.reverse()
    return [
        OutboxEntry(
            key=r.key,
            event_key=r.event_key,
            case_id=r.case_id,
            role=r.role,
            name=r.name,
            address=r.address,
            subject=r.subject,
            status=r.status,
            attempts=r.attempts,
            last_error=r.last_error,
            created_at=r.created_at,
            retry_at=r.retry_at,
            sent_at=r.sent_at,
            message_id=r.message_id,
            transport=r.transport,
        )
        for r in rows
    ]


def outbox_size(engine: Engine, *, case_id: str | None = None, status: str | None = None) -> int:
    """How many notifications :func:`outbox` would list without ``newest``."""
    query = _outbox_filtered(select(func.count()).select_from(NotificationRow), case_id, status)
    with read_session(engine) as session:
        return session.exec(query).one()


def _outbox_filtered(query: Any, case_id: str | None, status: str | None) -> Any:
    if case_id is not None:
        query = query.where(NotificationRow.case_id == case_id)
    if status is not None:
        query = query.where(NotificationRow.status == status)
    return query


def counts(engine: Engine, by: CountKey) -> dict[str, int]:
    """Institutes in the current registry per district, direction, level or designation year."""
    registry = current_registry(engine)
    tally: Counter[str] = Counter(
        str(i.designation_year) if by == "year" else getattr(i, by) for i in registry
    )
    return dict(sorted(tally.items()))


def registry_counts(engine: Engine) -> RegistryCounts:
    """All four counts of the current registry at once (one read)."""
    registry = current_registry(engine)
    years: Counter[int] = Counter(i.designation_year for i in registry if i.designation_year)
    return RegistryCounts(
        by_district=dict(sorted(Counter(i.district for i in registry).items())),
        by_direction=dict(sorted(Counter(i.direction for i in registry).items())),
        by_level=dict(sorted(Counter(i.level for i in registry).items())),
        by_year=dict(sorted(years.items())),
        total=len(registry),
    )

"""Cases ended outside the lifecycle: a case workflow terminated, cancelled, timed out or failed.

Such a case records nothing of its end (its run stopped before any activity could), so the
registry would go on showing a terminated institute as designated, with a deadline nobody keeps.
Temporal knows: ``activities.endings`` asks it, :func:`mark_ended` writes the answer to the
registry (the institute row, one audit event, and the registry page queued for republishing).
The daily evaluation sweep does both (``ScheduleActivities.reconcile_registry``); ``idri status``
shows the same answer.

Then the bureau decides (``idri ended``), and its decision is an audit event of the case:

- :data:`CLOSED_EVENT`: the end is accepted; the mark stays and the institute stays out of the
  published registry for good (a later reset changes nothing the sweep does);
- :data:`REINSTATED_EVENT`: the case was reset and runs again; the mark is cleared.

A case that runs again without the bureau (``temporal workflow reset``) has its mark cleared by
the next sweep (:data:`RUNS_AGAIN_EVENT`). The case's latest event of these kinds is its state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from activities.db import insert_ignoring_duplicates, read_session, write_session
from activities.tables import EventRow, InstituteRow, PageDueRow, table_of, utcnow
from models.case import Role
from models.ending import CaseEnding

ENDED_EVENT = "ended_outside_lifecycle"
"""The audit event :func:`mark_ended` writes."""

CLOSED_EVENT = "ended_closed"
"""The bureau accepted the end (``idri ended close``): the institute stays out for good."""

REINSTATED_EVENT = "ended_reinstated"
"""The bureau reset the case, which runs again (``idri ended reinstate``): the mark is cleared."""

RUNS_AGAIN_EVENT = "ended_runs_again"
"""The sweep found a marked case running again (reset by other means): the mark is cleared."""

ENDING_EVENTS = (ENDED_EVENT, CLOSED_EVENT, REINSTATED_EVENT, RUNS_AGAIN_EVENT)

TEMPORAL_ACTOR = "temporal"
"""The audit event's actor when Temporal does not say who ended the run."""


class NotEnded(Exception):
    """The case is not marked as ended outside the lifecycle (or is unknown to the registry)."""


class AlreadyClosed(Exception):
    """The bureau has already closed the case: its end is accepted for good."""


@dataclass(frozen=True)
class EndedCase:
    """An institute marked as ended outside the lifecycle, and the bureau's decision so far."""

    case_id: str
    workflow_id: str
    organisation: str
    stage: str
    how: str
    at: datetime | None
    by: str | None
    closed_at: datetime | None = None
    """When the bureau accepted the end (``idri ended close``); None while undecided."""
    closed_by: str | None = None
    closed_reason: str | None = None


def mark_ended(engine: Engine, case_id: str, ending: CaseEnding) -> bool:
    """Mark ``case_id`` as ended outside the lifecycle; False if it was marked already.

    In one transaction: the institute row's ``ended_*`` columns (only where still empty, so a
    second sweep changes nothing), an audit event keyed by the ended run, and the registry page
    queued, so the sweep's ``publish_queued`` step takes the institute off the public registry.
    """
    now = utcnow()
    with write_session(engine) as session:
        row = session.get(InstituteRow, case_id)
        if row is None or row.ended_how is not None:
            return False
        session.execute(
            update(table_of(InstituteRow))
            .where(col(InstituteRow.case_id) == case_id, col(InstituteRow.ended_how).is_(None))
            .values(
                ended_at=ending.at or now,
                ended_how=ending.how,
                ended_by=ending.by,
                updated_at=now,
            )
        )
        key = f"{row.workflow_id}#ended-{ending.run_id}"
        insert_ignoring_duplicates(
            session,
            table_of(EventRow),
            {
                "key": key,
                "case_id": case_id,
                "workflow_id": row.workflow_id,
                "run_id": ending.run_id,
                "seq": row.last_event_seq + 1,
                "at": ending.at or now,
                "event": ENDED_EVENT,
                "from_stage": row.stage,
                "to_stage": row.stage,
                "actor": ending.identity or TEMPORAL_ACTOR,
                "role": Role.SYSTEM.value,
                "reason": ending.reason or f"workflow {ending.how}",
                "details": {"how": ending.how},
                "recorded_at": now,
            },
            ["key"],
        )
        insert_ignoring_duplicates(
            session,
            table_of(PageDueRow),
            {"event_key": key, "kind": "registry", "case_id": case_id, "queued_at": now},
            ["event_key"],
        )
    return True


def _last_ending_event(session: Session, case_id: str) -> EventRow | None:
    """The case's latest event of :data:`ENDING_EVENTS`: its state as an ended case."""
    query = (
        select(EventRow)
        .where(EventRow.case_id == case_id, col(EventRow.event).in_(ENDING_EVENTS))
        .order_by(col(EventRow.recorded_at).desc(), col(EventRow.seq).desc())
    )
    return session.exec(query.limit(1)).first()


def _ended_case(session: Session, row: InstituteRow) -> EndedCase:
    assert row.ended_how is not None
    last = _last_ending_event(session, row.case_id)
    closed = last if last is not None and last.event == CLOSED_EVENT else None
    return EndedCase(
        row.case_id,
        row.workflow_id,
        row.organisation,
        row.stage,
        row.ended_how,
        row.ended_at,
        row.ended_by,
        closed.recorded_at if closed else None,
        closed.actor if closed else None,
        closed.reason if closed else None,
    )


def ended_cases(engine: Engine) -> list[EndedCase]:
    """Every institute marked as ended outside the lifecycle, the latest ended first."""
    query = (
        select(InstituteRow)
        .where(col(InstituteRow.ended_how).is_not(None))
        .order_by(col(InstituteRow.ended_at).desc(), col(InstituteRow.case_id))
    )
    with read_session(engine) as session:
        return [_ended_case(session, row) for row in session.exec(query)]


def ended_case(engine: Engine, case_id: str) -> EndedCase | None:
    """The case's mark and decision; None when it is not marked (or not known)."""
    with read_session(engine) as session:
        row = session.get(InstituteRow, case_id)
        return _ended_case(session, row) if row and row.ended_how is not None else None


def undecided(engine: Engine) -> list[tuple[str, str]]:
    """(case id, workflow id) of the marked cases the bureau has not closed: the sweep checks
    whether they run again."""
    return [(c.case_id, c.workflow_id) for c in ended_cases(engine) if c.closed_at is None]


def _decision(
    session: Session,
    row: InstituteRow,
    *,
    event: str,
    actor: str,
    role: Role,
    reason: str,
    details: dict[str, str],
) -> dict[str, Any]:
    """The audit row of a decision on the case's current mark, keyed by the ended run."""
    mark = _last_ending_event(session, row.case_id)
    ended_run = mark.run_id if mark is not None else row.workflow_id
    now = utcnow()
    return {
        "key": f"{row.workflow_id}#ended-{ended_run}#{event}-{now.isoformat()}",
        "case_id": row.case_id,
        "workflow_id": row.workflow_id,
        "run_id": ended_run,
        "seq": row.last_event_seq + 1,
        "at": now,
        "event": event,
        "from_stage": row.stage,
        "to_stage": row.stage,
        "actor": actor,
        "role": role.value,
        "reason": reason,
        "details": {"how": row.ended_how or "", **details},
        "recorded_at": now,
    }


def close_ended(engine: Engine, case_id: str, *, actor: str, reason: str) -> EndedCase:
    """The bureau accepts the end of ``case_id``: the mark stays, the decision is recorded.

    Raises:
        NotEnded: the case is not marked (the sweep has not seen its end yet, or it runs).
        AlreadyClosed: the bureau closed it before.
    """
    with write_session(engine) as session:
        row = session.get(InstituteRow, case_id)
        if row is None or row.ended_how is None:
            raise NotEnded(case_id)
        if _ended_case(session, row).closed_at is not None:
            raise AlreadyClosed(case_id)
        values = _decision(
            session,
            row,
            event=CLOSED_EVENT,
            actor=actor,
            role=Role.BUREAU_OFFICER,
            reason=reason,
            details={},
        )
        insert_ignoring_duplicates(session, table_of(EventRow), values, ["key"])
    closed = ended_case(engine, case_id)
    assert closed is not None
    return closed


def clear_mark(
    engine: Engine,
    case_id: str,
    *,
    event: str,
    actor: str,
    role: Role,
    reason: str,
    run_id: str,
) -> bool:
    """Clear the mark of a case that runs again (``run_id``, its new run); False if there was
    none. In one transaction with the decision's audit event and the registry page queued: a
    designated institute returns to the public registry."""
    with write_session(engine) as session:
        row = session.get(InstituteRow, case_id)
        if row is None or row.ended_how is None:
            return False
        values = _decision(
            session,
            row,
            event=event,
            actor=actor,
            role=role,
            reason=reason,
            details={"new_run_id": run_id},
        )
        session.execute(
            update(table_of(InstituteRow))
            .where(col(InstituteRow.case_id) == case_id)
            .values(ended_at=None, ended_how=None, ended_by=None, updated_at=values["at"])
        )
        insert_ignoring_duplicates(session, table_of(EventRow), values, ["key"])
        insert_ignoring_duplicates(
            session,
            table_of(PageDueRow),
            {
                "event_key": values["key"],
                "kind": "registry",
                "case_id": case_id,
                "queued_at": values["at"],
            },
            ["event_key"],
        )
    return True

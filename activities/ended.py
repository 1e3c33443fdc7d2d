"""Cases ended outside the lifecycle: a case workflow terminated, cancelled, timed out or failed.

Such a case records nothing of its end (its run stopped before any activity could), so the
registry would go on showing a terminated institute as designated, with a deadline nobody keeps.
Temporal knows: ``idri.ending.ending_of`` asks it, :func:`mark_ended` writes the answer to the
registry (the institute row, one audit event, and the registry page queued for republishing). The daily
evaluation sweep does both for every institute not in a terminal stage
(``ScheduleActivities.reconcile_registry``); ``idri status`` shows the same answer.
"""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import col

from activities.db import insert_ignoring_duplicates, write_session
from activities.tables import EventRow, InstituteRow, PageDueRow, table_of, utcnow
from idri.ending import CaseEnding
from models.case import Role

ENDED_EVENT = "ended_outside_lifecycle"
"""The audit event :func:`mark_ended` writes."""

TEMPORAL_ACTOR = "temporal"
"""The audit event's actor when Temporal does not say who ended the run."""


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

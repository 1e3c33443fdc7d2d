"""``record_event``: one event of a case into the registry, with its notifications, atomically.

One transaction writes the audit row, the institute's current state, the evaluation or objection
the event creates, and the outbox rows of its recipients. The audit row's key
(``<workflow id>#<seq>``) is inserted first with ``ON CONFLICT DO NOTHING``: when it already exists
(a retry after a lost response, a replay, a concurrent duplicate) the call changes nothing else, so
every event leaves exactly one set of rows however often it runs.

The database calls block, so the activity runs them in a worker thread (``asyncio.to_thread``)
and the worker's event loop stays free for workflow tasks.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.db import insert_ignoring_duplicates, write_session
from activities.mailer import message_id, render
from activities.tables import (
    EvaluationRow,
    EventRow,
    InstituteRow,
    NotificationRow,
    ObjectionRow,
    table_of,
    utcnow,
)
from activities.templates import parse_moment
from idri.settings import Settings, get_settings
from models.case import Stage
from models.records import ActivityName, EventRecord, Recipient
from models.time import CST, end_of_day

EVALUATION_RESULTS = {
    "rate_good": "good",
    "order_rectification": "rectify",
    "complete_rectification": "rectified",
    "delist": "delist",
    "recommend_national": "excellent",
}
"""Events that write an ``evaluations`` row, and the result they record."""


class RegistryActivities:
    """The registry's write side. Register ``record_event`` as a bound method on the worker."""

    def __init__(self, engine: Engine, settings: Settings | None = None) -> None:
        """``settings`` gives the district and bureau mailboxes (default: read from the env)."""
        self.engine = engine
        self.settings = settings or get_settings()

    @activity.defn(name=ActivityName.RECORD_EVENT)
    async def record_event(self, record: EventRecord) -> None:
        """Write ``record`` with its notifications; a second call with the same key is a no-op."""
        await asyncio.to_thread(self.record_sync, record)

    def record_sync(self, record: EventRecord) -> bool:
        """The activity's body; True when this call wrote the event, False if it already was."""
        now = utcnow()
        # Rendered before the transaction opens: SQLite's write lock is held only to write.
        mails = [self.outbox_row(record, recipient, now) for recipient in record.recipients]
        with write_session(self.engine) as session:
            if not _insert_event(session, record, now):
                return False
            _upsert_institute(session, record, now)
            _write_evaluation(session, record)
            _write_objection(session, record)
            for values in mails:
                insert_ignoring_duplicates(session, table_of(NotificationRow), values, ["key"])
            return True

    def address_of(self, recipient: Recipient, district: str) -> tuple[str | None, str | None]:
        """The mailbox of a recipient, or None with the reason nobody can be reached."""
        if recipient.email:
            return recipient.email, None
        if recipient.role == "bureau":
            if self.settings.bureau_email:
                return self.settings.bureau_email, None
            return None, "no bureau mailbox configured (IDRI_BUREAU_EMAIL)"
        if recipient.role == "district":
            address = self.settings.district_emails.get(district)
            if address:
                return address, None
            return None, f"no mailbox for district {district!r} (IDRI_DISTRICT_EMAILS)"
        who = f"{recipient.role} {recipient.name}".strip()
        return None, f"the {who} has no e-mail address"

    def outbox_row(
        self, record: EventRecord, recipient: Recipient, now: datetime
    ) -> dict[str, object]:
        """The outbox row telling ``recipient`` about ``record``, with its rendered mail."""
        address, problem = self.address_of(recipient, record.snapshot.district)
        key = f"{record.key}/{recipient.role}/{address or recipient.name or '-'}"
        mail = render(record, recipient, bureau_email=self.settings.bureau_email)
        return {
            "key": key,
            "event_key": record.key,
            "case_id": record.snapshot.case_id,
            "role": recipient.role,
            "name": recipient.name,
            "address": address,
            "subject": mail.subject,
            "body": mail.body,
            # Recorded, not dropped: the outbox shows who could not be told and why.
            "status": "pending" if address else "undeliverable",
            "attempts": 0,
            "last_error": problem,
            "created_at": now,
            "message_id": message_id(key, self.settings.mail_from),
        }


def _insert_event(session: Session, record: EventRecord, now: datetime) -> bool:
    return insert_ignoring_duplicates(
        session,
        table_of(EventRow),
        {
            "key": record.key,
            "case_id": record.snapshot.case_id,
            "workflow_id": record.workflow_id,
            "run_id": record.run_id,
            "seq": record.seq,
            "at": record.at,
            "event": record.event,
            "from_stage": record.from_stage.value,
            "to_stage": record.to_stage.value,
            "actor": record.actor,
            "role": record.role.value,
            "reason": record.reason,
            "details": dict(record.details),
            "recorded_at": now,
        },
        ["key"],
    )


def _upsert_institute(session: Session, record: EventRecord, now: datetime) -> None:
    snapshot = record.snapshot
    # Insert-if-absent first, so two first events of a new case cannot both try to create it;
    # then lock the row and apply the snapshot unless a newer event already did.
    insert_ignoring_duplicates(
        session,
        table_of(InstituteRow),
        {
            "case_id": snapshot.case_id,
            "organisation": snapshot.organisation,
            "district": snapshot.district,
            "direction": snapshot.direction,
            "level": snapshot.level.value,
            "stage": snapshot.stage.value,
            "workflow_id": record.workflow_id,
            "last_event_seq": -1,
            "updated_at": now,
        },
        ["case_id"],
    )
    row = session.get(InstituteRow, snapshot.case_id, with_for_update=True, populate_existing=True)
    assert row is not None  # inserted above or already there
    if row.last_event_seq > record.seq:
        return  # an older event arriving late must not undo a newer state
    row.organisation = snapshot.organisation
    row.district = snapshot.district
    row.direction = snapshot.direction
    row.level = snapshot.level.value
    row.stage = snapshot.stage.value
    row.round_year = snapshot.round_year
    row.designated_at = snapshot.designated_at
    row.last_evaluated_at = snapshot.last_evaluated_at
    row.next_evaluation_due = snapshot.next_evaluation_due
    row.previous_case_id = snapshot.previous_case_id
    row.workflow_id = record.workflow_id
    row.last_event_seq = record.seq
    row.updated_at = now
    if snapshot.stage is Stage.DELISTED and row.delisted_at is None:
        row.delisted_at = record.at
    session.add(row)
    session.flush()


def deadline_of(value: str | None) -> datetime | None:
    """A deadline from ``details``: an aware datetime as is, a naive one in Beijing time, and a
    bare date as the end of that day in Beijing ("by 30 June" ends at midnight)."""
    moment = parse_moment(value)
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=CST)
    if isinstance(moment, date):
        return end_of_day(moment)
    return None


def _write_evaluation(session: Session, record: EventRecord) -> None:
    result = EVALUATION_RESULTS.get(record.event)
    if record.event == "record_national_outcome":
        result = record.snapshot.level.value  # national, or still municipal
    if result is None:
        return
    session.add(
        EvaluationRow(
            event_key=record.key,
            case_id=record.snapshot.case_id,
            at=record.at,
            result=result,
            note=record.details.get("note", record.reason),
            deadline=deadline_of(record.details.get("deadline")),
            actor=record.actor,
        )
    )
    session.flush()


def _write_objection(session: Session, record: EventRecord) -> None:
    details = record.details
    if record.event == "lodge_objection":
        number = details.get("objection_id")
        session.add(
            ObjectionRow(
                event_key=record.key,
                case_id=record.snapshot.case_id,
                objection_no=int(number) if number and number.isdigit() else None,
                objector=details.get("objector", ""),
                reason=record.reason,
                lodged_at=record.at,
            )
        )
        session.flush()
    elif record.event in ("uphold_objection", "dismiss_objection"):
        objection = _objection_resolved_by(session, record)
        if objection is None:
            return  # the trail still has the event; nothing lodged through the registry to close
        objection.status = "upheld" if record.event == "uphold_objection" else "dismissed"
        objection.resolution = record.reason
        objection.resolved_at = record.at
        objection.resolved_event_key = record.key
        session.add(objection)
        session.flush()


def _objection_resolved_by(session: Session, record: EventRecord) -> ObjectionRow | None:
    """The objection the event names (``details["objection_id"]``), else the oldest open one."""
    query = select(ObjectionRow).where(
        ObjectionRow.case_id == record.snapshot.case_id, ObjectionRow.status == "open"
    )
    number = record.details.get("objection_id")
    if number and number.isdigit():
        query = query.where(ObjectionRow.objection_no == int(number))
    return session.exec(query.order_by(col(ObjectionRow.lodged_at), col(ObjectionRow.id))).first()

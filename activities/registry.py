"""``record_event``: one event of a case into the registry, with its notifications, atomically.

One transaction writes the audit row, the institute's current state, the evaluation or objection
the event creates, and the outbox rows of its recipients. The audit row's key
(``<workflow id>#<seq>``) is inserted first with ``ON CONFLICT DO NOTHING``: when it already exists
(a retry after a lost response, a replay, a concurrent duplicate) the call changes nothing else, so
every event leaves exactly one set of rows however often it runs.

The database calls block: the activity runs them in a thread. The outbox's mail is sent by the
``deliver_notifications`` activity and the queued pages by ``publish``, both scheduled by the case
after this one (``activities/notify.py``, ``activities/publish.py``).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.db import insert_ignoring, write_transaction
from activities.mailer import message_id, render
from activities.tables import (
    DocumentRow,
    EvaluationRow,
    EventRow,
    InstituteRow,
    NotificationRow,
    ObjectionRow,
    PageDueRow,
    WaitRow,
    table_of,
    utcnow,
)
from activities.templates import parse_moment
from models.candidates import organisation_key
from models.case import Stage
from models.limits import mailbox_problem
from models.notifications import publication_for
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


@dataclass(frozen=True)
class Mailboxes:
    """Who mail goes to when a recipient has no address of its own, and who it comes from."""

    mail_from: str
    bureau: str | None = None
    districts: dict[str, str] = field(default_factory=dict)
    """District code → the district officer's mailbox."""


class RegistryActivities:
    """The registry's write side. Register ``record_event`` as a bound method on the worker."""

    def __init__(self, engine: Engine, mailboxes: Mailboxes) -> None:
        self.engine = engine
        self.mailboxes = mailboxes

    @activity.defn(name=ActivityName.RECORD_EVENT)
    async def record_event(self, record: EventRecord) -> None:
        """Write ``record`` with its notifications; a second call with the same key is a no-op.

        Refused (for good) unless the workflow run that scheduled this activity, as the server
        says, is the case's own: no workflow writes another case's rows or pages.
        """
        info = activity.info()
        forged = caller_refusal(record, info.workflow_id, info.workflow_run_id)
        if forged:
            raise ApplicationError(forged, type="ForeignCase", non_retryable=True)
        await asyncio.to_thread(self.record_sync, record)

    def record_sync(self, record: EventRecord) -> bool:
        """The activity's body; True when this call wrote the event, False if it already was."""
        now = utcnow()
        # Everything is computed before the transaction opens: SQLite's write lock is held only
        # to write.
        mails = [self.outbox_row(record, recipient, now) for recipient in record.recipients]
        evaluation = _evaluation_values(record)
        statements = _statements(self.engine.dialect.name)
        with write_transaction(self.engine) as conn:
            if conn.execute(statements.event, _event_values(record, now)).first() is None:
                return False  # already recorded: a retry, a replay or a concurrent duplicate
            conn.execute(statements.institute, _institute_values(record, now))
            if record.event == "change_contact" and "new_organisation" in record.details:
                # A renamed company: the one event that changes a column the survey fixed.
                institutes = table_of(InstituteRow)
                conn.execute(
                    update(institutes)
                    .where(institutes.c.case_id == record.snapshot.case_id)
                    .values(organisation=record.snapshot.organisation)
                )
            if evaluation is not None:
                conn.execute(statements.evaluation, evaluation)
            _write_objection(conn, statements, record)
            _write_waits(conn, record)
            _write_document(conn, record, now)
            if mails:
                conn.execute(statements.notifications, mails)
            page = publication_for(record.event, record.from_stage.value, record.to_stage.value)
            if page is not None:
                # Queued with the event: the case's ``publish`` activity takes it off the queue.
                conn.execute(
                    statements.page_due,
                    {
                        "event_key": record.key,
                        "kind": page,
                        "case_id": record.snapshot.case_id,
                        "queued_at": now,
                    },
                )
            return True

    def address_of(self, recipient: Recipient, district: str) -> tuple[str | None, str | None]:
        """The mailbox of a recipient, or None with the reason nobody can be reached."""
        if recipient.email:
            return recipient.email, None
        if recipient.role == "bureau":
            if self.mailboxes.bureau:
                return self.mailboxes.bureau, None
            return None, "no bureau mailbox configured (IDRI_BUREAU_EMAIL)"
        if recipient.role == "district":
            address = self.mailboxes.districts.get(district)
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
        if problem is None:
            # Recorded undeliverable with its reason now, rather than retried for ever: an
            # address that is not one plain mailbox (a list, a line break) can never be sent.
            problem = mailbox_problem(address, f"the {recipient.role}'s")
            if problem is not None:
                problem += (
                    "; the mail stays in the outbox (idri mail --status undeliverable) to be "
                    "sent by hand to a corrected address"
                )
        key = f"{record.key}/{recipient.role}/{address or recipient.name or '-'}"
        mail = render(record, recipient, bureau_email=self.mailboxes.bureau or "")
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
            "status": "pending" if address and problem is None else "undeliverable",
            "attempts": 0,
            "last_error": problem,
            "created_at": now,
            "message_id": message_id(key, self.mailboxes.mail_from),
        }


def caller_refusal(record: EventRecord, workflow_id: str | None, run_id: str | None) -> str | None:
    """Why the workflow run ``workflow_id``/``run_id`` may not write ``record``, or None: a case's
    events are written by its own workflow, ``institute-<case id>``, under their own key."""
    case_id = record.snapshot.case_id
    own = f"institute-{case_id}"
    if workflow_id != own or record.workflow_id != own or run_id != record.run_id:
        return (
            f"workflow {workflow_id} may not write the registry of case {case_id} "
            f"(only {own} may); nothing was written"
        )
    if not record.key.startswith(f"{own}#"):
        return f"event key {record.key!r} is not one of case {case_id}'s; nothing was written"
    return None


def _event_values(record: EventRecord, now: datetime) -> dict[str, object]:
    return {
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
    }


def _institute_values(record: EventRecord, now: datetime) -> dict[str, object]:
    snapshot = record.snapshot
    return {
        "case_id": snapshot.case_id,
        "organisation": snapshot.organisation,
        "district": snapshot.district,
        "direction": snapshot.direction,
        "level": snapshot.level.value,
        "stage": snapshot.stage.value,
        "round_year": snapshot.round_year,
        "designated_at": snapshot.designated_at,
        "last_evaluated_at": snapshot.last_evaluated_at,
        "next_evaluation_due": snapshot.next_evaluation_due,
        "delisted_at": record.at if snapshot.stage is Stage.DELISTED else None,
        "previous_case_id": snapshot.previous_case_id,
        "workflow_id": record.workflow_id,
        "last_event_seq": record.seq,
        "updated_at": now,
    }


_INSTITUTE_KEPT = frozenset(
    {"case_id", "delisted_at", "organisation", "district", "direction", "previous_case_id"}
)
"""Columns an event's snapshot does not overwrite: the key, the first delisting time, and what
the case's survey fixed when it was created (its first event writes them). SQLite rewrites an
index entry for every column an upsert sets, changed or not: the survey's columns are left out."""


@dataclass(frozen=True)
class _Statements:
    """The statements of ``record_event`` for one dialect, built once; executed with parameters."""

    event: Any
    institute: Any
    evaluation: Any
    objection: Any
    resolve_numbered: Any
    resolve_oldest: Any
    notifications: Any
    page_due: Any


@functools.cache
def _statements(dialect: str) -> _Statements:
    institutes = table_of(InstituteRow)
    upsert = postgresql.insert(institutes) if dialect == "postgresql" else sqlite.insert(institutes)
    # One statement creates the row or applies the snapshot; the row lock it takes serialises two
    # events of one case, and an older event arriving late (a lower seq) changes nothing.
    institute = upsert.on_conflict_do_update(
        index_elements=["case_id"],
        set_={
            **{
                c.name: upsert.excluded[c.name]
                for c in institutes.c
                if c.name not in _INSTITUTE_KEPT
            },
            "delisted_at": func.coalesce(institutes.c.delisted_at, upsert.excluded.delisted_at),
        },
        where=institutes.c.last_event_seq <= upsert.excluded.last_event_seq,
    )
    objections = table_of(ObjectionRow)
    open_ones = (
        select(objections.c.id)
        .where(objections.c.case_id == bindparam("o_case_id"), objections.c.status == "open")
        .order_by(objections.c.lodged_at, objections.c.id)
        .limit(1)
    )
    resolve = update(objections).values(
        status=bindparam("o_status"),
        resolution=bindparam("o_resolution"),
        resolved_at=bindparam("o_resolved_at"),
        resolved_event_key=bindparam("o_event_key"),
    )
    numbered = open_ones.where(objections.c.objection_no == bindparam("o_number"))
    return _Statements(
        event=insert_ignoring(dialect, table_of(EventRow), ("key",), returning=True),
        institute=institute,
        evaluation=insert(table_of(EvaluationRow)),
        objection=insert(objections),
        resolve_numbered=resolve.where(objections.c.id == numbered.scalar_subquery()),
        resolve_oldest=resolve.where(objections.c.id == open_ones.scalar_subquery()),
        notifications=insert_ignoring(dialect, table_of(NotificationRow), ("key",)),
        page_due=insert_ignoring(dialect, table_of(PageDueRow), ("event_key",)),
    )


def deadline_of(value: str | None) -> datetime | None:
    """A deadline from ``details``: an aware datetime as is, a naive one in Beijing time, and a
    bare date as the end of that day in Beijing ("by 30 June" ends at midnight)."""
    moment = parse_moment(value)
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=CST)
    if isinstance(moment, date):
        return end_of_day(moment)
    return None


def _evaluation_values(record: EventRecord) -> dict[str, object] | None:
    result = EVALUATION_RESULTS.get(record.event)
    if record.event == "record_national_outcome":
        result = record.snapshot.level.value  # national, or still municipal
    if result is None:
        return None
    return {
        "event_key": record.key,
        "case_id": record.snapshot.case_id,
        "at": record.at,
        "result": result,
        "note": record.details.get("note", record.reason),
        "deadline": deadline_of(record.details.get("deadline")),
        "actor": record.actor,
    }


def _write_objection(conn: Connection, statements: _Statements, record: EventRecord) -> None:
    details = record.details
    given = details.get("objection_id")
    number = int(given) if given and given.isdigit() else None
    if record.event == "lodge_objection":
        conn.execute(
            statements.objection,
            {
                "event_key": record.key,
                "case_id": record.snapshot.case_id,
                "objection_no": number,
                "objector": details.get("objector", ""),
                # The objection's own words; the history's reason also names the objector.
                "reason": details.get("reason", record.reason),
                "lodged_at": record.at,
                "status": "open",
                "resolution": "",
            },
        )
    elif record.event in ("uphold_objection", "dismiss_objection"):
        # The objection the event names, else the oldest open one. None open: the trail still
        # has the event; nothing lodged through the registry to close.
        conn.execute(
            statements.resolve_oldest if number is None else statements.resolve_numbered,
            {
                "o_case_id": record.snapshot.case_id,
                "o_number": number,
                "o_status": "upheld" if record.event == "uphold_objection" else "dismissed",
                "o_resolution": record.reason,
                "o_resolved_at": record.at,
                "o_event_key": record.key,
            },
        )


DOCUMENT_EVENTS = {"submit_plan": "plan", "attach_document": None}
"""Events that record a document, and its kind (``attach_document`` names its own)."""


def _write_waits(conn: Connection, record: EventRecord) -> None:
    """Replace the case's waits by those after ``record`` (events of a case are recorded one
    after the other, each only once, so the last written is the case's current state)."""
    if record.waits is None:
        return  # a worker older than the inbox: its waits are unknown, leave the rows
    snapshot = record.snapshot
    waits = table_of(WaitRow)
    conn.execute(delete(waits).where(waits.c.case_id == snapshot.case_id))
    if not record.waits:
        return
    key = organisation_key(snapshot.organisation)
    conn.execute(
        insert(waits),
        [
            {
                "case_id": snapshot.case_id,
                "event_key": record.key,
                "role": wait.role.value,
                "who": wait.who,
                "action": wait.action,
                "description": wait.description,
                "since": wait.since,
                "due_at": wait.due_at,
                "district": snapshot.district,
                "organisation_key": key,
            }
            for wait in record.waits
        ],
    )


def _write_document(conn: Connection, record: EventRecord, now: datetime) -> None:
    if record.event not in DOCUMENT_EVENTS:
        return
    details = record.details
    size = details.get("size")
    conn.execute(
        insert(table_of(DocumentRow)),
        {
            "event_key": record.key,
            "case_id": record.snapshot.case_id,
            "kind": DOCUMENT_EVENTS[record.event] or details.get("kind", ""),
            "name": details.get("name") or details.get("file_name", ""),
            "sha256": details.get("sha256", ""),
            "size": int(size) if size and size.isdigit() else None,
            "media_type": details.get("media_type") or None,
            "recorded_by": record.actor,
            "recorded_at": now,
        },
    )

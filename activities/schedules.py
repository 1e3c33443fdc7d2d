"""Activities of the annual round and the evaluation sweep (``workflows/schedules.py``).

Where cases are found is pluggable (:class:`CaseSource`):

- :class:`RegistrySource` (default, ``IDRI_CASE_SOURCE=registry``) reads the registry database the
  case workflows write on every event: consistent reads, keyset paging by case id, and the audit
  trail for overdue items. It is also the only source the time-skipping test server can serve
  (that server implements no visibility list queries).
- :class:`VisibilitySource` (``IDRI_CASE_SOURCE=visibility``) asks Temporal visibility with the
  cases' search attributes (``IdriStage``, ``IdriRoundYear``, ``IdriDueAt``): no database needed,
  eventually consistent, paged with the server's page token.

Neither scans a workflow's history. Summaries go through the registry's outbox: one audit row
(keyed like a case event, ``<summary>#<what>``) and one notification row per recipient, written in
one transaction with ``ON CONFLICT DO NOTHING``, then delivered by the existing
``deliver_notifications`` activity. A summary written twice (a retry, a second run of the same
round) is stored, and so mailed, once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine, exists
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.db import insert_ignoring_duplicates, read_session, write_session
from activities.ended import RUNS_AGAIN_EVENT, TEMPORAL_ACTOR, clear_mark, mark_ended, undecided
from activities.endings import ended_workflow_ids, ending_of, running_run
from activities.mailer import message_id
from activities.registry import Mailboxes
from activities.registry_read import institutes
from activities.tables import EventRow, InstituteRow, NotificationRow, table_of, utcnow
from activities.templates import (
    district,
    mail_environment,
    parse_moment,
)
from models import search
from models.case import SYSTEM, TERMINAL_STAGES, Actor, EvaluationOpening, Role, Stage
from models.schedules import (
    OVERDUE_KIND_OF_STAGE,
    OVERDUE_KINDS,
    SAMPLE_LIMIT,
    OverdueReportRequest,
    OverdueReportResult,
    ReconcileResult,
    RoundCloseRequest,
    RoundCloseResult,
    RoundReminderRequest,
    RoundReminderResult,
    ScheduleActivityName,
    ScheduleRules,
    SweepPageRequest,
    SweepPageResult,
)
from models.time import cst_date

log = logging.getLogger(__name__)

SWEEP_ACTOR = Actor("idri evaluation sweep", Role.BUREAU_OFFICER)
"""The actor written into a case's history when the sweep opens its evaluation: the bureau's own
schedule acting for the bureau (an update may not claim ``system``, the workflow's timers' role)."""

NOT_RECOMMENDED = (Stage.SURVEYED, Stage.PLAN_SUBMITTED)
NEVER_IN_A_BATCH = (*NOT_RECOMMENDED, Stage.LAPSED, Stage.WITHDRAWN)
MAIL_LIST_LIMIT = 200
"""Cases listed per group in one summary mail; the rest is counted (``idri report`` has all)."""


@dataclass(frozen=True)
class CaseItem:
    """A case as a summary needs it."""

    case_id: str
    workflow_id: str
    district: str
    direction: str
    stage: str
    organisation: str | None = None
    """Unknown to visibility (search attributes carry codes only)."""
    round_year: int | None = None
    due_at: datetime | None = None
    kind: str | None = None
    """For an overdue item: the deadline kind (``OVERDUE_KINDS``)."""


class CaseSource(Protocol):
    """Where the scheduled workflows find cases."""

    name: str

    async def open_candidates(self, round_year: int) -> list[CaseItem]:
        """Cases of ``round_year`` not recommended yet (surveyed, plan submitted)."""
        ...

    async def round_batch(self, round_year: int) -> tuple[list[CaseItem], list[CaseItem]]:
        """(cases recommended in ``round_year``, older recommended cases still unreviewed)."""
        ...

    async def due_evaluations(
        self, due_before: datetime, cursor: str | None, limit: int
    ) -> tuple[list[CaseItem], str | None]:
        """Designated institutes due for evaluation before ``due_before``, one page."""
        ...

    async def overdue(self, as_of: datetime) -> list[CaseItem]:
        """Cases past a deadline at ``as_of``: evaluations, rectifications, reviews."""
        ...


# --- The registry as the source --------------------------------------------------------------


def _item(row: Any) -> CaseItem:
    return CaseItem(
        case_id=row.case_id,
        workflow_id=getattr(row, "workflow_id", None) or f"institute-{row.case_id}",
        district=row.district,
        direction=row.direction,
        stage=row.stage,
        organisation=row.organisation,
        round_year=row.round_year,
        due_at=getattr(row, "next_evaluation_due", None),
    )


class RegistrySource:
    """Cases from the registry database (``activities/tables.py``)."""

    name = "registry"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def open_candidates(self, round_year: int) -> list[CaseItem]:
        rows = await asyncio.to_thread(institutes, self.engine, stages=NOT_RECOMMENDED)
        return [_item(r) for r in rows if r.round_year == round_year]

    async def round_batch(self, round_year: int) -> tuple[list[CaseItem], list[CaseItem]]:
        rows = await asyncio.to_thread(institutes, self.engine)
        batch = [
            _item(r)
            for r in rows
            if r.round_year == round_year and Stage(r.stage) not in NEVER_IN_A_BATCH
        ]
        unreviewed = [
            _item(r)
            for r in rows
            if r.stage == Stage.RECOMMENDED.value and (r.round_year or 0) < round_year
        ]
        return batch, unreviewed

    async def due_evaluations(
        self, due_before: datetime, cursor: str | None, limit: int
    ) -> tuple[list[CaseItem], str | None]:
        return await asyncio.to_thread(self._due_page, due_before, cursor, limit)

    def _due_page(
        self, due_before: datetime, cursor: str | None, limit: int
    ) -> tuple[list[CaseItem], str | None]:
        # Keyset paging by case id: opening an evaluation moves a row out of the result, which
        # would shift an OFFSET; "case_id > last seen" is stable under that.
        query = select(InstituteRow).where(
            InstituteRow.stage == Stage.DESIGNATED.value,
            col(InstituteRow.next_evaluation_due) <= due_before,
        )
        if cursor is not None:
            query = query.where(col(InstituteRow.case_id) > cursor)
        query = query.order_by(col(InstituteRow.case_id)).limit(limit)
        with read_session(self.engine) as session:
            items = [_item(r) for r in session.exec(query)]
        return items, (items[-1].case_id if len(items) == limit else None)

    async def overdue(self, as_of: datetime) -> list[CaseItem]:
        return await asyncio.to_thread(overdue_in_registry, self.engine, as_of)


def overdue_in_registry(engine: Engine, as_of: datetime) -> list[CaseItem]:
    """Overdue items from the registry: the cases' own ``overdue``/``evaluation_due`` events
    (the case workflow decides what is overdue, ``models.deadlines``) still in force because the
    case has not changed stage since, and designated institutes whose evaluation date is past
    even if the case has not reported it yet."""
    later = aliased(EventRow)
    changed_since = exists().where(
        col(later.case_id) == col(EventRow.case_id),
        col(later.seq) > col(EventRow.seq),
        col(later.from_stage) != col(later.to_stage),
    )
    query = (
        select(EventRow, InstituteRow)
        .join(InstituteRow, col(InstituteRow.case_id) == col(EventRow.case_id))
        .where(
            col(EventRow.event).in_(("overdue", "evaluation_due")),
            col(EventRow.to_stage) == col(InstituteRow.stage),
            col(EventRow.at) <= as_of,
            ~changed_since,
        )
        .order_by(col(EventRow.case_id), col(EventRow.seq))
    )
    found: dict[str, CaseItem] = {}
    with read_session(engine) as session:
        for event, row in session.exec(query):
            due = parse_moment(event.details.get("due_at"))
            kind = event.details.get("deadline") or OVERDUE_KIND_OF_STAGE.get(row.stage)
            found[row.case_id] = CaseItem(
                case_id=row.case_id,
                workflow_id=row.workflow_id,
                district=row.district,
                direction=row.direction,
                stage=row.stage,
                organisation=row.organisation,
                round_year=row.round_year,
                due_at=due if isinstance(due, datetime) else None,
                kind=kind,
            )
        late = select(InstituteRow).where(
            InstituteRow.stage == Stage.DESIGNATED.value,
            col(InstituteRow.next_evaluation_due) < as_of,
        )
        for row in session.exec(late):
            if row.case_id not in found:
                found[row.case_id] = _with(_item(row), kind="evaluation_due")
    return sorted(found.values(), key=lambda i: (i.due_at or as_of, i.case_id))


def _with(item: CaseItem, **changes: Any) -> CaseItem:
    return replace(item, **changes)


# --- Visibility as the source ----------------------------------------------------------------

RUNNING_CASES = "WorkflowType = 'InstituteWorkflow' AND ExecutionStatus = 'Running'"
# Runs that continued as new keep their old IdriStage in visibility; only the latest run counts.
LATEST_RUNS = "WorkflowType = 'InstituteWorkflow' AND ExecutionStatus IN ('Running', 'Completed')"


def _stages(stages: Sequence[Stage | str]) -> str:
    return ", ".join(f"'{Stage(s).value}'" for s in stages)


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class VisibilitySource:
    """Cases from Temporal visibility (the search attributes the case workflows keep)."""

    name = "visibility"

    def __init__(self, client: Client | Callable[[], Client], *, page_size: int = 1000) -> None:
        self._client = client
        self.page_size = page_size

    @property
    def client(self) -> Client:
        return self._client if isinstance(self._client, Client) else self._client()

    async def _all(self, query: str) -> list[CaseItem]:
        return [
            _from_execution(e)
            async for e in self.client.list_workflows(query, page_size=self.page_size)
        ]

    async def open_candidates(self, round_year: int) -> list[CaseItem]:
        return await self._all(
            f"{RUNNING_CASES} AND {search.STAGE.name} IN ({_stages(NOT_RECOMMENDED)})"
            f" AND {search.ROUND_YEAR.name} = {int(round_year)}"
        )

    async def round_batch(self, round_year: int) -> tuple[list[CaseItem], list[CaseItem]]:
        recommended = [s for s in Stage if s not in NEVER_IN_A_BATCH]
        batch = await self._all(
            f"{LATEST_RUNS} AND {search.ROUND_YEAR.name} = {int(round_year)}"
            f" AND {search.STAGE.name} IN ({_stages(recommended)})"
        )
        unreviewed = await self._all(
            f"{RUNNING_CASES} AND {search.STAGE.name} = 'recommended'"
            f" AND {search.ROUND_YEAR.name} < {int(round_year)}"
        )
        return batch, unreviewed

    async def due_evaluations(
        self, due_before: datetime, cursor: str | None, limit: int
    ) -> tuple[list[CaseItem], str | None]:
        # A designated case without IdriDueAt has already reported its evaluation due (its timer
        # fired), so it is due too.
        query = (
            f"{RUNNING_CASES} AND {search.STAGE.name} = 'designated'"
            f" AND ({search.DUE_AT.name} <= '{_moment(due_before)}'"
            f" OR {search.DUE_AT.name} IS NULL)"
        )
        pages = self.client.list_workflows(
            query,
            page_size=limit,
            next_page_token=base64.b64decode(cursor) if cursor else None,
        )
        await pages.fetch_next_page()
        items = [_from_execution(e) for e in pages.current_page or ()]
        token = pages.next_page_token
        return items, (base64.b64encode(token).decode() if token else None)

    async def overdue(self, as_of: datetime) -> list[CaseItem]:
        items = await self._all(
            f"{RUNNING_CASES} AND {search.STAGE.name} IN ({_stages(list(OVERDUE_KIND_OF_STAGE))})"
            f" AND ({search.DUE_AT.name} < '{_moment(as_of)}' OR {search.DUE_AT.name} IS NULL)"
        )
        return [_with(i, kind=OVERDUE_KIND_OF_STAGE[i.stage]) for i in items]


def _from_execution(execution: Any) -> CaseItem:
    attributes = execution.typed_search_attributes
    return CaseItem(
        case_id=execution.id.removeprefix("institute-"),
        workflow_id=execution.id,
        district=attributes.get(search.DISTRICT) or "",
        direction=attributes.get(search.DIRECTION) or "",
        stage=attributes.get(search.STAGE) or "",
        round_year=attributes.get(search.ROUND_YEAR),
        due_at=attributes.get(search.DUE_AT),
    )


# --- The outbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryMail:
    role: str
    """district or bureau."""
    name: str
    address: str | None
    problem: str | None
    """Why nobody can be reached (no mailbox configured): the row is kept as undeliverable."""
    subject: str
    body: str


def render_summary(template: str, **context: Any) -> tuple[str, str]:
    """(subject, body) of a summary mail; line 1 of the template is the subject."""
    text = mail_environment().get_template(f"mail/{template}.txt.j2").render(context)
    subject, _, body = text.partition("\n")
    body = "\n".join(line.rstrip() for line in body.strip("\n").splitlines())
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    return " ".join(subject.split()), body + "\n"


def post_summary(
    engine: Engine,
    *,
    key: str,
    event: str,
    at: datetime,
    workflow_id: str,
    run_id: str,
    reason: str,
    details: dict[str, str],
    mails: Sequence[SummaryMail],
    mail_from: str,
) -> bool:
    """Write one summary to the audit trail and the outbox; False when ``key`` was already there.

    The audit row's ``case_id`` is the summary's name (the part of ``key`` before ``#``, e.g.
    ``idri-annual-round/2027``) and its stages are empty: it is about the programme, not a case.
    """
    subject_id = key.partition("#")[0]
    now = utcnow()
    with write_session(engine) as session:
        inserted = insert_ignoring_duplicates(
            session,
            table_of(EventRow),
            {
                "key": key,
                "case_id": subject_id,
                "workflow_id": workflow_id,
                "run_id": run_id,
                "seq": 0,
                "at": at,
                "event": event,
                "from_stage": "",
                "to_stage": "",
                "actor": SYSTEM.name,
                "role": Role.SYSTEM.value,
                "reason": reason,
                "details": details,
                "recorded_at": now,
            },
            ["key"],
        )
        if not inserted:
            return False
        for mail in mails:
            row_key = f"{key}/{mail.role}/{mail.address or mail.name or '-'}"
            insert_ignoring_duplicates(
                session,
                table_of(NotificationRow),
                {
                    "key": row_key,
                    "event_key": key,
                    "case_id": subject_id,
                    "role": mail.role,
                    "name": mail.name,
                    "address": mail.address,
                    "subject": mail.subject,
                    "body": mail.body,
                    "status": "pending" if mail.address else "undeliverable",
                    "attempts": 0,
                    "last_error": mail.problem,
                    "created_at": now,
                    "message_id": message_id(row_key, mail_from),
                },
                ["key"],
            )
        return True


def _unmarked_open_cases(engine: Engine) -> list[tuple[str, str]]:
    """(case id, workflow id) of every case not in a terminal stage and not marked as ended
    outside the lifecycle: the ones whose workflow should still be running."""
    query = select(InstituteRow.case_id, InstituteRow.workflow_id).where(
        col(InstituteRow.stage).not_in([s.value for s in TERMINAL_STAGES]),
        col(InstituteRow.ended_how).is_(None),
    )
    with read_session(engine) as session:
        return [(case_id, workflow_id) for case_id, workflow_id in session.exec(query)]


# --- The activities --------------------------------------------------------------------------


class ScheduleActivities:
    """The annual round's and the evaluation sweep's side effects.

    ``client`` sends the ``open_evaluation`` updates; by default the worker's own client
    (``activity.client()``). ``source`` finds cases; by default the registry.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        rules: ScheduleRules,
        mailboxes: Mailboxes,
        sweep_concurrency: int = 20,
        client: Client | None = None,
        source: CaseSource | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.mailboxes = mailboxes
        self.sweep_concurrency = sweep_concurrency
        """Evaluations opened at the same time within a page."""
        self._client = client
        self.source = source or RegistrySource(engine)

    def _bureau_mail(self, subject: str, body: str) -> SummaryMail:
        """A summary for the bureau; recorded as undeliverable when no mailbox is configured."""
        bureau = self.mailboxes.bureau
        missing = None if bureau else "no bureau mailbox configured (IDRI_BUREAU_EMAIL)"
        return SummaryMail("bureau", "", bureau, missing, subject, body)

    @property
    def client(self) -> Client:
        return self._client or activity.client()

    @activity.defn(name=ScheduleActivityName.LOAD_RULES)
    async def load_schedule_rules(self) -> ScheduleRules:
        return self.rules

    # --- The annual round ---------------------------------------------------------------------

    @activity.defn(name=ScheduleActivityName.REMIND_DISTRICTS)
    async def remind_districts(self, request: RoundReminderRequest) -> RoundReminderResult:
        """One summary per district with cases of the round not recommended yet."""
        cases = await self.source.open_candidates(request.round_year)
        by_district: dict[str, list[CaseItem]] = defaultdict(list)
        for case in sorted(cases, key=lambda c: (c.district, c.case_id)):
            by_district[case.district].append(case)
        mails = []
        for code, items in sorted(by_district.items()):
            subject, body = render_summary(
                "round_reminder",
                round_year=request.round_year,
                lead_days=request.lead_days,
                deadline=request.deadline,
                district_l=district(code),
                cases=items[:MAIL_LIST_LIMIT],
                bureau_email=self.mailboxes.bureau or "",
            )
            address = self.mailboxes.districts.get(code)
            problem = (
                None if address else f"no mailbox for district {code!r} (IDRI_DISTRICT_EMAILS)"
            )
            mails.append(SummaryMail("district", code, address, problem, subject, body))
        queued = bool(mails) and await asyncio.to_thread(
            post_summary,
            self.engine,
            key=request.key,
            event="round_reminder_summary",
            at=request.at,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            reason=(
                f"{request.lead_days} days before the {request.round_year} round closes: "
                f"{len(cases)} case(s) in {len(by_district)} district(s) not recommended"
            ),
            details={
                "round_year": str(request.round_year),
                "lead_days": str(request.lead_days),
                "districts": ",".join(sorted(by_district)),
                "cases": str(len(cases)),
                "source": self.source.name,
            },
            mails=mails,
            mail_from=self.mailboxes.mail_from,
        )
        return RoundReminderResult(
            request.key, request.lead_days, request.at, len(by_district), len(cases), queued
        )

    @activity.defn(name=ScheduleActivityName.CLOSE_ROUND)
    async def close_round(self, request: RoundCloseRequest) -> RoundCloseResult:
        """The bureau's batch: the round's recommended cases, and older ones still unreviewed."""
        batch, unreviewed = await self.source.round_batch(request.round_year)
        batch.sort(key=lambda c: (c.district, c.case_id))
        unreviewed.sort(key=lambda c: (c.round_year or 0, c.district, c.case_id))
        subject, body = render_summary(
            "round_close",
            round_year=request.round_year,
            deadline=request.deadline,
            batch=batch[:MAIL_LIST_LIMIT],
            unreviewed=unreviewed[:MAIL_LIST_LIMIT],
        )
        mail = self._bureau_mail(subject, body)
        # The bureau hears of every close, even an empty round: silence would look like a fault.
        queued = await asyncio.to_thread(
            post_summary,
            self.engine,
            key=request.key,
            event="round_closed",
            at=request.at,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            reason=(
                f"round {request.round_year} closed: {len(batch)} recommended, "
                f"{len(unreviewed)} from earlier rounds unreviewed"
            ),
            details={
                "round_year": str(request.round_year),
                "batch": str(len(batch)),
                "unreviewed": str(len(unreviewed)),
                "batch_cases": ",".join(c.case_id for c in batch[:MAIL_LIST_LIMIT]),
                "source": self.source.name,
            },
            mails=[mail],
            mail_from=self.mailboxes.mail_from,
        )
        return RoundCloseResult(
            request.key,
            request.at,
            len(batch),
            len(unreviewed),
            queued,
            [c.case_id for c in batch[:SAMPLE_LIMIT]],
        )

    # --- The evaluation sweep -----------------------------------------------------------------

    @activity.defn(name=ScheduleActivityName.OPEN_DUE_EVALUATIONS)
    async def open_due_evaluations(self, request: SweepPageRequest) -> SweepPageResult:
        """Open the evaluation of each due institute of one page (an update per case).

        A refusal (already under evaluation, not yet in its window) is counted, not retried: the
        case's validator is the judge, so a second sweep opens nothing twice. A case workflow
        that no longer runs is counted as missing. Anything else (the server unreachable) fails
        the activity after the page, and the retry opens only what is still closed.
        """
        items, next_cursor = await self.source.due_evaluations(
            request.due_before, request.cursor, request.page_size
        )
        semaphore = asyncio.Semaphore(self.sweep_concurrency)
        done = 0

        async def one(item: CaseItem) -> tuple[str, str | None]:
            nonlocal done
            async with semaphore:
                outcome = await self._open(item, request.as_of)
                done += 1
                if activity.in_activity():
                    activity.heartbeat(done)
                return outcome

        results = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        outcomes = [r for r in results if not isinstance(r, BaseException)]
        opened = [items[i].case_id for i, (what, _) in enumerate(outcomes) if what == "opened"]
        refusals = [note for what, note in outcomes if what == "refused" and note]
        return SweepPageResult(
            next_cursor=next_cursor,
            found=len(items),
            opened=len(opened),
            refused=sum(1 for what, _ in outcomes if what == "refused"),
            missing=sum(1 for what, _ in outcomes if what == "missing"),
            opened_sample=opened[:SAMPLE_LIMIT],
            refusals=refusals[:SAMPLE_LIMIT],
        )

    async def _open(self, item: CaseItem, as_of: datetime) -> tuple[str, str | None]:
        from workflows.institute import InstituteWorkflow

        due = f"; due {cst_date(item.due_at)}" if item.due_at else ""
        opening = EvaluationOpening(
            SWEEP_ACTOR, f"opened by the evaluation sweep of {cst_date(as_of)}{due}"
        )
        handle = self.client.get_workflow_handle_for(InstituteWorkflow.run, item.workflow_id)
        try:
            await handle.execute_update(InstituteWorkflow.open_evaluation, opening)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            return "refused", f"{item.case_id}: {message}"
        except RPCError as error:
            if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                log.warning("no running case behind %s: %s", item.workflow_id, error.message)
                return "missing", f"{item.case_id}: {error.message}"
            raise
        return "opened", None

    @activity.defn(name=ScheduleActivityName.REPORT_OVERDUE)
    async def report_overdue(self, request: OverdueReportRequest) -> OverdueReportResult:
        """Tell the bureau what the sweep opened and what is overdue (nothing to tell: no mail)."""
        items = await self.source.overdue(request.as_of)
        by_kind: dict[str, list[CaseItem]] = defaultdict(list)
        for item in items:
            by_kind[item.kind or "overdue"].append(item)
        counts = {kind: len(by_kind[kind]) for kind in OVERDUE_KINDS if by_kind.get(kind)}
        counts.update({k: len(v) for k, v in by_kind.items() if k not in counts})
        totals = request.totals
        if not items and not totals.opened:
            return OverdueReportResult(request.key, counts, 0, False)
        groups = [
            {
                "label": OVERDUE_KINDS.get(kind, {"zh": kind, "en": kind}),
                "cases": group,
                "shown": group[:MAIL_LIST_LIMIT],
                "more": max(len(group) - MAIL_LIST_LIMIT, 0),
            }
            for kind, group in sorted(
                by_kind.items(),
                key=lambda kv: list(OVERDUE_KINDS).index(kv[0]) if kv[0] in OVERDUE_KINDS else 99,
            )
        ]
        subject, body = render_summary(
            "sweep_report",
            as_of=request.as_of,
            totals=totals,
            window_days=self.rules.evaluation_open_window_days,
            groups=groups,
            overdue_total=len(items),
        )
        mail = self._bureau_mail(subject, body)
        queued = await asyncio.to_thread(
            post_summary,
            self.engine,
            key=request.key,
            event="evaluation_sweep",
            at=request.as_of,
            workflow_id=request.workflow_id,
            run_id=request.run_id,
            reason=f"{totals.opened} evaluation(s) opened; {len(items)} overdue item(s)",
            details={
                "opened": str(totals.opened),
                "refused": str(totals.refused),
                "missing": str(totals.missing),
                "overdue": str(len(items)),
                **{f"overdue_{k}": str(v) for k, v in counts.items()},
                "source": self.source.name,
            },
            mails=[mail],
            mail_from=self.mailboxes.mail_from,
        )
        return OverdueReportResult(request.key, counts, len(items), queued)

    @activity.defn(name=ScheduleActivityName.RECONCILE_REGISTRY)
    async def reconcile_registry(self) -> ReconcileResult:
        """Bring the registry's marks in line with Temporal; the sweep's publish step then
        republishes the registry page.

        - Mark every institute whose workflow ended outside the lifecycle (terminated,
          cancelled, timed out, failed). Temporal visibility lists the case workflows with such
          a run, in pages (:func:`ended_workflow_ids`); only those of them the registry has
          unmarked and open are described. A server without visibility lists (the
          time-skipping test server) is asked case by case instead.
        - Clear the mark of a case the bureau has not closed when its workflow runs again (a
          reset done with the ``temporal`` CLI heals as ``idri ended reinstate`` does).
        """
        # Marks first: a case marked in this pass is not asked again whether it runs.
        marks = await asyncio.to_thread(undecided, self.engine)
        cleared = await self._each(marks, self._clear_if_running)
        for case_id in cleared:
            log.warning("case %s runs again: its ended mark is cleared", case_id)
        unmarked = await asyncio.to_thread(_unmarked_open_cases, self.engine)
        listed = await ended_workflow_ids(self.client)
        if listed is not None:
            unmarked = [case for case in unmarked if case[1] in listed]
        marked = await self._each(unmarked, self._mark_if_ended)
        for case_id in marked:
            log.warning("case %s ended outside the lifecycle: marked in the registry", case_id)
        return ReconcileResult(
            len(unmarked) + len(marks),
            len(marked),
            marked[:SAMPLE_LIMIT],
            len(cleared),
            cleared[:SAMPLE_LIMIT],
        )

    async def _each(
        self, cases: list[tuple[str, str]], check: Callable[[str, str], Any]
    ) -> list[str]:
        """The case ids for which ``check(case_id, workflow_id)`` is true, asked
        ``sweep_concurrency`` at a time, heartbeating as they come."""
        semaphore = asyncio.Semaphore(self.sweep_concurrency)
        done = 0

        async def one(case_id: str, workflow_id: str) -> bool:
            nonlocal done
            async with semaphore:
                result = bool(await check(case_id, workflow_id))
                done += 1
                if activity.in_activity():
                    activity.heartbeat(done)
                return result

        results = await asyncio.gather(*(one(*case) for case in cases))
        return [case_id for (case_id, _), yes in zip(cases, results, strict=True) if yes]

    async def _mark_if_ended(self, case_id: str, workflow_id: str) -> bool:
        ending = await ending_of(self.client, workflow_id)
        return ending is not None and await asyncio.to_thread(
            mark_ended, self.engine, case_id, ending
        )

    async def _clear_if_running(self, case_id: str, workflow_id: str) -> bool:
        run_id = await running_run(self.client, workflow_id)
        if run_id is None:
            return False
        return await asyncio.to_thread(
            clear_mark,
            self.engine,
            case_id,
            event=RUNS_AGAIN_EVENT,
            actor=TEMPORAL_ACTOR,
            role=Role.SYSTEM,
            reason="the case's workflow runs again (reset outside idri)",
            run_id=run_id,
        )

    def all(self) -> list[Callable[..., Any]]:
        """The activities to register on the worker."""
        return [
            self.load_schedule_rules,
            self.remind_districts,
            self.close_round,
            self.open_due_evaluations,
            self.report_overdue,
            self.reconcile_registry,
        ]

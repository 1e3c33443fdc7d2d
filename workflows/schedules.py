"""The programme's calendar, run by Temporal Schedules (``idri/schedules.py`` installs them).

- :class:`AnnualRoundWorkflow` (schedule ``idri-annual-round``, once a year): district summaries
  of the cases not yet recommended, on each reminder day before 30 April (Beijing time), then the
  round's close: the bureau gets the batch of recommended cases and the ones still unreviewed.
  Each case already reminds its own applicant and district and lapses on its own
  (``workflows/institute.py``); this workflow does the district and bureau summaries.
- :class:`EvaluationSweepWorkflow` (schedule ``idri-evaluation-sweep``, daily): opens the
  evaluation of every designated institute whose evaluation is due, page by page, reports what
  is overdue to the bureau, marks in the registry the institutes whose workflow ended outside the
  lifecycle (terminated, cancelled, ...), then sends any mail and publishes any page still
  waiting in the registry's queues.

Workflow code imports only ``models/`` and the SDK; finding cases, opening evaluations and
writing the outbox are activities (``activities/schedules.py``), called by name.

Determinism: the round year and every reminder time derive from ``workflow.now()`` and the rules
the ``load_schedule_rules`` activity returned; nothing reads a clock or settings directly.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.records import ActivityName, DeliveryRequest
    from models.schedules import (
        ANNUAL_ROUND_ID,
        OverdueReportRequest,
        OverdueReportResult,
        ReconcileResult,
        RoundCloseRequest,
        RoundCloseResult,
        RoundInput,
        RoundReminderRequest,
        RoundReminderResult,
        RoundResult,
        ScheduleActivityName,
        ScheduleRules,
        SweepInput,
        SweepPageRequest,
        SweepPageResult,
        SweepResult,
        SweepTotals,
    )
    from models.time import round_deadline, round_year_for

SWEEP_EMPTIES_QUEUES = "sweep-empties-queues"
"""Patch: sweeps from this version on end by delivering every mail still pending and publishing
every page still queued: cases that began before the ``outbox-by-activities`` patch leave theirs
to the queues until they continue as new, and a delivery that failed for good is tried again.
Same release: first they mark the cases ended outside the lifecycle (``reconcile_registry``)."""

QUICK: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)
# A summary reads the registry (or visibility) and writes one outbox event: a registry that is
# down for a while is waited out, never given up on.
SUMMARY: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
# A page sends up to ``sweep_page_size`` updates; it heartbeats after each one, so a worker that
# dies mid-page is noticed within a minute and the page runs again (opening twice opens nothing
# twice: the case's validator refuses the second).
PAGE: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(minutes=30),
    heartbeat_timeout=timedelta(minutes=1),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
DELIVERY: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
)


async def _load_rules() -> ScheduleRules:
    return await workflow.execute_activity(
        ScheduleActivityName.LOAD_RULES, result_type=ScheduleRules, summary="load rules", **QUICK
    )


def _deliver(key: str, summary: str) -> asyncio.Task[Any]:
    """Deliver the outbox rows of one summary, in the background: a mail server that is down for
    hours must not hold back the next reminder. The run waits for these before it ends."""
    return asyncio.create_task(
        workflow.execute_activity(
            ActivityName.DELIVER_NOTIFICATIONS, DeliveryRequest(key), summary=summary, **DELIVERY
        )
    )


@workflow.defn
class AnnualRoundWorkflow:
    """One recommendation round: district summaries on the reminder days, the bureau's batch at
    the deadline (end of 30 April, Beijing time)."""

    @workflow.run
    async def run(self, input: RoundInput) -> RoundResult:
        rules = await _load_rules()
        info = workflow.info()
        month, day = rules.round_deadline_month, rules.round_deadline_day
        year = input.round_year or round_year_for(workflow.now(), month, day)
        deadline = round_deadline(year, month, day)
        # Keys name the round, not this run: a triggered run and the scheduled one of the same
        # year write the same outbox rows, so nobody is told twice.
        base = f"{ANNUAL_ROUND_ID}/{year}"
        deliveries: list[asyncio.Task[Any]] = []
        reminders: list[RoundReminderResult] = []
        skipped: list[int] = []
        for lead in sorted(set(rules.reminder_lead_days), reverse=True):
            at = deadline - timedelta(days=lead)
            if at < workflow.now():
                # Like the cases' own reminders: a reminder whose day has passed is not sent late.
                skipped.append(lead)
                continue
            await workflow.sleep(at - workflow.now(), summary=f"{lead} days before the deadline")
            result = await workflow.execute_activity(
                ScheduleActivityName.REMIND_DISTRICTS,
                RoundReminderRequest(
                    round_year=year,
                    lead_days=lead,
                    deadline=deadline,
                    at=workflow.now(),
                    key=f"{base}#remind-{lead}",
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                ),
                result_type=RoundReminderResult,
                summary=f"district summaries, {lead} days left",
                **SUMMARY,
            )
            reminders.append(result)
            if result.queued:
                deliveries.append(_deliver(result.key, f"mail: {lead}-day reminders"))
        if deadline > workflow.now():
            await workflow.sleep(deadline - workflow.now(), summary=f"round {year} closes")
        closed = await workflow.execute_activity(
            ScheduleActivityName.CLOSE_ROUND,
            RoundCloseRequest(
                round_year=year,
                deadline=deadline,
                at=workflow.now(),
                key=f"{base}#close",
                workflow_id=info.workflow_id,
                run_id=info.run_id,
            ),
            result_type=RoundCloseResult,
            summary=f"close round {year}",
            **SUMMARY,
        )
        if closed.queued:
            deliveries.append(_deliver(closed.key, "mail: the round's batch"))
        await asyncio.gather(*deliveries)
        return RoundResult(year, deadline, reminders, skipped, closed)


@workflow.defn
class EvaluationSweepWorkflow:
    """Open every due evaluation and report what is overdue; pages of institutes, and a new run
    every ``sweep_pages_per_run`` pages, so 10,000 institutes fit in a small history."""

    @workflow.run
    async def run(self, input: SweepInput) -> SweepResult:
        rules = await _load_rules()
        info = workflow.info()
        as_of = input.as_of or workflow.now()
        due_before = as_of + timedelta(days=rules.evaluation_open_window_days)
        totals = input.totals or SweepTotals()
        cursor = input.cursor
        pages_this_run = 0
        while True:
            page = await workflow.execute_activity(
                ScheduleActivityName.OPEN_DUE_EVALUATIONS,
                SweepPageRequest(as_of, due_before, cursor, rules.sweep_page_size),
                result_type=SweepPageResult,
                summary=f"page {totals.pages + 1}",
                **PAGE,
            )
            totals.add(page)
            cursor = page.next_cursor
            if cursor is None:
                break
            pages_this_run += 1
            if (
                pages_this_run >= rules.sweep_pages_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(SweepInput(as_of, cursor, totals))
        overdue = await workflow.execute_activity(
            ScheduleActivityName.REPORT_OVERDUE,
            OverdueReportRequest(
                as_of=as_of,
                key=f"{info.workflow_id}#report",
                workflow_id=info.workflow_id,
                run_id=info.run_id,
                totals=totals,
            ),
            result_type=OverdueReportResult,
            summary="report overdue items",
            **SUMMARY,
        )
        if overdue.queued:
            await _deliver(overdue.key, "mail: the sweep's report")
        if workflow.patched(SWEEP_EMPTIES_QUEUES):
            # Before publishing: a case ended outside the lifecycle queues the registry page.
            await workflow.execute_activity(
                ScheduleActivityName.RECONCILE_REGISTRY,
                result_type=ReconcileResult,
                summary="cases ended outside the lifecycle",
                **PAGE,
            )
            await workflow.execute_activity(
                ActivityName.PUBLISH_QUEUED, summary="pages still queued", **SUMMARY
            )
            await workflow.execute_activity(
                ActivityName.DELIVER_NOTIFICATIONS,
                DeliveryRequest(None),
                summary="mail still pending",
                **DELIVERY,
            )
        return SweepResult(as_of, totals, overdue)

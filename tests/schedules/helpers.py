"""Shared steps of the schedule tests: start the scheduled workflows as their schedules would,
and read what they wrote to the registry's audit trail and outbox."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.db import create_registry_engine, read_session
from activities.tables import EventRow, NotificationRow
from models.case import Actor, PlanSubmission, Recommendation, Role, Stage
from models.schedules import (
    ANNUAL_ROUND_ID,
    EVALUATION_SWEEP_ID,
    RoundInput,
    RoundResult,
    SweepInput,
    SweepResult,
)
from models.time import round_deadline, round_year_for
from tests.lifecycle.harness import Case, Harness, harness
from workflows.institute import InstituteWorkflow
from workflows.schedules import AnnualRoundWorkflow, EvaluationSweepWorkflow


@contextmanager
def registry(h: Harness) -> Iterator[Engine]:
    engine = create_registry_engine(h.settings.registry_url)
    try:
        yield engine
    finally:
        engine.dispose()


def summaries(engine: Engine, event: str) -> list[EventRow]:
    """Programme-level summaries (``round_reminder_summary``, ``round_closed``,
    ``evaluation_sweep``) in the audit trail, oldest first."""
    with read_session(engine) as session:
        query = select(EventRow).where(EventRow.event == event).order_by(col(EventRow.at))
        return list(session.exec(query))


def mails(engine: Engine, event_key: str) -> list[NotificationRow]:
    with read_session(engine) as session:
        query = select(NotificationRow).where(NotificationRow.event_key == event_key)
        return list(session.exec(query.order_by(col(NotificationRow.key))))


T = TypeVar("T")
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING

STARTED: dict[str, list[str]] = defaultdict(list)
"""Scheduled-workflow ids started per task queue (terminated by ``schedule_harness``)."""


async def start_round(
    h: Harness, round_year: int | None = None
) -> WorkflowHandle[AnnualRoundWorkflow, RoundResult]:
    """Start an annual round run the way the schedule does (a fresh id per start)."""
    workflow_id = f"{ANNUAL_ROUND_ID}-{uuid.uuid4().hex[:8]}"
    STARTED[h.settings.task_queue].append(workflow_id)
    await h.client.start_workflow(
        AnnualRoundWorkflow.run,
        RoundInput(round_year),
        id=workflow_id,
        task_queue=h.settings.task_queue,
    )
    return _plain(h, AnnualRoundWorkflow.run, workflow_id)


def _plain(h: Harness, run: Any, workflow_id: str) -> Any:
    """A handle whose ``result()`` does not unlock time skipping.

    The handle ``start_workflow`` returns on the time-skipping server unlocks time while it waits
    for the result, and the clock then jumps to whatever timer comes next (another case's
    reminder, months ahead). Tests advance time themselves, so they wait without unlocking.
    """
    return h.client.get_workflow_handle_for(run, workflow_id)


async def run_round(h: Harness, round_year: int | None = None) -> RoundResult:
    """A whole round run: started now, time advanced past its deadline, its result."""
    handle = await start_round(h, round_year)
    year = round_year or round_year_for(await h.now())
    await h.advance_to(round_deadline(year) + timedelta(hours=1))
    await wait_closed(h, handle.id)
    return await handle.result()


async def sweep(h: Harness, as_of: datetime | None = None) -> SweepResult:
    """One evaluation sweep, started the way the schedule does, run to its end."""
    workflow_id = f"{EVALUATION_SWEEP_ID}-{uuid.uuid4().hex[:8]}"
    STARTED[h.settings.task_queue].append(workflow_id)
    await h.client.start_workflow(
        EvaluationSweepWorkflow.run,
        SweepInput(as_of),
        id=workflow_id,
        task_queue=h.settings.task_queue,
    )
    handle: WorkflowHandle[EvaluationSweepWorkflow, SweepResult] = _plain(
        h, EvaluationSweepWorkflow.run, workflow_id
    )
    await wait_closed(h, workflow_id)
    return await handle.result()


def officer(district: str) -> Actor:
    return Actor("区工信局经办人", Role.DISTRICT_OFFICER, district)


async def submit_plan(case: Case, district: str) -> None:
    await case.handle.execute_update(
        InstituteWorkflow.submit_plan, PlanSubmission(officer(district), "plan.pdf", "a" * 64)
    )


async def recommend(case: Case, district: str) -> None:
    """The district officer of ``district`` recommends ``case`` (its plan first, if missing)."""
    if await case.stage() is Stage.SURVEYED:
        await submit_plan(case, district)
    await case.handle.execute_update(
        InstituteWorkflow.recommend, Recommendation(officer(district), "推荐：基础扎实")
    )


async def events_of(case: Case) -> list[str]:
    return await case.history_events()


@asynccontextmanager
async def schedule_harness(
    env: WorkflowEnvironment, data_dir: Path, **overrides: Any
) -> AsyncIterator[Harness]:
    """The lifecycle harness, plus cleanup: every workflow the test started on its task queue is
    terminated at the end. The time-skipping server cannot skip past the timer of a workflow
    whose worker is gone (its task waits for a poller), so a test leaves nothing running."""
    async with harness(env, data_dir, **overrides) as h:
        try:
            yield h
        finally:
            await terminate_all(h)


async def terminate_all(h: Harness) -> None:
    """Let running activities finish, then terminate what still runs.

    An activity the worker had started when it stops holds the test server's clock for good
    (it waits for the activity's completion, in time it no longer advances), so the test's
    background work (a case's mails after an update, say) is drained first.
    """
    ids = {case.handle.id for case in h.cases} | set(STARTED.pop(h.settings.task_queue, []))
    for workflow_id in sorted(ids):
        with contextlib.suppress(RPCError):  # already closed
            for _ in range(100):
                description = await _describe(h, workflow_id)
                if description.workflow_execution_info.status != RUNNING:
                    break
                if not description.pending_activities:
                    break
                await asyncio.sleep(0.05)
            await h.client.get_workflow_handle(workflow_id).terminate("test finished")


async def _describe(h: Harness, workflow_id: str) -> DescribeWorkflowExecutionResponse:
    """The raw description (the SDK's ``describe()`` cannot decode the datetime search attribute
    the time-skipping server returns)."""
    return await h.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=h.client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )


async def wait_closed(h: Harness, workflow_id: str, *, seconds: float = 20) -> None:
    """Wait (in real time, the clock stays) until a workflow has closed.

    A plain handle's ``result()`` on the time-skipping server does not wait for an open
    workflow; it fails with "No completion event found"."""
    for _ in range(int(seconds / 0.02)):
        if (await _describe(h, workflow_id)).workflow_execution_info.status != RUNNING:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{workflow_id} still running after {seconds}s")


async def finished(h: Harness, handle: WorkflowHandle[Any, T]) -> T:
    """The result of a workflow that time already carried to its end."""
    await wait_closed(h, handle.id)
    return await handle.result()


async def settled(case: Case, stage: Stage, *, seconds: float = 10) -> None:
    """Wait in real time (the clock stays) for ``case`` to reach ``stage``: ``env.sleep``
    returns once the timers have fired, while the work they started may still be running."""
    for _ in range(int(seconds / 0.02)):
        if await case.stage() is stage:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"case {case.case_id} is {await case.stage()}, not {stage}")

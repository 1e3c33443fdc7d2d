"""Simulation: the wall time of a 10-year lifecycle on the time-skipping test server.

One case, the real worker and activities (registry, outbox and pages on SQLite in a temporary
directory): survey to designation (the real five-working-day public notice), then a tracking
evaluation rated good every three years, until ten years have passed. Also, for scale, the
programme simulation ``idri simulate`` runs (``idri.simulate``: ten rounds, new cases every year,
seeded random decisions, the annual round and the sweep).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from bench.lifecycle import BUREAU, real_updates, survey
from idri.settings import Settings
from models import search
from models.case import (
    CaseStatus,
    EvaluationOpening,
    EvaluationRecord,
    EvaluationResult,
    InstituteInput,
)
from workflows.institute import InstituteWorkflow, workflow_id

YEARS = 10


@dataclass
class SimulationResult:
    lifecycle_seconds: float
    evaluations: int
    final_stage: str
    programme_seconds: float | None
    programme_cases: int | None


async def _register(client: Client) -> None:
    with contextlib.suppress(RPCError):
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={k.name: int(k.indexed_value_type.value) for k in search.ALL},  # type: ignore[misc]
            )
        )


async def ten_year_case(env: WorkflowEnvironment, data_dir: Path) -> tuple[int, str]:
    """Drive one case for ten simulated years; return (evaluations, final stage)."""
    from idri.worker import build_worker

    settings = Settings(data_dir=data_dir, task_queue=f"bench-sim-{uuid.uuid4().hex[:6]}")
    client = env.client
    start = await env.get_current_time()
    end = start + timedelta(days=365 * YEARS)
    case_id = f"sim{uuid.uuid4().hex[:6]}"
    evaluations = 0
    async with build_worker(client, settings):
        handle = await client.start_workflow(
            InstituteWorkflow.run,
            InstituteInput(survey(case_id, 0)),
            id=workflow_id(case_id),
            task_queue=settings.task_queue,
        )
        for method, argument in real_updates():
            await handle.execute_update(method, argument)

        async def status() -> CaseStatus:
            return await client.get_workflow_handle(handle.id).query(InstituteWorkflow.status)

        async def run_closes(run_id: str | None) -> None:
            """Wait, in real time, until ``run_id`` has continued as new. Queries meanwhile
            would race the run's end: on the time-skipping server a query task of a run that
            completes under it stays counted as in flight, and time never skips again."""
            for _ in range(600):
                description = await client.get_workflow_handle(handle.id, run_id=run_id).describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    return
                await asyncio.sleep(0.05)
            raise TimeoutError(f"run {run_id} of {handle.id} did not continue as new")

        async def run_ends_within(run_id: str | None, days: int) -> bool:
            for _ in range(days):
                description = await client.get_workflow_handle(handle.id, run_id=run_id).describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    return True
                await env.sleep(timedelta(days=1))
            return False

        # The public notice (five working days) ends; the case is designated and continues as new.
        if not await run_ends_within(handle.first_execution_run_id, 30):
            raise AssertionError(f"{handle.id} not designated within 30 days: {await status()}")
        while True:
            due = (await status()).next_evaluation_due
            assert due is not None
            opens = due - timedelta(days=30)
            if opens >= end:
                break
            await env.sleep(max(opens - await env.get_current_time(), timedelta(seconds=1)))
            latest = client.get_workflow_handle(handle.id)
            run_id = (await latest.describe()).run_id
            await latest.execute_update(
                InstituteWorkflow.open_evaluation, EvaluationOpening(BUREAU)
            )
            await latest.execute_update(
                InstituteWorkflow.record_evaluation,
                EvaluationRecord(BUREAU, EvaluationResult.GOOD, "评估：良好"),
            )
            await run_closes(run_id)
            evaluations += 1
        now = await env.get_current_time()
        if end > now:
            await env.sleep(end - now)
        final = (await status()).stage.value
        await client.get_workflow_handle(handle.id).terminate("benchmark finished")
    return evaluations, final


async def run_simulation(
    test_server: str, data_dir: Path, *, programme: bool, progress: Any
) -> SimulationResult:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=test_server)
    async with env:
        await _register(env.client)
        begin = time.monotonic()
        evaluations, final = await ten_year_case(env, data_dir / "lifecycle")
        lifecycle = time.monotonic() - begin
        progress(f"simulation: one case, {YEARS} years: {lifecycle:.1f} s")
    programme_seconds = programme_cases = None
    if programme:
        from idri.simulate import simulate

        begin = time.monotonic()
        result = await simulate(years=YEARS, cases=5, seed=1, data_dir=data_dir / "programme")
        programme_seconds = time.monotonic() - begin
        programme_cases = result.cases
        progress(f"simulation: programme, {YEARS} rounds: {programme_seconds:.1f} s")
    return SimulationResult(lifecycle, evaluations, final, programme_seconds, programme_cases)

"""``idri simulate`` against a bare time-skipping workflow of the same count, in the same run.

The simulation (``idri.simulate``: the real workflows, worker, registry, mail and pages, ten
years of monthly ticks by default) is timed from its call to its report. Beside it, on a
time-skipping server of its own, the bare baseline (``bench.baseline``) drives as many cases
through the same updates to the approval and lets the notice timer designate them: what the
least a case asks of Temporal costs on this server. The ratio says how far the simulation is
from that floor; the issue's target is the simulation's own time (80 cases over ten years in
under 10 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.baseline import BaselineWorkflow, baseline_noop
from bench.plan import PLAN, BaselineInput
from idri.simulate import simulate, test_server_binary

NOTICE = timedelta(days=7)
CONTINUED_AS_NEW = WorkflowExecutionStatus.CONTINUED_AS_NEW


@dataclass(frozen=True)
class SimulationResult:
    years: int
    cases: int
    simulation_seconds: float
    baseline_seconds: float

    @property
    def ratio(self) -> float:
        return self.simulation_seconds / self.baseline_seconds


async def run_simulation_bench(*, years: int = 10, cases_a_year: int = 8) -> SimulationResult:
    cases = years * cases_a_year
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary()
    )
    try:
        baseline = await _bare_cases(env, cases)
    finally:
        await env.shutdown()
    started = time.perf_counter()
    await simulate(years=years, cases=cases_a_year, seed=1)
    return SimulationResult(years, cases, time.perf_counter() - started, baseline)


async def _bare_cases(env: WorkflowEnvironment, count: int) -> float:
    """Seconds for ``count`` bare cases from start to designation (continue-as-new)."""
    client = env.client
    queue = f"bench-sim-bare-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client, task_queue=queue, workflows=[BaselineWorkflow], activities=[baseline_noop]
    ):
        started = time.perf_counter()

        async def one(n: int) -> tuple[str, str | None]:
            handle = await client.start_workflow(
                BaselineWorkflow.run,
                BaselineInput(NOTICE.total_seconds()),
                id=f"bench-sim-{queue}-{n}",
                task_queue=queue,
            )
            for step in PLAN:
                await handle.execute_update(BaselineWorkflow.step, step.update)
            return handle.id, handle.first_execution_run_id

        ids = await asyncio.gather(*(one(n) for n in range(count)))
        await env.sleep(NOTICE)  # every notice ends: each case is designated
        for workflow_id, run_id in ids:
            await _continued(client, workflow_id, run_id)
        return time.perf_counter() - started


async def _continued(
    client: Client, workflow_id: str, run_id: str | None, *, seconds: float = 60
) -> None:
    """Wait in real time until the case's first run has continued as new (designated)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    for _ in range(int(seconds / 0.01)):
        if (await handle.describe()).status is CONTINUED_AS_NEW:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{workflow_id} was not designated within {seconds}s")

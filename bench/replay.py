"""Workflow-side cost alone: ``python -m bench.replay``.

Drives one real case and one matched-baseline case to designation on a dev server, then replays
each first run's history many times with :class:`temporalio.worker.Replayer` and prints the CPU
time per replay. A replay runs what a worker runs for a case's workflow (the sandbox, instance
creation, every activation, payload conversion and visiting) without the server, the activities
or the registry, so the difference between the two is the real workflow's own cost. A replay
runs the histories one after another on one replaying worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, Worker


async def histories(root: Path) -> dict[str, WorkflowHistory]:
    """The first run of one real and one matched case, driven to designation."""
    from bench.baseline import baseline_noop
    from bench.common import dev_server
    from bench.lifecycle import NOTICE, Lifecycle, designated
    from bench.matched import MatchedBaselineWorkflow

    async with dev_server(root / "server") as server:
        os.environ.update(
            TEMPORAL_ADDRESS=server.address,
            IDRI_DATA_DIR=str(root / "data"),
            IDRI_TASK_QUEUE="replay-real",
            IDRI_NOTICE_PERIOD_OVERRIDE=f"{NOTICE.total_seconds():g}s",
        )
        from idri.client import connect
        from idri.settings import get_settings
        from idri.worker import build_worker

        settings = get_settings()
        client = await connect(settings)
        real = build_worker(client, settings)
        matched = Worker(
            client,
            task_queue="replay-matched",
            workflows=[MatchedBaselineWorkflow],
            activities=[baseline_noop],
        )
        driver = Lifecycle(
            client,
            None,  # type: ignore[arg-type]  # no worker process: nothing measured while driving
            real_queue="replay-real",
            baseline_queues={"matched": "replay-matched"},
            registry_url=f"sqlite:///{root / 'data' / 'registry.sqlite3'}",
            notice_seconds=NOTICE.total_seconds(),
            concurrency=1,
            progress=print,
        )
        found = {}
        async with real, matched:
            for kind in ("matched", "real"):
                if kind == "real":
                    handle = await driver.drive_real(0)
                else:
                    handle = await driver.drive_baseline(kind, 0)
                await designated(client, handle)
                first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
                found[kind] = await first.fetch_history()
        return found


async def repeated(history: WorkflowHistory, times: int) -> AsyncIterator[WorkflowHistory]:
    for _ in range(times):
        yield history


async def cpu_per_replay(workflow: type, history: WorkflowHistory, times: int) -> float:
    from idri.codec import STRICT_CONVERTER

    replayer = Replayer(workflows=[workflow], data_converter=STRICT_CONVERTER)
    await replayer.replay_workflow(history)  # imports and caches warmed, as in a running worker
    # One replaying worker for all the replays: setting one up costs more than a replay.
    start = time.process_time()
    results = await replayer.replay_workflows(repeated(history, times))
    seconds = (time.process_time() - start) / times
    assert len(results.replay_failures) == 0
    return seconds


async def main(times: int) -> None:
    from bench.matched import MatchedBaselineWorkflow
    from workflows.institute import InstituteWorkflow

    workflows: dict[str, Any] = {"matched": MatchedBaselineWorkflow, "real": InstituteWorkflow}
    with tempfile.TemporaryDirectory(prefix="idri-replay-") as temporary:
        found = await histories(Path(temporary))
    seconds: dict[str, list[float]] = {}
    # Alternate the kinds: this VM's speed drifts.
    for _ in range(3):
        for kind, workflow in workflows.items():
            seconds.setdefault(kind, []).append(await cpu_per_replay(workflow, found[kind], times))
    for kind, runs in seconds.items():
        events = len(found[kind].events)
        print(f"{kind:8} {events} events  " + "  ".join(f"{s * 1000:.1f}" for s in runs) + " ms")
    ratio = min(seconds["real"]) / min(seconds["matched"])
    print(f"replay_cpu_ratio={ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--times", type=int, default=30, help="replays of each history per turn")
    asyncio.run(main(parser.parse_args().times))

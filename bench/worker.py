"""The benchmark's worker process: ``python -m bench.worker``.

Runs, in one process, the real worker exactly as ``python worker.py`` builds it (settings from
``IDRI_*`` and ``TEMPORAL_ADDRESS``, ``idri.worker.build_worker`` with the real activities) and a
worker for each baseline (:class:`bench.baseline.BaselineWorkflow` on ``BENCH_BARE_QUEUE``,
:class:`bench.matched.MatchedBaselineWorkflow` on ``BENCH_MATCHED_QUEUE``), with the same
worker options. The benchmark reads this process's CPU time and memory from ``/proc``, so the
driver's own work (starting cases, sending updates) is not counted.

Prints ``ready`` on stdout once the workers poll; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys

from temporalio.worker import Worker


async def serve() -> None:
    from bench.baseline import BaselineWorkflow, baseline_noop
    from bench.matched import MatchedBaselineWorkflow
    from idri.client import connect
    from idri.settings import get_settings
    from idri.worker import build_worker

    settings = get_settings()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    real = build_worker(client, settings)
    # A worker per baseline, as the real kind has its own: each keeps its own cache of runs.
    bare = Worker(
        client,
        task_queue=os.environ["BENCH_BARE_QUEUE"],
        workflows=[BaselineWorkflow],
        activities=[baseline_noop],
    )
    matched = Worker(
        client,
        task_queue=os.environ["BENCH_MATCHED_QUEUE"],
        workflows=[MatchedBaselineWorkflow],
        activities=[baseline_noop],
    )
    async with real, bare, matched:
        print("ready", flush=True)
        await stop.wait()
    # Free the SDK's native workers and client now, as ``idri.worker.run_worker`` does: during
    # interpreter shutdown their finalizers abort the process.
    del real, bare, matched, client
    gc.collect()


def main() -> None:
    from idri.logging import configure_logging

    configure_logging()
    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()

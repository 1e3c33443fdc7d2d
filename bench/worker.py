"""The benchmark's worker process: ``python -m bench.worker``.

Runs, in one process, the real worker exactly as ``python worker.py`` builds it (settings from
``IDRI_*`` and ``TEMPORAL_ADDRESS``, ``worker.build_worker`` with the real activities) and a
worker for the baselines (:class:`bench.baseline.BaselineWorkflow`,
:class:`bench.matched.MatchedBaselineWorkflow`) on ``BENCH_BASELINE_QUEUE``, with the same
worker options. The benchmark reads this process's CPU time and memory from ``/proc``, so the
driver's own work (starting cases, sending updates) is not counted.

Prints ``ready`` on stdout once both workers poll; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from temporalio.worker import Worker


async def serve() -> None:
    from bench.baseline import BaselineWorkflow, baseline_noop
    from bench.matched import MatchedBaselineWorkflow
    from idri.client import connect
    from idri.settings import get_settings
    from worker import build_worker

    settings = get_settings()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    real = build_worker(client, settings)
    baseline = Worker(
        client,
        task_queue=os.environ["BENCH_BASELINE_QUEUE"],
        workflows=[BaselineWorkflow, MatchedBaselineWorkflow],
        activities=[baseline_noop],
    )
    async with real, baseline:
        print("ready", flush=True)
        await stop.wait()


def main() -> None:
    from idri.logging import configure_logging

    configure_logging()
    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()

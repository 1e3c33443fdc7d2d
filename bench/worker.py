"""The benchmark's worker process: ``python -m bench.worker``.

Runs, in one process, the real worker exactly as ``python worker.py`` builds it (settings from
``IDRI_*`` and ``TEMPORAL_ADDRESS``, ``worker.build_worker`` with the real activities) and a
worker for each baseline (:class:`bench.baseline.BaselineWorkflow` on ``BENCH_BARE_QUEUE``,
:class:`bench.matched.MatchedBaselineWorkflow` on ``BENCH_MATCHED_QUEUE``), with the same
worker options. The benchmark reads this process's CPU time and memory from ``/proc``, so the
driver's own work (starting cases, sending updates) is not counted.

Prints ``ready`` on stdout once the workers poll; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import compileall
import os
import signal
import sys

from temporalio.worker import Worker

import bench


async def serve() -> None:
    from bench.baseline import BaselineWorkflow, baseline_noop
    from bench.matched import MatchedBaselineWorkflow
    from idri.client import connect
    from idri.settings import get_settings
    from idri.worker import build_worker, settle_heap

    settings = get_settings()
    # The sandbox imports the baselines' modules anew for every run, as it does the real
    # workflow's; ``build_worker`` writes the real one's bytecode where PYTHONDONTWRITEBYTECODE is
    # set, and so must this, or every baseline run would compile its module from source.
    for folder in bench.__path__:
        compileall.compile_dir(folder, quiet=2)
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
        settle_heap()  # as ``python worker.py`` does once it polls
        print("ready", flush=True)
        await stop.wait()


def main() -> None:
    from idri.logging import configure_logging

    configure_logging()
    asyncio.run(serve())
    sys.exit(0)


if __name__ == "__main__":
    main()

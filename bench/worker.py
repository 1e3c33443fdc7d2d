"""The benchmark's worker process: ``python -m bench.worker``.

Runs, in one process, the real worker exactly as ``python worker.py`` builds it (settings from
``IDRI_*`` and ``TEMPORAL_ADDRESS``, ``worker.build_worker`` with the real activities) and a
worker for :class:`bench.baseline.BaselineWorkflow` on ``BENCH_BASELINE_QUEUE``, with the same
worker options. The benchmark reads this process's CPU time and memory from ``/proc``, so the
driver's own work (starting cases, sending updates) is not counted.

Prints ``ready`` on stdout once both workers poll; stops on SIGTERM or SIGINT.

``BENCH_EXPERIMENTS`` (comma-separated) changes the real worker to measure what a proposed change
would gain, never for the reported results:

- ``pooled-sqlite``: the registry engine keeps its SQLite connections in a pool instead of
  opening one (and running its PRAGMAs) per session;
- ``no-publish``: the ``publish`` activity does nothing (the upper bound of what making page
  publication cheaper can gain).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from temporalio.worker import Worker


def apply_experiments(names: set[str]) -> None:
    """Monkeypatch the real activities for a what-if measurement (see the module docstring)."""
    unknown = names - {"pooled-sqlite", "no-publish"}
    if unknown:
        raise SystemExit(f"unknown BENCH_EXPERIMENTS: {', '.join(sorted(unknown))}")
    if "pooled-sqlite" in names:
        from sqlalchemy.pool import QueuePool

        import activities.db

        original = activities.db.create_registry_engine

        def pooled(url: str, **kwargs: Any) -> Any:
            if activities.db.normalize_url(url).startswith("sqlite"):
                kwargs.setdefault("poolclass", QueuePool)
                kwargs.setdefault("pool_size", 8)
                kwargs.setdefault("max_overflow", 32)
            return original(url, **kwargs)

        activities.db.create_registry_engine = pooled
    if "no-publish" in names:
        from activities.publish import PublicationActivities

        PublicationActivities.publish_sync = lambda self, request: []  # type: ignore[method-assign]


async def serve() -> None:
    from bench.baseline import BaselineWorkflow, baseline_noop
    from idri.client import connect
    from idri.settings import get_settings
    from worker import build_worker

    apply_experiments({n.strip() for n in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if n})
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
        workflows=[BaselineWorkflow],
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

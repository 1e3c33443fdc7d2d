"""The idri worker: runs the institute workflows and their activities.

``python worker.py`` connects with the settings (``TEMPORAL_ADDRESS`` / ``TEMPORAL_NAMESPACE``
honoured), applies the registry's migrations and polls the task queue until interrupted.
Several workers on the same task queue share the load; each is stateless.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import (
    Plugin,
    Replayer,
    ReplayerConfig,
    Worker,
    WorkerConfig,
    WorkflowReplayResult,
)

from idri.settings import Settings, get_settings
from workflows.institute import InstituteWorkflow
from workflows.schedules import AnnualRoundWorkflow, EvaluationSweepWorkflow

WORKFLOWS: Sequence[type] = (InstituteWorkflow, AnnualRoundWorkflow, EvaluationSweepWorkflow)

log = structlog.get_logger("idri.worker")


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity, bound to its dependencies (engine, calendar, SMTP settings)."""
    from activities.calendar import CalendarActivities, load_calendar
    from activities.db import create_registry_engine, migrate
    from activities.notify import NotificationActivities
    from activities.policy import PolicyActivities
    from activities.publish import PublicationActivities
    from activities.registry import RegistryActivities
    from activities.schedules import ScheduleActivities

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.registry_url)
    engine = create_registry_engine(settings.registry_url)
    registry = RegistryActivities(engine, settings)
    notifications = NotificationActivities(engine, settings)
    publication = PublicationActivities(engine, settings)
    calendar = CalendarActivities(load_calendar())
    policy = PolicyActivities(settings)
    return [
        policy.load_policy,
        calendar.notice_period,
        registry.record_event,
        notifications.deliver_notifications,
        publication.publish,
        *ScheduleActivities(engine, settings).all(),
    ]


def compile_workflow_modules() -> None:
    """Write the bytecode of the workflow modules if it is missing or stale.

    The sandbox imports the workflow modules anew for every workflow run it starts. Where
    ``PYTHONDONTWRITEBYTECODE`` is set (containers often set it) nothing else writes their
    bytecode, and every one of those imports compiles the source again: measured at 6 % of the
    worker's CPU. A read-only install is left as it is (its image compiles at build time).
    """
    import compileall

    import workflows

    for folder in workflows.__path__:
        compileall.compile_dir(folder, quiet=2)


class OutboxPlugin(Plugin):
    """Runs, beside the worker and for as long as it polls, what empties the registry's queues:
    the page publisher (``activities.publish.Publisher``) and the mail deliverer
    (``activities.notify.Deliverer``, woken whenever ``record_event`` writes mail here). Every
    worker runs both, so no case waits for a page or a mail, and several workers share the work
    (their claims and turns keep each page and mail to one of them)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        return config

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        from activities.db import create_registry_engine
        from activities.notify import Deliverer, NotificationActivities
        from activities.publish import PublicationActivities, Publisher
        from activities.registry import waking_on_mail

        settings = self.settings
        engine = create_registry_engine(settings.registry_url)
        publisher = Publisher(PublicationActivities(engine, settings), settings.publish_interval)
        deliverer = Deliverer(
            NotificationActivities(engine, settings),
            interval=settings.delivery_interval,
            gather=settings.delivery_gather,
        )
        stop = asyncio.Event()
        background = [
            asyncio.create_task(publisher.run(stop)),
            asyncio.create_task(deliverer.run(stop)),
        ]
        try:
            with waking_on_mail(deliverer.wake):
                await next(worker)
        finally:
            stop.set()
            await asyncio.gather(*background)
            engine.dispose()

    def configure_replayer(self, config: ReplayerConfig) -> ReplayerConfig:
        return config

    def run_replayer(
        self,
        replayer: Replayer,
        histories: AsyncIterator[WorkflowHistory],
        next: Callable[
            [Replayer, AsyncIterator[WorkflowHistory]],
            AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]],
        ],
    ) -> AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]]:
        return next(replayer, histories)


def settle_heap() -> None:
    """Hide what startup allocated from the cyclic garbage collector, once the worker polls.

    By then the process holds a few hundred thousand long-lived objects (the SDK, SQLAlchemy,
    the templates, every imported module) that will never be garbage, yet each full collection
    scanned them all: a pause of about 110 ms, measured, every few dozen cases, while the
    sandbox's per-run modules keep the collector busy. Frozen (``gc.freeze``), they are skipped,
    and a full collection scans only what the running worker made (about 33 ms). Call it once,
    from a process's long-running worker: nothing frozen is ever collected.
    """
    gc.collect()
    gc.freeze()


def build_worker(
    client: Client,
    settings: Settings,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
    **options: Any,
) -> Worker:
    """The worker for ``settings``, with every activity (unless given), the page publisher and
    the mail deliverer."""
    if activities is None:
        activities = build_activities(settings)  # applies the registry's migrations first
    compile_workflow_modules()
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=list(activities),
        plugins=[*options.pop("plugins", ()), OutboxPlugin(settings)],
        **options,
    )


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Connect, make sure the search attributes exist, and run until ``stop`` is set."""
    from idri.client import connect, ensure_search_attributes

    client = await connect(settings)
    added = await ensure_search_attributes(client)
    if added:
        log.info("search attributes registered", names=added)
    if settings.install_schedules:
        from idri.schedules import install_schedules

        changed = await install_schedules(client, settings)
        log.info("schedules installed", changed=changed)
    stop = stop or asyncio.Event()
    worker = build_worker(client, settings)
    log.info("worker started", task_queue=settings.task_queue, namespace=client.namespace)
    async with worker:
        settle_heap()
        await stop.wait()
    log.info("worker stopped")
    # Free the SDK's native worker and client now, not during interpreter shutdown, where
    # their finalizers have been seen to abort the process.
    del worker, client
    gc.collect()


def main() -> None:
    from idri.logging import configure_logging

    configure_logging()
    settings = get_settings()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()

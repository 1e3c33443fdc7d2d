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


class PublishingPlugin(Plugin):
    """Runs the registry's page publisher (``activities.publish.Publisher``) beside the worker,
    for as long as it polls: every worker publishes the pages due, so no case waits for one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def configure_worker(self, config: WorkerConfig) -> WorkerConfig:
        return config

    async def run_worker(self, worker: Worker, next: Callable[[Worker], Awaitable[None]]) -> None:
        from activities.db import create_registry_engine
        from activities.publish import PublicationActivities, Publisher

        engine = create_registry_engine(self.settings.registry_url)
        publisher = Publisher(
            PublicationActivities(engine, self.settings), self.settings.publish_interval
        )
        stop = asyncio.Event()
        publishing = asyncio.create_task(publisher.run(stop))
        try:
            await next(worker)
        finally:
            stop.set()
            await publishing
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


def build_worker(
    client: Client,
    settings: Settings,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
    **options: Any,
) -> Worker:
    """The worker for ``settings``, with every activity (unless given) and the page publisher."""
    if activities is None:
        activities = build_activities(settings)  # applies the registry's migrations first
    compile_workflow_modules()
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=list(activities),
        plugins=[*options.pop("plugins", ()), PublishingPlugin(settings)],
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

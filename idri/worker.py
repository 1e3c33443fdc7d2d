"""Building and running the idri worker: the institute and schedule workflows and every activity.

Several workers on the same task queue share the load; each is stateless. ``python worker.py``
(the layout's entry point) runs :func:`main`.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from idri.settings import Settings, get_settings
from workflows.institute import InstituteWorkflow
from workflows.schedules import AnnualRoundWorkflow, EvaluationSweepWorkflow

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from activities.notify import NotificationActivities
    from activities.publish import PublicationActivities
    from activities.registry import Mailboxes, RegistryActivities
    from activities.schedules import ScheduleActivities

WORKFLOWS: Sequence[type] = (InstituteWorkflow, AnnualRoundWorkflow, EvaluationSweepWorkflow)

log = structlog.get_logger("idri.worker")


def build_activities(settings: Settings) -> list[Callable[..., Any]]:
    """Every activity, bound to the values it needs (engine, mailboxes, mail server, periods).

    Applies the registry's migrations first.
    """
    from activities.calendar import CalendarActivities
    from activities.db import create_registry_engine, migrate
    from activities.policy import PolicyActivities

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.registry_url)
    engine = create_registry_engine(settings.registry_url)
    notifications = notification_activities(engine, settings)
    publication = publication_activities(engine, settings)
    return [
        PolicyActivities(settings.policy()).load_policy,
        CalendarActivities(engine).notice_period,
        registry_activities(engine, settings).record_event,
        notifications.deliver_notifications,
        publication.publish,
        publication.publish_queued,
        *schedule_activities(engine, settings).all(),
    ]


def mailboxes_of(settings: Settings) -> Mailboxes:
    from activities.registry import Mailboxes

    return Mailboxes(
        mail_from=settings.mail_from,
        bureau=settings.bureau_email or None,
        districts=dict(settings.district_emails),
    )


def registry_activities(engine: Engine, settings: Settings) -> RegistryActivities:
    """``record_event`` with the mailboxes of ``settings``."""
    from activities.registry import RegistryActivities

    return RegistryActivities(engine, mailboxes_of(settings))


def schedule_activities(
    engine: Engine, settings: Settings, *, client: Client | None = None
) -> ScheduleActivities:
    """The schedule workflows' activities, finding cases where ``IDRI_CASE_SOURCE`` says."""
    from temporalio import activity

    from activities.schedules import RegistrySource, ScheduleActivities, VisibilitySource

    source = (
        VisibilitySource(lambda: client or activity.client())
        if settings.case_source == "visibility"
        else RegistrySource(engine)
    )
    return ScheduleActivities(
        engine,
        rules=settings.schedule_rules(),
        mailboxes=mailboxes_of(settings),
        sweep_concurrency=settings.sweep_concurrency,
        client=client,
        source=source,
    )


def notification_activities(
    engine: Engine, settings: Settings, **options: Any
) -> NotificationActivities:
    """``deliver_notifications`` through the mail server of ``settings`` (``.eml`` files without
    one); ``options`` as for :class:`~activities.notify.NotificationActivities`."""
    from activities.notify import NotificationActivities, SmtpServer

    server = (
        SmtpServer(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
        if settings.smtp_host
        else None
    )
    return NotificationActivities(
        engine,
        mail_from=settings.mail_from,
        server=server,
        outbox_dir=settings.data_dir / "outbox",
        **options,
    )


def publication_activities(engine: Engine, settings: Settings) -> PublicationActivities:
    """``publish`` into the publish directory of ``settings``."""
    from activities.publish import PublicationActivities

    return PublicationActivities(
        engine,
        publish_dir=settings.publish_dir or settings.data_dir / "public",
        bureau_email=settings.bureau_email,
    )


def build_worker(
    client: Client,
    settings: Settings,
    *,
    activities: Sequence[Callable[..., Any]] | None = None,
    **options: Any,
) -> Worker:
    """The worker for ``settings``, with every activity (unless given)."""
    if activities is None:
        activities = build_activities(settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=list(activities),
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

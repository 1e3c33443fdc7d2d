"""Rule: while the registry database is unavailable, cases wait (activities wait or retry); when
it returns they continue, and nothing is written or mailed twice.

SQLite is made unavailable the way it is in real life: another connection holds an exclusive
transaction (a backup, a person with ``sqlite3`` open). PostgreSQL gets a database of its own on
the shared server, which then refuses connections and drops the open ones; the server itself
keeps running for everybody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlmodel import select
from temporalio.api.enums.v1 import PendingActivityState

from activities.db import read_session
from activities.tables import NotificationRow
from idri.worker import notification_activities, registry_activities
from models.case import Level
from tests.faults.checks import assert_recorded_exactly_once
from tests.faults.conftest import Faults
from tests.faults.stack import CaseDriver, review_updates

pytestmark = [pytest.mark.devserver]

RESUME_WITHIN = 15.0
OUTAGE = 4.0
"""Seconds the registry stays unavailable."""
POSTGRES_URL = os.environ.get("IDRI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Hold an exclusive transaction on the SQLite file: every writer waits."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


async def wait_activity_started(driver: CaseDriver, name: str, timeout: float = 20) -> None:
    handle = driver.client.get_workflow_handle(driver.workflow_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = (await handle.describe()).raw_description.pending_activities
        if any(
            p.activity_type.name == name
            and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for p in pending
        ):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{name} of {driver.case_id} never started")


@pytest.mark.timeout(200)
async def test_sqlite_locked_for_a_while_cases_wait_then_continue_nothing_twice(
    faults: Faults,
) -> None:
    await faults.worker.start()
    registry = faults.data_dir / "registry.sqlite3"
    drivers = [faults.driver(f"lock{n}") for n in range(2)]
    for driver in drivers:
        await driver.start()
        await driver.through_review(review_updates()[:2])
    with sqlite_locked(registry):
        # Locked before the next steps: their first write waits, its activity stays started
        # (a write of a few milliseconds is too quick to be seen started otherwise).
        running = asyncio.gather(*(d.through_review(review_updates()[2:]) for d in drivers))
        await wait_activity_started(drivers[0], "record_event")
        steps = sum(len(d.progress) for d in drivers)
        await asyncio.sleep(OUTAGE)
        assert sum(len(d.progress) for d in drivers) == steps, "no case moves while it is locked"
    await asyncio.wait_for(running, 60)
    await asyncio.gather(*(d.designated() for d in drivers))
    await assert_recorded_exactly_once(faults.registry_url, drivers, faults.mailbox)


@pytest.mark.timeout(120)
async def test_a_case_resumes_within_15_s_even_when_an_activity_was_lost(faults: Faults) -> None:
    """The worst moment to die: inside an activity (here ``record_event``, held by a locked
    registry). The restarted worker must have the case moving again within 15 s."""
    await faults.worker.start()
    registry = faults.data_dir / "registry.sqlite3"
    driver = faults.driver("lost")
    await driver.start()
    await driver.through_review(review_updates()[:2])
    method, argument = review_updates()[2]
    with sqlite_locked(registry):
        update = asyncio.create_task(driver.update(method, argument))
        await wait_activity_started(driver, "record_event")
        faults.worker.kill()
    restart = faults.worker.spawn()
    done, _ = await asyncio.wait({update}, timeout=RESUME_WITHIN + 2)
    if not done:
        update.cancel()
    delay = time.monotonic() - restart if not done else driver.progress[-1] - restart
    assert done and delay <= RESUME_WITHIN, (
        f"the case was still stuck {delay:.1f} s after the worker restarted"
    )


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A database of its own on the shared PostgreSQL server (dropped afterwards)."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        reason = f"PostgreSQL at {POSTGRES_URL} unreachable: {' '.join(str(error).split())}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (required under CI=true)")
        pytest.skip(reason)
    name = f"idri_faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(name: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}"


@contextlib.contextmanager
def postgres_unavailable(name: str) -> Iterator[None]:
    """The database refuses new connections and loses the open ones; others are unaffected."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        try:
            yield
        finally:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


@pytest.mark.postgres
@pytest.mark.timeout(200)
async def test_postgres_unavailable_for_a_while_activities_retry_nothing_twice(
    faults: Faults, postgres_database: str
) -> None:
    faults.worker.env["IDRI_DATABASE_URL"] = database_url(postgres_database)
    await faults.worker.start()
    drivers = [faults.driver(f"pg{n}") for n in range(2)]
    for driver in drivers:
        await driver.start()
        await driver.through_review(review_updates()[:2])
    with postgres_unavailable(postgres_database):
        running = asyncio.gather(*(d.through_review(review_updates()[2:]) for d in drivers))
        await asyncio.sleep(1)
        steps = sum(len(d.progress) for d in drivers)
        await asyncio.sleep(OUTAGE - 1)
        assert sum(len(d.progress) for d in drivers) == steps, "no case moves during the outage"
    await asyncio.wait_for(running, 60)
    await asyncio.gather(*(d.designated() for d in drivers))
    retried = [r for d in drivers for r in await d.retried_activities()]
    assert any(name == "record_event" for name, _, _ in retried), (
        f"record_event failed during the outage and was retried: {retried}"
    )
    await assert_recorded_exactly_once(faults.registry_url, drivers, faults.mailbox)


@pytest.mark.postgres
@pytest.mark.timeout(60)
async def test_a_delivery_cut_off_by_an_outage_is_finished_by_its_retry(
    postgres_database: str, tmp_path: Path
) -> None:
    """The registry goes away while mails are being sent: the attempt can neither record them
    sent nor give them back. Its retry sends them (again, with the same Message-ID), instead of
    finding them leased to the dead attempt and reporting nothing to do."""
    from datetime import UTC, datetime

    from temporalio.testing import ActivityEnvironment

    from activities.db import create_registry_engine, migrate
    from idri.settings import Settings
    from models.case import Role, Stage
    from models.records import CaseSnapshot, DeliveryRequest, EventRecord, Recipient
    from tests.faults.stack import DISTRICT_MAILBOX, Mailbox

    url = database_url(postgres_database)
    migrate(url)
    engine = create_registry_engine(url)
    with Mailbox() as mailbox:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init-only option
            data_dir=tmp_path,
            database_url=url,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            district_emails={"binhai": DISTRICT_MAILBOX},
        )
        record = EventRecord(
            key="institute-cut#1",
            workflow_id="institute-cut",
            run_id="run-1",
            seq=1,
            at=datetime.now(UTC),
            event="recommend",
            from_stage=Stage.PLAN_SUBMITTED,
            to_stage=Stage.RECOMMENDED,
            actor="王科长",
            role=Role.DISTRICT_OFFICER,
            reason="推荐",
            snapshot=CaseSnapshot(
                "cut",
                "天津容错装备有限公司",
                "binhai",
                "high_end_equipment",
                Stage.RECOMMENDED,
                Level.MUNICIPAL,
            ),
            recipients=[
                Recipient("applicant", "赵经理", "zhao@applicant.example.cn"),
                Recipient("district"),
                Recipient("bureau"),
            ],
        )
        registry_activities(engine, settings).record_sync(record)
        deliverer = notification_activities(engine, settings)
        first, retry = ActivityEnvironment(), ActivityEnvironment()
        retry.info = dataclasses.replace(retry.info, attempt=2)

        mailbox.hold.set()  # the mail server takes its time over the first mail
        attempt = asyncio.create_task(
            first.run(deliverer.deliver_notifications, DeliveryRequest(record.key))
        )
        await asyncio.to_thread(mailbox.holding.wait, 10)
        with postgres_unavailable(postgres_database):
            mailbox.hold.clear()
            with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises
                await asyncio.wait_for(attempt, 30)
        assert mailbox.by_notification(), "the first mail went out before the registry went away"

        sent = await retry.run(deliverer.deliver_notifications, DeliveryRequest(record.key))

        received = mailbox.by_notification()
        with read_session(engine) as session:
            rows = list(session.exec(select(NotificationRow)))
    engine.dispose()
    assert sent == 3, f"the retry delivered {sent} of 3 mails"
    assert [(r.status, r.key in received) for r in rows] == [("sent", True)] * 3
    assert all(
        {str(m["Message-ID"]).strip() for m in received[r.key]} == {r.message_id} for r in rows
    )

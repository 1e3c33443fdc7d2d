"""The worker's deliverer: each pass delivers every pending mail of every case, exactly once,
over one connection, whatever the mail server does; cases only write their mails and wake it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from registry_builders import APPLICANT_EMAIL, Script
from sqlalchemy import Engine
from sqlmodel import select
from temporalio.testing import ActivityEnvironment

from activities import notify
from activities.db import create_registry_engine, read_session
from activities.mailer import message_id
from activities.notify import Deliverer, NotificationActivities
from activities.registry import RegistryActivities
from activities.tables import NotificationRow, utcnow
from idri.settings import Settings
from models.records import DeliveryRequest
from tests.smtp import Handler, SmtpServer


@dataclass
class CountingHandler(Handler):
    """The test server's handler, also counting connections (one EHLO each) and taking
    ``delay`` seconds to accept each message."""

    connections: int = 0
    delay: float = 0.0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def server(smtp_server: SmtpServer) -> Iterator[SmtpServer]:
    """The real SMTP server, not yet started, counting its connections."""
    smtp_server.handler = CountingHandler()
    yield smtp_server


def connections(server: SmtpServer) -> int:
    handler = server.handler
    assert isinstance(handler, CountingHandler)
    return handler.connections


@dataclass(frozen=True)
class Pass:
    started: float
    ended: float
    outcome: int | str
    """How many mails it delivered, or the name of the error it raised."""


class TimedDeliverer(Deliverer):
    """A deliverer noting when each of its passes started and ended, and how it went."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes: list[Pass] = []

    async def deliver_due(self) -> int:
        started = time.monotonic()
        try:
            delivered = await super().deliver_due()
        except Exception as error:
            self.passes.append(Pass(started, time.monotonic(), type(error).__name__))
            raise
        self.passes.append(Pass(started, time.monotonic(), delivered))
        return delivered


def record(engine: Engine, settings: Settings, *scripts: Script) -> None:
    """Write the scripts' events as ``record_event`` does, with their mails."""
    registry = RegistryActivities(engine, settings)
    for script in scripts:
        for item in script.records:
            registry.record_sync(item)


def lifecycles(*case_ids: str) -> list[Script]:
    """Cases from survey to designation (eight events each, most of them with mails)."""
    scripts = []
    for case_id in case_ids:
        script = Script(case_id)
        script.to_public_notice()
        script.designate()
        scripts.append(script)
    return scripts


def rows(engine: Engine) -> dict[str, NotificationRow]:
    with read_session(engine) as session:
        return {row.key: row for row in session.exec(select(NotificationRow)).all()}


def pending_keys(engine: Engine) -> set[str]:
    return {key for key, row in rows(engine).items() if row.status == "pending"}


async def until(condition: Any, *, deadline: float = 10.0, what: str = "") -> float:
    """Poll ``condition`` until it holds; the seconds it took. Fails after ``deadline``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > deadline:
            pytest.fail(f"not within {deadline}s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def stopped(running: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(running, timeout=30)
    assert running.exception() is None


def shift_clock(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """The deliverer's clock, ``by`` later than the real one (a retry time or lease passes)."""
    monkeypatch.setattr(notify, "utcnow", lambda: utcnow() + by)


# --- One pass -------------------------------------------------------------------------------------


async def test_one_pass_delivers_the_mails_of_every_case_each_once_over_one_connection(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    server.start()
    record(engine, settings, *lifecycles("p1", "p2", "p3", "p4", "p5", "p6"))
    expected = pending_keys(engine)
    assert len(expected) > 60  # many events of many cases, more than a few batches
    outbox = NotificationActivities(engine, server.settings(settings), batch_size=7)
    deliverer = Deliverer(outbox, interval=60, gather=0)

    assert await deliverer.deliver_due() == len(expected)

    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}
    assert connections(server) == 1
    for mail in server.messages:
        assert mail["Message-ID"] == message_id(
            str(mail["X-Idri-Notification"]), "idri@gxj.tj.gov.cn"
        )
    after = rows(engine)
    assert {after[key].status for key in expected} == {"sent"}
    assert all(after[key].claimed_by is None and after[key].retry_at is None for key in expected)

    assert await deliverer.deliver_due() == 0  # nothing left: the look does not even connect
    assert connections(server) == 1 and len(server.messages) == len(expected)


@dataclass
class LockingHandler(CountingHandler):
    """Takes SQLite's write lock on ``path`` when the first mail arrives and holds it for
    ``hold`` seconds: the batch is out before the deliverer can record it."""

    path: str = ""
    hold: float = 1.0
    holder: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.holder is None:
            self.holder = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.holder.execute("BEGIN EXCLUSIVE")
            threading.Timer(self.hold, self.holder.execute, ("ROLLBACK",)).start()
        return await super().handle_DATA(server, session, envelope)


async def test_a_sent_batch_is_recorded_once_the_registry_is_free_again_not_sent_twice(
    sqlite_engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    # SQLite writes on the event loop give up on a lock within a quarter of a second; a batch
    # the server accepted meanwhile must still end up recorded sent, not claimed until its lease
    # runs out and then sent again.
    smtp_server.handler = LockingHandler(path=str(sqlite_engine.url.database))
    smtp_server.start()
    record(sqlite_engine, settings, *lifecycles("l1"))
    expected = pending_keys(sqlite_engine)
    outbox = NotificationActivities(sqlite_engine, smtp_server.settings(settings))
    deliverer = Deliverer(outbox, interval=60, gather=0)

    assert await deliverer.deliver_due() == len(expected)

    after = rows(sqlite_engine)
    assert {after[key].status for key in expected} == {"sent"}
    received = smtp_server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}
    assert await deliverer.deliver_due() == 0


async def test_without_a_mail_server_one_pass_writes_each_mail_once_as_a_file(
    engine: Engine, settings: Settings
) -> None:
    record(engine, settings, *lifecycles("f1", "f2", "f3"))
    expected = pending_keys(engine)
    deliverer = Deliverer(
        NotificationActivities(engine, settings, batch_size=10), interval=60, gather=0
    )

    assert await deliverer.deliver_due() == len(expected)

    files = sorted((settings.data_dir / "outbox").glob("*.eml"))
    assert len(files) == len(expected)
    contents = {f: f.read_bytes() for f in files}
    assert await deliverer.deliver_due() == 0
    assert {
        f: f.read_bytes() for f in sorted((settings.data_dir / "outbox").glob("*.eml"))
    } == contents
    after = rows(engine)
    assert all(after[key].status == "sent" and after[key].attempts == 1 for key in expected)
    assert {after[key].transport for key in expected} == {str(f) for f in files}


# --- Running --------------------------------------------------------------------------------------


async def test_a_woken_deliverer_sends_a_busy_moments_mails_in_one_pass_within_gather_seconds(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    server.start()
    gather = 1.0
    # A long interval: only the wake can explain a delivery within seconds.
    deliverer = TimedDeliverer(
        NotificationActivities(engine, server.settings(settings)), interval=600, gather=gather
    )
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    try:
        await until(lambda: deliverer.passes, what="the first look")
        assert [p.outcome for p in deliverer.passes] == [0]
        first, *others = lifecycles("w1", "w2", "w3")
        await asyncio.to_thread(record, engine, settings, first)
        woken_at = time.monotonic()
        deliverer.wake()
        # More cases record within the gathering time, and wake it again.
        await asyncio.to_thread(record, engine, settings, *others)
        deliverer.wake()
        expected = {key for key, row in rows(engine).items() if row.status != "undeliverable"}

        await until(lambda: not pending_keys(engine), what="every mail sent after the wake")
        took = time.monotonic() - woken_at
    finally:
        await stopped(running, stop)

    assert gather <= took < gather + 5
    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}
    assert [p.outcome for p in deliverer.passes[1:]] == [len(expected)]  # one pass
    assert connections(server) == 1


async def test_a_pass_in_progress_when_the_worker_stops_finishes(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    handler = server.handler
    assert isinstance(handler, CountingHandler)
    handler.delay = 0.05  # a slow server: the pass takes a second or so
    server.start()
    record(engine, settings, *lifecycles("s1", "s2"))
    expected = pending_keys(engine)
    deliverer = Deliverer(
        NotificationActivities(engine, server.settings(settings), batch_size=5),
        interval=600,
        gather=0,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))

    await until(lambda: server.messages, what="the pass under way")
    await stopped(running, stop)

    assert set(server.notification_keys()) == expected
    assert pending_keys(engine) == set()
    assert {row.status for row in rows(engine).values()} <= {"sent", "undeliverable"}


async def test_a_mail_server_outage_loses_nothing_sends_nothing_twice_and_is_backed_off(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    record(engine, settings, *lifecycles("o1", "o2"))
    expected = pending_keys(engine)
    assert server.refuses_connections()
    deliverer = TimedDeliverer(
        NotificationActivities(engine, server.settings(settings)), interval=0.05, gather=0
    )
    stop = asyncio.Event()
    running = asyncio.create_task(deliverer.run(stop))
    try:
        await until(lambda: len(deliverer.passes) >= 2, what="two passes while the server is down")
        # The server is back, and a case wakes the deliverer: the backoff still holds.
        server.start()
        deliverer.wake()
        assert not running.done()  # failed passes do not end it
        assert pending_keys(engine) == expected
        assert all(row.attempts == 0 for row in rows(engine).values())  # nothing was claimed
        await until(lambda: not pending_keys(engine), what="the mails sent after the outage")
        await until(lambda: len(deliverer.passes) >= 4, what="a look after the success")
    finally:
        await stopped(running, stop)

    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}
    failed, failed_again, succeeded, next_look = deliverer.passes[:4]
    assert [p.outcome for p in deliverer.passes[:3]] == [
        "TransportUnavailable",
        "TransportUnavailable",
        len(expected),
    ]
    first = Deliverer.BACKOFF_FIRST
    assert failed_again.started - failed.ended >= 0.95 * first
    assert succeeded.started - failed_again.ended >= 0.95 * 2 * first  # the wake did not cut it
    assert next_look.started - succeeded.ended < first  # the interval again, not a backoff


async def test_a_mail_refused_for_now_is_not_claimed_again_before_its_retry_time(
    engine: Engine, settings: Settings, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.handler.refuse[APPLICANT_EMAIL] = "451 4.3.0 try again later"
    server.start()
    record(engine, settings, *lifecycles("t1"))
    expected = pending_keys(engine)
    to_applicant = {key for key, row in rows(engine).items() if row.address == APPLICANT_EMAIL}
    assert to_applicant and to_applicant < expected
    deliverer = Deliverer(
        NotificationActivities(engine, server.settings(settings)), interval=60, gather=0
    )

    before = utcnow()
    assert await deliverer.deliver_due() == len(expected - to_applicant)
    after = utcnow()
    waiting = rows(engine)
    for key in to_applicant:
        row = waiting[key]
        assert row.status == "pending" and row.attempts == 1 and "451" in (row.last_error or "")
        assert row.retry_at is not None
        assert before + timedelta(seconds=2) <= row.retry_at <= after + timedelta(seconds=2)

    # Looks before the retry time leave them alone: not claimed, not offered.
    assert await deliverer.deliver_due() == 0
    assert {rows(engine)[key].attempts for key in to_applicant} == {1}
    assert len(server.messages) == len(expected - to_applicant)

    # After it, they are offered again; refused again, they wait twice as long.
    shift_clock(monkeypatch, timedelta(seconds=3))
    before = utcnow() + timedelta(seconds=3)
    assert await deliverer.deliver_due() == 0
    after = utcnow() + timedelta(seconds=3)
    again = rows(engine)
    for key in to_applicant:
        row = again[key]
        assert row.attempts == 2 and row.retry_at is not None
        assert before + timedelta(seconds=4) <= row.retry_at <= after + timedelta(seconds=4)

    # Accepted at last: sent once each, no retry time left.
    server.handler.refuse.clear()
    shift_clock(monkeypatch, timedelta(seconds=3 + 5))
    assert await deliverer.deliver_due() == len(to_applicant)
    final = rows(engine)
    assert all(final[key].status == "sent" and final[key].retry_at is None for key in expected)
    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}


async def test_a_deliverer_killed_mid_send_leaves_its_mails_to_others_within_a_minute(
    engine: Engine, settings: Settings, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.start()
    record(engine, settings, *lifecycles("k1"))
    expected = pending_keys(engine)
    outbox = NotificationActivities(engine, server.settings(settings), batch_size=4)
    killed = Deliverer(outbox, interval=60, gather=0)
    claimed = {mail.key for mail in killed.outbox.claim(None, "a-worker-killed-mid-send")}
    survivor = Deliverer(outbox, interval=60, gather=0)

    assert await survivor.deliver_due() == len(expected - claimed)  # its claims still hold
    for key in claimed:
        row = rows(engine)[key]
        assert row.status == "sending" and row.claimed_until is not None
        lease = row.claimed_until - utcnow()
        assert timedelta(seconds=50) < lease <= Deliverer.LEASE == timedelta(minutes=1)

    shift_clock(monkeypatch, Deliverer.LEASE + timedelta(seconds=1))
    assert await survivor.deliver_due() == len(claimed)
    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}


class ShortLeaseDeliverer(Deliverer):
    LEASE = timedelta(seconds=2)


async def test_a_batch_slower_than_its_lease_keeps_its_claim_and_nothing_is_sent_twice(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    # A server that makes each sender wait (tarpitting): the batch outlasts the lease, so the
    # claim must be extended, or another worker's deliverer takes the rest and sends it too.
    handler = server.handler
    assert isinstance(handler, CountingHandler)
    handler.delay = 0.4
    server.start()
    record(engine, settings, *lifecycles("s1"))
    expected = pending_keys(engine)
    assert len(expected) * handler.delay > 2 * ShortLeaseDeliverer.LEASE.total_seconds()
    outbox = NotificationActivities(engine, server.settings(settings), batch_size=len(expected))
    slow = ShortLeaseDeliverer(outbox, interval=60, gather=0)
    other = ShortLeaseDeliverer(outbox, interval=60, gather=0)

    sending = asyncio.create_task(slow.deliver_due())
    while not sending.done():
        await asyncio.sleep(0.5)
        # Finding nothing to claim, a pass returns at once; one that claimed is sending too.
        looked = asyncio.create_task(other.deliver_due())
        done, _ = await asyncio.wait({looked}, timeout=2)
        if not done:
            sending.cancel()
            looked.cancel()
            pytest.fail("another deliverer took mails of a batch still being sent")
        assert looked.result() == 0
    assert await sending == len(expected)
    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}


async def test_deliverers_of_several_workers_racing_deliver_each_mail_once(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    server.start()
    record(engine, settings, *lifecycles("r1", "r2", "r3", "r4"))
    expected = pending_keys(engine)
    # Each worker has its own engine (its own connections), and small batches so the claims
    # of the four interleave.
    url = engine.url.render_as_string(hide_password=False)
    engines = [create_registry_engine(url) for _ in range(4)]
    deliverers = [
        Deliverer(
            NotificationActivities(own, server.settings(settings), batch_size=3),
            interval=60,
            gather=0,
        )
        for own in engines
    ]
    try:
        counts = await asyncio.gather(*(d.deliver_due() for d in deliverers))
        assert sum(counts) == len(expected)
        assert [await d.deliver_due() for d in deliverers] == [0] * 4
    finally:
        for own in engines:
            own.dispose()

    assert sum(1 for n in counts if n) > 1, "the deliverers shared the work"
    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}
    assert len({m["Message-ID"] for m in server.messages}) == len(expected)


# --- Beside the activity of earlier runs ----------------------------------------------------------


async def test_the_activity_of_runs_started_before_the_deliverer_still_delivers_beside_it(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    server.start()
    old, new = lifecycles("a1", "a2")
    record(engine, settings, old, new)
    expected = pending_keys(engine)
    smtp = server.settings(settings)
    approve = next(r for r in old.records if r.event == "approve")

    delivered = await ActivityEnvironment().run(
        NotificationActivities(engine, smtp).deliver_notifications, DeliveryRequest(approve.key)
    )
    assert delivered == len(approve.recipients)
    assert await Deliverer(
        NotificationActivities(engine, smtp), interval=60, gather=0
    ).deliver_due() == (len(expected) - delivered)
    assert (
        await ActivityEnvironment().run(  # a retry of the activity finds its mails sent
            NotificationActivities(engine, smtp).deliver_notifications, DeliveryRequest(approve.key)
        )
        == 0
    )

    received = server.notification_keys()
    assert set(received) == expected and set(received.values()) == {1}


async def test_the_activity_does_not_wait_for_a_retry_time_its_retry_policy_paces_it(
    engine: Engine, settings: Settings, server: SmtpServer
) -> None:
    server.handler.refuse[APPLICANT_EMAIL] = "451 4.3.0 try again later"
    server.start()
    (script,) = lifecycles("a3")
    record(engine, settings, script)
    recommend = next(r for r in script.records if r.event == "recommend")
    smtp = server.settings(settings)
    deliverer = Deliverer(NotificationActivities(engine, smtp), interval=60, gather=0)
    await deliverer.deliver_due()
    applicant = next(
        row
        for row in rows(engine).values()
        if row.event_key == recommend.key and row.role == "applicant"
    )
    assert applicant.status == "pending" and applicant.retry_at is not None
    assert applicant.retry_at > utcnow()

    server.handler.refuse.clear()
    assert (
        await ActivityEnvironment().run(
            NotificationActivities(engine, smtp).deliver_notifications,
            DeliveryRequest(recommend.key),
        )
        == 1
    )
    assert rows(engine)[applicant.key].status == "sent"

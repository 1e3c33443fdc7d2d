"""deliver_notifications: every recorded mail goes out exactly once, whatever the mail server does."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from registry_builders import APPLICANT_EMAIL, START, Script, record_as_its_case
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities import registry_read
from activities.mailer import EmlTransport, Outgoing, message_id
from activities.notify import NotificationActivities
from idri.settings import Settings
from idri.worker import notification_activities, registry_activities
from models.records import DeliveryRequest, EventRecord
from tests.smtp import SmtpServer


async def recorded_lifecycle(engine: Engine, settings: Settings, case_id: str) -> list[EventRecord]:
    """A case from survey to designation, recorded; returns its records."""
    script = Script(case_id)
    records = [*script.to_public_notice(), script.designate()]
    activities = registry_activities(engine, settings)
    for item in records:
        await record_as_its_case(activities.record_event, item)
    return records


def pending(engine: Engine) -> int:
    return len(registry_read.outbox(engine, status="pending"))


async def deliver(activities: NotificationActivities, event_key: str | None = None) -> int:
    return await ActivityEnvironment().run(
        activities.deliver_notifications, DeliveryRequest(event_key)
    )


async def test_without_smtp_each_mail_becomes_one_eml_file_once(
    engine: Engine, settings: Settings
) -> None:
    await recorded_lifecycle(engine, settings, "e1")
    expected = pending(engine)
    assert expected > 10
    activities = notification_activities(engine, settings)

    assert await deliver(activities) == expected
    files = sorted((settings.data_dir / "outbox").glob("*.eml"))
    assert len(files) == expected
    contents = {f: f.read_bytes() for f in files}
    assert await deliver(activities) == 0  # nothing left, nothing rewritten
    assert {f: f.read_bytes() for f in files} == contents

    rows = registry_read.outbox(engine, case_id="e1")
    assert {r.status for r in rows} == {"sent"}
    assert all(r.transport and r.transport.endswith(".eml") for r in rows)
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)


async def test_an_eml_file_is_readable_text_with_a_stable_message_id(
    engine: Engine, settings: Settings
) -> None:
    records = await recorded_lifecycle(engine, settings, "e2")
    approve = next(r for r in records if r.event == "approve")
    activities = notification_activities(engine, settings)
    await deliver(activities, approve.key)

    row = next(
        r
        for r in registry_read.outbox(engine, case_id="e2")
        if r.role == "applicant" and r.event_key == approve.key
    )
    assert row.transport is not None
    raw = Path(row.transport).read_bytes()
    assert "公示期".encode() in raw  # 8-bit UTF-8 body: readable in any editor
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["To"].addresses[0].addr_spec == APPLICANT_EMAIL
    assert mail["Message-ID"] == message_id(row.key, settings.mail_from)
    assert "综合评价通过" in mail["Subject"] and "Approved for public notice" in mail["Subject"]


async def test_smtp_delivers_each_mail_exactly_once(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    await recorded_lifecycle(engine, settings, "e3")
    expected = pending(engine)
    activities = notification_activities(engine, smtp_server.settings(settings))

    assert await deliver(activities) == expected
    assert await deliver(activities) == 0

    received = smtp_server.messages
    assert len(received) == expected
    assert len({m["Message-ID"] for m in received}) == expected
    assert {r.transport for r in registry_read.outbox(engine)} == {"smtp"}
    assert not (settings.data_dir / "outbox").exists()  # SMTP configured: no files
    to_bureau = [m for m in received if m["To"].addresses[0].addr_spec == settings.bureau_email]
    assert to_bureau, "the bureau is told about the recommendation and the designation"


async def test_concurrent_deliverers_send_each_mail_once(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    for case_id in ("e4a", "e4b", "e4c"):
        await recorded_lifecycle(engine, settings, case_id)
    expected = pending(engine)
    # Small batches so the deliverers' claims interleave.
    deliverers = [
        notification_activities(engine, smtp_server.settings(settings), batch_size=3)
        for _ in range(4)
    ]

    counts = await asyncio.gather(*(deliver(d) for d in deliverers))

    assert sum(counts) == expected
    ids = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert len(ids) == expected and set(ids.values()) == {1}


async def test_mail_server_outage_holds_mails_then_sends_each_once(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    activities = notification_activities(engine, smtp_server.settings(settings))
    records = await recorded_lifecycle(engine, settings, "e5")
    expected = pending(engine)

    # The server is down while the case runs: every delivery attempt fails and says why.
    for item in records[:3]:
        with pytest.raises(Exception, match="unavailable"):
            await deliver(activities, item.key)
    with pytest.raises(Exception, match="unavailable"):
        await deliver(activities)
    rows = registry_read.outbox(engine)
    assert pending(engine) == expected
    assert all("unavailable" in (r.last_error or "") for r in rows if r.attempts)
    assert smtp_server.messages == []

    smtp_server.start()  # back, hours later: the retries go through
    assert await deliver(activities) == expected
    assert await deliver(activities) == 0

    ids = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert len(ids) == expected and set(ids.values()) == {1}
    assert {r.status for r in registry_read.outbox(engine)} == {"sent"}


async def test_a_mailbox_the_server_rejects_for_good_is_marked_failed(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.refuse[APPLICANT_EMAIL] = "550 5.1.1 mailbox unavailable"
    smtp_server.start()
    records = await recorded_lifecycle(engine, settings, "e6")
    recommend = next(r for r in records if r.event == "recommend")
    activities = notification_activities(engine, smtp_server.settings(settings))

    assert await deliver(activities, recommend.key) == 2  # district and bureau

    rows = {r.role: r for r in registry_read.outbox(engine) if r.event_key == recommend.key}
    assert rows["applicant"].status == "failed"
    assert "550" in (rows["applicant"].last_error or "")
    assert rows["district"].status == rows["bureau"].status == "sent"


async def test_a_temporary_refusal_is_retried_until_accepted(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.refuse[APPLICANT_EMAIL] = "451 4.3.0 try again later"
    smtp_server.start()
    records = await recorded_lifecycle(engine, settings, "e7")
    recommend = next(r for r in records if r.event == "recommend")
    activities = notification_activities(engine, smtp_server.settings(settings))

    with pytest.raises(Exception, match="not accepted for now"):
        await deliver(activities, recommend.key)
    rows = {r.role: r for r in registry_read.outbox(engine) if r.event_key == recommend.key}
    assert rows["applicant"].status == "pending" and "451" in (rows["applicant"].last_error or "")

    smtp_server.handler.refuse.clear()
    assert await deliver(activities, recommend.key) == 1
    assert len(smtp_server.messages) == 3


async def test_a_request_for_one_event_delivers_only_its_mails(
    engine: Engine, settings: Settings
) -> None:
    records = await recorded_lifecycle(engine, settings, "e8")
    approve = next(r for r in records if r.event == "approve")
    total = pending(engine)

    assert await deliver(notification_activities(engine, settings), approve.key) == len(
        approve.recipients
    )
    assert pending(engine) == total - len(approve.recipients)


async def test_mails_claimed_by_a_deliverer_that_died_are_sent_after_its_lease(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    await recorded_lifecycle(engine, settings, "e9")
    expected = pending(engine)
    dead = notification_activities(engine, settings, lease=timedelta(0))
    claimed = dead.claim(None, "a-worker-that-crashed")  # claimed, never sent, never released
    assert claimed and pending(engine) == expected - len(claimed)

    alive = notification_activities(engine, smtp_server.settings(settings))
    assert await deliver(alive) == expected
    assert len(smtp_server.messages) == expected


async def test_a_batch_stopped_half_way_keeps_the_mails_that_went_out_as_sent(
    engine: Engine, settings: Settings
) -> None:
    records = await recorded_lifecycle(engine, settings, "e10")
    recommend = next(r for r in records if r.event == "recommend")
    rows = sorted(
        (r for r in registry_read.outbox(engine) if r.event_key == recommend.key),
        key=lambda r: r.key,  # the batch's order: one event, one creation time
    )
    assert len(rows) == 3
    # A directory where the second mail's file should go: writing it fails mid-batch.
    second = rows[1]
    blocked = EmlTransport(settings.data_dir / "outbox").path_for(
        Outgoing(second.key, second.case_id, second.role, "", "", "", "", START, "")
    )
    blocked.mkdir(parents=True)
    activities = notification_activities(engine, settings)

    with pytest.raises(OSError):
        await deliver(activities, recommend.key)
    after_failure = {r.key: r.status for r in registry_read.outbox(engine, case_id="e10")}
    assert [after_failure[r.key] for r in rows] == ["sent", "pending", "pending"]

    blocked.rmdir()
    assert await deliver(activities, recommend.key) == 2  # the first is not sent again
    final = {r.key: r for r in registry_read.outbox(engine, case_id="e10")}
    assert [(final[r.key].status, final[r.key].attempts) for r in rows] == [
        ("sent", 1),
        ("sent", 2),
        ("sent", 2),
    ]

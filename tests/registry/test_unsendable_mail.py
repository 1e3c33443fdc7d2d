"""Rule (issue 18): a mail that can never be sent is marked so at once, with its reason, and it
never holds up the other mails of its batch. An address that is not one plain mailbox is
recorded ``undeliverable`` when the event is written; a mail whose headers cannot be written
(``compose`` refuses it) is marked ``failed`` by the deliverer, which sends the rest."""

from __future__ import annotations

import dataclasses

from registry_builders import APPLICANT_EMAIL, Script, record_as_its_case
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities import registry_read
from idri.settings import Settings
from idri.worker import notification_activities, registry_activities
from models.records import DeliveryRequest, EventRecord, Recipient
from tests.smtp import SmtpServer

TWO_ADDRESSES = "a@b.cn, victim@evil.example"
LINE_BREAK = "a@b.cn\r\nBcc: victim@evil.example"


async def record(engine: Engine, settings: Settings, *records: EventRecord) -> None:
    writer = registry_activities(engine, settings)
    for item in records:
        await record_as_its_case(writer.record_event, item)


def recommend_with(script: Script, applicant: Recipient) -> EventRecord:
    """The recommendation (applicant, district and bureau are told), the applicant replaced."""
    script.event("created")
    script.event("submit_plan")
    event = script.event("recommend")
    others = [r for r in event.recipients if r.role != "applicant"]
    return dataclasses.replace(event, recipients=[applicant, *others])


async def test_an_address_with_a_line_break_is_undeliverable_and_the_others_go_out(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    event = recommend_with(Script("u1"), Recipient("applicant", "赵经理", LINE_BREAK))
    await record(engine, settings, event)

    rows = {r.role: r for r in registry_read.outbox(engine, case_id="u1")}
    assert rows["applicant"].status == "undeliverable"
    assert "is not one plain address" in (rows["applicant"].last_error or "")
    sender = notification_activities(engine, smtp_server.settings(settings))
    sent = await ActivityEnvironment().run(sender.deliver_notifications, DeliveryRequest(event.key))

    assert sent == 2
    recipients = sorted(a for m in smtp_server.handler.received for a in m.rcpt_tos)
    assert recipients == ["binhai@tj.gov.cn", settings.bureau_email]
    rows = {r.role: r for r in registry_read.outbox(engine, case_id="u1")}
    assert rows["applicant"].status == "undeliverable"
    assert rows["district"].status == rows["bureau"].status == "sent"


async def test_a_contact_of_two_addresses_is_undeliverable_and_nobody_is_mailed(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    event = recommend_with(Script("u2"), Recipient("applicant", "赵经理", TWO_ADDRESSES))
    await record(engine, settings, event)
    sender = notification_activities(engine, smtp_server.settings(settings))

    await ActivityEnvironment().run(sender.deliver_notifications, DeliveryRequest(event.key))

    applicant = next(r for r in registry_read.outbox(engine, case_id="u2") if r.role == "applicant")
    assert applicant.status == "undeliverable" and applicant.attempts == 0
    assert "the applicant's e-mail address" in (applicant.last_error or "")
    assert all("evil.example" not in a for m in smtp_server.handler.received for a in m.rcpt_tos)


async def test_a_mail_compose_refuses_fails_at_once_and_the_batch_goes_out_by_smtp(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    # A name with a line break (a contact recorded before names were checked): the address is
    # fine, the To header cannot be written.
    smtp_server.start()
    event = recommend_with(
        Script("u3"), Recipient("applicant", "赵经理\nBcc: victim@evil.example", APPLICANT_EMAIL)
    )
    others = Script("u3b").event("created")  # another case's mail in the same batch
    await record(engine, settings, event, others)
    sender = notification_activities(engine, smtp_server.settings(settings))

    sent = await ActivityEnvironment().run(sender.deliver_notifications, DeliveryRequest(None))

    assert sent == 3  # district and bureau of u3, district of u3b; no exception, no retry
    rows = {(r.case_id, r.role): r for r in registry_read.outbox(engine)}
    failed = rows[("u3", "applicant")]
    assert failed.status == "failed"
    assert "cannot be sent as written" in (failed.last_error or "")
    assert "line breaks" in (failed.last_error or "")
    assert rows[("u3b", "district")].status == "sent"
    assert len(smtp_server.messages) == 3


async def test_without_a_mail_server_a_mail_compose_refuses_fails_and_the_files_are_written(
    engine: Engine, settings: Settings
) -> None:
    event = recommend_with(
        Script("u4"), Recipient("applicant", "赵经理\rX-Evil: 1", APPLICANT_EMAIL)
    )
    await record(engine, settings, event)
    files = notification_activities(engine, settings)

    sent = await ActivityEnvironment().run(files.deliver_notifications, DeliveryRequest(event.key))

    assert sent == 2
    assert len(list((settings.data_dir / "outbox").glob("*.eml"))) == 2
    statuses = {r.role: r.status for r in registry_read.outbox(engine, case_id="u4")}
    assert statuses == {"applicant": "failed", "district": "sent", "bureau": "sent"}

"""The pages queue: events queue their pages with them; ``publish`` takes its event off the queue
and ``publish_queued`` publishes whatever is left in one pass."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from registry_builders import Script
from sqlalchemy import Engine, func
from sqlmodel import select

from activities.db import read_session, write_session
from activities.tables import EventRow, PageDueRow, PublicationRow
from idri.settings import Settings
from idri.worker import publication_activities, registry_activities
from models.case import Stage


def record(engine: Engine, settings: Settings, *scripts: Script) -> None:
    registry = registry_activities(engine, settings)
    for script in scripts:
        for item in script.records:
            registry.record_sync(item)


def due(engine: Engine) -> list[tuple[str, str]]:
    with read_session(engine) as session:
        rows = session.exec(select(PageDueRow)).all()
        return sorted((row.event_key.rpartition("#")[0], row.kind) for row in rows)


def notice_page(settings: Settings, day: str) -> Path:
    return settings.data_dir / "public" / "notice" / f"{day}.html"


def test_an_approval_a_designation_and_a_delisting_queue_their_pages_with_the_event(
    engine: Engine, settings: Settings
) -> None:
    approved, designated, delisted = Script("q1"), Script("q2"), Script("q3")
    approved.to_public_notice()
    designated.to_public_notice()
    designated.designate()
    delisted.to_public_notice()
    delisted.designate()
    delisted.event("delist", Stage.DELISTED, reason="评估不合格")
    record(engine, settings, approved, designated, delisted)
    # Twice: a retried event queues nothing again.
    record(engine, settings, approved, designated, delisted)

    assert due(engine) == sorted(
        [
            (approved.workflow_id, "notice"),
            (designated.workflow_id, "notice"),
            (designated.workflow_id, "registry"),
            (delisted.workflow_id, "notice"),
            (delisted.workflow_id, "registry"),
            (delisted.workflow_id, "delisting"),
        ]
    )


def test_one_pass_publishes_a_batch_once_and_empties_the_queue(
    engine: Engine, settings: Settings
) -> None:
    batch = [Script(f"b{i}", f"天津第{i}设计院") for i in range(5)]
    for script in batch:
        script.to_public_notice()
    batch[0].designate()
    record(engine, settings, *batch)
    pages = publication_activities(engine, settings)

    assert pages.publish_due() == 6  # five approvals and one designation
    assert due(engine) == []
    text = notice_page(settings, "2025-03-10").read_text(encoding="utf-8")
    assert all(script.organisation in text for script in batch)
    registry = (settings.data_dir / "public" / "registry.html").read_text(encoding="utf-8")
    assert batch[0].organisation in registry and batch[1].organisation not in registry
    with read_session(engine) as session:
        published = session.exec(select(PublicationRow.path)).all()
    assert "notice/2025-03-10.html" in published
    assert pages.publish_due() == 0  # nothing left: the next pass only looks


def test_a_page_whose_data_did_not_change_is_kept_and_one_changed_on_disk_is_restored(
    engine: Engine, settings: Settings
) -> None:
    """A pass renders a page again only when its data changed, and records a page only when
    it changed; a page file someone else overwrote is written back and recorded again."""
    first, second = Script("m1", "天津甲设计院"), Script("m2", "天津乙设计院")
    first.to_public_notice()
    first.designate()
    record(engine, settings, first)
    pages = publication_activities(engine, settings)
    assert pages.publish_due() == 2
    registry = settings.data_dir / "public" / "registry.html"
    published = registry.read_bytes()

    def digest(path: str) -> str:
        with read_session(engine) as session:
            row = session.get(PublicationRow, path)
            assert row is not None
            return row.sha256

    # Another case's approval: the notice of its batch changes, the registry does not.
    second.to_public_notice()
    record(engine, settings, second)
    registry.write_bytes(b"<p>overwritten</p>")  # as if by an older publisher or a person
    with write_session(engine) as session:
        row = session.get(PublicationRow, "registry.html")
        assert row is not None
        row.sha256 = "stale"
        session.add(row)
    assert pages.publish_due() == 1
    assert registry.read_bytes() == published
    assert digest("registry.html") == hashlib.sha256(published).hexdigest()
    assert second.organisation in notice_page(settings, "2025-03-10").read_text(encoding="utf-8")

    # The second case is designated: the registry's data changed, so the page is rendered anew.
    second.designate()
    record(engine, settings, second)
    assert pages.publish_due() == 1
    now_published = registry.read_bytes()
    assert second.organisation.encode() in now_published
    assert digest("registry.html") == hashlib.sha256(now_published).hexdigest()


def test_a_page_that_cannot_be_rendered_stays_due_and_the_others_are_published(
    engine: Engine, settings: Settings
) -> None:
    good, broken = Script("g1", "天津好设计院"), Script("g2")
    good.to_public_notice()
    broken.to_public_notice()
    record(engine, settings, good, broken)
    # The broken case's approval loses the notice window it was published with: its page
    # cannot be dated. (Only a damaged registry looks like this.)
    broken_key = broken.records[-1].key
    with write_session(engine) as session:
        event = session.get(EventRow, broken_key)
        assert event is not None
        event.event = "approve_damaged"
        session.add(event)

    assert publication_activities(engine, settings).publish_due() == 1
    assert due(engine) == [(broken.workflow_id, "notice")]
    assert good.organisation in notice_page(settings, "2025-03-10").read_text(encoding="utf-8")


def test_publishers_racing_publish_every_page_once(engine: Engine, settings: Settings) -> None:
    scripts = [Script(f"r{i}") for i in range(8)]
    for script in scripts:
        script.to_public_notice()
        script.designate()
    record(engine, settings, *scripts)
    published: list[int] = []
    start = threading.Barrier(4)

    def publisher() -> None:
        pages = publication_activities(engine, settings)
        start.wait()
        published.append(pages.publish_due())

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(published, reverse=True)[0] == 16 and sum(published) == 16
    with read_session(engine) as session:
        assert session.exec(select(func.count()).select_from(PageDueRow)).one() == 0


def test_the_publish_activity_of_an_event_takes_it_off_the_queue(
    engine: Engine, settings: Settings
) -> None:
    from models.records import PublicationRequest

    late = Script("late", "天津迟到设计院")
    late.to_public_notice()
    record(engine, settings, late)
    [(_, kind)] = due(engine)
    assert kind == "notice"
    [approval] = [r for r in late.records if r.event == "approve"]

    publication_activities(engine, settings).publish_sync(
        PublicationRequest(approval.key, "notice", late.case_id)
    )

    assert due(engine) == []
    assert late.organisation in notice_page(settings, "2025-03-10").read_text(encoding="utf-8")

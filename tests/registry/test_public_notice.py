"""The public notice of a batch (公示): one period for the batch, Beijing time in every file, and
a page that follows the cases leaving the notice (issue 22, item 6). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from registry_builders import Script
from sqlalchemy import Engine
from sqlmodel import Session, select
from test_publish import check_page, public, publish, run

from activities.tables import PageDueRow
from idri.settings import Settings
from idri.worker import publication_activities
from models.case import Role, Stage
from models.notifications import publication_for
from models.records import EventRecord, PublicationRequest

BEIJING = timedelta(hours=8)
MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def moments(value: object) -> list[str]:
    """Every string in a JSON document that is a moment (a date and a time)."""
    if isinstance(value, dict):
        return [m for v in value.values() for m in moments(v)]
    if isinstance(value, list):
        return [m for v in value for m in moments(v)]
    return [value] if isinstance(value, str) and MOMENT.match(value) else []


def upheld(script: Script) -> list[EventRecord]:
    """An objection lodged during the notice and upheld: the case is rejected."""
    return [
        script.event("lodge_objection", details={"objector": "某公司"}),
        script.event("uphold_objection", Stage.REJECTED, reason="异议成立：材料不实"),
    ]


def notice_json(settings: Settings, day: str) -> dict[str, Any]:
    path = public(settings) / "notice" / f"{day}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


async def test_every_time_in_every_published_json_file_is_beijing_time(
    engine: Engine, settings: Settings
) -> None:
    noticed, designated = Script("t1", "天津甲设计院"), Script("t2", "天津乙设计院")
    designated.at += timedelta(days=40)
    records = [*noticed.to_public_notice(), *designated.to_public_notice(), designated.designate()]
    await run(engine, settings, *records)
    await publish(engine, settings, noticed.records[-1], "notice")
    await publish(engine, settings, designated.records[-1], "registry")

    files = sorted(public(settings).rglob("*.json"))
    assert {f.relative_to(public(settings)).as_posix() for f in files} >= {
        "index.json",
        "registry.json",
        "notice/2025-03-10.json",
    }
    found = []
    for file in files:
        for moment in moments(json.loads(file.read_text(encoding="utf-8"))):
            assert datetime.fromisoformat(moment).utcoffset() == BEIJING, (file.name, moment)
            found.append(moment)
    assert len(found) >= 6  # notice start and end, approval, designation, evaluation due...
    notice = notice_json(settings, "2025-03-10")
    # The period's end is midnight after its last day, Beijing time: the day people read.
    assert notice["notice_end"] == "2025-03-17T00:00:00+08:00"
    assert notice["notice_last_day"] == "2025-03-16"


async def test_a_batch_has_one_period_whichever_case_publishes_it(
    engine: Engine, settings: Settings
) -> None:
    first, later = Script("b1", "天津甲设计院"), Script("b2", "天津乙设计院")
    later.at += timedelta(hours=5)  # approved the same day, after the first
    first_records, later_records = first.to_public_notice(), later.to_public_notice(notice_days=9)
    await run(engine, settings, *first_records, *later_records)
    page = public(settings) / "notice" / "2025-03-10.html"

    await publish(engine, settings, later_records[-1], "notice")
    by_later = page.read_bytes(), page.with_suffix(".json").read_bytes()
    await publish(engine, settings, first_records[-1], "notice")

    assert (page.read_bytes(), page.with_suffix(".json").read_bytes()) == by_later
    assert "公示期：2025年3月10日至2025年3月16日" in check_page(page)  # the first's period
    data = notice_json(settings, "2025-03-10")
    start = datetime.fromisoformat(str(data["notice_start"]))
    assert start == datetime.fromisoformat(first_records[-1].details["notice_start"])
    assert start.utcoffset() == BEIJING
    assert data["notice_last_day"] == "2025-03-16"
    assert [i["case_id"] for i in data["institutes"]] == ["b1", "b2"]


async def test_a_case_rejected_after_an_upheld_objection_leaves_the_notice_page(
    engine: Engine, settings: Settings
) -> None:
    kept, rejected = Script("o1", "天津留下设计院"), Script("o2", "天津异议成立设计院")
    await run(engine, settings, *kept.to_public_notice(), *rejected.to_public_notice())
    await publish(engine, settings, rejected.records[-1], "notice")
    assert "天津异议成立设计院" in check_page(public(settings) / "notice" / "2025-03-10.html")

    lodge, uphold = upheld(rejected)
    await run(engine, settings, lodge, uphold)
    with Session(engine) as session:
        queued = session.exec(select(PageDueRow).where(PageDueRow.event_key == uphold.key)).one()
    assert queued.kind == "notice"  # queued with the event, as an approval's page is
    await publish(engine, settings, uphold, "notice")

    text = check_page(public(settings) / "notice" / "2025-03-10.html")
    assert "天津留下设计院" in text and "天津异议成立设计院" not in text
    assert "拟确定以下1家单位" in text
    data = notice_json(settings, "2025-03-10")
    assert [i["case_id"] for i in data["institutes"]] == ["o1"]
    assert "2025年3月10日公示（1 家）" in check_page(public(settings) / "index.html")


async def test_a_case_withdrawn_during_the_notice_leaves_the_page_by_the_daily_queue(
    engine: Engine, settings: Settings
) -> None:
    kept, withdrawn = Script("w1", "天津留下设计院"), Script("w2", "天津撤回设计院")
    await run(engine, settings, *kept.to_public_notice(), *withdrawn.to_public_notice())
    withdraw = withdrawn.event(
        "withdraw", Stage.WITHDRAWN, role=Role.DISTRICT_OFFICER, actor="王科长", reason="企业撤回"
    )
    await run(engine, settings, withdraw)

    # What the evaluation sweep runs: every page still queued, the withdrawal's among them.
    assert publication_activities(engine, settings).publish_due() >= 1

    text = check_page(public(settings) / "notice" / "2025-03-10.html")
    assert "天津留下设计院" in text and "天津撤回设计院" not in text


def test_only_leaving_the_notice_republishes_it() -> None:
    assert publication_for("uphold_objection", Stage.PUBLIC_NOTICE, Stage.REJECTED) == "notice"
    assert publication_for("uphold_objection", Stage.INVESTIGATING, Stage.REJECTED) == "notice"
    assert publication_for("withdraw", "public_notice", "withdrawn") == "notice"
    assert publication_for("withdraw", Stage.UNDER_REVIEW, Stage.WITHDRAWN) is None
    assert publication_for("reject", Stage.UNDER_REVIEW, Stage.REJECTED) is None
    assert publication_for("lodge_objection", Stage.PUBLIC_NOTICE, Stage.PUBLIC_NOTICE) is None


async def test_a_notice_page_published_again_after_a_leaver_keeps_its_path(
    engine: Engine, settings: Settings
) -> None:
    """The leaver's request names its own event, not an approval: the page found is its batch's."""
    script = Script("k1")
    await run(engine, settings, *script.to_public_notice(), *upheld(script))
    changed = publication_activities(engine, settings).publish_sync(
        PublicationRequest(script.records[-1].key, "notice", "k1")
    )
    assert "notice/2025-03-10.json" in changed
    assert notice_json(settings, "2025-03-10")["institutes"] == []

"""The bureau's public pages: the notice of a batch, the registry, delistings; HTML and JSON."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from registry_builders import Script
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.publish import PublicationActivities
from activities.registry import RegistryActivities
from activities.tables import PublicationRow
from activities.templates import page_environment
from idri.settings import Settings
from models.case import Stage
from models.records import EventRecord, PublicationRequest

VOID = {"meta", "link", "br", "img", "hr", "input", "source", "wbr", "col", "area", "base"}


class Html5Check(HTMLParser):
    """Well-formedness as a browser-independent check: a doctype, every element closed in order,
    the language and charset declared, one title and one h1."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.doctype = ""
        self.seen: dict[str, int] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.text: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen[tag] = self.seen.get(tag, 0) + 1
        self.attrs.setdefault(tag, dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_page(path: Path) -> str:
    """Parse a published page, assert it is well-formed HTML5; return its visible text."""
    parser = Html5Check()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.doctype.lower() == "doctype html", path
    assert parser.problems == [] and parser.stack == [], (path, parser.problems, parser.stack)
    assert parser.attrs["html"].get("lang") == "zh-CN"
    assert parser.attrs["meta"].get("charset") == "utf-8"
    assert parser.seen.get("title") == 1 and parser.seen.get("h1") == 1
    return " ".join("".join(parser.text).split())


async def run(engine: Engine, settings: Settings, *records: EventRecord) -> None:
    activities = RegistryActivities(engine, settings)
    for item in records:
        await ActivityEnvironment().run(activities.record_event, item)


async def publish(engine: Engine, settings: Settings, record: EventRecord, kind: str) -> None:
    activities = PublicationActivities(engine, settings)
    request = PublicationRequest(record.key, kind, record.snapshot.case_id)
    await ActivityEnvironment().run(activities.publish, request)


def public(settings: Settings) -> Path:
    return settings.data_dir / "public"


async def test_the_notice_lists_its_batch_with_the_period_and_how_to_object(
    engine: Engine, settings: Settings
) -> None:
    first, second, later = Script("n1", "天津甲设计院"), Script("n2", "天津乙设计院"), Script("n3")
    first_records, second_records = first.to_public_notice(), second.to_public_notice()
    later.at += timedelta(days=30)
    await run(engine, settings, *first_records, *second_records, *later.to_public_notice())
    approve = first_records[-1]
    assert approve.details["notice_start"].startswith("2025-03-10")

    await publish(engine, settings, approve, "notice")

    page = public(settings) / "notice" / "2025-03-10.html"
    text = check_page(page)
    assert "天津甲设计院" in text and "天津乙设计院" in text  # same batch, same day
    assert later.organisation not in text
    # Seven days from 10 March: the notice ends at midnight after 16 March.
    assert "公示期：2025年3月10日至2025年3月16日" in text
    assert "Notice period: 10 March 2025 to 16 March 2025" in text
    assert "异议方式" in text and "How to object" in text and settings.bureau_email in text
    data = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["notice_start"] == approve.details["notice_start"]
    assert data["notice_end"] == approve.details["notice_end"]
    assert data["notice_last_day"] == "2025-03-16"
    assert [i["organisation"] for i in data["institutes"]] == ["天津甲设计院", "天津乙设计院"]
    assert data["institutes"][0]["district"] == {
        "code": "binhai",
        "zh": "滨海新区",
        "en": "Binhai New Area",
    }
    index = check_page(public(settings) / "index.html")
    assert "2025年3月10日公示（2 家）" in index


async def test_the_registry_lists_designated_institutes_only(
    engine: Engine, settings: Settings
) -> None:
    designated, waiting = Script("r1", "天津已认定设计院"), Script("r2", "天津公示中设计院")
    await run(
        engine,
        settings,
        *designated.to_public_notice(),
        designated.designate(),
        *waiting.to_public_notice(),
    )

    await publish(engine, settings, designated.records[-1], "registry")

    text = check_page(public(settings) / "registry.html")
    assert "天津已认定设计院" in text and "天津公示中设计院" not in text
    assert "2025年3月20日" in text  # designation day (Beijing), ten days after approval
    data = json.loads((public(settings) / "registry.json").read_text(encoding="utf-8"))
    assert data["count"] == 1 and data["institutes"][0]["case_id"] == "r1"
    assert data["institutes"][0]["level"]["zh"] == "市级"


async def test_a_delisting_is_announced_and_leaves_the_registry(
    engine: Engine, settings: Settings
) -> None:
    script = Script("d1", "天津将撤销设计院")
    records = [*script.to_public_notice(), script.designate()]
    records.append(
        script.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=1000))
    )
    delist = script.event("delist", Stage.DELISTED, reason="不再符合条件：无专职设计人员")
    await run(engine, settings, *records, delist)

    await publish(engine, settings, delist, "delisting")

    text = check_page(public(settings) / "delisting" / "d1.html")
    assert "天津将撤销设计院" in text and "从天津市工业设计研究院名录中删除" in text
    assert "无专职设计人员" in text
    delisted_day = (delist.at + timedelta(hours=8)).date()
    assert f"{delisted_day.year}年{delisted_day.month}月{delisted_day.day}日" in text
    assert "天津将撤销设计院" not in check_page(public(settings) / "registry.html")
    assert "delisting/d1.html" in (public(settings) / "index.html").read_text(encoding="utf-8")
    data = json.loads((public(settings) / "delisting" / "d1.json").read_text(encoding="utf-8"))
    assert data["kind"] == "delisting" and data["delisted_at"].startswith(str(delisted_day)[:4])


async def test_publishing_twice_writes_the_same_bytes_and_keeps_the_first_date(
    engine: Engine, settings: Settings
) -> None:
    script = Script("i1")
    records = script.to_public_notice()
    await run(engine, settings, *records)
    activities = PublicationActivities(engine, settings)
    request = PublicationRequest(records[-1].key, "notice", "i1")

    first = activities.publish_sync(request)
    snapshot = {p: p.read_bytes() for p in public(settings).rglob("*") if p.is_file()}
    with Session(engine) as session:
        dates = {r.path: r.first_published_at for r in session.exec(select(PublicationRow))}
    second = activities.publish_sync(request)

    assert "notice/2025-03-10.html" in first and second == []
    assert {p: p.read_bytes() for p in public(settings).rglob("*") if p.is_file()} == snapshot
    with Session(engine) as session:
        rows = session.exec(select(PublicationRow)).all()
        assert {r.path: r.first_published_at for r in rows} == dates
    assert not list(public(settings).rglob(".tmp-*"))


async def test_names_are_escaped_and_the_page_stays_valid(
    engine: Engine, settings: Settings
) -> None:
    script = Script("x1", organisation='天津<设计>&"研究"院')
    records = script.to_public_notice()
    await run(engine, settings, *records)
    await publish(engine, settings, records[-1], "notice")

    page = public(settings) / "notice" / "2025-03-10.html"
    assert "天津&lt;设计&gt;&amp;" in page.read_text(encoding="utf-8")
    assert '天津<设计>&"研究"院' in check_page(page)


async def test_the_publish_directory_is_configurable(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    script = Script("p1")
    await run(engine, settings, *script.to_public_notice(), script.designate())
    elsewhere = settings.model_copy(update={"publish_dir": tmp_path / "www"})
    await publish(engine, elsewhere, script.records[-1], "registry")
    assert (tmp_path / "www" / "registry.html").is_file()
    assert (tmp_path / "www" / "style.css").is_file()


async def test_a_notice_cannot_be_published_before_its_approval_is_recorded(
    engine: Engine, settings: Settings
) -> None:
    records = Script("q1").to_public_notice()
    await run(engine, settings, *records[:-1])
    with pytest.raises(LookupError, match="record_event must run before publish"):
        PublicationActivities(engine, settings).publish_sync(
            PublicationRequest(records[-1].key, "notice", "q1")
        )


@hypothesis_settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s.isprintable()))
def test_any_organisation_name_leaves_the_page_valid(name: str) -> None:
    html = (
        page_environment()
        .get_template("pages/registry.html.j2")
        .render(
            root="",
            json_name="registry.json",
            bureau_email="b@x.cn",
            national_count=0,
            institutes=[
                {
                    "organisation": name,
                    "district": {"zh": "和平区", "en": "Heping"},
                    "direction": {"zh": "石油", "en": "Oil"},
                    "level": {"zh": "市级", "en": "Municipal"},
                    "designated_at": "2025-03-20T02:00:00+00:00",
                }
            ],
        )
    )
    parser = Html5Check()
    parser.feed(html)
    parser.close()
    assert parser.problems == [] and parser.stack == []
    assert name in "".join(parser.text)


async def test_cases_designated_at_the_same_time_all_reach_the_registry_page(
    engine: Engine, settings: Settings
) -> None:
    scripts = [Script(f"s{i}", f"同时认定设计院{i}") for i in range(6)]
    for script in scripts:
        await run(engine, settings, *script.to_public_notice())

    async def designate_and_publish(script: Script) -> None:
        designation = script.designate()
        await run(engine, settings, designation)
        await publish(engine, settings, designation, "registry")

    await asyncio.gather(*(designate_and_publish(s) for s in scripts))

    text = check_page(public(settings) / "registry.html")
    assert all(s.organisation in text for s in scripts)
    data = json.loads((public(settings) / "registry.json").read_text(encoding="utf-8"))
    assert data["count"] == 6

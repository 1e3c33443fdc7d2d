"""The bureau's public pages: the notice of a batch, the registry, delistings; HTML and JSON."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from registry_builders import Script, record_as_its_case
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.publish import registry_row
from activities.tables import PublicationRow
from activities.templates import page_environment
from idri.settings import Settings
from idri.worker import publication_activities, registry_activities
from models.case import Level, Stage
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
    activities = registry_activities(engine, settings)
    for item in records:
        await record_as_its_case(activities.record_event, item)


async def publish(engine: Engine, settings: Settings, record: EventRecord, kind: str) -> None:
    activities = publication_activities(engine, settings)
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
    # The same moments as recorded, written in Beijing time (the pages show Beijing dates).
    assert data["notice_start"] == "2025-03-10T10:00:00+08:00"
    assert datetime.fromisoformat(data["notice_start"]) == datetime.fromisoformat(
        approve.details["notice_start"]
    )
    assert data["notice_end"] == "2025-03-17T00:00:00+08:00"
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
    activities = publication_activities(engine, settings)
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
        publication_activities(engine, settings).publish_sync(
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
            rows=[
                registry_row(
                    {
                        "organisation": name,
                        "district": {"zh": "和平区", "en": "Heping"},
                        "direction": {"zh": "石油", "en": "Oil"},
                        "level": {"zh": "市级", "en": "Municipal"},
                        "designated_at": "2025-03-20T02:00:00+00:00",
                    }
                )
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


# The registry page as one template rendered it before its rows were cached (registry_row): the
# cached rows must make the same bytes, numbering and escaping included.
REFERENCE_REGISTRY = """{% extends "pages/_base.html.j2" %}
{% block title %}天津市工业设计研究院名录 Registry{% endblock %}
{% block main %}
<h1>天津市工业设计研究院名录 <span lang="en">Registry of Tianjin Industrial Design Research Institutes</span></h1>
<p>截至目前，名录共有{{ institutes | length }}家工业设计研究院{% if national_count %}，其中国家级{{ national_count }}家{% endif %}。</p>
<p lang="en">The registry lists {{ institutes | length }} institute(s){% if national_count %}, {{ national_count }} of them national level{% endif %}.</p>
{% if institutes %}
<table>
<thead>
<tr><th scope="col">序号 <span lang="en">No.</span></th><th scope="col">单位名称 <span lang="en">Organisation</span></th><th scope="col">所在区 <span lang="en">District</span></th><th scope="col">产业方向 <span lang="en">Industry direction</span></th><th scope="col">级别 <span lang="en">Level</span></th><th scope="col">确定日期 <span lang="en">Designated</span></th></tr>
</thead>
<tbody>
{% for item in institutes %}
<tr><td>{{ loop.index }}</td><td>{{ item.organisation }}</td><td>{{ item.district.zh }} <span lang="en">{{ item.district.en }}</span></td><td>{{ item.direction.zh }} <span lang="en">{{ item.direction.en }}</span></td><td>{{ item.level.zh }} <span lang="en">{{ item.level.en }}</span></td><td><time datetime="{{ item.designated_at | iso_day }}">{{ item.designated_at | zh_date }}</time></td></tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>名录暂无单位。<span lang="en">The registry is empty.</span></p>
{% endif %}
{% endblock %}
"""


def record(engine: Engine, settings: Settings, *records: EventRecord) -> None:
    registry = registry_activities(engine, settings)
    for item in records:
        registry.record_sync(item)


def registry_html(settings: Settings) -> str:
    return (public(settings) / "registry.html").read_text(encoding="utf-8")


def reference_registry(settings: Settings) -> str:
    """The published registry.json rendered by the one-template page (dates as ISO strings, which
    the date filters read like the datetimes they were)."""
    data = json.loads((public(settings) / "registry.json").read_text(encoding="utf-8"))
    institutes = data["institutes"]
    return (
        page_environment()
        .from_string(REFERENCE_REGISTRY)
        .render(
            root="",
            json_name="registry.json",
            bureau_email=settings.bureau_email,
            institutes=institutes,
            national_count=sum(1 for i in institutes if i["level"]["code"] == "national"),
        )
    )


def designated(case_id: str, organisation: str, *, days_later: int = 0) -> Script:
    script = Script(case_id, organisation)
    script.at += timedelta(days=days_later)
    script.to_public_notice()
    script.designate()
    return script


def to_national(script: Script) -> None:
    script.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=800))
    script.event("recommend_national", Stage.NATIONAL_REVIEW)
    script.level = Level.NATIONAL
    script.event("record_national_outcome", Stage.DESIGNATED, details={"national": "designated"})


def test_the_registry_page_is_the_one_template_page_byte_for_byte(
    engine: Engine, settings: Settings
) -> None:
    scripts = [
        designated("e1", "天津甲设计院", days_later=2),
        designated("e2", """天津<b>&"'设计院""", days_later=4),
        designated("e3", "天津丙设计院", days_later=6),
    ]
    to_national(scripts[2])
    for script in scripts:
        record(engine, settings, *script.records)
    pages = publication_activities(engine, settings)

    assert pages.publish_due() > 0
    first = registry_html(settings)
    assert first == reference_registry(settings)
    assert "<td>2</td><td>天津&lt;b&gt;&amp;&#34;&#39;设计院</td>" in first
    assert "其中国家级1家" in first

    # Designated before the others, the new institute is row 1: the cached rows move down one.
    earliest = designated("e0", "天津最早设计院")
    record(engine, settings, *earliest.records)
    assert pages.publish_due() > 0
    second = registry_html(settings)
    assert second == reference_registry(settings)
    assert "<td>1</td><td>天津最早设计院</td>" in second
    assert "<td>3</td><td>天津&lt;b&gt;&amp;&#34;&#39;设计院</td>" in second
    assert second.count("<tr><td>") == 4


def test_an_institute_whose_data_changes_gets_its_new_row(
    engine: Engine, settings: Settings
) -> None:
    script, other = designated("l1", "天津升级设计院"), designated("l2", "天津其他设计院")
    record(engine, settings, *script.records, *other.records)
    pages = publication_activities(engine, settings)
    pages.publish_due()
    assert "<td>天津升级设计院</td>" in registry_html(settings)
    assert "国家级" not in registry_html(settings)

    mark = len(script.records)
    to_national(script)
    record(engine, settings, *script.records[mark:])
    pages.publish_due()

    html = registry_html(settings)
    assert html == reference_registry(settings)
    row = next(line for line in html.splitlines() if "天津升级设计院" in line)
    assert '<td>国家级 <span lang="en">National</span></td>' in row
    assert "市级" not in row
    assert "其中国家级1家" in html

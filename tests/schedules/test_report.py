"""`idri report`: the registry against the plan's goals, stages, overdue items, days per stage,
duplicate construction warnings; table, JSON and files with a chart."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from rich.console import Console
from sqlalchemy import Engine

from activities.db import create_registry_engine, migrate
from idri.reports import (
    build_report,
    case_duplicate_warning,
    print_report,
    report_data,
    write_report,
)
from idri.settings import Settings
from idri.worker import registry_activities
from models.case import Level, Role, Stage
from models.records import CaseSnapshot, EventRecord
from models.time import CST, add_years

NOW = datetime(2025, 6, 1, 10, 0, tzinfo=CST)


def cst(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=CST)


@dataclass
class Story:
    """One case told as the events its workflow would record."""

    case_id: str
    district: str
    direction: str
    at: datetime
    stage: Stage = Stage.SURVEYED
    level: Level = Level.MUNICIPAL
    designated_at: datetime | None = None
    next_evaluation_due: datetime | None = None
    round_year: int | None = None
    records: list[EventRecord] = field(default_factory=list)

    def event(self, name: str, to: Stage, days: float, **details: str) -> Story:
        from_stage = self.stage
        self.at += timedelta(days=days)
        self.stage = to
        if to is Stage.DESIGNATED and self.designated_at is None:
            self.designated_at = self.at
            self.next_evaluation_due = add_years(self.at, 3)
        if name in ("rate_good", "recommend_national"):
            self.next_evaluation_due = add_years(self.at, 3)
        if name == "record_national_outcome" and details.get("national") == "designated":
            self.level = Level.NATIONAL
        seq = len(self.records) + 1
        self.records.append(
            EventRecord(
                key=f"institute-{self.case_id}#{seq}",
                workflow_id=f"institute-{self.case_id}",
                run_id="run",
                seq=seq,
                at=self.at,
                event=name,
                from_stage=from_stage,
                to_stage=to,
                actor="李处长",
                role=Role.BUREAU_OFFICER,
                reason=name,
                snapshot=CaseSnapshot(
                    self.case_id,
                    f"{self.case_id}公司",
                    self.district,
                    self.direction,
                    to,
                    self.level,
                    self.round_year,
                    self.designated_at,
                    None,
                    self.next_evaluation_due,
                ),
                details=details,
            )
        )
        return self

    def designated(self) -> Story:
        """Surveyed 10 days, plan 20, recommended 30, review 40, notice 7."""
        return (
            self.event("created", Stage.SURVEYED, 0)
            .event("submit_plan", Stage.PLAN_SUBMITTED, 10)
            .event("recommend", Stage.RECOMMENDED, 20)
            .event("assign_expert", Stage.UNDER_REVIEW, 30)
            .event("approve", Stage.PUBLIC_NOTICE, 40)
            .event("close_notice", Stage.DESIGNATED, 7)
        )


def story(case_id: str, district: str, direction: str, start: str) -> Story:
    return Story(case_id, district, direction, cst(start))


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    migrate(url)
    engine = create_registry_engine(url)
    stories = [
        story("A", "binhai", "ai", "2021-03-01").designated(),  # designated 2021-06-17
        story("B", "binhai", "high_end_equipment", "2021-12-01")
        .designated()
        .event("open_evaluation", Stage.UNDER_EVALUATION, 700)
        .event("recommend_national", Stage.NATIONAL_REVIEW, 30)
        .event("record_national_outcome", Stage.DESIGNATED, 60, national="designated"),
        story("C", "heping", "ai", "2022-05-01")
        .designated()
        .event("open_evaluation", Stage.UNDER_EVALUATION, 650)
        .event("delist", Stage.DELISTED, 30),
        story("D", "xiqing", "biomedicine", "2022-10-01").designated(),
        story("E", "binhai", "ai", "2025-02-01")
        .event("created", Stage.SURVEYED, 0)
        .event("submit_plan", Stage.PLAN_SUBMITTED, 10)
        .event("recommend", Stage.RECOMMENDED, 20),
        story("F", "heping", "ai", "2025-03-01").event("created", Stage.SURVEYED, 0),
        story("G", "binhai", "ai", "2025-03-01").event("created", Stage.SURVEYED, 0),
    ]
    registry = registry_activities(engine, Settings(data_dir=tmp_path))
    for s in stories:
        for record in s.records:
            registry.record_sync(record)
    yield engine
    engine.dispose()


async def test_the_registry_is_counted_by_district_direction_level_and_year(
    engine, tmp_path
) -> None:
    report = await build_report(engine, Settings(data_dir=tmp_path), now=NOW)
    assert report.registry_total == 3, "C was delisted"
    assert report.by_district == {"binhai": 2, "xiqing": 1}
    assert report.by_direction == {"ai": 1, "biomedicine": 1, "high_end_equipment": 1}
    assert report.by_level == {"municipal": 2, "national": 1}
    assert report.by_year == {2021: 1, 2022: 1, 2023: 1}


async def test_progress_against_the_goals_counts_the_registry_at_each_years_end(
    engine, tmp_path
) -> None:
    report = await build_report(engine, Settings(data_dir=tmp_path), now=NOW)
    rows = {y.year: (y.designated, y.national, y.delisted, y.registry_at_end) for y in report.years}
    assert rows == {
        2021: (1, 0, 0, 1),
        2022: (2, 0, 0, 3),
        2023: (1, 0, 0, 4),
        2024: (0, 1, 1, 3),
        2025: (0, 0, 0, 3),
    }
    by_2022, by_2025 = report.goals
    assert (by_2022.goal.year, by_2022.institutes, by_2022.status) == (2022, 3, "below")
    assert (by_2025.institutes, by_2025.national, by_2025.status) == (3, 1, "in progress")
    goals = Settings(data_dir=tmp_path, goal_2022_municipal_min=2, goal_2022_municipal_max=2)
    assert (await build_report(engine, goals, now=NOW)).goals[0].status == "above range"


async def test_stages_overdue_items_and_days_per_stage(engine, tmp_path) -> None:
    later = NOW.replace(year=2026, month=7)  # A's evaluation was due in 2024, D's in 2026
    report = await build_report(engine, Settings(data_dir=tmp_path), now=later)
    assert report.stage_source == "registry"
    assert {k: v for k, v in report.stages.items() if v} == {
        "surveyed": 2,
        "recommended": 1,
        "designated": 3,
        "delisted": 1,
    }
    assert [(o.case_id, o.kind) for o in report.overdue] == [
        ("A", "evaluation_due"),
        ("D", "evaluation_due"),
    ]
    days = {d.stage: (round(d.mean_days), d.stays) for d in report.durations}
    assert days["surveyed"] == (10, 5)
    assert days["plan_submitted"] == (20, 5)
    assert days["under_review"] == (40, 4)
    assert days["public_notice"] == (7, 4)
    assert days["under_evaluation"] == (30, 2)


async def test_a_case_where_its_district_already_has_an_institute_in_its_direction_is_warned(
    engine, tmp_path
) -> None:
    report = await build_report(engine, Settings(data_dir=tmp_path), now=NOW)
    warned = {w.case_id: w for w in report.duplicates}
    assert set(warned) == {"E", "G"}, "F's district lost its institute (C delisted)"
    assert [c.case_id for c in warned["E"].institutes] == ["A"]
    assert [c.case_id for c in warned["E"].open_cases] == ["G"]
    assert "错位发展" in warned["G"].message
    on_the_case = case_duplicate_warning(engine, "E")
    assert on_the_case is not None and [c.case_id for c in on_the_case.institutes] == ["A"]
    assert case_duplicate_warning(engine, "D") is None


async def test_the_report_as_table_json_markdown_and_html_with_a_chart(engine, tmp_path) -> None:
    report = await build_report(engine, Settings(data_dir=tmp_path), now=NOW)
    console = Console(record=True, width=120)
    print_report(report, console)
    text = console.export_text()
    assert "Goals of the work plan" in text and "below" in text and "错位发展" in text
    data = json.loads(json.dumps(report_data(report), ensure_ascii=False))
    assert data["goals"][0]["goal"]["year"] == 2022
    assert data["duplicates"][0]["message"].startswith("possible duplicate construction")
    markdown, html, chart = write_report(report, tmp_path / "out")
    assert chart.name == "designations.svg" and chart.read_text().lstrip().startswith("<?xml")
    assert "| 2022 | 3 (5-8) | 0 | below |" in markdown.read_text()
    page = html.read_text()
    assert "<svg" in page and "designations against the plan" in page
    assert write_report(report, tmp_path / "png", fmt="png")[2].read_bytes()[:4] == b"\x89PNG"


def test_the_report_command(engine, tmp_path) -> None:
    from typer.testing import CliRunner

    from idri.cli import build_app
    from idri.settings import get_settings

    get_settings.cache_clear()
    try:
        out = CliRunner().invoke(
            build_app(),
            ["report", "--no-visibility", "--json", "--out", str(tmp_path / "files")],
            env={"IDRI_DATA_DIR": str(tmp_path)},
        )
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["registry_total"] == 3 and data["stage_source"] == "registry"
    assert (tmp_path / "files" / "report.html").exists()


async def test_report_files_carry_no_escape_sequences_from_the_data(engine, tmp_path) -> None:
    later = NOW.replace(year=2026, month=7)  # A and D are overdue, listed with their names
    report = await build_report(engine, Settings(data_dir=tmp_path), now=later)
    report.overdue = [
        dataclasses.replace(o, organisation="天津\x1b]0;pwned\x07\x1b[2J设计")
        for o in report.overdue
    ]

    markdown, html, _ = write_report(report, tmp_path / "out")

    for written in (markdown.read_text(), html.read_text()):
        assert "\x1b" not in written and "\x07" not in written
        assert "天津\ufffd]0;pwned\ufffd\ufffd[2J设计" in written
    assert "<svg" in html.read_text()  # the chart, marked safe, is still inlined as markup

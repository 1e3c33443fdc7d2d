"""``idri report``: the bureau's view of the programme against the work plan's goals.

What it gathers (:func:`build_report`):

- the registry (名录) by district, industry direction, level and designation year, from the
  registry's read side (``activities/registry_read.py``);
- designations per year and the registry's size at each year's end, against the plan's goals
  (5-8 municipal institutes by 2022; more municipal and several national ones by 2025; the
  numbers are settings, ``IDRI_GOAL_*``);
- cases in each stage, counted by Temporal visibility (``IdriStage``), or by the registry where
  the server has no visibility (the time-skipping test server);
- overdue deadlines (the same rule as the evaluation sweep, ``activities/schedules.py``);
- average days per stage, from the audit trail's stage changes;
- duplicate construction warnings (错位发展, ``models/duplicates.py``).

And how it shows it: a Rich table on the terminal (:func:`print_report`), JSON
(:func:`report_data`), and Markdown + HTML files with a chart of designations per year against
the goals (:func:`write_report`, matplotlib with the Agg backend, SVG by default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jinja2 import Environment
from markupsafe import Markup
from sqlalchemy import Engine, or_
from sqlmodel import col, select

from activities.db import read_session
from activities.registry_read import Institute, events_of_kind, institutes, registry_counts
from activities.schedules import overdue_in_registry
from activities.tables import EventRow
from models.case import Stage
from models.duplicates import (
    CaseRef,
    DuplicateWarning,
    Scope,
    duplicate_warning,
    duplicate_warnings,
)
from models.limits import printable
from models.schedules import OVERDUE_KINDS
from models.time import CST, cst_date, end_of_day

if TYPE_CHECKING:
    from rich.console import Console
    from temporalio.client import Client

    from idri.settings import Settings

ChartFormat = Literal["svg", "png"]


# --- The goals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """A goal of the work plan: by the end of ``year``, so many institutes in the registry."""

    year: int
    institutes_min: int
    """Municipal institutes designated and still in the registry (national ones included:
    they were designated by the city first)."""
    institutes_max: int | None = None
    national_min: int = 0


def plan_goals(settings: Settings, *, shift_years: int = 0) -> list[Goal]:
    """The plan's goals from settings; ``shift_years`` moves them (a simulation that starts
    today replays the 2021 plan from this year)."""
    return [
        Goal(
            2022 + shift_years,
            settings.goal_2022_municipal_min,
            settings.goal_2022_municipal_max,
        ),
        Goal(
            2025 + shift_years,
            settings.goal_2025_municipal_min,
            None,
            settings.goal_2025_national_min,
        ),
    ]


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    institutes: int
    """In the registry at the end of the goal year (or now, while the year is running)."""
    national: int
    status: Literal["met", "below", "above range", "in progress"]


@dataclass(frozen=True)
class YearRow:
    year: int
    designated: int
    """Institutes designated that year (Beijing time)."""
    national: int
    """National designations (MIIT) recorded that year."""
    delisted: int
    registry_at_end: int
    """Institutes in the registry at the end of the year."""


# --- The rest of the report ------------------------------------------------------------------


@dataclass(frozen=True)
class OverdueRow:
    case_id: str
    organisation: str | None
    district: str
    kind: str
    due_at: datetime | None


@dataclass(frozen=True)
class StageDuration:
    stage: str
    mean_days: float
    median_days: float
    stays: int
    """Completed stays in the stage the average is taken over."""


@dataclass
class Report:
    generated_at: datetime
    registry_total: int
    by_district: dict[str, int]
    by_direction: dict[str, int]
    by_level: dict[str, int]
    by_year: dict[int, int]
    years: list[YearRow]
    goals: list[GoalProgress]
    stages: dict[str, int]
    stage_source: str
    """``visibility`` or ``registry``: where the stage counts come from."""
    overdue: list[OverdueRow]
    durations: list[StageDuration]
    duplicates: list[DuplicateWarning]
    notes: list[str] = field(default_factory=list)


async def build_report(
    engine: Engine,
    settings: Settings,
    *,
    client: Client | None = None,
    now: datetime,
    goal_shift_years: int = 0,
) -> Report:
    """Everything ``idri report`` shows, as of ``now``.

    ``client``: stage counts from Temporal visibility; without it, or on a server without
    visibility, from the registry.
    """
    counts, everything, national_events = await asyncio.gather(
        asyncio.to_thread(registry_counts, engine),
        asyncio.to_thread(institutes, engine),
        asyncio.to_thread(events_of_kind, engine, "record_national_outcome"),
    )
    national_at = {
        e.case_id: e.at for e in national_events if e.details.get("national") == "designated"
    }
    goals = plan_goals(settings, shift_years=goal_shift_years)
    notes = []
    if goal_shift_years:
        notes.append(
            f"goals shifted by {goal_shift_years:+d} years: the plan's 2022 and 2025 goals are "
            f"shown as {goals[0].year} and {goals[1].year}"
        )
    stages, stage_source = await _stage_counts(engine, client, everything)
    overdue = await asyncio.to_thread(overdue_in_registry, engine, now)
    stays = await asyncio.to_thread(_stage_stays, engine)
    return Report(
        generated_at=now,
        registry_total=counts.total,
        by_district=counts.by_district,
        by_direction=counts.by_direction,
        by_level=counts.by_level,
        by_year=counts.by_year,
        years=_years(everything, national_at, goals, now),
        goals=[_progress(g, everything, national_at, now) for g in goals],
        stages=stages,
        stage_source=stage_source,
        overdue=[
            OverdueRow(i.case_id, i.organisation, i.district, i.kind or "overdue", i.due_at)
            for i in overdue
        ],
        durations=_durations(stays),
        duplicates=duplicate_warnings(_ref(i) for i in everything),
        notes=notes,
    )


def case_duplicate_warning(
    engine: Engine, case_id: str, *, scope: Scope = "district"
) -> DuplicateWarning | None:
    """The duplicate construction warning of one case, for the case view (``idri status``):
    the designated institutes and open applications its district has in its direction."""
    everything = [_ref(i) for i in institutes(engine)]
    case = next((c for c in everything if c.case_id == case_id), None)
    return duplicate_warning(case, everything, scope=scope) if case else None


def _ref(institute: Institute) -> CaseRef:
    return CaseRef(
        institute.case_id,
        institute.organisation,
        institute.district,
        institute.direction,
        Stage(institute.stage),
    )


def _in_registry_at(institute: Institute, moment: datetime) -> bool:
    return (
        institute.designated_at is not None
        and institute.designated_at < moment
        and (institute.delisted_at is None or institute.delisted_at >= moment)
    )


def _year_end(year: int) -> datetime:
    return end_of_day(date(year, 12, 31))


def _years(
    everything: list[Institute],
    national_at: dict[str, datetime],
    goals: list[Goal],
    now: datetime,
) -> list[YearRow]:
    designated = Counter(cst_date(i.designated_at).year for i in everything if i.designated_at)
    delisted = Counter(cst_date(i.delisted_at).year for i in everything if i.delisted_at)
    national = Counter(cst_date(at).year for at in national_at.values())
    years = set(designated) | set(delisted) | set(national) | {g.year for g in goals}
    first, last = min(years), max(years | {cst_date(now).year})
    return [
        YearRow(
            year,
            designated[year],
            national[year],
            delisted[year],
            sum(_in_registry_at(i, min(_year_end(year), now)) for i in everything),
        )
        for year in range(first, last + 1)
    ]


def _progress(
    goal: Goal, everything: list[Institute], national_at: dict[str, datetime], now: datetime
) -> GoalProgress:
    moment = min(_year_end(goal.year), now)
    present = [i for i in everything if _in_registry_at(i, moment)]
    national = sum(
        1 for i in present if i.case_id in national_at and national_at[i.case_id] < moment
    )
    status: Literal["met", "below", "above range", "in progress"]
    if len(present) < goal.institutes_min or national < goal.national_min:
        status = "in progress" if now < _year_end(goal.year) else "below"
    elif goal.institutes_max is not None and len(present) > goal.institutes_max:
        status = "above range"
    else:
        status = "met"
    return GoalProgress(goal, len(present), national, status)


async def _stage_counts(
    engine: Engine, client: Client | None, everything: list[Institute]
) -> tuple[dict[str, int], str]:
    if client is not None:
        counted = await visibility_stage_counts(client)
        if counted is not None:
            return counted, "visibility"
    tally = Counter(i.stage for i in everything)
    return {s.value: tally.get(s.value, 0) for s in Stage}, "registry"


async def visibility_stage_counts(client: Client) -> dict[str, int] | None:
    """Cases per stage from Temporal visibility, or None where the server cannot count.

    One count per stage (visibility groups by ``ExecutionStatus`` only). Only the latest run of
    a case counts: earlier runs that continued as new keep the stage they had.
    """
    from temporalio.service import RPCError

    async def count(stage: Stage) -> int:
        query = (
            "WorkflowType = 'InstituteWorkflow' AND ExecutionStatus IN ('Running', 'Completed')"
            f" AND IdriStage = '{stage.value}'"
        )
        return (await client.count_workflows(query)).count

    try:
        numbers = await asyncio.gather(*(count(s) for s in Stage))
    except RPCError:
        return None
    return {s.value: n for s, n in zip(Stage, numbers, strict=True)}


def _stage_stays(engine: Engine) -> dict[str, list[float]]:
    """Days spent in each stage by every case that has left it (audit trail stage changes)."""
    query = (
        select(EventRow.case_id, EventRow.at, EventRow.to_stage)
        .where(
            col(EventRow.from_stage) != "",  # programme summaries carry no stage
            or_(
                col(EventRow.event) == "created", col(EventRow.from_stage) != col(EventRow.to_stage)
            ),
        )
        .order_by(col(EventRow.case_id), col(EventRow.seq))
    )
    stays: dict[str, list[float]] = defaultdict(list)
    with read_session(engine) as session:
        previous: tuple[str, datetime, str] | None = None
        for case_id, at, stage in session.exec(query):
            if previous is not None and previous[0] == case_id:
                stays[previous[2]].append((at - previous[1]).total_seconds() / 86400)
            previous = (case_id, at, stage)
    return stays


def _durations(stays: dict[str, list[float]]) -> list[StageDuration]:
    order = {s.value: n for n, s in enumerate(Stage)}
    return [
        StageDuration(stage, statistics.fmean(days), statistics.median(days), len(days))
        for stage, days in sorted(stays.items(), key=lambda kv: order.get(kv[0], 99))
        if days
    ]


# --- JSON --------------------------------------------------------------------------------------


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain JSON data (times in Beijing, ISO)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            data = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if isinstance(value, DuplicateWarning):
                data["message"] = value.message
            return data
        if isinstance(value, datetime):
            return value.astimezone(CST).isoformat(timespec="seconds")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Stage):
            return value.value
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data: dict[str, Any] = plain(report)
    return data


# --- The chart ---------------------------------------------------------------------------------


def chart(report: Report, *, fmt: ChartFormat = "svg") -> bytes:
    """Designations per year (bars), the registry's size (line) and the goals (markers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    years = [row.year for row in report.years]
    with plt.rc_context({"svg.hashsalt": "idri", "font.size": 9}):
        figure, axes = plt.subplots(figsize=(7.5, 4))
        try:
            municipal = [row.designated for row in report.years]
            national = [row.national for row in report.years]
            axes.bar(years, municipal, color="#4878a8", label="designated (municipal)")
            axes.bar(years, national, bottom=municipal, color="#d08c2f", label="national level")
            axes.step(
                years,
                [row.registry_at_end for row in report.years],
                where="mid",
                color="#333333",
                label="in the registry at year end",
            )
            for progress in report.goals:
                goal = progress.goal
                top = goal.institutes_max or goal.institutes_min
                axes.vlines(goal.year + 0.3, goal.institutes_min, top, color="#2a9d4b", lw=4)
                axes.plot([goal.year + 0.3], [goal.institutes_min], "v", color="#2a9d4b")
                if goal.national_min:
                    axes.plot([goal.year + 0.3], [goal.national_min], "*", color="#d08c2f", ms=10)
                span = (
                    f"{goal.institutes_min}-{goal.institutes_max}"
                    if goal.institutes_max
                    else (f">={goal.institutes_min}")
                )
                axes.annotate(
                    f"goal {goal.year}: {span}",
                    (goal.year + 0.3, top),
                    textcoords="offset points",
                    xytext=(4, 4),
                    color="#2a9d4b",
                )
            axes.plot([], [], "v", color="#2a9d4b", label="goal: institutes")
            axes.plot([], [], "*", color="#d08c2f", label="goal: national")
            axes.set_xticks(years)
            axes.set_xlim(years[0] - 0.6, years[-1] + 1.2)  # room for the last goal's label
            axes.set_xlabel("year (Beijing time)")
            axes.set_ylabel("institutes")
            axes.set_title("Industrial design research institutes: designations against the plan")
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.legend(loc="upper left", fontsize=8)
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
        finally:
            plt.close(figure)
    return buffer.getvalue()


# --- Files -------------------------------------------------------------------------------------


def _templates() -> Environment:
    from activities.templates import environment

    env = environment("idri", autoescape=True)
    # Set before any template is loaded (it is compiled into them): every value a template
    # writes has its control characters replaced, as on the terminal.
    env.finalize = _printable
    env.globals["overdue_label"] = lambda kind: OVERDUE_KINDS.get(kind, {"zh": kind, "en": kind})
    env.filters.update(
        day=lambda moment: cst_date(moment).isoformat() if moment else "",
        stamp=lambda moment: moment.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
    )
    return env


def _printable(value: object) -> object:
    """A value as a report file writes it: text without control characters (line breaks and
    tabs kept); text already marked safe stays marked (nothing replaced can be markup)."""
    if isinstance(value, Markup):
        return Markup(printable(value))
    return printable(value) if isinstance(value, str) else value


def write_report(report: Report, out_dir: Path, *, fmt: ChartFormat = "svg") -> list[Path]:
    """``report.md``, ``report.html`` (chart inlined) and the chart file, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    image = chart(report, fmt=fmt)
    chart_path = out_dir / f"designations.{fmt}"
    chart_path.write_bytes(image)
    env = _templates()
    context = {"r": report, "chart_file": chart_path.name}
    markdown = out_dir / "report.md"
    markdown.write_text(env.get_template("report.md.j2").render(context), encoding="utf-8")
    if fmt == "svg":
        inline = image.decode("utf-8")
        inline = inline[inline.index("<svg") :]
    else:
        import base64

        inline = f'<img alt="designations per year" src="data:image/png;base64,{base64.b64encode(image).decode()}">'
    html = out_dir / "report.html"
    html.write_text(
        env.get_template("report.html.j2").render(context | {"chart_inline": inline}),
        encoding="utf-8",
    )
    return [markdown, html, chart_path]


# --- The terminal ------------------------------------------------------------------------------


def print_report(report: Report, console: Console) -> None:
    """The report as Rich tables."""
    from rich.table import Table

    from activities.templates import direction, district, label

    console.print(
        f"[bold]idri report[/] — {report.generated_at.astimezone(CST):%Y-%m-%d %H:%M} Beijing time"
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")

    goals = Table(title="Goals of the work plan")
    for column in ("by end of", "institutes (goal)", "national (goal)", "status"):
        goals.add_column(column)
    for p in report.goals:
        g = p.goal
        span = (
            f"{g.institutes_min}-{g.institutes_max}"
            if g.institutes_max
            else f">= {g.institutes_min}"
        )
        colour = {"met": "green", "below": "red", "above range": "yellow"}.get(p.status, "cyan")
        goals.add_row(
            str(g.year),
            f"{p.institutes} ({span})",
            f"{p.national} (>= {g.national_min})" if g.national_min else str(p.national),
            f"[{colour}]{p.status}[/]",
        )
    console.print(goals)

    years = Table(title="Designations per year")
    for column in ("year", "designated", "national", "delisted", "registry at year end"):
        years.add_column(column, justify="right")
    for row in report.years:
        years.add_row(
            str(row.year),
            str(row.designated),
            str(row.national),
            str(row.delisted),
            str(row.registry_at_end),
        )
    console.print(years)

    registry = Table(title=f"The registry (名录): {report.registry_total} institute(s)")
    registry.add_column("by")
    registry.add_column("")
    registry.add_column("institutes", justify="right")
    for code, n in report.by_district.items():
        registry.add_row("district", district(code)["zh"], str(n))
    for code, n in report.by_direction.items():
        registry.add_row("direction", direction(code)["zh"], str(n))
    for code, n in report.by_level.items():
        registry.add_row("level", label("levels", code)["zh"], str(n))
    for year, n in report.by_year.items():
        registry.add_row("designated in", str(year), str(n))
    console.print(registry)

    stages = Table(title=f"Cases per stage ({report.stage_source})")
    for column in ("stage", "cases", "average days in stage", "stays"):
        stages.add_column(column, justify="right" if column != "stage" else "left")
    durations = {d.stage: d for d in report.durations}
    for stage, n in report.stages.items():
        d = durations.get(stage)
        if not n and d is None:
            continue
        stages.add_row(
            f"{stage} {label('stages', stage)['zh']}",
            str(n),
            f"{d.mean_days:.1f}" if d else "",
            str(d.stays) if d else "",
        )
    console.print(stages)

    if report.overdue:
        overdue = Table(title=f"Overdue ({len(report.overdue)})")
        for column in ("case", "organisation", "district", "what", "due"):
            overdue.add_column(column)
        for item in report.overdue:
            overdue.add_row(
                item.case_id,
                item.organisation or "",
                district(item.district)["zh"],
                OVERDUE_KINDS.get(item.kind, {"en": item.kind})["en"],
                cst_date(item.due_at).isoformat() if item.due_at else "",
            )
        console.print(overdue)
    else:
        console.print("Nothing is overdue.")

    if report.duplicates:
        console.print(
            f"[bold yellow]Duplicate construction warnings (错位发展): {len(report.duplicates)}[/]"
        )
        for warning in report.duplicates:
            console.print(f"  {warning.case_id}: {warning.message}")

"""Read-only commands: a case's status and history, the list of cases (Temporal visibility, the
same search attributes as the Web UI's filters), the registry (名录, from the registry database),
the lifecycle diagram and the catalogues."""

from __future__ import annotations

import csv
import difflib
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idri.cli._common import (
    HISTORY_QUERY,
    STATUS_QUERY,
    JsonOption,
    allowed_text,
    console,
    day,
    fail,
    iso,
    jsonable,
    normalise_case_id,
    print_json,
    read_case,
    run,
    settings,
    warn,
)
from models.case import CaseStatus, HistoryEntry, Stage
from models.catalog import DIRECTIONS, DISTRICTS, Catalogue, UnknownEntry

if TYPE_CHECKING:
    from temporalio.client import Client

    from activities.registry_read import Institute

HELP_PANEL = "Views"

CaseArg = Annotated[
    str, typer.Argument(metavar="CASE", help="The case id (or its workflow id institute-...).")
]


def register(app: typer.Typer) -> None:
    for command, name in (
        (status, "status"),
        (history, "history"),
        (list_cases, "list"),
        (registry, "registry"),
        (diagram, "diagram"),
        (districts, "districts"),
        (directions, "directions"),
    ):
        app.command(name, rich_help_panel=HELP_PANEL)(command)


def _label(catalogue: Catalogue, code: str) -> str:
    try:
        return catalogue.get(code).zh
    except UnknownEntry:
        return code


# --- idri status ---------------------------------------------------------------------------------


def status(case: CaseArg, json_: JsonOption = False) -> None:
    """Where a case stands: stage, deadline, what it awaits, reviews, objections."""
    result = read_case(normalise_case_id(case), STATUS_QUERY, CaseStatus)
    if json_:
        print_json(result)
    else:
        show_status(result)


def show_status(s: CaseStatus) -> None:
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Case", s.case_id)
    grid.add_row("Organisation", s.organisation)
    grid.add_row(
        "District", DISTRICTS.get(s.district).label if s.district in DISTRICTS else s.district
    )
    grid.add_row(
        "Direction", DIRECTIONS.get(s.direction).label if s.direction in DIRECTIONS else s.direction
    )
    grid.add_row("Stage", f"[bold]{s.stage.value}[/] ({s.level.value})")
    if s.round_year:
        grid.add_row("Round", str(s.round_year))
    if s.deadline:
        grid.add_row("Next deadline", f"{iso(s.deadline.at)}  {s.deadline.description}")
    grid.add_row("Allowed now", allowed_text(s))
    if s.notice:
        grid.add_row(
            "Public notice",
            f"{iso(s.notice.start)} … {iso(s.notice.end)} ({s.notice.working_days} working days)",
        )
    if s.open_objections:
        grid.add_row("Open objections", str(s.open_objections))
    if s.designated_at:
        grid.add_row("Designated", day(s.designated_at))
    if s.next_evaluation_due:
        grid.add_row("Evaluation due", day(s.next_evaluation_due))
    if s.rectification_due:
        grid.add_row("Rectify by", iso(s.rectification_due))
    if s.missed_rounds:
        grid.add_row("Missed rounds", str(s.missed_rounds))
    if s.previous_case_id:
        grid.add_row("Re-application of", s.previous_case_id)
    for review in s.reviews:
        score = f"{review.score:g}" if review.score is not None else "awaited"
        grid.add_row("Expert", f"{review.expert} ({review.organisation}): {score}")
    for warning in s.warnings:
        grid.add_row("[yellow]Warning[/]", warning)
    grid.add_row("History", f"{s.history_length} events (idri history {s.case_id})")
    console().print(grid)


# --- idri history --------------------------------------------------------------------------------


def history(case: CaseArg, json_: JsonOption = False) -> None:
    """Who did what, when and why."""
    entries = read_case(normalise_case_id(case), HISTORY_QUERY, list[HistoryEntry])
    if json_:
        print_json(entries)
        return
    from rich.table import Table

    table = Table("#", "at (Beijing)", "event", "stage", "by", "reason")
    for e in entries:
        stage = (
            e.to_stage.value
            if e.from_stage == e.to_stage
            else f"{e.from_stage.value} → {e.to_stage.value}"
        )
        table.add_row(
            str(e.seq), iso(e.at), e.event, stage, f"{e.actor} ({e.role.value})", e.reason
        )
    console().print(table)
    if entries and entries[0].seq > 1:
        console().print(
            f"{entries[0].seq - 1} earlier events are in the registry's audit trail "
            "(carried across evaluation cycles, the case keeps its recent history)"
        )


# --- idri list -----------------------------------------------------------------------------------


def _stage(text: str) -> Stage:
    try:
        return Stage(text.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        names = [s.value for s in Stage]
        close = difflib.get_close_matches(text, names, n=2, cutoff=0.5)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        fail(f"unknown stage {text!r}{hint} (stages: {', '.join(names)})")


def list_cases(
    stage: Annotated[str | None, typer.Option("--stage", help="Only this stage.")] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="Only this district (code, 中文 or English).")
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", help="Only this direction.")
    ] = None,
    round_year: Annotated[
        int | None, typer.Option("--round", help="Only this round (year).")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only cases still running.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many cases.")] = 500,
    json_: JsonOption = False,
) -> None:
    """List cases, newest first, found by the search attributes the Web UI filters on."""
    # A case continues-as-new at every evaluation cycle; its earlier runs keep their last
    # search attributes, so only the current run of each case is listed.
    clauses = ["WorkflowType = 'InstituteWorkflow'", "ExecutionStatus != 'ContinuedAsNew'"]
    try:
        if stage:
            clauses.append(f"IdriStage = '{_stage(stage).value}'")
        if district:
            clauses.append(f"IdriDistrict = '{DISTRICTS.find(district).code}'")
        if direction:
            clauses.append(f"IdriDirection = '{DIRECTIONS.find(direction).code}'")
    except UnknownEntry as error:
        fail(str(error))
    if round_year is not None:
        clauses.append(f"IdriRoundYear = {round_year}")
    if open_only:
        clauses.append("ExecutionStatus = 'Running'")
    query = " AND ".join(clauses)

    async def work(client: Client) -> list[dict[str, Any]]:
        from models import search

        rows = []
        async for execution in client.list_workflows(query, limit=limit):
            attrs = execution.typed_search_attributes
            rows.append(
                {
                    "case_id": execution.id.removeprefix("institute-"),
                    "organisation": str(await execution.memo_value("organisation", default="")),
                    "district": attrs.get(search.DISTRICT),
                    "direction": attrs.get(search.DIRECTION),
                    "stage": attrs.get(search.STAGE),
                    "round_year": attrs.get(search.ROUND_YEAR),
                    "due_at": attrs.get(search.DUE_AT),
                    "status": execution.status.name.lower() if execution.status else None,
                    "started_at": execution.start_time,
                    "workflow_id": execution.id,
                }
            )
        return rows

    rows = run(work)
    if json_:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("case", "organisation", "district", "direction", "stage", "round", "next due")
    for r in rows:
        table.add_row(
            r["case_id"],
            r["organisation"],
            _label(DISTRICTS, r["district"] or ""),
            _label(DIRECTIONS, r["direction"] or ""),
            r["stage"] or "",
            str(r["round_year"] or ""),
            day(r["due_at"]),
        )
    out = console()
    out.print(table)
    out.print(f"{len(rows)} case(s); query: {query}")


# --- idri registry -------------------------------------------------------------------------------


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


REGISTRY_COLUMNS = (
    "case_id",
    "organisation",
    "district",
    "direction",
    "level",
    "stage",
    "designated_at",
    "last_evaluated_at",
    "next_evaluation_due",
    "round_year",
    "previous_case_id",
)


def registry(
    format_: Annotated[Format, typer.Option("--format", help="table, json or csv.")] = Format.table,
    json_: JsonOption = False,
) -> None:
    """The municipal registry (名录): designated institutes, from the registry database."""
    institutes = _read_registry()
    if json_:
        format_ = Format.json
    if format_ is Format.json:
        print_json([_registry_row(i) for i in institutes])
    elif format_ is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(REGISTRY_COLUMNS)
        for institute in institutes:
            row = _registry_row(institute)
            writer.writerow([row[c] if row[c] is not None else "" for c in REGISTRY_COLUMNS])
    else:
        from rich.table import Table

        table = Table(
            "case", "organisation", "district", "direction", "level", "designated", "evaluation due"
        )
        for i in institutes:
            table.add_row(
                i.case_id,
                i.organisation,
                _label(DISTRICTS, i.district),
                _label(DIRECTIONS, i.direction),
                i.level,
                day(i.designated_at),
                day(i.next_evaluation_due),
            )
        out = console()
        out.print(table)
        out.print(f"{len(institutes)} institute(s) in the registry")


def _registry_row(institute: Institute) -> dict[str, Any]:
    row = {c: getattr(institute, c) for c in REGISTRY_COLUMNS}
    for column in ("designated_at", "last_evaluated_at", "next_evaluation_due"):
        row[column] = day(row[column]) or None
    return dict(jsonable(row))


def _read_registry() -> list[Institute]:
    configured = settings()
    url = configured.registry_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            warn(f"no registry database yet at {path} (the worker creates it: `idri up`)")
            return []
    from sqlalchemy.exc import SQLAlchemyError

    from activities.db import create_registry_engine
    from activities.registry_read import current_registry

    engine = create_registry_engine(url)
    try:
        return current_registry(engine)
    except SQLAlchemyError as error:
        fail(f"cannot read the registry at {_safe_url(url)}: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    """The URL without its password."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, credentials = head.partition("://")
    return f"{scheme}://{credentials.split(':')[0]}:***@{tail}"


# --- idri diagram, districts, directions ---------------------------------------------------------


def diagram(
    write_readme: Annotated[
        Path | None,
        typer.Option("--write-readme", help="Rewrite the diagram block of this README instead."),
    ] = None,
) -> None:
    """The lifecycle as a Mermaid state diagram, generated from the lifecycle table."""
    if write_readme is not None:
        from idri.diagram import write_readme as rewrite

        changed = rewrite(write_readme)
        typer.echo(f"{write_readme} {'updated' if changed else 'already current'}")
        return
    from models.lifecycle import mermaid_diagram

    typer.echo(mermaid_diagram(), nl=False)


def _catalogue(catalogue: Catalogue, json_: bool, *, with_category: bool) -> None:
    if json_:
        print_json(
            [
                {"code": e.code, "zh": e.zh, "en": e.en}
                | ({"category": e.category} if with_category else {})
                for e in catalogue.entries
            ]
        )
        return
    from rich.table import Table

    columns = ["code", "中文", "English"] + (["category"] if with_category else [])
    table = Table(*columns)
    for e in catalogue.entries:
        table.add_row(e.code, e.zh, e.en, *([e.category] if with_category else []))
    console().print(table)


def districts(json_: JsonOption = False) -> None:
    """The districts of Tianjin (accepted as code, Chinese or English name)."""
    _catalogue(DISTRICTS, json_, with_category=False)


def directions(json_: JsonOption = False) -> None:
    """The industry directions (主要方向) an application may name."""
    _catalogue(DIRECTIONS, json_, with_category=True)

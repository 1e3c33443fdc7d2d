"""Read-only commands: a case's status and history, the list of cases (Temporal visibility, the
same search attributes as the Web UI's filters), the registry (名录) and the mail outbox (both
from the registry database), the lifecycle diagram and the catalogues."""

from __future__ import annotations

import csv
import dataclasses
import difflib
import sys
from collections import Counter
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from idri.cli._common import (
    JsonOption,
    allowed_text,
    answer,
    case_handle,
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
    shown,
    warn,
)
from models.case import CaseStatus, Stage
from models.catalog import DIRECTIONS, DISTRICTS, Catalogue, UnknownEntry
from models.limits import spreadsheet_cell

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy import Engine
    from temporalio.client import Client

    from activities.registry_read import Institute
    from idri.ending import CaseEnding

T = TypeVar("T")

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
        (mail, "mail"),
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
    """Where a case stands: stage, deadline, what it awaits, reviews, objections.

    A case whose workflow ended outside the lifecycle (terminated, cancelled, timed out,
    failed) shows how, when and by whom instead of a deadline.
    """
    case_id = normalise_case_id(case)
    result, ending = run(lambda client: case_view(client, case_id))
    if json_:
        print_json({**jsonable(result), "ended": jsonable(ending)})
    else:
        show_status(result, ending)


async def case_view(client: Client, case_id: str) -> tuple[CaseStatus, CaseEnding | None]:
    """A case's status and, when its workflow ended outside the lifecycle, how.

    The query still answers from a closed workflow's history (its last stage and reviews), but
    its deadline and allowed actions are the ones the stopped run would have kept: an ended case
    has none, so they are dropped rather than shown as if something still ran.
    """
    from idri.ending import ending_of
    from workflows.institute import InstituteWorkflow

    handle = case_handle(client, case_id)
    ending = await ending_of(client, handle.id)
    result = await answer(client, case_id, handle.query(InstituteWorkflow.status))
    if ending is not None:
        result = dataclasses.replace(
            result,
            deadline=None,
            allowed_actions=[],
            next_evaluation_due=None,
            rectification_due=None,
        )
    return result, ending


def show_status(s: CaseStatus, ending: CaseEnding | None = None) -> None:
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
    if ending is not None:
        grid.add_row("Stage", f"[bold]{s.stage.value}[/] ({s.level.value}), its last")
        grid.add_row("[red]Ended[/]", ended_text(ending))
        grid.add_row("Allowed now", "nothing: no workflow runs this case; the bureau decides")
    else:
        grid.add_row("Stage", f"[bold]{s.stage.value}[/] ({s.level.value})")
    if s.round_year:
        grid.add_row("Round", str(s.round_year))
    if s.deadline:
        grid.add_row("Next deadline", f"{iso(s.deadline.at)}  {s.deadline.description}")
    if ending is None:
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


def ended_text(ending: CaseEnding) -> str:
    """How, when (Beijing time) and by whom a case ended outside the lifecycle."""
    how = ending.how.replace("_", " ")
    when = iso(ending.at) or "at an unknown time"
    from rich.markup import escape

    by = f" by {escape(shown(ending.identity))}" if ending.identity else ""
    why = f" ({escape(shown(ending.reason))})" if ending.reason else ""
    return f"workflow {how} outside the lifecycle, {when}{by}{why}"


# --- idri history --------------------------------------------------------------------------------


def history(case: CaseArg, json_: JsonOption = False) -> None:
    """Who did what, when and why."""
    from workflows.institute import InstituteWorkflow

    entries = read_case(normalise_case_id(case), InstituteWorkflow.history)
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
            _stage_shown(r["stage"], r["status"]),
            str(r["round_year"] or ""),
            day(r["due_at"]) if r["status"] in ("running", None) else "",
        )
    out = console()
    out.print(table)
    out.print(f"{len(rows)} case(s); query: {query}")


def _stage_shown(stage: str | None, status: str | None) -> str:
    """A case's stage, and how its workflow ended when that was outside the lifecycle (a run
    that completed or continued as new ended inside it)."""
    if status in ("running", "completed", "continued_as_new", None):
        return stage or ""
    return f"{stage or ''} ({status})".strip()


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
        # Opened in Excel or WPS by the bureau: a name like ``=HYPERLINK(...)`` must stay text.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(REGISTRY_COLUMNS)
        for institute in institutes:
            row = _registry_row(institute)
            writer.writerow(
                [
                    spreadsheet_cell(str(row[c])) if row[c] is not None else ""
                    for c in REGISTRY_COLUMNS
                ]
            )
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
    from activities.registry_read import current_registry

    return _from_registry(current_registry) or []


def _from_registry(read: Callable[[Engine], T]) -> T | None:
    """``read`` on the registry database of the settings; None (with a warning) when its SQLite
    file does not exist yet, a one-line failure when it cannot be read."""
    configured = settings()
    url = configured.registry_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            warn(f"no registry database yet at {path} (the worker creates it: `idri up`)")
            return None
    from sqlalchemy.exc import SQLAlchemyError

    from activities.db import create_registry_engine

    engine = create_registry_engine(url)
    try:
        return read(engine)
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


# --- idri mail -----------------------------------------------------------------------------------

MAIL_STATUSES = ("pending", "sending", "sent", "undeliverable", "failed")
"""The statuses of an outbox row (``activities.tables.NotificationRow.status``)."""

OptionalCaseArg = Annotated[
    str | None,
    typer.Argument(
        metavar="CASE",
        help="Only this case's mail (its id, or its workflow id institute-...).",
        show_default=False,
    ),
]


def mail(
    case: OptionalCaseArg = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help=f"Only mail in this status: {', '.join(MAIL_STATUSES)}.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=1, help="At most this many mails, the newest (shown oldest first)."
        ),
    ] = 500,
    json_: JsonOption = False,
) -> None:
    """The mail outbox, oldest first: who was told what, whether it went out, and why not."""
    wanted = _mail_status(status) if status is not None else None
    case_id = normalise_case_id(case) if case is not None else None
    found = _from_registry(lambda engine: _read_mail(engine, case_id, wanted, limit))
    rows, known, total = found if found is not None else ([], True, 0)
    if not known:
        fail(f"the registry has no case {case_id!r}; `idri list` shows the cases")
    left_out = total - len(rows)
    if json_:
        print_json(rows)
        if left_out:
            warn(f"the newest {len(rows)} of {total} mails; --limit {total} gives them all")
        return
    if not rows:
        typer.echo(_no_mail(case_id, wanted))
        return
    from rich.markup import escape
    from rich.table import Column, Table

    table = Table(
        *(Column(name, no_wrap=True) for name in ("created (Beijing)", "case", "role")),
        "to",
        "subject",
        Column("status", no_wrap=True),
        Column("attempts", justify="right", no_wrap=True),
        "last error",
        Column("retry at (Beijing)", no_wrap=True),
    )
    for r in rows:
        unsent = r["status"] != "sent"
        table.add_row(
            _minute(r["created_at"]),
            r["case_id"],
            r["role"],
            escape(_recipient(r["name"], r["address"])),
            escape(r["subject"]),
            r["status"],
            str(r["attempts"]),
            escape(r["last_error"] or "") if unsent else "",
            _minute(r["retry_at"]) if unsent else "",
        )
    tally = Counter(r["status"] for r in rows)
    out = console()
    out.print(table)
    shown = ", ".join(f"{tally[s]} {s}" for s in MAIL_STATUSES if tally[s])
    if left_out:
        out.print(
            f"the newest {len(rows)} of {total} mails: {shown}; --limit {total} shows them all",
            markup=False,
        )
    else:
        out.print(f"{len(rows)} mail(s): {shown}")


def _mail_status(text: str) -> str:
    wanted = text.strip().lower()
    if wanted in MAIL_STATUSES:
        return wanted
    close = difflib.get_close_matches(wanted, MAIL_STATUSES, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    fail(f"unknown mail status {text!r}{hint} (statuses: {', '.join(MAIL_STATUSES)})")


def _read_mail(
    engine: Engine, case_id: str | None, status: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool, int]:
    """The newest ``limit`` outbox rows of :func:`activities.registry_read.outbox` as the view
    shows them, whether the registry knows ``case_id`` (True without one), and how many rows
    there are in all."""
    from activities.registry_read import institute, outbox, outbox_size

    entries = outbox(engine, case_id=case_id, status=status, newest=limit)
    if not entries:
        return [], case_id is None or institute(engine, case_id) is not None, 0
    rows = [{name: getattr(e, name) for name in _MAIL_FIELDS} for e in entries]
    # Counted only when the list may have been cut: a count reads the whole outbox.
    total = outbox_size(engine, case_id=case_id, status=status) if len(rows) == limit else len(rows)
    return rows, True, total


_MAIL_FIELDS = (
    *("key", "event_key", "created_at", "case_id", "role", "name", "address", "subject"),
    *("status", "attempts", "last_error", "retry_at", "sent_at", "transport"),
)
"""What ``idri mail --json`` gives of each outbox row, in this order."""


def _minute(moment: datetime | None) -> str:
    """A moment to the minute, Beijing time (``2025-06-03 10:00``): a table of many columns."""
    return iso(moment)[:16].replace("T", " ")


def _recipient(name: str, address: str | None) -> str:
    if name and address:
        return f"{name} <{address}>"
    return name or address or "—"


def _no_mail(case_id: str | None, status: str | None) -> str:
    what = f"no {status} mail" if status else "no mail"
    if case_id is not None:
        return f"{what} for case {case_id} in the outbox"
    return f"{what} in the outbox"


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

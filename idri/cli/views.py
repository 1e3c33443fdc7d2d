"""Read-only commands: a case's status and history, the list of cases, the registry (名录) and
the mail outbox, all from the API (``docs/api.md``), which shows each account what it may see;
and the lifecycle diagram and the catalogues, from ``models`` alone."""

from __future__ import annotations

import csv
import difflib
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from idri.cli._api import call, case_path
from idri.cli._common import (
    JsonOption,
    console,
    day,
    fail,
    literal,
    normalise_case_id,
    parse_date,
    print_json,
    shown,
    warn,
)
from idri.cli._render import (
    MAIL_STATUSES,
    show_cases,
    show_history,
    show_mail,
    show_registry,
    show_status,
)
from idri.cli._tables import Col, print_fitted
from models.case import Stage
from models.catalog import DIRECTIONS, DISTRICTS, Catalogue, UnknownEntry
from models.limits import spreadsheet_cell

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


# --- idri status, idri history -------------------------------------------------------------------


def status(case: CaseArg, json_: JsonOption = False) -> None:
    """Where a case stands: stage, deadline, what it awaits, reviews, objections.

    A case whose workflow ended outside the lifecycle (terminated, cancelled, timed out,
    failed) shows how, when and by whom instead of a deadline.
    """
    answer = call("GET", case_path(case))
    if json_:
        print_json(answer)
    else:
        show_status(answer)


def history(case: CaseArg, json_: JsonOption = False) -> None:
    """Who did what, when and why."""
    entries = call("GET", case_path(case, "history"))
    if json_:
        print_json(entries)
    else:
        show_history(entries)


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
    open_only: Annotated[
        bool, typer.Option("--open", metavar="", help="Only cases still running.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many cases.")] = 500,
    overdue: Annotated[
        bool, typer.Option("--overdue", metavar="", help="Only cases with work overdue.")
    ] = False,
    due_before: Annotated[
        str | None, typer.Option("--due-before", metavar="DATE", help="Work due before this day.")
    ] = None,
    waiting_on: Annotated[
        str | None,
        typer.Option("--waiting-on", metavar="ROLE", help="district, expert, bureau or applicant."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """List the cases you may see, newest first, by the search attributes the Web UI filters on
    (and, for --overdue, --due-before and --waiting-on, by what waits, as idri inbox)."""
    filters: dict[str, Any] = {}
    try:
        if stage:
            filters["stage"] = _stage(stage).value
        if district:
            filters["district"] = DISTRICTS.find(district).code
        if direction:
            filters["direction"] = DIRECTIONS.find(direction).code
    except UnknownEntry as error:
        fail(str(error))
    if round_year is not None:
        filters["round"] = round_year
    if open_only:
        filters["open"] = True
    if overdue:
        filters["overdue"] = True
    if due_before:
        filters["due_before"] = parse_date(due_before, "--due-before").isoformat()
    if waiting_on:
        filters["waiting_on"] = waiting_on
    rows = call("GET", "/api/cases", query={**filters, "limit": limit})
    if json_:
        print_json(rows)
        return
    said = ", ".join(f"{k} {'yes' if v is True else v}" for k, v in filters.items())
    show_cases(rows, f"filters: {said}" if said else "")


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
    institutes = call("GET", "/api/registry")
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
        show_registry(institutes)


def _registry_row(institute: dict[str, Any]) -> dict[str, Any]:
    """An institute as the registry view gives it: its columns, in order, moments as dates."""
    row = {c: institute.get(c) for c in REGISTRY_COLUMNS}
    for column in ("designated_at", "last_evaluated_at", "next_evaluation_due"):
        row[column] = day(row[column]) or None
    return row


# --- idri mail -----------------------------------------------------------------------------------

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
    answer = call("GET", "/api/mail", query={"case": case_id, "status": wanted, "limit": limit})
    rows, total = _mailbag(answer)
    if json_:
        print_json(rows)
        if total > len(rows):
            warn(f"the newest {len(rows)} of {total} mails; --limit {total} gives them all")
        return
    if not rows:
        typer.echo(shown(_no_mail(case_id, wanted)))
        return
    show_mail(rows, total=total)


def _mailbag(answer: Any) -> tuple[list[dict[str, Any]], int]:
    """The mails and how many match in all: the API answers ``{"mails", "total"}``; a bare list
    (as docs/api.md once had it) counts only itself."""
    if isinstance(answer, dict):
        rows = list(answer.get("mails") or [])
        return rows, int(answer.get("total") or len(rows))
    return list(answer), len(answer)


def _mail_status(text: str) -> str:
    wanted = text.strip().lower()
    if wanted in MAIL_STATUSES:
        return wanted
    close = difflib.get_close_matches(wanted, MAIL_STATUSES, n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    fail(f"unknown mail status {text!r}{hint} (statuses: {', '.join(MAIL_STATUSES)})")


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
    json_: JsonOption = False,
) -> None:
    """The lifecycle as a Mermaid state diagram, generated from the lifecycle table."""
    if write_readme is not None:
        from idri.diagram import write_readme as rewrite

        changed = rewrite(write_readme)
        typer.echo(f"{write_readme} {'updated' if changed else 'already current'}")
        return
    from models.lifecycle import mermaid_diagram

    if json_:
        print_json(
            {
                "format": "mermaid",
                "diagram": mermaid_diagram(),
                "stages": [stage.value for stage in Stage],
                "terminal": [stage.value for stage in Stage if stage.terminal],
            }
        )
        return
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
    columns = [Col("code", whole=True), Col("中文", min_width=8), Col("English", min_width=12)]
    columns += [Col("category", whole=True, drop=1)] if with_category else []
    rows = [
        [literal(e.code), literal(e.zh), literal(e.en)]
        + ([literal(e.category)] if with_category else [])
        for e in catalogue.entries
    ]
    print_fitted(console(), columns, rows)


def districts(json_: JsonOption = False) -> None:
    """The districts of Tianjin (accepted as code, Chinese or English name)."""
    _catalogue(DISTRICTS, json_, with_category=False)


def directions(json_: JsonOption = False) -> None:
    """The industry directions (主要方向) an application may name."""
    _catalogue(DIRECTIONS, json_, with_category=True)

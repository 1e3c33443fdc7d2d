"""``idri survey add|import``: record candidates (调研发动), each one starting its case through
the API (``POST /api/cases``, ``docs/api.md``).

One organisation, one case: the API derives the case id from the district and the organisation's
name (``models.candidates.case_id_for``) and refuses a second case with it (409), so a sheet
imported twice, two officers typing the same candidate, or an import retried after a crash can
never start a case twice. A re-application after ``rejected`` or ``deferred`` names the earlier
case with ``--previous`` and gets the next id of that organisation (``binhai-3f9a1c2e-2``).

A survey sheet is read and checked here, row by row, before anything is sent; then each valid
row is one request, at most :data:`IMPORT_CONCURRENCY` at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from idri.cli._api import ApiError, call, case_path, request
from idri.cli._common import (
    AsRoleOption,
    IdentityOption,
    JsonOption,
    console,
    fail,
    literal,
    normalise_case_id,
    print_json,
    regular_file,
    shown,
    warn,
)
from idri.cli._sheet import Candidate, SheetError, read_sheet
from models.candidates import candidate_problems, case_id_for
from models.catalog import DIRECTIONS, DISTRICTS, UnknownEntry

HELP_PANEL = "Cases"
app = typer.Typer(
    name="survey",
    help="Record candidates (调研发动): one at a time, or a district's survey sheet.",
    no_args_is_help=True,
)

IMPORT_CONCURRENCY = 8


def _contact(name: str | None, email: str | None, phone: str | None) -> dict[str, Any] | None:
    if not (name or email or phone):
        return None
    return {"name": (name or "").strip(), "email": email or None, "phone": phone or None}


# --- idri survey add -----------------------------------------------------------------------------


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="The organisation (创办主体企业).")],
    district: Annotated[
        str, typer.Option("--district", help="Its district: code, Chinese or English name.")
    ],
    direction: Annotated[
        str, typer.Option("--direction", help="Industry direction: code, Chinese or English name.")
    ],
    contact: Annotated[
        str | None, typer.Option("--contact", help="The contact person's e-mail address.")
    ] = None,
    contact_name: Annotated[
        str | None, typer.Option("--contact-name", help="The contact person's name.")
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The contact's phone.")] = None,
    qualification: Annotated[
        list[str] | None,
        typer.Option(
            "--qualification",
            help="An existing qualification (national design centre, design park, university "
            "cooperation...); repeatable.",
        ),
    ] = None,
    willing: Annotated[
        bool,
        typer.Option(
            "--willing/--not-willing",
            metavar="",
            help="Whether it is willing to build an institute.",
        ),
    ] = True,
    previous: Annotated[
        str | None,
        typer.Option(
            "--previous", help="The earlier case of a re-application (after a rejection)."
        ),
    ] = None,
    json_: JsonOption = False,
    identity: AsRoleOption = None,
) -> None:
    """Record one candidate and start its case; prints the case id."""
    try:
        district_code = DISTRICTS.find(district).code
        direction_code = DIRECTIONS.find(direction).code
    except UnknownEntry as error:
        fail(str(error))
    organisation = " ".join(name.split())
    problems = candidate_problems(
        organisation,
        contact=contact_name,
        email=contact or None,
        phone=phone,
        qualifications=qualification or [],
    )
    if problems:
        fail(f"no case started: {'; '.join(problems)}")
    body = {
        "organisation": organisation,
        "district": district_code,
        "direction": direction_code,
        "contact": _contact(contact_name, contact, phone),
        "qualifications": [q.strip() for q in qualification or [] if q.strip()],
        "willing": willing,
        "previous_case_id": normalise_case_id(previous) if previous else None,
    }
    started = call("POST", "/api/cases", body)
    if json_:
        print_json(
            {
                "case_id": started["case_id"],
                "workflow_id": started["workflow_id"],
                "warnings": started.get("warnings") or [],
            }
        )
        return
    for warning in started.get("warnings") or []:
        warn(warning)
    out = console()
    case_id = literal(started["case_id"])
    out.print(f"[green]✓[/] case [bold]{case_id}[/] started for {literal(organisation)}")
    out.print(f"  next: idri plan submit {case_id} --file PLAN.pdf")


# --- idri survey import --------------------------------------------------------------------------


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The survey sheet (.csv or .xlsx)."
        ),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option(
            "--skip-invalid", metavar="", help="Import the valid rows even if others are invalid."
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", metavar="", help="Only check the sheet; start nothing.")
    ] = False,
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="XLSX: the worksheet (default: the first).")
    ] = None,
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Import a district's survey sheet: every row is checked first; nothing is imported while a
    row is invalid (unless --skip-invalid). Organisations that already have a case are skipped,
    so importing the same sheet again is safe."""
    try:
        parsed = read_sheet(regular_file(file, "the survey sheet"), sheet_name=sheet)
    except SheetError as error:
        fail(str(error))
    for column in parsed.ignored_columns:
        warn(f"column {column!r} is not used")
    problems = [f"{file.name} {parsed.unit} {p.line}: {p.reason}" for p in parsed.problems]
    for problem in problems:
        typer.echo(shown(problem), err=True)
    if problems and not skip_invalid and not check:
        fail(
            f"nothing imported: {len(problems)} invalid {parsed.unit}(s) in {file.name}; fix "
            f"them, or pass --skip-invalid to import the valid {parsed.unit}(s) "
            f"({len(parsed.candidates)})"
        )
    if check or not parsed.candidates:
        summary = {
            "valid": len(parsed.candidates),
            "invalid": [{"line": p.line, "reason": p.reason} for p in parsed.problems],
            "started": [],
            "existing": [],
            "failed": [],
        }
        if json_:
            print_json(summary)
        else:
            console().print(
                f"{literal(file.name)}: {len(parsed.candidates)} valid, {len(problems)} invalid; "
                + ("nothing started (--check)" if check else "nothing to import")
            )
        if problems and check:
            raise typer.Exit(1)
        return

    results = _import(parsed.candidates, quiet=json_)
    outcomes = list(zip(parsed.candidates, results, strict=True))
    started = [(c, r) for c, r in outcomes if isinstance(r, Started)]
    existing = [(c, r) for c, r in outcomes if isinstance(r, Existing)]
    failed = [(c, r) for c, r in outcomes if isinstance(r, ApiError)]
    if json_:
        print_json(
            {
                "valid": len(parsed.candidates),
                "invalid": [{"line": p.line, "reason": p.reason} for p in parsed.problems],
                "started": [
                    {
                        "line": c.line,
                        "case_id": r.case_id,
                        "organisation": r.organisation,
                        "warnings": r.warnings,
                    }
                    for c, r in started
                ],
                "existing": [
                    {"line": c.line, "case_id": r.case_id, "stage": r.stage} for c, r in existing
                ],
                "failed": [{"line": c.line, "reason": str(r)} for c, r in failed],
            }
        )
    else:
        out = console()
        out.print(
            f"{literal(file.name)}: [green]{len(started)} started[/], {len(existing)} already "
            f"recorded, {len(parsed.problems)} invalid skipped, {len(failed)} failed"
        )
        for candidate, new in started:
            for warning in new.warnings:  # 错位发展, as `survey add` gives it
                warn(f"{parsed.unit} {candidate.line} ({new.case_id}): {warning}")
        for candidate, case in existing:
            out.print(
                f"  {parsed.unit} {candidate.line}: already case {literal(case.case_id)} "
                f"({literal(case.stage)})"
            )
    for candidate, refusal in failed:
        line = f"{file.name} {parsed.unit} {candidate.line}: not started: {refusal}"
        typer.echo(shown(" ".join(line.split())), err=True)
    if failed:
        # Exit 3 when the API could not be reached for a row: importing again later is safe.
        raise typer.Exit(max(refusal.code for _, refusal in failed))


@dataclass
class Started:
    case_id: str
    organisation: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Existing:
    """A row whose organisation already has a case (the API answered 409)."""

    case_id: str
    stage: str


def _import(candidates: list[Candidate], *, quiet: bool) -> list[Started | Existing | ApiError]:
    """Send every candidate, at most :data:`IMPORT_CONCURRENCY` at a time; the outcomes in the
    candidates' order, with a progress bar on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    out = console()
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=out,
        transient=True,
        disable=quiet or not out.is_terminal,
    ) as progress:
        task = progress.add_task("import", total=len(candidates))

        def one(candidate: Candidate) -> Started | Existing | ApiError:
            try:
                return _start(candidate)
            finally:
                progress.advance(task)

        with ThreadPoolExecutor(max_workers=IMPORT_CONCURRENCY) as pool:
            return list(pool.map(one, candidates))


def _start(candidate: Candidate) -> Started | Existing | ApiError:
    """Start one row's case; the API's refusal is the row's outcome, not the command's."""
    body = {
        "organisation": candidate.organisation,
        "district": candidate.district,
        "direction": candidate.direction,
        "contact": _contact(candidate.contact, candidate.email, candidate.phone),
        "qualifications": candidate.qualifications,
        "willing": candidate.willing,
    }
    try:
        started = request("POST", "/api/cases", body)
    except ApiError as error:
        if error.status != 409:
            return error
        case_id = case_id_for(candidate.district, candidate.organisation)
        try:
            stage = request("GET", case_path(case_id))["stage"]
        except (ApiError, KeyError, TypeError):
            stage = "unknown"
        return Existing(case_id, str(stage))
    warnings = [str(w) for w in started.get("warnings") or []]
    return Started(
        started["case_id"], started.get("organisation") or candidate.organisation, warnings
    )

"""``idri calendar``: the working-day calendar of public notices.

``notice-end`` computes the last day of a notice by the same rule as the workflow's
``notice_period`` activity (Chinese working days, holidays and 调休 counted); ``import`` stores a
year's official arrangement in the registry, which that activity uses from then on; ``show`` says
what is in force for a year and where it came from. ``import`` and ``show`` are administration
commands: they open the registry database of the settings (``idri.cli._registry``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from idri.cli._common import (
    AsOption,
    JsonOption,
    OperatorRole,
    console,
    fail,
    iso,
    literal,
    operator,
    parse_date,
    print_json,
    regular_file,
    settings,
    warn,
)

if TYPE_CHECKING:
    from models.calendar import WorkingDayCalendar

HELP_PANEL = "Views"
app = typer.Typer(
    name="calendar", help="The working-day calendar of public notices.", no_args_is_help=True
)


@app.command("notice-end")
def notice_end(
    start: Annotated[str, typer.Argument(help="First day of the notice, ISO date (2024-09-27).")],
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help="Length in working days (default: IDRI_NOTICE_WORKING_DAYS, 5).",
            show_default=False,
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """The last day of a notice period that starts on START (objections until its midnight)."""
    first = parse_date(start, "START")
    working_days = days if days is not None else settings().notice_working_days
    calendar, note = _calendar()
    try:
        last, warnings = calendar.notice_end(first, working_days)
    except (ValueError, OverflowError) as error:
        fail(str(error))
    if note:
        typer.echo(note, err=True)  # which registry was read, once there is an answer
    if json_:
        print_json(
            {
                "start": first,
                "working_days": working_days,
                "last_day": last,
                "warnings": warnings,
            }
        )
        return
    for warning in warnings:
        warn(warning)
    out = console()
    if out.is_terminal:
        out.print(
            f"A notice of {working_days} working days from {first.isoformat()} ends on "
            f"[bold]{last.isoformat()}[/] (objections until midnight, Beijing time)."
        )
    else:
        typer.echo(last.isoformat())


def _calendar() -> tuple[WorkingDayCalendar, str | None]:
    """The calendar the worker's ``notice_period`` uses: with the registry's imports when the
    settings' registry exists (a SQLite file that does not exist is not created); and a note
    when there is none."""
    from activities.calendar import imported_arrangements, load_calendar
    from idri.cli._registry import registry_place, with_registry

    url = settings().registry_url
    if url.startswith("sqlite:///") and not Path(registry_place(url)).exists():
        note = f"registry: none at {registry_place(url)}; no imported arrangement is counted"
        return load_calendar(), note
    return load_calendar(imported=with_registry(imported_arrangements)), None


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help='A year\'s arrangement as JSON: {"year": 2027, "source": "国务院办公厅关于2027年'
            '部分节假日安排的通知", "holidays": ["2027-01-01", ...], "workdays": [...]}.',
        ),
    ],
    as_: AsOption = None,
    json_: JsonOption = False,
) -> None:
    """Store a year's official holiday arrangement (days off and adjusted working days, 调休).

    Checked first: every date inside the year, none both a holiday and a working day. From then
    on the worker counts public notices with it; a notice already running keeps its period. The
    registry keeps every import, with who imported it (--as, else IDRI_ACTOR, else your login).
    """
    import hashlib
    import json

    from activities.calendar import record_import
    from idri.cli._registry import with_registry
    from models.calendar import Arrangement

    content = regular_file(file, "the arrangement").read_bytes()
    try:
        data = json.loads(content.decode("utf-8-sig"))
        if not isinstance(data, dict):
            raise ValueError("the file must hold one JSON object")
        arrangement = Arrangement.parse(data)
    except (UnicodeDecodeError, ValueError) as error:
        fail(f"{file.name}: nothing imported: {error}")
    if not arrangement.source:
        arrangement = dataclasses.replace(arrangement, source=file.name)
    by = operator(as_, OperatorRole.bureau_officer, None).name
    with_registry(lambda engine: record_import(engine, arrangement, content=content, by=by))
    summary = {
        "year": arrangement.year,
        "holidays": len(arrangement.holidays),
        "workdays": len(arrangement.workdays),
        "source": arrangement.source,
        "sha256": hashlib.sha256(content).hexdigest(),
        "imported_by": by,
    }
    if json_:
        print_json(summary)
        return
    console().print(
        f"[green]✓[/] {arrangement.year}: {len(arrangement.holidays)} holiday(s) and "
        f"{len(arrangement.workdays)} adjusted working day(s) imported by {literal(by)} from "
        f"{literal(arrangement.source)}; notices opened from now on count them"
    )


@app.command("show")
def show(
    year: Annotated[int, typer.Argument(min=1900, max=2199, help="The year, e.g. 2027.")],
    json_: JsonOption = False,
) -> None:
    """What is in force for YEAR and where it came from: the days off on weekdays, the adjusted
    working days, and every import of that year (who, when, which file)."""
    from activities.calendar import COMPUTED_SOURCE, import_history, load_calendar
    from idri.cli._registry import registry_place, with_registry

    url = settings().registry_url
    history = []
    if not url.startswith("sqlite:///") or Path(registry_place(url)).exists():
        history = with_registry(lambda engine: import_history(engine, year))
    calendar = load_calendar(imported=[r.arrangement for r in history])
    if history:
        source = f"imported: {history[-1].arrangement.source}"
    elif calendar.covers(year):
        source = calendar.source
    else:
        source = COMPUTED_SOURCE
    data = {
        "year": year,
        "source": source,
        "official": calendar.covers(year),
        "warning": calendar.warning(year),
        "days_off": calendar.days_off(year),
        "adjusted_working_days": calendar.adjusted_working_days(year),
        "imports": [
            {
                "source": r.arrangement.source,
                "sha256": r.sha256,
                "imported_by": r.imported_by,
                "imported_at": r.imported_at,
            }
            for r in history
        ],
    }
    if json_:
        print_json(data)
        return
    out = console()
    out.print(f"[bold]{year}[/]: {literal(source)}")
    if data["warning"]:
        warn(str(data["warning"]))
    off = [d for d in calendar.days_off(year)]
    out.print(f"  days off ({len(off)}): " + ", ".join(f"{d:%m-%d}" for d in off))
    adjusted = calendar.adjusted_working_days(year)
    out.print(
        f"  adjusted working days (调休) ({len(adjusted)}): "
        + (", ".join(f"{d:%m-%d}" for d in adjusted) or "none")
    )
    for r in history:
        out.print(
            f"  imported {iso(r.imported_at)} by {literal(r.imported_by)}: "
            f"{literal(r.arrangement.source)} (SHA-256 {r.sha256[:12]}…)"
        )

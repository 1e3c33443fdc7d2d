"""``idri calendar notice-end``: the last day of a public notice, by the same rule as the workflow's
``notice_period`` activity (Chinese working days, holidays and 调休 counted)."""

from __future__ import annotations

from typing import Annotated

import typer

from idri.cli._common import console, fail, parse_date, print_json, settings, warn

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
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The last day of a notice period that starts on START (objections until its midnight)."""
    from activities.calendar import load_calendar

    first = parse_date(start, "START")
    working_days = days if days is not None else settings().notice_working_days
    try:
        last, warnings = load_calendar().notice_end(first, working_days)
    except (ValueError, OverflowError) as error:
        fail(str(error))
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

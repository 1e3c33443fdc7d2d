"""``idri simulate``: a multi-year programme on the time-skipping test server, with its report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from idri.cli._common import JsonOption, console, fail, print_json

HELP_PANEL = "Service"


def register(app: typer.Typer) -> None:
    app.command("simulate", rich_help_panel=HELP_PANEL)(simulate)


def simulate(
    years: Annotated[int, typer.Option("--years", min=1, max=30, help="Rounds to simulate.")] = 4,
    cases: Annotated[
        int, typer.Option("--cases", min=1, max=200, help="New candidates each year.")
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random decisions.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write report.md, report.html and the chart here (and keep the registry).",
            show_default=False,
        ),
    ] = None,
    json_: JsonOption = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No progress lines.")
    ] = False,
) -> None:
    """Run a whole programme in simulated time and print the resulting report.

    The time-skipping test server, the real workflows and worker, seeded random decisions;
    nothing to start first, a few seconds a year.
    """
    from idri.reports import print_report, report_data, write_report
    from idri.simulate import simulate as run_simulation

    out_console = console()
    progress = None if quiet or json_ else (lambda line: out_console.print(f"[dim]{line}[/]"))
    data_dir = (out / "data") if out is not None else None
    try:
        result = asyncio.run(
            run_simulation(
                years=years, cases=cases, seed=seed, data_dir=data_dir, progress=progress
            )
        )
    except RuntimeError as error:
        fail(str(error))
    if json_:
        print_json(
            {
                "seed": result.seed,
                "cases": result.cases,
                "actions": dict(result.actions),
                "refused": result.refused,
                "report": report_data(result.report),
            }
        )
    else:
        actions = ", ".join(f"{k} {v}" for k, v in sorted(result.actions.items()))
        out_console.print(
            f"[bold]Simulated {years} round(s), {result.cases} case(s), seed {seed}:[/] {actions}"
        )
        print_report(result.report, out_console)
    if out is not None:
        paths = write_report(result.report, out)
        typer.echo("written: " + ", ".join(str(p) for p in paths), err=json_)

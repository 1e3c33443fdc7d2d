"""``idri report``: the programme against the plan's goals (table, JSON, Markdown/HTML files)."""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from idri.cli._common import (
    CliError,
    JsonOption,
    connect_client,
    console,
    fail,
    print_json,
    settings,
    warn,
)

if TYPE_CHECKING:
    from idri.reports import Report
    from idri.settings import Settings

HELP_PANEL = "Views"


class ChartFormat(str, Enum):
    svg = "svg"
    png = "png"


def register(app: typer.Typer) -> None:
    app.command("report", rich_help_panel=HELP_PANEL)(report)


def report(
    json_: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Also write report.md, report.html and the chart into this directory.",
            show_default=False,
        ),
    ] = None,
    chart_format: Annotated[
        ChartFormat, typer.Option("--chart", help="Chart format of the files.")
    ] = ChartFormat.svg,
    visibility: Annotated[
        bool,
        typer.Option(
            "--visibility/--no-visibility",
            metavar="",
            help="Count cases per stage with Temporal visibility (else from the registry).",
        ),
    ] = True,
) -> None:
    """The bureau's report: the registry against the plan's goals, stages, overdue, duplicates.

    The registry by district, direction, level and year against the plan's goals (IDRI_GOAL_*);
    cases per stage; overdue deadlines; average days per stage; duplicate construction
    warnings (错位发展). --out also writes Markdown and HTML with a chart.
    """
    from idri.reports import print_report, report_data, write_report

    if out is not None and importlib.util.find_spec("matplotlib") is None:
        fail(
            "--out draws a chart with matplotlib, which is not installed: pip install 'idri[report]'"
        )
    configured = settings()
    result = asyncio.run(_build(configured, visibility=visibility))
    if json_:
        print_json(report_data(result))
    else:
        print_report(result, console())
    if out is not None:
        paths = write_report(result, out, fmt=chart_format.value)
        message = "written: " + ", ".join(str(p) for p in paths)
        if json_:
            typer.echo(message, err=True)
        else:
            console().print(message)


async def _build(configured: Settings, *, visibility: bool) -> Report:
    from sqlalchemy.exc import SQLAlchemyError

    from activities.db import create_registry_engine
    from idri.cli._registry import registry_place
    from idri.reports import build_report

    url = configured.registry_url
    place = registry_place(url)
    if url.startswith("sqlite:///") and not Path(place).exists():
        fail(
            f"no registry database at {place}: the worker creates it (`idri up`); for a "
            "service with another data directory set IDRI_DATA_DIR (or IDRI_DATABASE_URL)"
        )
    typer.echo(f"registry: {place}", err=True)
    client = None
    if visibility:
        try:
            client = await connect_client(configured)
        except CliError as error:
            warn(f"{error}; counting cases per stage from the registry instead")
    engine = create_registry_engine(url)
    try:
        return await build_report(engine, configured, client=client, now=datetime.now(UTC))
    except SQLAlchemyError as error:
        fail(f"cannot read the registry at {place}: {str(error).splitlines()[0]}")
    finally:
        engine.dispose()

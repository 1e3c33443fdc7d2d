"""``idri schedules install|list|trigger|pause|resume``: the annual round and the evaluation sweep.

The schedules themselves, and the choices behind them (time zone, overlap, catch-up), are in
``idri/schedules.py``; ``idri up`` installs them on every start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from idri.cli._common import CliError, JsonOption, console, print_json, run, settings
from models.time import CST

if TYPE_CHECKING:
    from temporalio.client import Client

HELP_PANEL = "Service"

app = typer.Typer(
    name="schedules",
    help="The annual round and the evaluation sweep (Temporal Schedules, Beijing time).",
    no_args_is_help=True,
)

NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME", help="annual-round or evaluation-sweep (or the schedule id idri-...)."
    ),
]


def _known(name: str) -> str:
    from idri.schedules import UnknownSchedule, schedule_id

    try:
        return schedule_id(name)
    except UnknownSchedule as error:
        raise typer.BadParameter(str(error)) from None


async def _not_installed(call: Any, schedule: str) -> Any:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return await call
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise CliError(
                f"schedule {schedule} is not installed: run `idri schedules install` "
                "(or `idri up`, which installs it)"
            ) from None
        raise CliError(f"Temporal refused the call for {schedule}: {error.message}") from None


@app.command("install")
def install(json_: JsonOption = False) -> None:
    """Create the schedules, or update those whose definition changed (idempotent)."""
    from idri.schedules import describe_spec
    from idri.schedules import install as install_all

    configured = settings()

    async def work(client: Client) -> Any:
        return await install_all(client, configured)

    installed = run(work)
    if json_:
        print_json(installed)
        return
    timing = describe_spec(configured)
    out = console()
    for item in installed:
        colour = {"created": "green", "updated": "yellow"}.get(item.outcome, "dim")
        out.print(f"[{colour}]{item.outcome:9}[/] {item.id}: {timing[item.id]}")


@app.command("list")
def list_schedules(json_: JsonOption = False) -> None:
    """The schedules as installed: paused or not, next runs (Beijing time), recent runs."""
    from rich.table import Table

    from idri.schedules import describe_schedules

    async def work(client: Client) -> Any:
        return await describe_schedules(client)

    infos = run(work)
    if json_:
        print_json([info.__dict__ for info in infos])  # durations ISO 8601 (P31D)
        return
    table = Table()
    table.add_column("schedule", no_wrap=True)
    for column in ("state", "next runs (Beijing)", "recent runs", "policy"):
        table.add_column(column)
    for info in infos:
        if not info.installed:
            table.add_row(info.id, "[red]not installed[/]", "", "", "")
            continue
        state = "[yellow]paused[/]" if info.paused else "[green]active[/]"
        if info.note:
            state += f"\n[dim]{info.note}[/]"
        recent = (
            "\n".join(f"{_when(r.started_at)} {r.workflow_id}" for r in info.recent_runs[-3:])
            or "none yet"
        )
        if info.running:
            recent += "\nrunning: " + ", ".join(info.running)
        table.add_row(
            info.id,
            state,
            "\n".join(_when(t) for t in info.next_runs),
            recent,
            f"{info.time_zone}\noverlap {info.overlap}\ncatch-up {_span(info.catchup_window)}",
        )
    console().print(table)


def _when(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _span(window: timedelta | None) -> str:
    if window is None:
        return "server default"
    if window % timedelta(days=1) == timedelta(0):
        return f"{window.days} day(s)"
    return str(window)


@app.command("trigger")
def trigger(name: NameArg) -> None:
    """Run a schedule's workflow now (skipped while a run of it is still going).

    The overlap policy is SKIP: while this year's round waits for 30 April, triggering the
    annual round starts nothing.
    """
    from idri.schedules import trigger as trigger_one

    schedule = _known(name)

    async def work(client: Client) -> str:
        return str(await _not_installed(trigger_one(client, schedule), schedule))

    run(work)
    console().print(
        f"triggered {schedule}; `idri schedules list` shows the run (none if one was still running)"
    )


@app.command("pause")
def pause(
    name: NameArg,
    note: Annotated[str | None, typer.Option("--note", help="Why (shown by `list`).")] = None,
) -> None:
    """Pause a schedule: no runs start until `idri schedules resume`."""
    from idri.schedules import pause as pause_one

    schedule = _known(name)

    async def work(client: Client) -> str:
        return str(await _not_installed(pause_one(client, schedule, note=note), schedule))

    run(work)
    console().print(f"paused {schedule}")


@app.command("resume")
def resume(
    name: NameArg,
    note: Annotated[str | None, typer.Option("--note", help="Why (shown by `list`).")] = None,
) -> None:
    """Resume a paused schedule (runs missed while paused are not made up)."""
    from idri.schedules import unpause

    schedule = _known(name)

    async def work(client: Client) -> str:
        return str(await _not_installed(unpause(client, schedule, note=note), schedule))

    run(work)
    console().print(f"resumed {schedule}")

"""``idri``: the operator CLI (also ``python starter.py``), one Typer app.

Each command group lives in its own module of this package: a module with several subcommands
is a ``typer.Typer`` added with ``app.add_typer`` (``idri survey add|import``); a module of
top-level commands adds them with ``register(app)`` (``idri status``, ``idri report``).

Case commands, views and accounts are clients of the idri API (``idri.cli._api``, over HTTP
with the signed-in account's token); administration (``idri up``, ``schedules``, ``simulate``,
``report``) talks to Temporal itself. The command modules import only Typer, ``models`` and
``idri.cli._common`` when they load; the Temporal SDK, the database, openpyxl and Rich are
imported inside the commands that use them: ``idri status`` loads neither Temporal nor the
database.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from idri.cli import (
    actions,
    calendar,
    changes,
    documents,
    ended,
    inbox,
    report,
    schedules,
    selection,
    simulate,
    survey,
    up,
    users,
    views,
)

HELP = """Tianjin's industrial design research institutes (工业设计研究院): one case per candidate, from survey to designation and the evaluations after it.

Who acts is the signed-in account: `idri login NAME` keeps a token, or set IDRI_TOKEN; on the machine running `idri up`, its first admin's token is used when no other is given. The API is found at IDRI_API_URL, else the address `idri up` wrote in the data directory. Districts and directions are accepted as code, Chinese or English name.

Exit status: 0 done; 1 refused, with the reason on stderr; 2 wrong usage; 3 the API (or Temporal) not reachable."""

EPILOG = (
    "A case, step by step: survey add → plan submit → recommend → review assign → review submit "
    "→ inspect → decide (or round, then decide --batch) → (object → objection resolve) → "
    "designated → evaluate open → evaluate record → (rectify done | national) → national "
    "nominate when the ministry calls. `idri status CASE` says what the case awaits."
)

app = typer.Typer(
    name="idri",
    help=HELP,
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"idri {version('idri')}")
        except PackageNotFoundError:  # a source tree that was never installed
            from idri import __version__

            typer.echo(f"idri {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            metavar="",
            callback=_version,
            is_eager=True,
            help="Print idri's version and exit.",
        ),
    ] = False,
) -> None:
    """The options of ``idri`` itself (before the command)."""


# In the order `idri --help` lists them, within each panel.
app.add_typer(survey.app, rich_help_panel=survey.HELP_PANEL)
actions.register(app)
selection.register(app)
changes.register(app)
views.register(app)
inbox.register(app)
documents.register(app)
app.add_typer(calendar.app, rich_help_panel=calendar.HELP_PANEL)
up.register(app)
app.add_typer(schedules.app, rich_help_panel=schedules.HELP_PANEL)
app.add_typer(ended.app, rich_help_panel=ended.HELP_PANEL)
report.register(app)
simulate.register(app)
users.register(app)


def build_app() -> typer.Typer:
    """The ``idri`` app, for callers that invoke it in-process (Typer's ``CliRunner``)."""
    return app


SERVICES = frozenset({"up", "simulate"})
"""Commands that run servers of their own and stop them themselves; they end as Python does."""


def main() -> None:
    """Console script ``idri``."""
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in SERVICES:
        app(prog_name="idri")
        return
    try:
        app(prog_name="idri")
    except SystemExit as done:
        exit_now(done)


def exit_now(done: SystemExit) -> None:
    """End the process with ``done``'s status, without the interpreter's shutdown.

    Once a command has used the Temporal client, the client's native threads can abort a
    shutting-down interpreter (``Fatal Python error: PyGILState_Release``, exit status 134
    instead of the command's own; temporalio/sdk-python issue #300). The command has finished
    and its files are closed; only the standard streams remain to flush. When they cannot be
    flushed (a closed pipe), the ordinary exit reports it as Python always does.
    """
    code = done.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise done from None
    os._exit(status)

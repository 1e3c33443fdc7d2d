"""``idri``: the operator CLI (also ``python starter.py``).

Each command group lives in its own module of this package, listed in :data:`COMMAND_MODULES`.
A module contributes its commands in one of two ways:

- ``register(app: typer.Typer) -> None`` adds commands or groups to the top-level app (best for
  single commands such as ``idri report``);
- ``app = typer.Typer(...)`` becomes the group ``idri <NAME>``, where ``NAME`` is the module's
  ``NAME`` attribute or else its module name (``idri schedules install|list|...``).

Modules are imported when the app is built, not when the package is: ``import idri.cli`` stays
cheap. A module listed here that does not exist yet is skipped (``schedules``, ``report`` and
``simulate`` come from other issues); an error *inside* an existing module is raised, never
hidden. The modules themselves import the Temporal SDK, the database and openpyxl only inside
the commands that need them.

``idri COMMAND ...`` (the console script, :func:`main`) does not build the whole app: it finds
the module of ``COMMAND`` in :data:`COMMANDS` and builds an app holding that one command, so
``idri status`` imports neither the other command modules nor what they import. Everything
else (``idri``, ``idri --help``, a command not in the table) gets the whole app, so the help
lists every command and a typo gets Typer's "did you mean". A command missing from the table
still works, only slower; ``tests/cli/test_lazy.py`` keeps the table complete.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from functools import cache, lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from typer.models import CommandInfo, TyperInfo

COMMAND_MODULES: tuple[str, ...] = (
    "survey",
    "actions",
    "views",
    "calendar",
    "up",
    # Extension points, written in other issues: each exposes `app` or `register(app)`.
    "schedules",
    "report",
    "simulate",
)
"""Modules of ``idri.cli`` that contribute commands, in the order ``idri --help`` shows them."""

COMMANDS: dict[str, str] = {
    "survey": "survey",
    **dict.fromkeys(
        (
            *("recommend", "inspect", "decide", "object", "national", "withdraw"),
            *("plan", "review", "objection", "evaluate", "rectify"),
        ),
        "actions",
    ),
    **dict.fromkeys(
        ("status", "history", "list", "registry", "mail", "diagram", "districts", "directions"),
        "views",
    ),
    "calendar": "calendar",
    "up": "up",
    "schedules": "schedules",
    "report": "report",
    "simulate": "simulate",
}
"""Top-level command (or group) → the module of :data:`COMMAND_MODULES` that defines it."""

NORMAL_EXIT: frozenset[str] = frozenset({"up", "simulate"})
"""Long-running commands, left as they are. Every other command is a short client: it collects
garbage rarely (see :func:`main`) and, once done, leaves with ``os._exit`` (see :func:`exit_now`)."""

HELP = """Tianjin's industrial design research institutes (工业设计研究院): one case per candidate, from survey to designation and the evaluations after it.

Every action carries the operator's identity: --as NAME (or IDRI_ACTOR), --role, and --district for district officers. Districts and directions are accepted as code, Chinese or English name.

Exit status: 0 done; 1 refused, with the reason on stderr; 2 wrong usage; 3 Temporal not reachable."""

EPILOG = (
    "A case, step by step: survey add → plan submit → recommend → review assign → review submit "
    "→ inspect → decide → (object → objection resolve) → designated → evaluate open → evaluate "
    "record → (rectify done | national). `idri status CASE` says what the case awaits."
)


def load_command_module(name: str) -> ModuleType | None:
    """``idri.cli.<name>``, or None when that module does not exist (yet)."""
    qualified = f"{__name__}.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as error:
        if error.name == qualified:
            return None
        raise  # a dependency missing inside an existing module is a real error


def add_commands(app: typer.Typer, module: ModuleType) -> None:
    """Add ``module``'s commands to ``app`` (see the module docstring for the protocol)."""
    register = getattr(module, "register", None)
    if callable(register):
        register(app)
        return
    group = getattr(module, "app", None)
    if group is None:
        raise TypeError(f"{module.__name__} has neither `app` nor `register(app)`")
    name = getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])
    app.add_typer(group, name=name, rich_help_panel=getattr(module, "HELP_PANEL", None))


def _new_app() -> typer.Typer:
    import typer

    return typer.Typer(
        name="idri",
        help=HELP,
        epilog=EPILOG,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )


@lru_cache(maxsize=1)
def build_app() -> typer.Typer:
    """The whole app: every command of every module in :data:`COMMAND_MODULES`."""
    app = _new_app()
    for name in COMMAND_MODULES:
        module = load_command_module(name)
        if module is not None:
            add_commands(app, module)
    return app


def _given(value: object) -> str | None:
    """A name set explicitly (Typer marks what was left unset with a ``DefaultPlaceholder``)."""
    return value if isinstance(value, str) else None


def _command_name(info: CommandInfo) -> str:
    from typer.main import get_command_name

    return _given(info.name) or get_command_name(getattr(info.callback, "__name__", ""))


def _group_name(info: TyperInfo) -> str:
    group = info.typer_instance
    return _given(info.name) or (_given(group.info.name) if group else None) or ""


def top_level_names(app: typer.Typer) -> list[str]:
    """The names ``app`` answers to on the command line, commands first, then groups."""
    return [
        *(_command_name(c) for c in app.registered_commands),
        *(_group_name(g) for g in app.registered_groups),
    ]


@cache
def build_command_app(command: str) -> typer.Typer | None:
    """An app holding only ``command`` (imported from its module alone), or None when
    :data:`COMMANDS` does not know it or its module does not define it."""
    module_name = COMMANDS.get(command)
    module = load_command_module(module_name) if module_name else None
    if module is None:
        return None
    app = _new_app()
    add_commands(app, module)
    if top_level_names(app).count(command) != 1:
        return None
    app.registered_commands = [c for c in app.registered_commands if _command_name(c) == command]
    app.registered_groups = [g for g in app.registered_groups if _group_name(g) == command]
    # A callback keeps the app a group: with one command and none, Typer would run that command
    # as the whole program and read `status` as its CASE argument.
    app.callback()(_as_group)
    return app


def _as_group() -> None:
    """Nothing: the app stays a group of one command."""


def exit_now(done: SystemExit) -> None:
    """End the process with ``done``'s status without the interpreter's shutdown.

    Freeing ~700 modules (the Temporal SDK's protobuf types above all) takes a tenth of a second
    or more, and the Temporal client's native threads can abort a shutting-down interpreter
    (``PyGILState_Release``, exit status 134 instead of 3). The command has finished and its
    files are closed; only the standard streams remain to flush. When they cannot be flushed
    (a closed pipe), the ordinary exit reports it as Python always does.
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


def main() -> None:
    """Console script ``idri``."""
    args = sys.argv[1:]
    command = args[0] if args and not args[0].startswith("-") else None
    if command in COMMANDS and command not in NORMAL_EXIT:
        # A short command creates the objects of ~700 modules once and keeps them; with the
        # default thresholds (700, 10, 10) the collector runs ~150 times while they load, for
        # nothing (~6% of `idri status`). Like mypy (mypy/build.py), collect rarely.
        gc.set_threshold(200_000, 30, 30)
    app = build_command_app(command) if command in COMMANDS else None
    if app is None:
        build_app()(prog_name="idri")
        return
    if command in NORMAL_EXIT:
        app(prog_name="idri")
        return
    try:
        app(prog_name="idri")
    except SystemExit as done:
        exit_now(done)


def __getattr__(name: str) -> object:
    # `from idri.cli import app` (tests, typer's own tooling) builds the app on first use.
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

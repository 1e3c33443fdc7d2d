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
the commands that need them, so ``idri status`` pays only for the Temporal client.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

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


@lru_cache(maxsize=1)
def build_app() -> typer.Typer:
    import typer

    app = typer.Typer(
        name="idri",
        help=HELP,
        epilog=EPILOG,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    for name in COMMAND_MODULES:
        module = load_command_module(name)
        if module is not None:
            add_commands(app, module)
    return app


def main() -> None:
    """Console script ``idri``."""
    build_app()(prog_name="idri")


def __getattr__(name: str) -> object:
    # `from idri.cli import app` (tests, typer's own tooling) builds the app on first use.
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""``idri --help``, walked as a person would: every command that prints data takes ``--json``,
and no flag is shown as if it took a ``<bool>`` value (issue 22, item 8)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from idri.cli import build_app

CONFIRMS_ONLY = {
    "up": "runs the service in the foreground; its banner is for people",
    "logout": "says it signed out and which file it deleted",
    "schedules pause": "says which schedule it paused (`schedules list --json` has the state)",
    "schedules resume": "says which schedule it resumed",
    "schedules trigger": "says which schedule it triggered (`schedules list --json` has the runs)",
    "document get": "writes the document's own bytes (to a file, or to stdout with -o -)",
}
"""Commands that print a confirmation, no data, and why."""

ROW = re.compile(r"^│ (\S+)\s")
"""A row of a commands panel: the command's name first (a wrapped description is indented)."""


def help_page(path: list[str]) -> str:
    result = CliRunner().invoke(build_app(), [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (path, result.output)
    return result.stdout


def commands(path: list[str]) -> dict[str, str]:
    """Every leaf command under ``path`` (``"user list"``) with its help page, from the panels
    of the help pages themselves."""
    page = help_page(path)
    if "COMMAND [ARGS]" not in page:
        return {" ".join(path): page}
    found: dict[str, str] = {}
    panel = ""
    for line in page.splitlines():
        if line.startswith("╭─"):
            panel = line.strip("╭─╮ ").split(" ─")[0]
        elif panel not in ("Options", "Arguments") and (match := ROW.match(line)):
            found |= commands([*path, match[1]])
    return found


def test_the_walk_finds_every_kind_of_command() -> None:
    found = commands([])
    assert {"list", "user list", "schedules trigger", "survey add", "diagram"} <= found.keys()
    assert len(found) >= 40


def test_every_command_that_prints_data_takes_json() -> None:
    lacking = [
        name
        for name, page in commands([]).items()
        if name not in CONFIRMS_ONLY and not re.search(r"│\s+--json\s", page)
    ]
    assert lacking == []


def test_no_flag_of_idri_is_shown_taking_a_bool() -> None:
    # Typer's own --help row still shows it: Typer builds that option itself, with no public
    # way to give it a metavar.
    shown = [
        (name, line.strip())
        for name, page in commands([]).items()
        for line in page.splitlines()
        if "<bool>" in line and not re.search(r"│\s+--help\s", line)
    ]
    assert shown == []

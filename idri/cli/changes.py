"""What changes on a years-long case: ``idri willing`` (企业自愿), ``idri contact`` (contact and
name, recorded with the old values) and ``idri deadline extend`` (the bureau). Each command sends
one request to the API (``docs/api.md``) and prints the case's new status."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from idri.cli._common import EXIT_USAGE, IdentityOption, JsonOption, parse_date
from idri.cli.actions import HELP_PANEL, CaseArg, act

deadline = typer.Typer(
    name="deadline",
    help="Deadlines the bureau extends (整改, review, round).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("willing", rich_help_panel=HELP_PANEL)(willing)
    app.command("contact", rich_help_panel=HELP_PANEL)(contact)
    app.add_typer(deadline, rich_help_panel=HELP_PANEL)


def willing(
    case: CaseArg,
    yes: Annotated[
        bool | None,
        typer.Option(
            "--yes/--no",
            metavar="",
            help="Willing to build an institute now, or no longer.",
            show_default=False,
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="What the organisation said.")] = "",
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """企业自愿: record that the organisation is (--yes) or is no longer (--no) willing to build
    an institute. An organisation not willing gets no round reminders and no case actions."""
    if yes is None:
        typer.echo("error: say --yes (willing) or --no (not willing)", err=True)
        raise typer.Exit(EXIT_USAGE)
    done = "willing to build an institute" if yes else "not willing to build an institute"
    act(case, "willingness", {"willing": yes, "note": note}, done=done, json_=json_)


def contact(
    case: CaseArg,
    name: Annotated[str | None, typer.Option("--contact", help="The contact person.")] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="The contact's e-mail ('' removes it).")
    ] = None,
    phone: Annotated[
        str | None, typer.Option("--phone", help="The contact's phone ('' removes it).")
    ] = None,
    organisation: Annotated[
        str | None,
        typer.Option("--organisation", help="The organisation's new name (a renamed company)."),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why, for the history.")] = "",
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Change the contact person, e-mail, phone or the organisation's name; the history keeps
    each old value. The case id stays the same after a rename."""
    body: dict[str, Any] = {
        key: value
        for key, value in (
            ("contact", name),
            ("email", email),
            ("phone", phone),
            ("organisation", organisation),
        )
        if value is not None
    }
    if not body:
        typer.echo(
            "error: nothing to change: give --contact, --email, --phone or --organisation",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    act(case, "contact", body | {"note": note}, done="details changed", json_=json_)


class DeadlineKind(str, Enum):
    rectification = "rectification"
    review = "review"
    round = "round"


@deadline.command("extend")
def deadline_extend(
    case: CaseArg,
    kind: Annotated[
        DeadlineKind,
        typer.Option("--deadline", help="Which deadline: rectification, review, round."),
    ],
    until: Annotated[str, typer.Option("--until", help="The new last day, e.g. 2027-06-30.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it is extended.")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Extend the case's rectification, review or round deadline to the end of --until
    (Beijing time); its timers and reminders follow."""
    day = parse_date(until, "--until")
    body = {"deadline": kind.value, "until": day.isoformat(), "reason": reason}
    act(case, "deadline", body, done=f"{kind.value} deadline extended to {day}", json_=json_)

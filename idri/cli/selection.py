"""择优 and the ministry's call, as commands over the API (``docs/api.md``).

``idri round YEAR`` ranks a round's cases by the panel's aggregate score, with their stage and
what each still needs; ``idri decide --batch YEAR --outcome approve CASE...`` (in
``idri.cli.actions``) approves several at once through :func:`approve_batch`; ``idri national
nominate CASE`` answers the ministry's call, and ``idri national CASE --result ...`` (or
``idri national result CASE``) records the ministry's outcome, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from idri.cli import actions
from idri.cli._api import call, case_path
from idri.cli._common import IdentityOption, JsonOption, console, iso, literal, print_json
from idri.cli._render import full_label, show_result
from models.catalog import DISTRICTS

HELP_PANEL = "Cases"


def register(app: typer.Typer) -> None:
    app.command("round", rich_help_panel=HELP_PANEL)(round_)
    app.add_typer(national, rich_help_panel=HELP_PANEL)


# --- idri round YEAR -----------------------------------------------------------------------------


def round_(
    year: Annotated[int, typer.Argument(metavar="YEAR", help="The round's year.")],
    json_: JsonOption = False,
) -> None:
    """The round's cases ranked by the panel's aggregate score (择优), best first, with their
    stage and what each still needs before it can be approved."""
    rows = call("GET", f"/api/rounds/{year}")
    if json_:
        print_json(rows)
    else:
        show_round(year, rows)


def show_round(year: int, rows: Sequence[dict[str, Any]]) -> None:
    from rich.table import Table

    if not rows:
        console().print(f"no case in the {year} round")
        return
    table = Table(title=f"Round {year}: {len(rows)} case(s), best aggregate score first")
    for column in ("#", "Case", "Organisation", "District", "Stage", "Score", "Panel", "Needs"):
        table.add_column(column)
    for row in rows:
        score = f"{row['score']:g}" if row.get("score") is not None else "—"
        panel = f"{row['reviewed']}/{row['assigned']} reviewed, inspection {row['inspection']}"
        table.add_row(
            str(row["rank"]),
            literal(row["case_id"]),
            literal(row["organisation"]),
            literal(full_label(DISTRICTS, row["district"])),
            literal(row["stage"]),
            score,
            panel if row["assigned"] else "—",
            literal("; ".join(row["missing"])) or "—",
        )
    console().print(table)


# --- idri decide --batch YEAR --outcome approve CASE... ------------------------------------------


def approve_batch(year: int, cases: list[str], reason: str, *, json_: bool) -> None:
    """Approve ``cases`` of the ``year`` round together and print their one public notice."""
    done = call("POST", f"/api/rounds/{year}/approvals", {"cases": cases, "reason": reason})
    if json_:
        print_json(done)
        return
    notice = done["notice"]
    out = console()
    out.print(
        f"[green]✓[/] batch of {len(done['cases'])} approved in the {year} round: one public "
        f"notice {iso(notice['start'])} … {iso(notice['end'])} "
        f"({notice['working_days']} working days), one page"
    )
    for status in done["cases"]:
        out.print(f"  {literal(status['case_id'])}: stage '{literal(status['stage'])}'")


# --- idri national nominate|result ---------------------------------------------------------------


class _ResultByDefault(TyperGroup):
    """``idri national CASE --result ...`` (the ministry's outcome, as before) reads as
    ``idri national result CASE --result ...``: a first word that names no subcommand is a case."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["result", *args]
        return super().parse_args(ctx, args)


national = typer.Typer(
    name="national",
    cls=_ResultByDefault,
    help="National level (国家级): nominate when the ministry calls, then its outcome "
    "(`idri national CASE --result designated|not-designated`).",
    no_args_is_help=True,
)
national.command("result")(actions.national)


@national.command("nominate")
def nominate(
    case: actions.CaseArg,
    call_: Annotated[
        str,
        typer.Option("--call", help="The ministry's call it answers (its notice, its number)."),
    ],
    advantage: Annotated[
        str, typer.Option("--advantage", help="行业优势突出: the institute's industry advantage.")
    ],
    service: Annotated[str, typer.Option("--service", help="服务良好: the service it gives.")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Answer the ministry's call (根据工业和信息化部统一部署): nominate a designated institute that
    has operated stably for 2 years (稳定运行2年以上, counted from designation or its last
    rectification), with the criteria; the ministry's outcome follows (idri national CASE
    --result designated|not-designated)."""
    status = call(
        "POST",
        case_path(case, "national", "nomination"),
        {"call": call_, "industry_advantage": advantage, "service": service},
    )
    if json_:
        print_json(status)
    else:
        show_result(status, "nominated for national level")

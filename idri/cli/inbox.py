"""``idri inbox``: what waits on me (``GET /api/inbox``)."""

from __future__ import annotations

from typing import Annotated

import typer

from idri.cli._api import call
from idri.cli._common import JsonOption, console, print_json
from idri.cli._render import minute

HELP_PANEL = "Cases"


def inbox(
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 200,
    json_: JsonOption = False,
) -> None:
    """The actions waiting on your role (and district), oldest first, with their deadlines."""
    answer = call("GET", "/api/inbox", query={"limit": limit})
    if json_:
        print_json(answer)
        return
    items = answer["items"]
    if not items:
        console().print("nothing waits on you")
        return
    for item in items:
        due = f"due {minute(item['due_at'])}" if item["due_at"] else "no deadline"
        flag = "  OVERDUE" if item["overdue"] else ""
        whose = f" ({item['role']}{': ' + item['who'] if item['who'] else ''})"
        console().print(
            f"{item['case_id']}  {item['organisation']}  {item['action']}{whose}  "
            f"since {minute(item['since'])}  {due}{flag}",
            highlight=False,
        )
    if answer["total"] > len(items):
        console().print(f"… and {answer['total'] - len(items)} more (--limit)")


def register(app: typer.Typer) -> None:
    app.command("inbox", rich_help_panel=HELP_PANEL)(inbox)

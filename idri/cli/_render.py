"""How the case commands show the API's answers (``docs/api.md``): JSON objects in, Rich text out.

Every string from the API is data: it goes through :func:`idri.cli._common.literal` (escape
sequences out, Rich markup escaped) before it reaches a markup string or a table cell, so a name
like ``[bold red]x[/]`` or ``[link=...]`` prints as it is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from idri.cli._common import console, day, iso, literal
from idri.cli._tables import Col, print_fitted
from models.case import Stage
from models.catalog import DIRECTIONS, DISTRICTS, Catalogue, UnknownEntry

Json = Mapping[str, Any]


def label(catalogue: Catalogue, code: str | None) -> str:
    """A district's or direction's Chinese name; an unknown code as it is."""
    try:
        return catalogue.get(code or "").zh
    except UnknownEntry:
        return code or ""


def full_label(catalogue: Catalogue, code: str) -> str:
    return catalogue.get(code).label if code in catalogue else code


def allowed_text(status: Json) -> str:
    """The actions a case allows now, or why there are none."""
    allowed = status.get("allowed_actions") or []
    if allowed:
        return ", ".join(str(a) for a in allowed)
    stage = status.get("stage")
    if stage in {s.value for s in Stage} and Stage(stage).terminal:
        return "nothing (the case is closed)"
    if stage == Stage.DESIGNATED.value and status.get("next_evaluation_due"):
        # Designated and waiting for its tracking evaluation: in the registry, not closed.
        return (
            f"nothing until its tracking evaluation opens (due {day(status['next_evaluation_due'])}); "
            "it stays designated"
        )
    return "nothing until the next deadline"


# --- An action's result, a case's status and history ---------------------------------------------


def show_result(status: Json, done: str) -> None:
    """What an action did: ``done``, the case's new stage, its next deadline, what it allows."""
    out = console()
    out.print(
        f"[green]✓[/] {literal(done)}: case [bold]{literal(status['case_id'])}[/] is in stage "
        f"'{literal(status['stage'])}'"
    )
    notice = status.get("notice")
    if notice and status["stage"] in ("public_notice", "investigating"):
        out.print(
            f"  public notice {iso(notice['start'])} … {iso(notice['end'])}; "
            f"open objections: {status.get('open_objections', 0)}"
        )
    deadline = status.get("deadline")
    if deadline:
        out.print(f"  next deadline: {literal(deadline['description'])}, {iso(deadline['at'])}")
    for warning in status.get("warnings") or []:
        out.print(f"  [yellow]warning:[/] {literal(warning)}")
    out.print(f"  allowed now: {literal(allowed_text(status))}")


def show_status(s: Json) -> None:
    """A case's status as a grid; a case ended outside the lifecycle says how, not what's next."""
    from rich.table import Table

    ending = s.get("ended")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    rows: list[tuple[str, str]] = [
        ("Case", literal(s["case_id"])),
        ("Organisation", literal(s["organisation"])),
        ("District", literal(full_label(DISTRICTS, s["district"]))),
        ("Direction", literal(full_label(DIRECTIONS, s["direction"]))),
    ]
    stage = f"[bold]{literal(s['stage'])}[/] ({literal(s['level'])})"
    if ending:
        rows += [
            ("Stage", f"{stage}, its last"),
            ("[red]Ended[/]", ended_text(ending)),
            ("Allowed now", "nothing: no workflow runs this case; the bureau decides"),
        ]
    else:
        rows.append(("Stage", stage))
    if s.get("round_year"):
        rows.append(("Round", str(s["round_year"])))
    deadline = s.get("deadline")
    if deadline:
        rows.append(("Next deadline", f"{iso(deadline['at'])}  {literal(deadline['description'])}"))
    if not ending:
        rows.append(("Allowed now", literal(allowed_text(s))))
    notice = s.get("notice")
    if notice:
        rows.append(
            (
                "Public notice",
                f"{iso(notice['start'])} … {iso(notice['end'])} "
                f"({notice['working_days']} working days)",
            )
        )
    rows += _optional_rows(s)
    for review in s.get("reviews") or []:
        score = f"{review['score']:g}" if review.get("score") is not None else "awaited"
        if review.get("scores"):
            score += f" ({criteria_text(review['scores'])})"
        who = f"{literal(review['expert'])} ({literal(review['organisation'])})"
        rows.append(("Expert", f"{who}: {score}"))
    rows += panel_rows(s)
    rows += [("[yellow]Warning[/]", literal(w)) for w in s.get("warnings") or []]
    rows.append(
        ("History", f"{s.get('history_length', 0)} events (idri history {literal(s['case_id'])})")
    )
    for name, value in rows:
        grid.add_row(name, value)
    console().print(grid)


def _optional_rows(s: Json) -> list[tuple[str, str]]:
    shown_as: list[tuple[str, str, Callable[[Any], str]]] = [
        ("open_objections", "Open objections", str),
        ("designated_at", "Designated", day),
        ("next_evaluation_due", "Evaluation due", day),
        ("rectification_due", "Rectify by", iso),
        ("missed_rounds", "Missed rounds", str),
        ("previous_case_id", "Re-application of", literal),
    ]
    rows = [(name, form(s[key])) for key, name, form in shown_as if s.get(key)]
    if s.get("willing") is False:
        rows.append(
            ("Willing", "no (企业自愿: no round, no reminders until it says it is willing)")
        )
    if s.get("former_organisations"):
        rows.append(("Formerly", "; ".join(literal(n) for n in s["former_organisations"])))
    if s.get("duplicate_warning"):
        rows.append(("[yellow]错位发展[/]", literal(s["duplicate_warning"])))
    return rows


def criteria_text(scores: Json) -> str:
    """``capability 90, team 86``: scores per review criterion."""
    return ", ".join(f"{literal(name)} {value:g}" for name, value in scores.items())


def panel_rows(s: Json) -> list[tuple[str, str]]:
    """The panel's aggregate and the national nomination, when the case has them."""
    rows = []
    panel = s.get("panel")
    if panel:
        score = f"{panel['score']:g}" if panel.get("score") is not None else "no review yet"
        rows.append(
            (
                "Panel",
                f"aggregate {score}; {panel['reviewed']} of {panel['assigned']} reviewed "
                f"(at least {panel['min_experts']} experts); inspection {panel['inspection']}",
            )
        )
        if panel.get("by_criterion"):
            rows.append(("Criteria", criteria_text(panel["by_criterion"])))
        if panel.get("missing") and s.get("stage") == "under_review":
            rows.append(("Approval needs", literal("; ".join(panel["missing"]))))
    nomination = s.get("nomination")
    if nomination:
        rows.append(("National call", literal(nomination["call"])))
        rows.append(("Industry advantage", literal(nomination["industry_advantage"])))
        rows.append(("Service", literal(nomination["service"])))
        rows.append(("Stable since", day(nomination["stable_since"])))
    return rows


def ended_text(ending: Json) -> str:
    """How, when (Beijing time) and by whom a case ended outside the lifecycle (Rich markup)."""
    how = literal(str(ending.get("how") or "ended").replace("_", " "))
    when = iso(ending.get("at")) or "at an unknown time"
    by = f" by {literal(ending['identity'])}" if ending.get("identity") else ""
    why = f" ({literal(ending['reason'])})" if ending.get("reason") else ""
    return f"workflow {how} outside the lifecycle, {literal(when)}{by}{why}"


def show_history(entries: Sequence[Json]) -> None:
    rows = []
    for e in entries:
        stage = (
            e["to_stage"]
            if e["from_stage"] == e["to_stage"]
            else f"{e['from_stage']} →\n{e['to_stage']}"  # one stage a line: each stays whole
        )
        rows.append(
            [
                str(e["seq"]),
                minute(e["at"]),
                literal(e["event"]),
                literal(stage),
                f"{literal(e['actor'])} ({literal(e['role'])})",
                literal(e.get("reason") or ""),
            ]
        )
    columns = [
        Col("#", whole=True, justify="right"),
        Col("at (Beijing)", whole=True),
        Col("event", whole=True),
        Col("stage", whole=True),
        Col("by", min_width=8, drop=1),
        Col("reason", min_width=10),
    ]
    out = console()
    print_fitted(out, columns, rows)
    if entries and entries[0]["seq"] > 1:
        out.print(
            f"{entries[0]['seq'] - 1} earlier events are in the registry's audit trail "
            "(carried across evaluation cycles, the case keeps its recent history)"
        )


# --- Lists ---------------------------------------------------------------------------------------


def show_cases(rows: Sequence[Json], filters: str) -> None:
    cells = []
    for r in rows:
        running = r.get("status") in ("running", None)
        cells.append(
            [
                literal(r["case_id"]),
                literal(r.get("organisation")),
                literal(label(DISTRICTS, r.get("district"))),
                literal(label(DIRECTIONS, r.get("direction"))),
                literal(stage_shown(r.get("stage"), r.get("status"))),
                literal(r.get("round_year") or ""),
                day(r.get("due_at")) if running else "",
            ]
        )
    columns = [
        Col("case", whole=True),
        Col("organisation", min_width=16),
        Col("district", min_width=8, drop=1),
        Col("direction", min_width=10, drop=2),
        Col("stage", words=True),  # how a workflow ended may go to a line of its own
        Col("round", whole=True, drop=3),
        Col("next due", whole=True),
    ]
    out = console()
    print_fitted(out, columns, cells)
    out.print(f"{len(rows)} case(s){'; ' + literal(filters) if filters else ''}")


def stage_shown(stage: str | None, status: str | None) -> str:
    """A case's stage, and how its workflow ended when that was outside the lifecycle (a run
    that completed or continued as new ended inside it)."""
    if status in ("running", "completed", "continued_as_new", None):
        return stage or ""
    return f"{stage or ''} ({status})".strip()


def show_registry(institutes: Sequence[Json]) -> None:
    rows = [
        [
            literal(i["case_id"]),
            literal(i.get("organisation")),
            literal(label(DISTRICTS, i.get("district"))),
            literal(label(DIRECTIONS, i.get("direction"))),
            literal(i.get("level")),
            day(i.get("designated_at")),
            day(i.get("next_evaluation_due")),
        ]
        for i in institutes
    ]
    columns = [
        Col("case", whole=True),
        Col("organisation", min_width=16),
        Col("district", min_width=8, drop=1),
        Col("direction", min_width=10, drop=2),
        Col("level", whole=True, drop=3),
        Col("designated", whole=True),
        Col("evaluation\ndue", whole=True),
    ]
    out = console()
    print_fitted(out, columns, rows)
    out.print(f"{len(institutes)} institute(s) in the registry")


MAIL_STATUSES = ("pending", "sending", "sent", "undeliverable", "failed")
"""The statuses of an outbox row (``activities.tables.NotificationRow.status``)."""


def show_mail(rows: Sequence[Json], *, total: int) -> None:
    cells = []
    for r in rows:
        unsent = r.get("status") != "sent"
        cells.append(
            [
                minute(r.get("created_at")),
                literal(r.get("case_id")),
                literal(r.get("role")),
                literal(recipient(r.get("name") or "", r.get("address"))),
                literal(r.get("subject")),
                literal(r.get("status")),
                str(r.get("attempts", 0)),
                literal(r.get("last_error") or "") if unsent else "",
                minute(r.get("retry_at")) if unsent else "",
            ]
        )
    # Left out first: how often and when it is retried, the role, the subject, when it was
    # written; who it is to, its status and why it did not go out stay.
    columns = [
        Col("created\n(Beijing)", whole=True, drop=2),
        Col("case", whole=True),
        Col("role", whole=True, drop=4),
        Col("to", min_width=12),
        Col("subject", min_width=12, drop=3),
        Col("status", whole=True),
        Col("attempts", whole=True, justify="right", drop=6),
        Col("last error", min_width=12),
        Col("retry at\n(Beijing)", whole=True, drop=5),
    ]
    tally = Counter(r.get("status") for r in rows)
    counted = ", ".join(f"{tally[s]} {s}" for s in MAIL_STATUSES if tally[s])
    out = console()
    print_fitted(out, columns, cells)
    if total > len(rows):
        out.print(
            f"the newest {len(rows)} of {total} mails: {counted}; --limit {total} shows them all",
            markup=False,
        )
    else:
        out.print(f"{len(rows)} mail(s): {counted}")


def minute(moment: str | None) -> str:
    """A moment to the minute, Beijing time (``2025-06-03 10:00``): a table of many columns."""
    return iso(moment)[:16].replace("T", " ")


def recipient(name: str, address: str | None) -> str:
    if name and address:
        return f"{name} <{address}>"
    return name or address or "—"


# --- Accounts ------------------------------------------------------------------------------------


def account_text(user: Json) -> str:
    """``name (role, district binhai, organisation 天津大学)`` as markup-safe text."""
    details = [str(user.get("role") or "")]
    for key in ("district", "organisation", "email"):
        if user.get(key):
            details.append(f"{key} {user[key]}")
    if user.get("enabled") is False:
        details.append("disabled")
    return f"{literal(user.get('name'))} ({literal(', '.join(details))})"


def show_users(users: Sequence[Json]) -> None:
    rows = [
        [
            literal(u.get("name")),
            literal(u.get("role")),
            literal(u.get("district") or ""),
            literal(u.get("organisation") or ""),
            literal(u.get("email") or ""),
            "yes" if u.get("enabled") else "no",
            day(u.get("created_at")),
        ]
        for u in users
    ]
    columns = [
        Col("name", whole=True),
        Col("role", whole=True),
        Col("district", whole=True, drop=1),
        Col("organisation", min_width=10),
        Col("e-mail", min_width=12, drop=2),
        Col("enabled", whole=True),
        Col("created", whole=True, drop=3),
    ]
    out = console()
    print_fitted(out, columns, rows)
    out.print(f"{len(users)} account(s)")

"""The operator actions on a case: each command sends one request to the API
(``POST /api/cases/{id}/...``, ``docs/api.md``) and prints the case's new stage.

Who acts is the signed-in account (the API builds the actor from its token); the workflow's
validators decide. This module only gathers the input. A refused action leaves the case as it
was and prints the reason on stderr (exit status 1).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from idri.cli._api import call, case_path
from idri.cli._common import (
    EXIT_USAGE,
    IdentityOption,
    JsonOption,
    parse_date,
    print_json,
    regular_file,
    shown,
)
from idri.cli._render import show_result
from models.case import EvaluationResult, Outcome

HELP_PANEL = "Cases"

CaseArg = Annotated[
    str, typer.Argument(metavar="CASE", help="The case id (or its workflow id institute-...).")
]


def act(case: str, action: str, body: dict[str, Any], *, done: str, json_: bool) -> None:
    """Send one action to ``case`` (``POST /api/cases/{case}/{action}``) and print the result."""
    status = call("POST", case_path(case, action), body)
    if json_:
        print_json(status)
    elif status.get("accepted") and "stage" not in status:
        # 202: accepted, still being recorded (a busy registry): done, not an error.
        typer.echo(f"accepted: {shown(str(status.get('detail', '')))}")
    else:
        show_result(status, done)


def register(app: typer.Typer) -> None:
    """Add the action commands and groups to the ``idri`` app."""
    for group in (plan, review, objection, evaluate, rectify):
        app.add_typer(group, rich_help_panel=HELP_PANEL)
    for command in (recommend, inspect, decide, object_, national, withdraw):
        name = command.__name__.rstrip("_")
        app.command(name, rich_help_panel=HELP_PANEL)(command)


# --- The creation plan and the recommendation ---------------------------------------------------

plan = typer.Typer(name="plan", help="The creation plan (创建方案).", no_args_is_help=True)


@plan.command("submit")
def plan_submit(
    case: CaseArg,
    file: Annotated[
        Path,
        typer.Option(
            "--file", exists=True, dir_okay=False, readable=True, help="The plan document."
        ),
    ],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Submit the creation plan: the file is uploaded and kept (by SHA-256); the case records
    its name, size and SHA-256."""
    from idri.cli.documents import upload_document

    answer = upload_document(case, regular_file(file, "the plan"), "plan")
    if json_:
        print_json(answer["case"])
        return
    document = answer["document"]
    show_result(
        answer["case"],
        f"plan {document['name']} recorded ({document['size']} bytes, "
        f"SHA-256 {document['sha256']})",
    )


def recommend(
    case: CaseArg,
    opinion: Annotated[
        str, typer.Option("--opinion", help="The recommendation opinion (推荐意见).")
    ],
    national: Annotated[
        bool,
        typer.Option(
            "--national", metavar="", help="Flag the ambition to compete for national level."
        ),
    ] = False,
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """The district recommends the candidate to the municipal bureau (by 30 April)."""
    act(
        case,
        "recommend",
        {"opinion": opinion, "national": national},
        done="recommended",
        json_=json_,
    )


# --- Expert review, site inspection, decision ----------------------------------------------------

review = typer.Typer(name="review", help="Expert review (专家评审).", no_args_is_help=True)

EXPERTS_ARE_ACCOUNTS = (
    "--org and --email are gone: an expert's organisation and e-mail come from the expert's "
    "account (`idri user add NAME --role expert --org ORG --email E`)"
)


def _refuse_expert_details(value: list[str] | None) -> None:
    if value:
        typer.echo(f"error: {EXPERTS_ARE_ACCOUNTS}", err=True)
        raise typer.Exit(EXIT_USAGE)


@review.command("assign")
def review_assign(
    case: CaseArg,
    expert: Annotated[
        list[str],
        typer.Option("--expert", help="An expert's account name; repeatable."),
    ],
    retired: Annotated[
        list[str] | None,
        typer.Option(
            "--org", "--email", hidden=True, callback=_refuse_expert_details, help="Refused."
        ),
    ] = None,
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Assign one or more expert accounts (an expert of the applicant's organisation is
    refused: conflict of interest)."""
    act(case, "experts", {"experts": expert}, done=f"assigned {', '.join(expert)}", json_=json_)


@review.command("submit")
def review_submit(
    case: CaseArg,
    score: Annotated[float, typer.Option("--score", help="Score from 0 to 100.")],
    opinion: Annotated[str, typer.Option("--opinion", help="The expert's opinion.")],
    expert: Annotated[
        str | None,
        typer.Option(
            "--expert",
            help="A bureau officer entering a review received on paper: the assigned expert "
            "it is from. An expert submits their own review without it.",
            show_default=False,
        ),
    ] = None,
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Record an assigned expert's score and opinion."""
    body: dict[str, Any] = {"score": score, "opinion": opinion}
    if expert is not None:
        body["expert"] = expert
    done = f"review by {expert}" if expert else "review recorded"
    act(case, "reviews", body, done=done, json_=json_)


class InspectionResult(str, Enum):
    passed = "pass"
    failed = "fail"


def inspect(
    case: CaseArg,
    result: Annotated[InspectionResult, typer.Option("--result", help="pass or fail.")],
    note: Annotated[str, typer.Option("--note", help="What the inspectors found.")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Record the site inspection (现场考查)."""
    act(
        case,
        "inspection",
        {"passed": result is InspectionResult.passed, "note": note},
        done=f"site inspection {result.value}",
        json_=json_,
    )


def decide(
    case: CaseArg,
    outcome: Annotated[Outcome, typer.Option("--outcome", help="approve, defer or reject.")],
    reason: Annotated[str, typer.Option("--reason", help="The comprehensive evaluation.")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """The bureau's comprehensive evaluation: approve (public notice), defer or reject."""
    act(
        case,
        "decision",
        {"outcome": outcome.value, "reason": reason},
        done=f"decision: {outcome.value}",
        json_=json_,
    )


# --- Public notice and objections ----------------------------------------------------------------


def object_(
    case: CaseArg,
    by: Annotated[str, typer.Option("--by", help="Who objects.")],
    reason: Annotated[str, typer.Option("--reason", help="The objection (异议).")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Record an objection received during the public notice."""
    act(
        case,
        "objections",
        {"by": by, "reason": reason},
        done=f"objection by {by} recorded",
        json_=json_,
    )


objection = typer.Typer(name="objection", help="Objections (异议).", no_args_is_help=True)


@objection.command("resolve")
def objection_resolve(
    case: CaseArg,
    upheld: Annotated[
        bool,
        typer.Option(
            "--upheld/--dismissed",
            metavar="",
            help="Upheld: not designated. Dismissed: designation goes ahead.",
            show_default=False,
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="The finding of the investigation.")],
    number: Annotated[
        int | None,
        typer.Option("--objection", help="Which objection (default: the oldest open one)."),
    ] = None,
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Resolve an objection after investigating it."""
    body: dict[str, Any] = {"upheld": upheld, "reason": reason}
    if number is not None:
        body["objection"] = number
    verdict = "upheld" if upheld else "dismissed"
    act(case, "objections/resolve", body, done=f"objection {verdict}", json_=json_)


# --- Tracking evaluation, rectification, national level -----------------------------------------

evaluate = typer.Typer(
    name="evaluate", help="Tracking evaluation (跟踪评估).", no_args_is_help=True
)


@evaluate.command("open")
def evaluate_open(
    case: CaseArg,
    note: Annotated[str, typer.Option("--note", help="A note for the history.")] = "",
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Open the tracking evaluation (possible in the window before it is due)."""
    act(case, "evaluation/open", {"note": note}, done="evaluation opened", json_=json_)


@evaluate.command("record")
def evaluate_record(
    case: CaseArg,
    result: Annotated[
        EvaluationResult,
        typer.Option("--result", help="good, rectify, delist or excellent (national)."),
    ],
    note: Annotated[str, typer.Option("--note", help="The evaluation's findings.")],
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", help="Rectification deadline, ISO date (with rectify)."),
    ] = None,
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Record the evaluation's result."""
    body: dict[str, Any] = {"result": result.value, "note": note}
    if deadline:
        body["deadline"] = parse_date(deadline, "--deadline").isoformat()
    act(case, "evaluation", body, done=f"evaluation: {result.value}", json_=json_)


rectify = typer.Typer(name="rectify", help="Rectification (整改).", no_args_is_help=True)


@rectify.command("done")
def rectify_done(
    case: CaseArg,
    report: Annotated[str, typer.Option("--report", help="What was rectified.")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Report the rectification complete; the case returns to evaluation."""
    act(case, "rectification", {"report": report}, done="rectification reported", json_=json_)


class NationalResult(str, Enum):
    designated = "designated"
    not_designated = "not-designated"


def national(
    case: CaseArg,
    result: Annotated[
        NationalResult, typer.Option("--result", help="MIIT's decision: designated or not.")
    ],
    note: Annotated[str, typer.Option("--note", help="A note (e.g. MIIT's notice).")] = "",
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Record MIIT's national-level decision."""
    act(
        case,
        "national",
        {"designated": result is NationalResult.designated, "note": note},
        done=f"national level: {result.value}",
        json_=json_,
    )


def withdraw(
    case: CaseArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the candidate withdraws.")],
    json_: JsonOption = False,
    identity: IdentityOption = None,
) -> None:
    """Withdraw the candidate (before designation)."""
    act(case, "withdrawal", {"reason": reason}, done="withdrawn", json_=json_)

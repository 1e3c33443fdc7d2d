"""The operator actions on a case: each command sends one workflow update (two or more for
``review assign`` with several experts) and prints the case's new stage.

The workflow's validators decide; this module only gathers the input. A refused action leaves
the case as it was and prints the workflow's reason on stderr (exit status 1).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer

from idri.cli._common import (
    AsOption,
    DistrictOption,
    JsonOption,
    OperatorRole,
    RoleOption,
    allowed_text,
    answer,
    case_handle,
    console,
    fail,
    iso,
    normalise_case_id,
    operator,
    parse_date,
    print_json,
    run,
)
from models.case import (
    Decision,
    EvaluationOpening,
    EvaluationRecord,
    EvaluationResult,
    ExpertAssignment,
    ExpertReview,
    NationalOutcome,
    Objection,
    ObjectionResolution,
    Outcome,
    PlanSubmission,
    Recommendation,
    RectificationReport,
    SiteInspection,
    Withdrawal,
)
from models.limits import mailbox_problem

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.workflow import UpdateMethodMultiParam

    from models.case import CaseStatus
    from workflows.institute import InstituteWorkflow

    Update: TypeAlias = UpdateMethodMultiParam[[InstituteWorkflow, Any], CaseStatus]
    """An update of the workflow, by method reference: ``InstituteWorkflow.decide``."""

HELP_PANEL = "Cases"

CaseArg = Annotated[
    str, typer.Argument(metavar="CASE", help="The case id (or its workflow id institute-...).")
]


def act(case: str, update: Update, payload: Any, *, done: str, json_: bool) -> None:
    """Send one update to ``case`` and print the result."""
    act_all(case, [(update, payload)], done=done, json_=json_)


def act_all(case: str, updates: list[tuple[Update, Any]], *, done: str, json_: bool) -> None:
    """Send updates in order, stopping at the first refusal (earlier ones stay applied)."""
    case_id = normalise_case_id(case)

    async def work(client: Client) -> CaseStatus:
        handle = case_handle(client, case_id)
        status = None
        for update, payload in updates:
            status = await answer(client, case_id, handle.execute_update(update, payload))
        assert status is not None
        return status

    status = run(work)
    if json_:
        print_json(status)
    else:
        show_result(status, done)


def show_result(status: CaseStatus, done: str) -> None:
    out = console()
    out.print(
        f"[green]✓[/] {done}: case [bold]{status.case_id}[/] is in stage '{status.stage.value}'"
    )
    if status.notice and status.stage.value in ("public_notice", "investigating"):
        out.print(
            f"  public notice {iso(status.notice.start)} … {iso(status.notice.end)}; "
            f"open objections: {status.open_objections}"
        )
    if status.deadline:
        out.print(f"  next deadline: {status.deadline.description}, {iso(status.deadline.at)}")
    for warning in status.warnings:
        out.print(f"  [yellow]warning:[/] {warning}")
    out.print(f"  allowed now: {allowed_text(status)}")


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
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Record the creation plan: the case keeps its file name and SHA-256, not the file."""
    from workflows.institute import InstituteWorkflow

    digest = hashlib.sha256()
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    payload = PlanSubmission(operator(as_, role, district), file.name, digest.hexdigest())
    act(
        case,
        InstituteWorkflow.submit_plan,
        payload,
        done=f"plan {file.name} recorded (SHA-256 {payload.sha256})",
        json_=json_,
    )


def recommend(
    case: CaseArg,
    opinion: Annotated[
        str, typer.Option("--opinion", help="The recommendation opinion (推荐意见).")
    ],
    national: Annotated[
        bool, typer.Option("--national", help="Flag the ambition to compete for national level.")
    ] = False,
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """The district recommends the candidate to the municipal bureau (by 30 April)."""
    from workflows.institute import InstituteWorkflow

    payload = Recommendation(operator(as_, role, district), opinion, national_ambition=national)
    act(case, InstituteWorkflow.recommend, payload, done="recommended", json_=json_)


# --- Expert review, site inspection, decision ----------------------------------------------------

review = typer.Typer(name="review", help="Expert review (专家评审).", no_args_is_help=True)


@review.command("assign")
def review_assign(
    case: CaseArg,
    expert: Annotated[
        list[str], typer.Option("--expert", help="The expert's name; repeatable, with --org each.")
    ],
    org: Annotated[list[str], typer.Option("--org", help="The expert's own organisation.")],
    email: Annotated[
        list[str] | None, typer.Option("--email", help="The expert's e-mail (one per --expert).")
    ] = None,
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Assign one or more experts (an expert from the applicant's organisation is refused)."""
    from workflows.institute import InstituteWorkflow

    emails: list[str | None] = list(email or []) or [None] * len(expert)
    if len(org) != len(expert) or len(emails) != len(expert):
        fail(
            f"give each --expert its --org (and --email, if any): {len(expert)} expert(s), "
            f"{len(org)} --org, {len(email or [])} --email"
        )
    # Checked here too, before any expert is assigned: one bad address among several experts
    # would otherwise leave the first ones assigned and the rest not.
    for name, address in zip(expert, emails, strict=True):
        problem = mailbox_problem(address, f"expert {name}'s")
        if problem is not None:
            fail(f"nothing assigned: {problem}")
    actor = operator(as_, role, district)
    updates: list[tuple[Update, Any]] = [
        (InstituteWorkflow.assign_expert, ExpertAssignment(actor, name, organisation, address))
        for name, organisation, address in zip(expert, org, emails, strict=True)
    ]
    act_all(case, updates, done=f"assigned {', '.join(expert)}", json_=json_)


@review.command("submit")
def review_submit(
    case: CaseArg,
    expert: Annotated[str, typer.Option("--expert", help="The reviewing expert.")],
    score: Annotated[float, typer.Option("--score", help="Score from 0 to 100.")],
    opinion: Annotated[str, typer.Option("--opinion", help="The expert's opinion.")],
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Record an assigned expert's score and opinion."""
    from workflows.institute import InstituteWorkflow

    payload = ExpertReview(operator(as_, role, district), expert, score, opinion)
    act(case, InstituteWorkflow.submit_review, payload, done=f"review by {expert}", json_=json_)


class InspectionResult(str, Enum):
    passed = "pass"
    failed = "fail"


def inspect(
    case: CaseArg,
    result: Annotated[InspectionResult, typer.Option("--result", help="pass or fail.")],
    note: Annotated[str, typer.Option("--note", help="What the inspectors found.")],
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Record the site inspection (现场考查)."""
    from workflows.institute import InstituteWorkflow

    payload = SiteInspection(operator(as_, role, district), result is InspectionResult.passed, note)
    act(
        case,
        InstituteWorkflow.record_inspection,
        payload,
        done=f"site inspection {result.value}",
        json_=json_,
    )


def decide(
    case: CaseArg,
    outcome: Annotated[Outcome, typer.Option("--outcome", help="approve, defer or reject.")],
    reason: Annotated[str, typer.Option("--reason", help="The comprehensive evaluation.")],
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """The bureau's comprehensive evaluation: approve (public notice), defer or reject."""
    from workflows.institute import InstituteWorkflow

    payload = Decision(operator(as_, role, district), outcome, reason)
    act(case, InstituteWorkflow.decide, payload, done=f"decision: {outcome.value}", json_=json_)


# --- Public notice and objections ----------------------------------------------------------------


def object_(
    case: CaseArg,
    by: Annotated[str, typer.Option("--by", help="Who objects.")],
    reason: Annotated[str, typer.Option("--reason", help="The objection (异议).")],
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Record an objection received during the public notice."""
    from workflows.institute import InstituteWorkflow

    payload = Objection(operator(as_, role, district), by, reason)
    act(
        case,
        InstituteWorkflow.lodge_objection,
        payload,
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
            help="Upheld: not designated. Dismissed: designation goes ahead.",
            show_default=False,
        ),
    ],
    reason: Annotated[str, typer.Option("--reason", help="The finding of the investigation.")],
    number: Annotated[
        int | None,
        typer.Option("--objection", help="Which objection (default: the oldest open one)."),
    ] = None,
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Resolve an objection after investigating it."""
    from workflows.institute import InstituteWorkflow

    payload = ObjectionResolution(operator(as_, role, district), upheld, reason, number)
    verdict = "upheld" if upheld else "dismissed"
    act(
        case, InstituteWorkflow.resolve_objection, payload, done=f"objection {verdict}", json_=json_
    )


# --- Tracking evaluation, rectification, national level -----------------------------------------

evaluate = typer.Typer(
    name="evaluate", help="Tracking evaluation (跟踪评估).", no_args_is_help=True
)


@evaluate.command("open")
def evaluate_open(
    case: CaseArg,
    note: Annotated[str, typer.Option("--note", help="A note for the history.")] = "",
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Open the tracking evaluation (possible in the window before it is due)."""
    from workflows.institute import InstituteWorkflow

    payload = EvaluationOpening(operator(as_, role, district), note)
    act(case, InstituteWorkflow.open_evaluation, payload, done="evaluation opened", json_=json_)


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
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Record the evaluation's result."""
    from workflows.institute import InstituteWorkflow

    due = parse_date(deadline, "--deadline") if deadline else None
    payload = EvaluationRecord(
        operator(as_, role, district), result, note, due.isoformat() if due else None
    )
    act(
        case,
        InstituteWorkflow.record_evaluation,
        payload,
        done=f"evaluation: {result.value}",
        json_=json_,
    )


rectify = typer.Typer(name="rectify", help="Rectification (整改).", no_args_is_help=True)


@rectify.command("done")
def rectify_done(
    case: CaseArg,
    report: Annotated[str, typer.Option("--report", help="What was rectified.")],
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Report the rectification complete; the case returns to evaluation."""
    from workflows.institute import InstituteWorkflow

    payload = RectificationReport(operator(as_, role, district), report)
    act(
        case,
        InstituteWorkflow.complete_rectification,
        payload,
        done="rectification reported",
        json_=json_,
    )


class NationalResult(str, Enum):
    designated = "designated"
    not_designated = "not-designated"


def national(
    case: CaseArg,
    result: Annotated[
        NationalResult, typer.Option("--result", help="MIIT's decision: designated or not.")
    ],
    note: Annotated[str, typer.Option("--note", help="A note (e.g. MIIT's notice).")] = "",
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Record MIIT's national-level decision."""
    from workflows.institute import InstituteWorkflow

    payload = NationalOutcome(
        operator(as_, role, district), result is NationalResult.designated, note
    )
    act(
        case,
        InstituteWorkflow.record_national_outcome,
        payload,
        done=f"national level: {result.value}",
        json_=json_,
    )


def withdraw(
    case: CaseArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the candidate withdraws.")],
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Withdraw the candidate (before designation)."""
    from workflows.institute import InstituteWorkflow

    payload = Withdrawal(operator(as_, role, district), reason)
    act(case, InstituteWorkflow.withdraw, payload, done="withdrawn", json_=json_)

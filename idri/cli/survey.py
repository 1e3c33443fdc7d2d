"""``idri survey add|import``: record candidates (调研发动), each one starting its case.

One organisation, one case. The case id is derived from the district and the organisation's
name (``<district>-<8 hex digits of SHA-256 of the folded name>``, e.g. ``binhai-3f9a1c2e``),
and the case is started with the workflow id reuse policy ``REJECT_DUPLICATE``: Temporal itself
refuses a second workflow with that id, open or closed, so a sheet imported twice, two officers
typing the same candidate, or an import retried after a crash can never start a case twice.
Visibility was the other option, but it is eventually consistent and cannot stop a race.

A re-application after ``rejected`` or ``deferred`` names the earlier case with ``--previous``
and gets the next id of that organisation (``binhai-3f9a1c2e-2``), linked to the earlier one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from idri.cli._common import (
    AsOption,
    CliError,
    DistrictOption,
    JsonOption,
    OperatorRole,
    RoleOption,
    case_handle,
    console,
    fail,
    gather_limited,
    normalise_case_id,
    operator,
    print_json,
    run,
    settings,
    warn,
)
from idri.cli._sheet import (
    Candidate,
    SheetError,
    read_sheet,
)
from models.candidates import candidate_problems, case_id_for, next_case_id, organisation_key
from models.case import Actor, Contact, Role, SurveyRecord
from models.catalog import DIRECTIONS, DISTRICTS, UnknownEntry

if TYPE_CHECKING:
    from temporalio.client import Client

    from idri.settings import Settings

HELP_PANEL = "Cases"
app = typer.Typer(
    name="survey",
    help="Record candidates (调研发动): one at a time, or a district's survey sheet.",
    no_args_is_help=True,
)

IMPORT_CONCURRENCY = 8


class CaseExists(CliError):
    def __init__(self, case_id: str, organisation: str, stage: str) -> None:
        super().__init__(
            f"{organisation} already has case {case_id} (stage '{stage}'); "
            + (
                f"to apply again in a later round pass --previous {case_id}"
                if stage in ("rejected", "deferred", "lapsed", "withdrawn")
                else f"see `idri status {case_id}`"
            )
        )
        self.case_id = case_id
        self.stage = stage


@dataclass
class Started:
    case_id: str
    organisation: str


async def start_case(client: Client, configured: Settings, survey: SurveyRecord) -> Started:
    """Start the case of ``survey``; :class:`CaseExists` when its id was ever used, and
    :class:`CliError` when its actor may not record this candidate (nothing is started)."""
    from temporalio.common import (
        SearchAttributePair,
        TypedSearchAttributes,
        WorkflowIDConflictPolicy,
        WorkflowIDReusePolicy,
    )
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from models import permissions, search
    from models.case import InstituteInput
    from workflows.institute import InstituteWorkflow, workflow_id

    denied = permissions.survey_refusal(survey)
    if denied:
        raise CliError(f"permission denied: {denied}; case {survey.case_id} not started")
    district, direction = DISTRICTS.get(survey.district), DIRECTIONS.get(survey.direction)
    details = [
        f"**Organisation:** {survey.organisation}",
        f"**District:** {district.label}",
        f"**Direction:** {direction.label}",
        f"**Case:** `{survey.case_id}`",
    ]
    if survey.previous_case_id:
        details.append(f"**Re-application of:** `{survey.previous_case_id}`")
    try:
        await client.start_workflow(
            InstituteWorkflow.run,
            InstituteInput(survey),
            id=workflow_id(survey.case_id),
            task_queue=configured.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            # No personal data here: search attributes are not encrypted; the memo and the
            # summary carry only the organisation and codes (see models/search.py).
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(search.STAGE, "surveyed"),
                    SearchAttributePair(search.DISTRICT, survey.district),
                    SearchAttributePair(search.DIRECTION, survey.direction),
                ]
            ),
            memo={"organisation": survey.organisation},
            static_summary=f"{survey.organisation} · {district.zh}",
            static_details="\n\n".join(details),
        )
    except WorkflowAlreadyStartedError:
        stage = await _stage_of(client, survey.case_id)
        raise CaseExists(survey.case_id, survey.organisation, stage) from None
    return Started(survey.case_id, survey.organisation)


async def _stage_of(client: Client, case_id: str) -> str:
    from models.search import STAGE

    description = await case_handle(client, case_id).describe()
    return description.typed_search_attributes.get(STAGE) or "unknown"


async def _duplicate_construction(client: Client, district: str, direction: str) -> list[str]:
    """Institutes already designated in this district and direction (错位发展, DOMAIN.md)."""
    from models.search import DIRECTION, DISTRICT, STAGE

    stages = "', '".join(("designated", "under_evaluation", "rectifying", "national_review"))
    query = (
        f"{DISTRICT.name} = '{district}' AND {DIRECTION.name} = '{direction}' "
        f"AND {STAGE.name} IN ('{stages}') AND ExecutionStatus != 'ContinuedAsNew'"
    )
    found = []
    async for execution in client.list_workflows(query, limit=5):
        found.append(execution.id.removeprefix("institute-"))
    return found


# --- idri survey add -----------------------------------------------------------------------------


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="The organisation (创办主体企业).")],
    district: Annotated[
        str, typer.Option("--district", help="Its district: code, Chinese or English name.")
    ],
    direction: Annotated[
        str, typer.Option("--direction", help="Industry direction: code, Chinese or English name.")
    ],
    contact: Annotated[
        str | None, typer.Option("--contact", help="The contact person's e-mail address.")
    ] = None,
    contact_name: Annotated[
        str | None, typer.Option("--contact-name", help="The contact person's name.")
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The contact's phone.")] = None,
    qualification: Annotated[
        list[str] | None,
        typer.Option(
            "--qualification",
            help="An existing qualification (national design centre, design park, university "
            "cooperation...); repeatable.",
        ),
    ] = None,
    willing: Annotated[
        bool,
        typer.Option(
            "--willing/--not-willing", help="Whether it is willing to build an institute."
        ),
    ] = True,
    previous: Annotated[
        str | None,
        typer.Option(
            "--previous", help="The earlier case of a re-application (after a rejection)."
        ),
    ] = None,
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    json_: JsonOption = False,
) -> None:
    """Record one candidate and start its case; prints the case id."""
    try:
        district_code = DISTRICTS.find(district).code
        direction_code = DIRECTIONS.find(direction).code
    except UnknownEntry as error:
        fail(str(error))
    organisation = " ".join(name.split())
    problems = candidate_problems(
        organisation,
        contact=contact_name,
        email=contact or None,
        phone=phone,
        qualifications=qualification or [],
    )
    if problems:
        fail(f"no case started: {'; '.join(problems)}")
    actor = operator(as_, role, district_code if role is OperatorRole.district_officer else None)
    configured = settings()

    async def work(client: Client) -> tuple[Started, list[str]]:
        case_id = case_id_for(district_code, organisation)
        previous_id = None
        if previous:
            previous_id = normalise_case_id(previous)
            await _check_previous(client, previous_id, district_code, organisation)
            case_id = next_case_id(previous_id)
        survey = SurveyRecord(
            case_id=case_id,
            organisation=organisation,
            district=district_code,
            direction=direction_code,
            actor=actor,
            contact=_contact(contact_name, contact, phone),
            qualifications=[q.strip() for q in qualification or [] if q.strip()],
            willing=willing,
            previous_case_id=previous_id,
        )
        existing = await _duplicate_construction(client, district_code, direction_code)
        return await start_case(client, configured, survey), existing

    started, existing = run(work)
    warnings = []
    if existing:
        warnings.append(
            f"{DISTRICTS.get(district_code).zh} already has an institute in "
            f"{DIRECTIONS.get(direction_code).zh} ({', '.join(existing)}): the plan asks to "
            "avoid duplicate construction (错位发展), so the reviewing officer should weigh this"
        )
    if json_:
        print_json(
            {
                "case_id": started.case_id,
                "workflow_id": f"institute-{started.case_id}",
                "warnings": warnings,
            }
        )
        return
    for warning in warnings:
        warn(warning)
    out = console()
    out.print(f"[green]✓[/] case [bold]{started.case_id}[/] started for {organisation}")
    out.print(f"  next: idri plan submit {started.case_id} --file PLAN.pdf")


def _contact(name: str | None, email: str | None, phone: str | None) -> Contact | None:
    if not (name or email or phone):
        return None
    return Contact(name=(name or "").strip(), email=email or None, phone=phone or None)


async def _check_previous(client: Client, previous: str, district: str, organisation: str) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from models.case import TERMINAL_STAGES
    from models.search import DISTRICT, STAGE

    try:
        description = await case_handle(client, previous).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise CliError(f"there is no case {previous!r} to re-apply after") from None
        raise
    # The stage, not the execution status: a closed case's workflow may still be delivering
    # its last mails for a while.
    stage = description.typed_search_attributes.get(STAGE) or "unknown"
    if stage not in {s.value for s in TERMINAL_STAGES}:
        raise CliError(
            f"case {previous} is still open (stage '{stage}'): a re-application follows a "
            "closed case (rejected or deferred)"
        )
    earlier = await description.memo_value("organisation", default="")
    if description.typed_search_attributes.get(DISTRICT) != district or (
        organisation_key(str(earlier)) != organisation_key(organisation)
    ):
        raise CliError(
            f"case {previous} is not a case of {organisation} in this district "
            f"(it is {earlier or 'another organisation'}); a re-application names its own "
            "earlier case"
        )


# --- idri survey import --------------------------------------------------------------------------


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The survey sheet (.csv or .xlsx)."
        ),
    ],
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import the valid rows even if others are invalid."),
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Only check the sheet; start nothing.")
    ] = False,
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="XLSX: the worksheet (default: the first).")
    ] = None,
    as_: AsOption = None,
    role: RoleOption = OperatorRole.bureau_officer,
    district: DistrictOption = None,
    json_: JsonOption = False,
) -> None:
    """Import a district's survey sheet: every row is checked first; nothing is imported while a
    row is invalid (unless --skip-invalid). Organisations that already have a case are skipped,
    so importing the same sheet again is safe."""
    try:
        parsed = read_sheet(file, sheet_name=sheet)
    except SheetError as error:
        fail(str(error))
    for column in parsed.ignored_columns:
        warn(f"column {column!r} is not used")
    problems = [f"{file.name} {parsed.unit} {p.line}: {p.reason}" for p in parsed.problems]
    for problem in problems:
        typer.echo(problem, err=True)
    if problems and not skip_invalid and not check:
        fail(
            f"nothing imported: {len(problems)} invalid {parsed.unit}(s) in {file.name}; fix "
            f"them, or pass --skip-invalid to import the valid {parsed.unit}(s) "
            f"({len(parsed.candidates)})"
        )
    if check or not parsed.candidates:
        summary = {
            "valid": len(parsed.candidates),
            "invalid": [{"line": p.line, "reason": p.reason} for p in parsed.problems],
            "started": [],
            "existing": [],
            "failed": [],
        }
        if json_:
            print_json(summary)
        else:
            console().print(
                f"{file.name}: {len(parsed.candidates)} valid, {len(problems)} invalid; "
                + ("nothing started (--check)" if check else "nothing to import")
            )
        if problems and check:
            raise typer.Exit(1)
        return

    actor = operator(as_, role, district, per_case_district=True)
    configured = settings()
    results = run(lambda client: _import(client, configured, parsed.candidates, actor, json_))
    outcomes = list(zip(parsed.candidates, results, strict=True))
    started = [(c, r) for c, r in outcomes if isinstance(r, Started)]
    existing = [(c, r) for c, r in outcomes if isinstance(r, CaseExists)]
    failed = [
        (c, r)
        for c, r in outcomes
        if isinstance(r, BaseException) and not isinstance(r, CaseExists)
    ]
    if json_:
        print_json(
            {
                "valid": len(parsed.candidates),
                "invalid": [{"line": p.line, "reason": p.reason} for p in parsed.problems],
                "started": [
                    {"line": c.line, "case_id": r.case_id, "organisation": r.organisation}
                    for c, r in started
                ],
                "existing": [
                    {"line": c.line, "case_id": r.case_id, "stage": r.stage} for c, r in existing
                ],
                "failed": [{"line": c.line, "reason": str(r)} for c, r in failed],
            }
        )
    else:
        out = console()
        out.print(
            f"{file.name}: [green]{len(started)} started[/], {len(existing)} already recorded, "
            f"{len(parsed.problems)} invalid skipped, {len(failed)} failed"
        )
        for candidate, case in existing:
            out.print(
                f"  {parsed.unit} {candidate.line}: already case {case.case_id} ({case.stage})"
            )
    for candidate, reason in failed:
        typer.echo(f"{file.name} {parsed.unit} {candidate.line}: not started: {reason}", err=True)
    if failed:
        raise typer.Exit(1)


async def _import(
    client: Client,
    configured: Settings,
    candidates: list[Candidate],
    actor: Actor,
    quiet: bool,
) -> list[Started | BaseException]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    out = console()
    jobs = [_job(client, configured, c, actor) for c in candidates]
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=out,
        transient=True,
        disable=quiet or not out.is_terminal,
    ) as progress:
        task = progress.add_task("import", total=len(jobs))
        return await gather_limited(
            jobs, limit=IMPORT_CONCURRENCY, on_done=lambda: progress.advance(task)
        )


def _job(
    client: Client, configured: Settings, candidate: Candidate, actor: Actor
) -> Callable[[], Awaitable[Started]]:
    async def start() -> Started:
        row_actor = actor
        if actor.role is Role.DISTRICT_OFFICER and actor.district is None:
            # A district's own sheet: each row's district is the officer's. An officer who
            # names a district (--district) has the rows of other districts refused.
            row_actor = Actor(actor.name, actor.role, candidate.district)
        survey = SurveyRecord(
            case_id=case_id_for(candidate.district, candidate.organisation),
            organisation=candidate.organisation,
            district=candidate.district,
            direction=candidate.direction,
            actor=row_actor,
            contact=_contact(candidate.contact, candidate.email, candidate.phone),
            qualifications=candidate.qualifications,
            willing=candidate.willing,
        )
        return await start_case(client, configured, survey)

    return start

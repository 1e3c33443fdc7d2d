"""``idri ended list|reinstate|close``: the bureau decides what happens to a case whose workflow
ended outside the lifecycle (terminated, cancelled, timed out, failed; issue 18).

The evaluation sweep marks such a case in the registry and the public registry leaves it out
(``activities.ended``). From here the bureau either brings it back, with Temporal's own tool,
a reset of the case's last run to its last workflow task (``activities.endings``), or accepts its end
for good. Administration that needs Temporal itself: these commands talk to Temporal and the
registry directly, like ``idri schedules``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from idri.cli._common import (
    AsOption,
    CliError,
    JsonOption,
    OperatorRole,
    console,
    fail,
    iso,
    normalise_case_id,
    operator,
    print_json,
    run,
)
from models.limits import text_problem

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from temporalio.client import Client

    from activities.ended import EndedCase

T = TypeVar("T")

HELP_PANEL = "Service"

app = typer.Typer(
    name="ended",
    help="Cases ended outside the lifecycle (terminated, cancelled, timed out, failed): "
    "list them, reinstate one, or close one for good.",
    no_args_is_help=True,
)

CaseArg = Annotated[
    str, typer.Argument(metavar="CASE", help="The case id (or its workflow id institute-...).")
]
ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why: recorded in the case's audit trail (and in Temporal).")
]

HINT = (
    "`idri ended reinstate CASE --reason ...` runs a case again from where it stood; "
    "`idri ended close CASE --reason ...` accepts its end (it stays out of the registry)."
)


def _registry(work: Callable[[Engine], T]) -> T:
    """``work`` on the registry database of the settings (named on stderr)."""
    from idri.cli._registry import with_registry

    return with_registry(work)


def _reason(text: str) -> str:
    problem = text_problem(text.strip(), "the reason")
    if problem or not text.strip():
        raise typer.BadParameter(problem or "say why (it is recorded)", param_hint="--reason")
    return text.strip()


def _decision(case: EndedCase) -> str:
    if case.closed_at is None:
        return "awaits the bureau"
    return f"closed {iso(case.closed_at)} by {case.closed_by}: {case.closed_reason}"


@app.command("list")
def list_ended(json_: JsonOption = False) -> None:
    """The registry's institutes marked as ended: how, when, by whom, and the bureau's decision."""
    from activities.ended import ended_cases

    cases = _registry(ended_cases)
    if json_:
        print_json(cases)
        return
    out = console()
    if not cases:
        out.print("no case is marked as ended outside the lifecycle")
        return
    from rich.table import Table

    table = Table()
    for column in ("case", "organisation", "stage", "how", "when (Beijing)", "by", "decision"):
        table.add_column(column)
    for case in cases:
        table.add_row(
            case.case_id,
            case.organisation,
            case.stage,
            case.how.replace("_", " "),
            iso(case.at),
            case.by or "unknown",
            _decision(case),
        )
    out.print(table)
    out.print(f"{len(cases)} case(s). {HINT}")


@app.command("reinstate")
def reinstate(
    case: CaseArg, reason: ReasonOption, as_: AsOption = None, json_: JsonOption = False
) -> None:
    """Run an ended case again from where it stood, and clear its mark.

    Temporal's reset of the case's last run to its last workflow task (the reason recorded in
    Temporal and the audit trail). A failed case fails again unless what failed it was fixed.
    """
    from activities.ended import REINSTATED_EVENT, clear_mark, ended_case
    from models.case import Role
    from workflows.institute import workflow_id

    case_id = normalise_case_id(case)
    why = _reason(reason)
    actor = operator(as_, OperatorRole.bureau_officer, None).name
    marked = _registry(lambda engine: ended_case(engine, case_id))
    if marked is not None and marked.closed_at is not None:
        fail(f"case {case_id} was closed by the bureau ({_decision(marked)}): not reinstated")

    async def work(client: Client) -> tuple[str, str]:
        from temporalio.service import RPCError

        from activities.endings import NoResetPoint, ending_of, reset_to_last_task

        ending = await ending_of(client, workflow_id(case_id))
        if ending is None:
            raise CliError(
                f"case {case_id} is not ended: its workflow runs, ended within the lifecycle, or "
                "is unknown to Temporal (`idri status` says which); nothing to reinstate"
            )
        try:
            run_id = await reset_to_last_task(
                client,
                workflow_id(case_id),
                ending,
                reason=f"idri ended reinstate by {actor}: {why}",
            )
        except NoResetPoint as error:
            raise CliError(f"case {case_id} cannot be reset: {error}") from None
        except RPCError as error:
            raise CliError(f"Temporal refused to reset case {case_id}: {error.message}") from None
        return ending.how, run_id

    how, run_id = run(work)
    _registry(
        lambda engine: clear_mark(
            engine,
            case_id,
            event=REINSTATED_EVENT,
            actor=actor,
            role=Role.BUREAU_OFFICER,
            reason=why,
            run_id=run_id,
        )
    )
    if json_:
        print_json({"case_id": case_id, "ended_how": how, "run_id": run_id})
        return
    console().print(
        f"reinstated case {case_id} ({how.replace('_', ' ')} before): run {run_id} goes on from "
        f"where the case stood; `idri status {case_id}` shows it"
    )


@app.command("close")
def close(
    case: CaseArg, reason: ReasonOption, as_: AsOption = None, json_: JsonOption = False
) -> None:
    """Accept an ended case's end: it stays out of the published registry for good.

    The registry keeps the mark and records the decision (who, why, when) in the audit trail.
    """
    from activities.ended import AlreadyClosed, NotEnded, close_ended, ended_case, mark_ended
    from workflows.institute import workflow_id

    case_id = normalise_case_id(case)
    why = _reason(reason)
    actor = operator(as_, OperatorRole.bureau_officer, None).name

    if _registry(lambda engine: ended_case(engine, case_id)) is None:
        # Not marked yet (the sweep has not run since): Temporal has the last word.
        async def work(client: Client) -> object:
            from activities.endings import ending_of

            return await ending_of(client, workflow_id(case_id))

        ending = run(work)
        if ending is None:
            fail(
                f"case {case_id} is not ended: its workflow runs, ended within the lifecycle, or "
                "is unknown (`idri status` says which); nothing to close"
            )
        _registry(lambda engine: mark_ended(engine, case_id, ending))  # type: ignore[arg-type]

    def decide(engine: Engine) -> EndedCase:
        try:
            return close_ended(engine, case_id, actor=actor, reason=why)
        except NotEnded:
            fail(f"case {case_id} is not in the registry: nothing to close")
        except AlreadyClosed:
            done = ended_case(engine, case_id)
            fail(f"case {case_id} is already closed ({_decision(done) if done else 'closed'})")

    closed = _registry(decide)
    if json_:
        print_json(closed)
        return
    console().print(
        f"closed case {case_id} ({closed.how.replace('_', ' ')} {iso(closed.at)}): it stays out "
        "of the published registry"
    )

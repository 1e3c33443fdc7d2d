"""The matched baseline: everything one real case asks of Temporal, without the case.

:class:`MatchedBaselineWorkflow` runs ``bench.plan``'s script with the Web UI's part: besides
the bare baseline's updates, activities and timers, the real case's search-attribute upserts,
its patch markers, a summary on each registry, mail and publish activity and each timer, its
current details after every event, and a workflow type of the same shape (an update with a
validator per operator action, named as the real ones, and the same three queries). Its
activity is the bare baseline's no-op, its validators accept every step in order, its payloads are small constants.
What is left is Temporal's cost of what the real case asks of it; the real case's cost above
that is its business: rules, state machine, payload contents, registry, mail and pages.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bench.plan import PLAN, BaselineInput, Script


def _action(name: str) -> Any:
    """The update (with its validator) of one operator action: the plan's next step."""

    async def handler(self: Any, argument: str) -> int:
        return await self._script.step(name)

    def validate(self: Any, argument: str) -> None:
        self._script.check(name)

    handler.__name__ = handler.__qualname__ = name
    update = workflow.update(name=name)(handler)
    update.validator(validate)
    return update


@workflow.defn
class MatchedBaselineWorkflow:
    """One case's updates, activities, timers, upserts, marker, summaries and details."""

    def __init__(self) -> None:
        self._script = Script(matched=True)

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        return await self._script.run(input)

    # One per operator action, as ``InstituteWorkflow`` has (the benchmark checks the names).
    submit_plan = _action("submit_plan")
    recommend = _action("recommend")
    assign_expert = _action("assign_expert")
    submit_review = _action("submit_review")
    record_inspection = _action("record_inspection")
    decide = _action("decide")
    lodge_objection = _action("lodge_objection")
    resolve_objection = _action("resolve_objection")
    open_evaluation = _action("open_evaluation")
    record_evaluation = _action("record_evaluation")
    complete_rectification = _action("complete_rectification")
    record_national_outcome = _action("record_national_outcome")
    withdraw = _action("withdraw")

    @workflow.query
    def status(self) -> int:
        return self._script.steps

    @workflow.query
    def history(self) -> list[str]:
        return [step.update for step in PLAN[: self._script.steps]]

    @workflow.query
    def stage(self) -> str:
        return f"step-{self._script.steps}"

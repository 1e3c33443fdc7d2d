"""The bare baseline: one survey→designation case's updates, activities and timers, nothing else.

:class:`BaselineWorkflow` runs ``bench.plan``'s script without the Web UI's part: the same
updates, the same activities in the same order, the same timers, and a continue-as-new whose
next run loads its policy and waits.
Its activity is a no-op and its one update's validator accepts every step in order. What is left
is the least Temporal does for a case; ``bench/matched.py`` adds what the real case asks of
Temporal for the Web UI.
"""

from __future__ import annotations

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from bench.plan import NOOP, BaselineInput, Script


@activity.defn(name=NOOP)
async def baseline_noop(stands_for: str) -> None:
    """Does nothing: a real activity's round trip without its work."""


@workflow.defn
class BaselineWorkflow:
    """One case's updates, activities and timers, without the case."""

    def __init__(self) -> None:
        self._script = Script(matched=False)

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        return await self._script.run(input)

    @workflow.update
    async def step(self, update: str) -> int:
        return await self._script.step(update)

    @step.validator
    def _validate_step(self, update: str) -> None:
        self._script.check(update)

"""The baseline: one survey→designation case's Temporal work with no business logic.

:class:`BaselineWorkflow` does exactly what Temporal is asked to do for one real case driven from
survey to designation (``InstituteWorkflow``), counted from a real case's history: the same
updates, the same activities in the same order (awaited or in the background, as the real case
runs them), the same timers (one per wait of the main loop, cancelled by the next update; the
public-notice timer fires), and a continue-as-new whose next run loads its policy and waits for
the next evaluation. Activities are no-ops and the updates' validators accept everything: what
is left is the cost of Temporal itself (server, SDK, payload conversion), which the real case
cannot go below.

Not mirrored, on purpose, because they are the business: search-attribute upserts and current
details (the Web UI's filters), validators' rules, payload contents. :func:`counts` counts both
histories so the benchmark can show the difference and check that the mirrored parts are equal.

:data:`PLAN` is the data to update when the real workflow changes what one case does; the
lifecycle benchmark fails loudly when the counts drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.history.v1 import HistoryEvent

NOOP = "baseline_noop"
"""The baseline's one activity name; its argument names the real activity it stands for."""

OPTIONS: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=10))

LONG_WAIT = timedelta(days=90)
"""What the real case's timers wait for while it waits for people (review due, round deadline)."""


@dataclass(frozen=True)
class Step:
    """One update of the real case and the activities its handler runs, in order.

    ``background`` activities are started and not awaited (the real case's mail deliveries);
    the run waits for all of them before it continues as new.
    """

    update: str
    awaited: tuple[str, ...]
    background: tuple[str, ...] = ()


START = Step("created", ("load_policy", "record_event"), ("deliver_notifications",))
"""The run's own start: the policy, then the ``created`` event and its mail."""

PLAN: tuple[Step, ...] = (
    Step("submit_plan", ("record_event",), ("deliver_notifications",)),
    Step("recommend", ("record_event",), ("deliver_notifications",)),
    Step("assign_expert", ("record_event",), ("deliver_notifications",)),
    Step("assign_expert", ("record_event",), ("deliver_notifications",)),
    Step("submit_review", ("record_event",)),
    Step("submit_review", ("record_event",)),
    Step("record_inspection", ("record_event",)),
    Step("decide", ("notice_period", "record_event"), ("deliver_notifications",)),
)
"""The updates from survey to the approval, as the driver sends them."""

NOTICE_END = Step("close_notice", ("record_event",), ("deliver_notifications",))
"""The public-notice timer fires: designation and its mails (the worker publishes the pages)."""

NEXT_RUN = Step("next_run", ("load_policy",))
"""The run after continue-as-new: the policy, then a timer until the evaluation is due."""


@activity.defn(name=NOOP)
async def baseline_noop(stands_for: str) -> None:
    """Does nothing: a real activity's round trip without its work."""


@dataclass
class BaselineInput:
    notice_seconds: float
    """The public notice (the real case's ``IDRI_NOTICE_PERIOD_OVERRIDE``)."""
    next_run: bool = False


@workflow.defn
class BaselineWorkflow:
    """One case's updates, activities and timers, without the case."""

    def __init__(self) -> None:
        self._steps = 0
        self._started = False
        """The run's start is recorded; updates wait for it as the real ones wait for the lock
        the run holds while it records ``created``."""
        self._background: list[asyncio.Task[Any]] = []

    @workflow.run
    async def run(self, input: BaselineInput) -> int:
        if input.next_run:
            await self._do(NEXT_RUN)
            # The real next run waits years for its evaluation; a timer nobody cancels.
            await workflow.wait_condition(lambda: False, timeout=LONG_WAIT * 12)
            return self._steps
        await self._do(START)
        self._started = True
        while self._steps < len(PLAN):
            seen = self._steps
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._steps != seen,  # noqa: B023 - awaited in this iteration
                    timeout=LONG_WAIT,
                )
        # After the approval the case waits for the notice to end: this timer fires.
        try:
            await workflow.wait_condition(
                lambda: False, timeout=timedelta(seconds=input.notice_seconds)
            )
        except TimeoutError:
            await self._do(NOTICE_END)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._background)
        workflow.continue_as_new(BaselineInput(input.notice_seconds, next_run=True))

    @workflow.update
    async def step(self, update: str) -> int:
        await workflow.wait_condition(lambda: self._started)
        await self._do(PLAN[self._steps])
        self._steps += 1
        return self._steps

    @step.validator
    def _validate_step(self, update: str) -> None:
        if self._steps >= len(PLAN) or PLAN[self._steps].update != update:
            raise ValueError(f"unexpected step {update!r} after {self._steps} steps")

    async def _do(self, step: Step) -> None:
        for name in step.awaited:
            await workflow.execute_activity(NOOP, name, **OPTIONS)
        for name in step.background:
            self._background.append(
                asyncio.create_task(workflow.execute_activity(NOOP, name, **OPTIONS))
            )


# --- Counting histories -------------------------------------------------------------------------

COUNTED = {
    "workflow_execution_update_accepted_event_attributes": "updates",
    "activity_task_scheduled_event_attributes": "activities",
    "timer_started_event_attributes": "timers",
    "timer_fired_event_attributes": "timers fired",
    "workflow_execution_continued_as_new_event_attributes": "continue-as-new",
    "upsert_workflow_search_attributes_event_attributes": "search-attribute upserts",
    "workflow_task_completed_event_attributes": "workflow tasks",
}
MIRRORED = ("updates", "activities", "timers", "timers fired", "continue-as-new")
"""What the baseline must do exactly as often as the real case."""


def counts(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Events of one case's histories (all its runs), by what they stand for, plus ``events``."""
    counted: Counter[str] = Counter()
    for event in events:
        counted["events"] += 1
        kind = COUNTED.get(event.WhichOneof("attributes") or "")
        if kind:
            counted[kind] += 1
    return counted


def planned() -> Counter[str]:
    """What :data:`PLAN` makes one baseline case do (all runs)."""
    steps = (START, *PLAN, NOTICE_END, NEXT_RUN)
    return Counter(
        {
            "updates": len(PLAN),
            "activities": sum(len(s.awaited) + len(s.background) for s in steps),
            # One wait per update plus the notice, in the first run; one in the next run.
            "timers": len(PLAN) + 1 + 1,
            "timers fired": 1,
            "continue-as-new": 1,
        }
    )

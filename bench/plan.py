"""What one real case asks of Temporal, as data, and the script the baselines run from it.

A real case driven from survey to designation (``InstituteWorkflow``) makes, counted from its
history: 8 updates; 13 activities awaited in a set order, and beside them a
``deliver_notifications`` activity for each event that tells someone (7) and a ``publish``
activity for each page (2: the approval's notice and the designation's registry page), which the
run awaits before it continues as new; one timer per wait of its main loop (cancelled by the next
update) plus the public-notice timer, which fires; a continue-as-new whose next run loads its
policy and waits; and, for the Web UI, 9 search-attribute upserts, 2 patch markers, a summary on
each registry, mail and publish activity and each timer, and its current details after every
event.

Two baselines replay this with no business logic (no-op activities, validators that accept
everything, constant payloads):

- the **bare** baseline (``bench/baseline.py``) does only the updates, activities, timers and
  the continue-as-new;
- the **matched** baseline (``bench/matched.py``) also does everything else Temporal is asked to
  do for the Web UI (the upserts, the marker, the summaries, the current details) and has the
  real workflow's update and query handlers, one per operator action.

What neither mirrors is the business: validators' rules, the state machine, payload contents
(the real case's payloads are larger), the registry, the mail and the pages.

This module is imported by the baselines' workflow modules as passed through the sandbox, as
the real workflow imports ``models``: the sandbox imports a workflow's own module for every run,
and the data here would otherwise be rebuilt for every run of a baseline case but not of a real
one. :data:`PLAN` is the data to update when the real workflow changes what one case does; the
lifecycle benchmark counts both histories and fails loudly when they drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.history.v1 import HistoryEvent

from models import search

NOOP = "baseline_noop"
"""The baselines' one activity name; its argument names the real activity it stands for."""

OPTIONS: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=10))

LONG_WAIT = timedelta(days=90)
"""What the real case's timers wait for while it waits for people (review due, round deadline)."""


TIMER_SUMMARY = "expert review due (90 days after the assignment)"
"""A timer's summary as long as the real case's deadline descriptions."""

DETAILS = (
    "**天津基准装备制造有限公司** · 滨海新区 · 高端装备\n\n**Stage:** `under_review` (municipal)"
    "\n\n**Awaiting:** submit_review, record_inspection, withdraw\n\n**Next deadline:** expert "
    "review due, 2027-02-25T15:59:59+00:00\n\n**Round:** 2027"
)
"""Current details as long as the real case's (``InstituteWorkflow._details_markdown``)."""


@dataclass(frozen=True)
class Step:
    """One event of the real case: the update that causes it (or the run's start, the notice's
    end, the next run), the activities it awaits, in order, and those it starts beside the case.

    ``mail``: the event tells someone, so the real case sends its mail with a
    ``deliver_notifications`` activity it does not await; ``page``: the event publishes a page,
    with a ``publish`` activity the run awaits before it continues as new. ``upsert`` says
    whether the real case upserts its search attributes after this event; ``markers`` name the
    patch markers it records there (a first ``workflow.patched`` also upserts the SDK's
    TemporalChangeVersion attribute: an upsert event of its own).
    """

    update: str
    awaited: tuple[str, ...]
    mail: bool = False
    page: bool = False
    upsert: bool = True
    markers: tuple[str, ...] = ()


MAIL = "deliver_notifications"
PAGE = "publish"

START = Step(
    "created",
    ("load_policy", "record_event"),
    mail=True,
    markers=("baseline-identity", "baseline-survey-role", "baseline-outbox"),
)
"""The run's own start: the policy, then the ``created`` event, whose mail goes to the district;
the real case records the markers of its identity and survey checks
(``identity-from-workflow-id``, ``survey-checks-role``) and of sending mail and pages by
activities (``outbox-by-activities``)."""

PLAN: tuple[Step, ...] = (
    # The first action re-checks its validator under the lock (``recheck-under-lock``).
    Step("submit_plan", ("record_event",), mail=True, markers=("baseline-recheck",)),
    Step("recommend", ("record_event",), mail=True),
    Step("assign_expert", ("record_event",), mail=True),
    # The second assignment leaves the search attributes as they were: the real case asks
    # whether it is patched (``pages-by-worker``) before it skips the upsert.
    Step(
        "assign_expert", ("record_event",), mail=True, upsert=False, markers=("baseline-upserts",)
    ),
    Step("submit_review", ("record_event",), upsert=False),
    Step("submit_review", ("record_event",), upsert=False),
    Step("record_inspection", ("record_event",), upsert=False),
    Step("decide", ("notice_period", "record_event"), mail=True, page=True),
)
"""The updates from survey to the approval, as the driver sends them."""

NOTICE_END = Step("close_notice", ("record_event",), mail=True, page=True)
"""The public-notice timer fires: designation, its mail and the registry page."""

NEXT_RUN = Step("next_run", ("load_policy",), markers=("baseline-identity",))
"""The run after continue-as-new: the policy, the search attributes, then a timer until the
evaluation is due."""


@dataclass
class BaselineInput:
    notice_seconds: float
    """The public notice (the real case's ``IDRI_NOTICE_PERIOD_OVERRIDE``)."""
    next_run: bool = False
    undelivered: int = 0
    """Mail activities still going out when the last run continued as new: the next run sends
    them again, as the real case does with the mail it carries."""


class Script:
    """One baseline case, run by a baseline workflow: the plan's updates, activities and timers,
    and, when ``matched``, the upserts, markers, summaries and current details as well."""

    def __init__(self, *, matched: bool) -> None:
        self.matched = matched
        self.steps = 0
        self.started = False
        """The run's start is recorded; updates wait for it as the real ones wait for the lock
        the run holds while it records ``created``."""
        self.upserts = 0
        self.mail: list[asyncio.Task[Any]] = []
        self.pages: list[asyncio.Task[Any]] = []

    async def run(self, input: BaselineInput) -> int:
        if input.next_run:
            await self.do(NEXT_RUN)
            for _ in range(input.undelivered):
                self.beside(MAIL, "mail of the last run", self.mail)
            # The real next run waits years for its evaluation; a timer nobody cancels.
            await self.wait(lambda: False, LONG_WAIT * 12)
            return self.steps
        await self.do(START)
        self.started = True
        while self.steps < len(PLAN):
            seen = self.steps
            with contextlib.suppress(TimeoutError):
                await self.wait(lambda: self.steps != seen, LONG_WAIT)  # noqa: B023 - awaited now
        # After the approval the case waits for the notice to end: this timer fires.
        try:
            await self.wait(lambda: False, timedelta(seconds=input.notice_seconds))
        except TimeoutError:
            await self.do(NOTICE_END)
        if not all(task.done() for task in self.mail):
            # As the real case: the designation's mail, just started, gets up to ten minutes
            # before the run continues as new (``MAIL_BEFORE_CONTINUING``).
            with contextlib.suppress(TimeoutError):
                await self.wait(lambda: all(t.done() for t in self.mail), timedelta(minutes=10))
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.pages, return_exceptions=True)
        undelivered = sum(not task.done() for task in self.mail)
        workflow.continue_as_new(
            BaselineInput(input.notice_seconds, next_run=True, undelivered=undelivered)
        )

    def check(self, update: str) -> None:
        """The validator: the update the plan expects next, whatever its argument."""
        if self.steps >= len(PLAN) or PLAN[self.steps].update != update:
            raise ValueError(f"unexpected step {update!r} after {self.steps} steps")

    async def step(self, update: str) -> int:
        await workflow.wait_condition(lambda: self.started)
        self.check(update)
        await self.do(PLAN[self.steps])
        self.steps += 1
        return self.steps

    async def wait(self, condition: Any, timeout: timedelta) -> None:
        summary = TIMER_SUMMARY if self.matched else None
        await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)

    def beside(self, name: str, summary: str, tasks: list[asyncio.Task[Any]]) -> None:
        """Start activity ``name`` beside the case, as the real case sends mail and pages."""
        tasks.append(
            asyncio.create_task(
                workflow.execute_activity(
                    NOOP, name, summary=summary if self.matched else None, **OPTIONS
                )
            )
        )

    async def do(self, step: Step) -> None:
        for name in step.awaited:
            summary = (
                f"registry: {step.update}" if self.matched and name == "record_event" else None
            )
            await workflow.execute_activity(NOOP, name, summary=summary, **OPTIONS)
        for marker in step.markers if self.matched else ():
            workflow.patched(marker)
        if step.mail:
            self.beside(MAIL, f"mail: {step.update}", self.mail)
        if step.page:
            self.beside(PAGE, f"publish {step.update}", self.pages)
        if not self.matched:
            return
        if step.upsert:
            self.upserts += 1
            workflow.upsert_search_attributes(
                [
                    search.STAGE.value_set(f"baseline-{self.upserts}"),
                    search.DISTRICT.value_set("binhai"),
                    search.DIRECTION.value_set("high_end_equipment"),
                    search.ROUND_YEAR.value_set(2027),
                    search.DUE_AT.value_set(workflow.now() + LONG_WAIT),
                ]
            )
        workflow.set_current_details(DETAILS)


# --- Counting histories -------------------------------------------------------------------------

COUNTED = {
    "workflow_execution_update_accepted_event_attributes": "updates",
    "activity_task_scheduled_event_attributes": "activities",
    "timer_started_event_attributes": "timers",
    "timer_fired_event_attributes": "timers fired",
    "workflow_execution_continued_as_new_event_attributes": "continue-as-new",
    "upsert_workflow_search_attributes_event_attributes": "search-attribute upserts",
    "marker_recorded_event_attributes": "markers",
    "workflow_task_completed_event_attributes": "workflow tasks",
}
SUMMARISED = ("activities", "timers")
"""Commands the real case gives a summary (the dev server copies a timer's onto its cancel)."""
BARE = ("updates", "activities", "timers", "timers fired", "continue-as-new")
"""What the bare baseline does exactly as often as the real case."""
MATCHED = (*BARE, "search-attribute upserts", "markers", "summaries")
"""What the matched baseline does exactly as often as the real case."""


def counts(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Events of one case's histories (all its runs), by what they stand for, plus ``events``
    and ``summaries`` (activities and timers scheduled with a summary for the Web UI)."""
    counted: Counter[str] = Counter()
    for event in events:
        counted["events"] += 1
        kind = COUNTED.get(event.WhichOneof("attributes") or "")
        if kind:
            counted[kind] += 1
        if kind in SUMMARISED and event.user_metadata.HasField("summary"):
            counted["summaries"] += 1
    return counted


def planned(*, matched: bool) -> Counter[str]:
    """What :data:`PLAN` makes one baseline case do (all runs), its mail all sent in the first."""
    steps = (START, *PLAN, NOTICE_END, NEXT_RUN)
    # One wait per update plus the notice and the designation's mail, in the first run; one in
    # the next run.
    timers = len(PLAN) + 1 + 1 + 1
    beside = sum(s.mail + s.page for s in steps)
    expected = Counter(
        {
            "updates": len(PLAN),
            "activities": sum(len(s.awaited) for s in steps) + beside,
            "timers": timers,
            "timers fired": 1,
            "continue-as-new": 1,
        }
    )
    if matched:
        expected["search-attribute upserts"] = sum(s.upsert + len(s.markers) for s in steps)
        expected["markers"] = sum(len(s.markers) for s in steps)
        registry = sum(s.awaited.count("record_event") for s in steps)
        expected["summaries"] = registry + beside + timers
    return expected

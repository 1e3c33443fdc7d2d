"""The programme's Temporal Schedules: definitions, idempotent installation, list/trigger/pause.

Two schedules, both on the worker's task queue:

``idri-annual-round``
    Once a year, a day before the first reminder (31 March 00:00 Beijing time with the default
    30/7/1 lead days and the 30 April deadline), starts :class:`AnnualRoundWorkflow`, which sleeps
    to each reminder day, then to the deadline, and closes the round.
``idri-evaluation-sweep``
    Daily at ``IDRI_SWEEP_HOUR`` (08:00 Beijing time), or every ``IDRI_SWEEP_EVERY``, starts
    :class:`EvaluationSweepWorkflow`.

Choices, written down:

- **Time zone.** Calendar specs carry ``time_zone_name="Asia/Shanghai"``: "31 March 00:00" means
  Beijing's midnight (30 March 16:00 UTC), whatever zone the server runs in. China has no
  daylight saving time, so no run is skipped or doubled at a clock change. (An interval spec,
  ``IDRI_SWEEP_EVERY``, counts from the Unix epoch and ignores the zone.)
- **Overlap: SKIP** for both. Two round runs of the same year would race to write the same
  summaries (harmless, they are keyed, but pointless); a sweep still running when the next one is
  due is still doing that work, and the next daily run picks up anything left. ``trigger`` follows
  the same policy, so triggering the round while this year's run is waiting starts nothing.
- **Catch-up window.** The round: from its start to the deadline (``max lead + 1`` days): a
  server that was down on 31 March still starts the round late (past reminders are skipped, the
  close happens). The sweep: one day: a missed daily sweep runs once when the server is back;
  older misses need no replay because every sweep looks at everything due.
- **pause_on_failure: off.** A failed run (a bug) must not silently stop next year's round; it
  shows as failed in the Web UI and ``idri schedules list``.
- **Idempotent install.** The definition's fingerprint (SHA-256 of spec, policy and action) is kept
  in the action's memo (``idri_fingerprint``). Installing again changes nothing when the
  fingerprint matches and replaces the definition when it differs, keeping the paused state and
  its note: the server normalises specs (ranges, weekdays) so comparing specs field by field would
  always see a difference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from idri.settings import Settings, parse_duration
from models.schedules import (
    ANNUAL_ROUND_ID,
    EVALUATION_SWEEP_ID,
    RoundInput,
    ScheduleRules,
    SweepInput,
    round_opens_at,
)
from models.time import CST
from workflows.schedules import AnnualRoundWorkflow, EvaluationSweepWorkflow

TIME_ZONE = "Asia/Shanghai"
FINGERPRINT = "idri_fingerprint"
"""Memo key on the schedule's action holding the definition's fingerprint."""
DEFINITION_VERSION = 1
"""Bump to make every install replace the definitions (a change the fingerprint cannot see)."""

NAMES: dict[str, str] = {
    "annual-round": ANNUAL_ROUND_ID,
    "evaluation-sweep": EVALUATION_SWEEP_ID,
}
"""Short names the CLI accepts, and the schedule ids they stand for."""

Outcome = Literal["created", "updated", "unchanged"]


class UnknownSchedule(ValueError):
    """A name that is none of idri's schedules."""


def schedule_id(name: str) -> str:
    """``annual-round`` or ``idri-annual-round`` → ``idri-annual-round``."""
    if name in NAMES.values():
        return name
    if name in NAMES:
        return NAMES[name]
    known = ", ".join(NAMES)
    raise UnknownSchedule(f"unknown schedule {name!r}: idri's schedules are {known}")


def _rules(settings: Settings) -> ScheduleRules:
    return ScheduleRules(
        round_deadline_month=settings.round_deadline_month,
        round_deadline_day=settings.round_deadline_day,
        reminder_lead_days=sorted(set(settings.reminder_lead_days), reverse=True),
    )


def _at(moment: datetime, comment: str) -> ScheduleCalendarSpec:
    """A yearly calendar entry at ``moment``'s month, day and time in Beijing."""
    local = moment.astimezone(CST)
    return ScheduleCalendarSpec(
        month=[ScheduleRange(local.month)],
        day_of_month=[ScheduleRange(local.day)],
        hour=[ScheduleRange(local.hour)],
        minute=[ScheduleRange(local.minute)],
        second=[ScheduleRange(0)],
        comment=comment,
    )


def annual_round_schedule(settings: Settings) -> Schedule:
    """The annual round's definition: once a year, a day before the first reminder."""
    rules = _rules(settings)
    # A common (non-leap) year gives the earliest calendar day for every year: with lead days
    # reaching back over February, a leap year's opening would fall one day later.
    opens = round_opens_at(2025, rules)
    deadline_gap = timedelta(days=max(rules.reminder_lead_days, default=0) + 1)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            AnnualRoundWorkflow.run,
            RoundInput(),
            id=ANNUAL_ROUND_ID,
            task_queue=settings.task_queue,
            static_summary="Annual recommendation round (年度推荐)",
        ),
        spec=ScheduleSpec(
            calendars=[_at(opens, "the round opens a day before its first reminder")],
            time_zone_name=TIME_ZONE,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=deadline_gap,
            pause_on_failure=False,
        ),
        state=ScheduleState(note="installed by idri"),
    )


def evaluation_sweep_schedule(settings: Settings) -> Schedule:
    """The evaluation sweep's definition: daily at ``sweep_hour`` Beijing time, or an interval."""
    if settings.sweep_every:
        spec = ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=parse_duration(settings.sweep_every))],
            time_zone_name=TIME_ZONE,
        )
    else:
        spec = ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(settings.sweep_hour)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                    comment="daily, Beijing time",
                )
            ],
            time_zone_name=TIME_ZONE,
        )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            EvaluationSweepWorkflow.run,
            SweepInput(),
            id=EVALUATION_SWEEP_ID,
            task_queue=settings.task_queue,
            static_summary="Evaluation sweep (跟踪评估)",
        ),
        spec=spec,
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(days=1),
            pause_on_failure=False,
        ),
        state=ScheduleState(note="installed by idri"),
    )


def definitions(settings: Settings) -> dict[str, Schedule]:
    """Every schedule idri runs, by id, each stamped with its fingerprint."""
    schedules = {
        ANNUAL_ROUND_ID: annual_round_schedule(settings),
        EVALUATION_SWEEP_ID: evaluation_sweep_schedule(settings),
    }
    for schedule in schedules.values():
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        action.memo = {FINGERPRINT: fingerprint(schedule)}
    return schedules


def fingerprint(schedule: Schedule) -> str:
    """SHA-256 of what defines a schedule (spec, policy, action); not its state."""
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    parts = (
        DEFINITION_VERSION,
        schedule.spec,
        schedule.policy,
        action.workflow,
        action.args,
        action.id,
        action.task_queue,
        action.static_summary,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


# --- Installing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    id: str
    outcome: Outcome


async def install(client: Client, settings: Settings) -> list[Installed]:
    """Create every schedule, or replace one whose definition changed; report each outcome."""
    return [
        Installed(schedule_id, await _install_one(client, schedule_id, schedule))
        for schedule_id, schedule in definitions(settings).items()
    ]


async def install_schedules(client: Client, settings: Settings) -> list[str]:
    """Install idri's schedules (``idri up``); return the ids created or updated.

    Idempotent: a second call with the same settings returns ``[]`` and changes nothing.
    """
    return [i.id for i in await install(client, settings) if i.outcome != "unchanged"]


async def _install_one(client: Client, schedule_id: str, schedule: Schedule) -> Outcome:
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    if await _installed_fingerprint(client, handle) == _fingerprint_of(schedule):
        return "unchanged"

    def replace(input: ScheduleUpdateInput) -> ScheduleUpdate:
        current = input.description.schedule.state
        # Keep a pause (and the reason given for it) across a redefinition.
        schedule.state = (
            ScheduleState(note=current.note, paused=True)
            if current.paused
            else ScheduleState(note="updated by idri")
        )
        return ScheduleUpdate(schedule=schedule)

    await handle.update(replace)
    return "updated"


def _fingerprint_of(schedule: Schedule) -> str:
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    return str((action.memo or {}).get(FINGERPRINT, ""))


async def _installed_fingerprint(client: Client, handle: ScheduleHandle) -> str | None:
    description = await handle.describe()
    action = description.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        return None
    payload = action.memo.get(FINGERPRINT)
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload
    [value] = await client.data_converter.decode([payload], [str])
    return str(value)


# --- Listing, triggering, pausing ------------------------------------------------------------


@dataclass(frozen=True)
class RecentRun:
    scheduled_at: datetime
    started_at: datetime
    workflow_id: str


@dataclass(frozen=True)
class ScheduleInfo:
    """What ``idri schedules list`` shows of one schedule."""

    id: str
    installed: bool
    paused: bool = False
    note: str = ""
    time_zone: str = ""
    overlap: str = ""
    catchup_window: timedelta | None = None
    next_runs: list[datetime] = field(default_factory=list)
    recent_runs: list[RecentRun] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    """Workflow ids of runs still going."""


async def describe_schedules(client: Client, *, next_runs: int = 3) -> list[ScheduleInfo]:
    """idri's schedules as installed (or not) on the server."""
    infos = []
    for schedule_id in NAMES.values():
        try:
            description = await client.get_schedule_handle(schedule_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                infos.append(ScheduleInfo(schedule_id, installed=False))
                continue
            raise
        schedule, info = description.schedule, description.info
        infos.append(
            ScheduleInfo(
                id=schedule_id,
                installed=True,
                paused=schedule.state.paused,
                note=schedule.state.note or "",
                time_zone=schedule.spec.time_zone_name or "UTC",
                overlap=schedule.policy.overlap.name,
                catchup_window=schedule.policy.catchup_window,
                next_runs=list(info.next_action_times[:next_runs]),
                recent_runs=[
                    RecentRun(
                        r.scheduled_at,
                        r.started_at,
                        getattr(r.action, "workflow_id", ""),
                    )
                    for r in info.recent_actions
                ],
                running=[getattr(a, "workflow_id", "") for a in info.running_actions],
            )
        )
    return infos


async def trigger(client: Client, name: str) -> str:
    """Start the schedule's action now (subject to its overlap policy: SKIP); return its id."""
    schedule = schedule_id(name)
    await client.get_schedule_handle(schedule).trigger()
    return schedule


async def pause(client: Client, name: str, *, note: str | None = None) -> str:
    schedule = schedule_id(name)
    await client.get_schedule_handle(schedule).pause(note=note or "paused with idri")
    return schedule


async def unpause(client: Client, name: str, *, note: str | None = None) -> str:
    schedule = schedule_id(name)
    await client.get_schedule_handle(schedule).unpause(note=note or "resumed with idri")
    return schedule


async def delete(client: Client, names: Sequence[str] | None = None) -> list[str]:
    """Delete idri's schedules (all by default); runs already started are not affected."""
    deleted = []
    for name in names or list(NAMES):
        schedule = schedule_id(name)
        try:
            await client.get_schedule_handle(schedule).delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        deleted.append(schedule)
    return deleted


def describe_spec(settings: Settings) -> dict[str, Any]:
    """The schedules' timing in words (for ``idri schedules list`` before installing)."""
    rules = _rules(settings)
    opens = round_opens_at(2025, rules).astimezone(CST)
    sweep = (
        f"every {settings.sweep_every}"
        if settings.sweep_every
        else f"daily at {settings.sweep_hour:02d}:00 Beijing time"
    )
    return {
        ANNUAL_ROUND_ID: f"yearly on {opens:%d %B} at {opens:%H:%M} Beijing time",
        EVALUATION_SWEEP_ID: sweep,
    }

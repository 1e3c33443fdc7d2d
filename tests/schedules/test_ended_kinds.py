"""Cases ended outside the lifecycle other than by termination (issue 18): a designated case
whose workflow is cancelled, times out or fails is reported as such by ``ending_of``, marked in
the registry by the next evaluation sweep, and left out of the public registry page; on SQLite
and on PostgreSQL. A cancellation names who requested it and why."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from activities.ended import ENDED_EVENT
from activities.endings import ending_of
from models.case import CaseState, InstituteInput, Stage
from tests.lifecycle.harness import Case, Harness, pages_published, survey_record
from tests.registry.conftest import new_database_url  # noqa: F401 (a fixture)
from tests.schedules.helpers import registry, schedule_harness, settled, sweep, wait_closed
from tests.schedules.test_sweep import FAST
from workflows.institute import InstituteWorkflow, workflow_id

CANCEL_REASON = "duplicate of an earlier case"
LIFETIME = timedelta(days=30)
"""The execution timeout of the case that times out: long enough to be designated first."""


async def designated_case(h: Harness, name: str, **start: Any) -> tuple[str, WorkflowHandle]:
    """A case started as the harness does (``start`` adds workflow options), designated."""
    case_id = uuid.uuid4().hex[:10]
    handle = await h.client.start_workflow(
        InstituteWorkflow.run,
        InstituteInput(survey_record(case_id, name)),
        id=workflow_id(case_id),
        task_queue=h.settings.task_queue,
        **start,
    )
    tracked = Case(h.env, handle, case_id, name)
    h.cases.append(tracked)
    await tracked.through_review()
    await h.env.sleep(timedelta(hours=2))
    await settled(tracked, Stage.DESIGNATED)
    return case_id, handle


async def cancel(h: Harness, handle: WorkflowHandle) -> None:
    await handle.cancel(reason=CANCEL_REASON)


async def time_out(h: Harness, handle: WorkflowHandle) -> None:
    await h.env.sleep(LIFETIME)


async def fail(h: Harness, handle: WorkflowHandle) -> None:
    """Someone starts the case's workflow again by hand, terminating the running one, with a
    state it may not carry: the new run fails at once (issue 18, item 1)."""
    case_id = handle.id.removeprefix("institute-")
    forged = CaseState(
        survey=survey_record(case_id, "冒名"),
        created_at=datetime(2020, 1, 1, tzinfo=UTC),
        stage=Stage.DESIGNATED,
    )
    await h.client.start_workflow(
        InstituteWorkflow.run,
        InstituteInput(survey_record(case_id, "冒名"), carried=forged),
        id=handle.id,
        task_queue=h.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )


ENDINGS: dict[str, tuple[Callable[[Harness, WorkflowHandle], Awaitable[None]], dict[str, Any]]] = {
    "cancelled": (cancel, {}),
    "timed_out": (time_out, {"execution_timeout": LIFETIME}),
    "failed": (fail, {}),
}


def public_registry(h: Harness) -> list[str]:
    page = json.loads((h.settings.data_dir / "public" / "registry.json").read_text("utf-8"))
    return [i["case_id"] for i in page["institutes"]]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("how", list(ENDINGS))
async def test_a_case_ended_outside_the_lifecycle_is_reported_marked_and_unpublished(
    time_env: WorkflowEnvironment,
    tmp_path,
    new_database_url,  # noqa: F811 (the fixture imported above)
    database: str,
    how: str,
) -> None:
    end, options = ENDINGS[how]
    async with schedule_harness(
        time_env, tmp_path, database_url=new_database_url(database), **FAST
    ) as h:
        kept_id, _ = await designated_case(h, "甲研究院")
        ended_id, handle = await designated_case(h, "乙研究院", **options)
        await pages_published(h.settings)
        assert sorted(public_registry(h)) == sorted([kept_id, ended_id])

        await end(h, handle)
        await wait_closed(h, handle.id)
        ending = await ending_of(h.client, handle.id)
        await sweep(h)

        assert ending is not None and ending.how == how
        with registry(h) as engine:
            row = registry_read.institute(engine, ended_id)
            trail = registry_read.audit_trail(engine, ended_id)
            current = [i.case_id for i in registry_read.current_registry(engine)]
        assert row is not None
        assert (row.ended_how, row.ended_at, row.stage) == (how, ending.at, "designated")
        assert row.ended_by == ending.by
        [mark] = [e for e in trail if e.event == ENDED_EVENT]
        assert mark.details == {"how": how}
        assert current == [kept_id]
        await pages_published(h.settings)
        assert public_registry(h) == [kept_id]


async def test_a_cancellation_names_who_requested_it_and_why(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        _, handle = await designated_case(h, "丙研究院")
        await handle.cancel(reason=CANCEL_REASON)
        await wait_closed(h, handle.id)

        ending = await ending_of(h.client, handle.id)

        assert ending is not None and ending.how == "cancelled"
        assert (ending.identity, ending.reason) == (h.client.identity, CANCEL_REASON)
        assert ending.by == f"{h.client.identity}: {CANCEL_REASON}"


async def test_a_timeout_or_a_failure_names_nobody_and_a_failure_says_why(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        _, timing_out = await designated_case(h, "丁研究院", execution_timeout=LIFETIME)
        _, failing = await designated_case(h, "戊研究院")
        await fail(h, failing)
        await h.env.sleep(LIFETIME)
        await wait_closed(h, timing_out.id)
        await wait_closed(h, failing.id)

        timed_out = await ending_of(h.client, timing_out.id)
        failed = await ending_of(h.client, failing.id)

        assert timed_out is not None and (timed_out.how, timed_out.by) == ("timed_out", None)
        assert failed is not None and (failed.how, failed.identity) == ("failed", None)
        assert failed.reason and "carried only from its own previous run" in failed.reason

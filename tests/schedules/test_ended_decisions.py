"""The bureau decides what happens to a case ended outside the lifecycle (``idri ended``), and
the sweep finds ended cases through visibility: on the real Temporal dev server (the
time-skipping server implements neither visibility lists nor reset), SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from activities.ended import CLOSED_EVENT, REINSTATED_EVENT, RUNS_AGAIN_EVENT
from activities.endings import ending_of, reset_to_last_task
from idri.settings import Settings
from idri.worker import build_worker, schedule_activities
from models import search
from models.case import Stage
from tests.conftest import venv_binary
from tests.lifecycle.harness import Case, Harness
from tests.registry.conftest import new_database_url  # noqa: F401 (a fixture)
from tests.schedules.helpers import registry, wait_closed

pytestmark = pytest.mark.devserver

NOTICE = 6
"""Seconds of public notice: the timer the reinstated case must still fire."""


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=list(search.ALL),
        ui=False,
    )
    async with env:
        yield env


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: Any, tmp_path: Path, new_database_url: Any) -> Settings:  # noqa: F811
    return Settings(
        data_dir=tmp_path,
        task_queue=f"idri-ended-{uuid.uuid4().hex[:6]}",
        database_url=new_database_url(request.param),
        notice_period_override=f"{NOTICE}s",
    )


async def eventually(check: Any, seconds: float = 20) -> Any:
    for _ in range(int(seconds / 0.1)):
        if value := await check():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {seconds}s")


def idri(args: list[str], dev_env: WorkflowEnvironment, settings: Settings) -> Any:
    from typer.testing import CliRunner

    from idri.cli import build_app
    from idri.settings import get_settings

    env = {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "IDRI_DATA_DIR": str(settings.data_dir),
        "IDRI_DATABASE_URL": settings.database_url or "",
        "IDRI_ACTOR": "李处长",
    }
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(build_app(), args, env=env)
    finally:
        get_settings.cache_clear()


@contextmanager
def requests_to(client: Client) -> Iterator[Counter[str]]:
    """Count the client's requests to Temporal by method (the real calls go through)."""
    service = client.service_client
    counts: Counter[str] = Counter()
    real = service._rpc_call

    async def counted(rpc: str, *args: Any, **kwargs: Any) -> Any:
        counts[rpc] += 1
        return await real(rpc, *args, **kwargs)

    service._rpc_call = counted  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        del service._rpc_call


async def reconcile(h: Harness) -> Any:
    from activities.db import create_registry_engine

    engine = create_registry_engine(h.settings.registry_url)
    try:
        return await schedule_activities(engine, h.settings, client=h.client).reconcile_registry()
    finally:
        engine.dispose()


async def in_notice(h: Harness, name: str) -> Case:
    case = await h.start(name)
    await case.through_review()
    assert await case.stage() is Stage.PUBLIC_NOTICE
    return case


async def test_reinstate_runs_a_terminated_case_on_from_its_public_notice(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with build_worker(dev_env.client, settings):
        h = Harness(dev_env, settings)
        case = await in_notice(h, "甲研究院")
        await case.handle.terminate(reason="by mistake")
        await wait_closed(h, case.handle.id)
        assert (await reconcile(h)).marked == 1

        done = await asyncio.to_thread(
            idri, ["ended", "reinstate", case.case_id, "--reason", "终止有误"], dev_env, settings
        )

        assert done.exit_code == 0, done.output
        assert f"reinstated case {case.case_id} (terminated before)" in done.output
        assert await ending_of(h.client, case.handle.id) is None, "the case runs again"
        assert await case.stage() is Stage.PUBLIC_NOTICE, "it answers status where it stood"
        await eventually(lambda: _is(case, Stage.DESIGNATED), seconds=NOTICE + 20)
        await eventually(lambda: _recorded(h, case, "designated"))
        with registry(h) as engine:
            row = registry_read.institute(engine, case.case_id)
            trail = registry_read.audit_trail(engine, case.case_id)
        assert row is not None and (row.ended_how, row.stage) == (None, "designated")
        reinstated = [e for e in trail if e.event == REINSTATED_EVENT]
        assert [(e.actor, e.reason) for e in reinstated] == [("李处长", "终止有误")]
        designations = [
            e for e in trail if (e.from_stage, e.to_stage) == ("public_notice", "designated")
        ]
        assert len(designations) == 1, "the notice timer fired after the reset"
        await case.handle.terminate(reason="test finished")


async def test_reinstate_and_close_refuse_a_case_that_is_not_ended(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with build_worker(dev_env.client, settings):
        h = Harness(dev_env, settings)
        case = await in_notice(h, "乙研究院")
        for command in ("reinstate", "close"):
            refused = await asyncio.to_thread(
                idri, ["ended", command, case.case_id, "--reason", "x"], dev_env, settings
            )
            assert refused.exit_code == 1
            assert f"case {case.case_id} is not ended" in refused.output
        assert await case.stage() is Stage.PUBLIC_NOTICE
        await case.handle.terminate(reason="test finished")


async def test_close_keeps_the_mark_for_good_and_list_shows_the_decision(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with build_worker(dev_env.client, settings):
        h = Harness(dev_env, settings)
        case = await in_notice(h, "丙研究院")
        await case.handle.cancel(reason="企业注销")
        await wait_closed(h, case.handle.id)

        closed = await asyncio.to_thread(
            idri, ["ended", "close", case.case_id, "--reason", "企业已注销"], dev_env, settings
        )
        listed = await asyncio.to_thread(idri, ["ended", "list", "--json"], dev_env, settings)
        again = await asyncio.to_thread(
            idri, ["ended", "reinstate", case.case_id, "--reason", "x"], dev_env, settings
        )

        assert closed.exit_code == 0, closed.output
        assert "stays out of the published registry" in closed.output
        assert listed.exit_code == 0, listed.output
        assert '"how": "cancelled"' in listed.output and '"closed_by": "李处长"' in listed.output
        assert '"closed_reason": "企业已注销"' in listed.output
        assert again.exit_code == 1 and "was closed by the bureau" in again.output
        # Reset by hand with Temporal's own tool: a closed case stays out all the same.
        ending = await ending_of(h.client, case.handle.id)
        assert ending is not None
        await reset_to_last_task(h.client, case.handle.id, ending, reason="by hand")
        result = await reconcile(h)
        with registry(h) as engine:
            row = registry_read.institute(engine, case.case_id)
            trail = [e.event for e in registry_read.audit_trail(engine, case.case_id)]
        assert result.cleared == 0
        assert row is not None and row.ended_how == "cancelled"
        assert trail.count(CLOSED_EVENT) == 1 and RUNS_AGAIN_EVENT not in trail
        await case.handle.terminate(reason="test finished")


async def test_the_sweep_clears_the_mark_of_a_case_reset_outside_idri(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with build_worker(dev_env.client, settings):
        h = Harness(dev_env, settings)
        case = await in_notice(h, "丁研究院")
        await case.handle.terminate(reason="oops")
        await wait_closed(h, case.handle.id)
        assert (await reconcile(h)).marked_sample == [case.case_id]
        ending = await ending_of(h.client, case.handle.id)
        assert ending is not None

        await reset_to_last_task(h.client, case.handle.id, ending, reason="temporal workflow reset")
        result = await reconcile(h)

        assert (result.cleared, result.cleared_sample) == (1, [case.case_id])
        with registry(h) as engine:
            row = registry_read.institute(engine, case.case_id)
            trail = [e.event for e in registry_read.audit_trail(engine, case.case_id)]
        assert row is not None and row.ended_how is None
        assert RUNS_AGAIN_EVENT in trail
        await case.handle.terminate(reason="test finished")


async def test_reconciling_asks_visibility_once_and_describes_only_the_ended_cases(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, task_queue=f"idri-scale-{uuid.uuid4().hex[:6]}")
    async with build_worker(dev_env.client, settings):
        h = Harness(dev_env, settings)
        cases = [await h.start(f"研究院{n}") for n in range(30)]
        await eventually(lambda: _registered(h, len(cases)))
        ended = cases[:3]
        for case in ended:
            await case.handle.terminate(reason="scale")
        await eventually(lambda: _listed_ended(h, {c.handle.id for c in ended}))

        with requests_to(h.client) as counts:
            result = await reconcile(h)

        assert result.marked == 3
        assert counts["list_workflow_executions"] == 1
        assert counts["describe_workflow_execution"] == 3, "only the ended ones"
        for case in cases[3:]:
            await case.handle.terminate(reason="test finished")


async def _is(case: Case, stage: Stage) -> bool:
    return await case.stage() is stage


async def _recorded(h: Harness, case: Case, stage: str) -> bool:
    with registry(h) as engine:
        row = registry_read.institute(engine, case.case_id)
        return row is not None and row.stage == stage


async def _registered(h: Harness, n: int) -> bool:
    with registry(h) as engine:
        return len(registry_read.institutes(engine)) >= n


async def _listed_ended(h: Harness, ids: set[str]) -> bool:
    from activities.endings import ended_workflow_ids

    return ids <= (await ended_workflow_ids(h.client) or set())

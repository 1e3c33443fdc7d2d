"""A case's identity is fixed by its workflow id: a start naming another case, or carrying a
state it did not earn through its own runs, fails before anything reaches the registry; and no
workflow can write another case's registry rows (issue 18)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import registry_read
from activities.db import create_registry_engine
from idri.worker import registry_activities
from models.case import (
    CaseState,
    InstituteInput,
    Level,
    Stage,
    SurveyRecord,
)
from tests.lifecycle.harness import harness, survey_record
from workflows.institute import InstituteWorkflow, workflow_id


def survey(case_id: str) -> SurveyRecord:
    return survey_record(case_id, "天津冒名装备有限公司")


async def failure_of(h, input: InstituteInput, *, id: str) -> str:  # type: ignore[no-untyped-def]
    handle = await h.client.start_workflow(
        InstituteWorkflow.run, input, id=id, task_queue=h.settings.task_queue
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.message


def registry_knows(settings, case_id: str) -> bool:  # type: ignore[no-untyped-def]
    engine = create_registry_engine(settings.registry_url)
    try:
        return bool(registry_read.audit_trail(engine, case_id)) or (
            registry_read.institute(engine, case_id) is not None
        )
    finally:
        engine.dispose()


async def test_a_start_carrying_a_designated_state_fails_and_writes_nothing(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case_id = uuid.uuid4().hex[:10]
        forged = CaseState(
            survey=survey(case_id),
            created_at=datetime(2020, 1, 1, tzinfo=UTC),
            stage=Stage.DESIGNATED,
            level=Level.NATIONAL,
        )
        message = await failure_of(
            h, InstituteInput(survey(case_id), carried=forged), id=workflow_id(case_id)
        )
        assert "carried only from its own previous run" in message
        assert not registry_knows(h.settings, case_id)


async def test_a_workflow_naming_another_case_fails_and_writes_nothing(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with harness(time_env, tmp_path) as h:
        real = await h.start()
        await real.submit_plan()
        before = registry_read.audit_trail(
            create_registry_engine(h.settings.registry_url), real.case_id
        )
        message = await failure_of(
            h, InstituteInput(survey(real.case_id)), id=f"institute-{uuid.uuid4().hex[:10]}"
        )
        assert f"cannot hold case {real.case_id}" in message
        after = registry_read.audit_trail(
            create_registry_engine(h.settings.registry_url), real.case_id
        )
        assert [e.key for e in after] == [e.key for e in before]
        assert (await real.stage()) is Stage.PLAN_SUBMITTED


async def test_the_registry_refuses_a_record_from_another_workflow(tmp_path: Path) -> None:
    """Whatever a workflow puts in the record, the server says who scheduled the activity."""
    from activities.db import migrate
    from idri.settings import Settings
    from tests.registry.registry_builders import Script, record_as_its_case

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    migrate(settings.registry_url)
    engine = create_registry_engine(settings.registry_url)
    activities = registry_activities(engine, settings)
    victim = Script("victim")
    created = victim.event("created")
    await record_as_its_case(activities.record_event, created)

    intruder = ActivityEnvironment()
    intruder.info = dataclasses.replace(
        intruder.info, workflow_id="institute-intruder", workflow_run_id=created.run_id
    )
    delisting = dataclasses.replace(
        created, key=f"{created.workflow_id}#99", seq=99, event="delist", to_stage=Stage.DELISTED
    )
    with pytest.raises(ApplicationError) as refused:
        await intruder.run(activities.record_event, delisting)
    assert refused.value.non_retryable and refused.value.type == "ForeignCase"
    assert "may not write the registry of case victim" in refused.value.message
    assert [e.key for e in registry_read.audit_trail(engine, "victim")] == [created.key]
    engine.dispose()

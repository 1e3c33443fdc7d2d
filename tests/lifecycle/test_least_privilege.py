"""Least privilege: an actor without a role has no rights, ``system`` belongs to the workflow's
own timers, and a case's first event names the operator who recorded the candidate."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from models.case import Actor, InstituteInput, Role, SurveyRecord, Withdrawal
from tests.lifecycle.harness import DISTRICT_OFFICER, accepted_updates, harness, refused
from workflows.institute import InstituteWorkflow, workflow_id


async def test_an_actor_without_a_role_is_refused_not_read_as_the_bureau(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        # A client sending JSON by hand leaves the role out; a Python client sends null.
        by_hand = case.handle.execute_update(
            "withdraw", {"actor": {"name": "某人"}, "reason": "不想做了"}, result_type=dict
        )
        with_null = case.handle.execute_update(
            InstituteWorkflow.withdraw, Withdrawal(Actor("某人"), "不想做了")
        )
        for call in (by_hand, with_null):
            message = await refused(call)
            assert message.startswith("permission denied: the action names no role: 某人 must act")
            assert "must act as one of" in message
        assert await case.stage() == "surveyed"
        assert await accepted_updates(case) == 0


async def test_no_update_may_claim_the_system_role(time_env: WorkflowEnvironment, tmp_path) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.withdraw, Withdrawal(Actor("idri", Role.SYSTEM), "系统撤回")
            )
        )
        assert message.startswith("permission denied: the role system is the workflow's own")
        assert await case.stage() == "surveyed"
        assert await accepted_updates(case) == 0


async def test_the_created_event_names_the_operator_who_recorded_the_candidate(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        created = (await case.handle.query(InstituteWorkflow.history))[0]
        assert created.event == "created"
        assert (created.actor, created.role) == (DISTRICT_OFFICER.name, Role.DISTRICT_OFFICER)


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (
            Actor("赵经理", Role.APPLICANT),
            "'survey' needs the role bureau_officer or district_officer",
        ),
        (Actor("王科长", Role.DISTRICT_OFFICER, "heping"), "district officer of heping"),
        (Actor("某人"), "the action names no role"),
    ],
)
async def test_a_case_is_not_started_by_an_actor_who_may_not_record_candidates(
    time_env: WorkflowEnvironment, tmp_path, actor: Actor, expected: str
) -> None:
    async with harness(time_env, tmp_path) as h:
        case_id = uuid.uuid4().hex[:10]
        survey = SurveyRecord(case_id, "天津某装备制造有限公司", "binhai", "ai", actor)
        handle = await h.client.start_workflow(
            InstituteWorkflow.run,
            InstituteInput(survey),
            id=workflow_id(case_id),
            task_queue=h.settings.task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        message = str(getattr(failure.value.cause, "message", failure.value.cause))
        assert message.startswith("permission denied: ")
        assert expected in message
        assert f"case {case_id} not started" in message
        history = await handle.fetch_history()
        assert not any(
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events
        )

"""Every refused action names the case's stage and what it allows, and changes nothing.

A refusal happens in the update's validator, so not even the attempt reaches the history.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from models.case import (
    Actor,
    Decision,
    ExpertAssignment,
    ExpertReview,
    Outcome,
    PlanSubmission,
    Recommendation,
    Role,
    Stage,
)
from tests.lifecycle.harness import (
    BUREAU,
    DISTRICT_OFFICER,
    accepted_updates,
    harness,
    refused,
)
from workflows.institute import InstituteWorkflow


async def test_an_action_the_stage_does_not_allow_is_refused_with_the_allowed_ones(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        message = await refused(case.recommend())
        assert message == (
            f"case {case.case_id} is in stage 'surveyed', where 'recommend' is not possible; "
            "allowed now: submit_plan, withdraw"
        )


async def test_refused_actions_leave_no_trace(time_env: WorkflowEnvironment, tmp_path) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        await case.assign("张教授", "天津大学")
        before_status = await case.status()
        before_updates = await accepted_updates(case)

        attempts = {
            "score above 100": case.review("张教授", 101),
            "negative score": case.review("张教授", -1),
            "expert not assigned": case.review("王五", 80),
            "expert of the applicant": case.handle.execute_update(
                InstituteWorkflow.assign_expert,
                ExpertAssignment(BUREAU, "孙工", " 天津某装备制造有限公司 ", None),
            ),
            "empty reason": case.handle.execute_update(
                InstituteWorkflow.decide, Decision(BUREAU, Outcome.REJECT, "   ")
            ),
            "approve before reviews": case.decide(Outcome.APPROVE),
            "no identity": case.handle.execute_update(
                InstituteWorkflow.recommend, Recommendation(Actor(""), "意见")
            ),
            "objection outside notice": case.object(),
        }
        messages = {name: await refused(call) for name, call in attempts.items()}

        assert "0 to 100" in messages["score above 100"]
        assert "0 to 100" in messages["negative score"]
        assert "王五 is not" in messages["expert not assigned"]
        assert "assigned" in messages["expert not assigned"]
        assert "conflict of interest" in messages["expert of the applicant"]
        assert "must not be empty" in messages["empty reason"]
        assert "reviews still missing from 张教授" in messages["approve before reviews"]
        assert "no site inspection" in messages["approve before reviews"]
        assert "identity" in messages["no identity"]
        assert "stage 'under_review'" in messages["objection outside notice"]

        after_status = await case.status()
        assert after_status == before_status
        assert await accepted_updates(case) == before_updates


async def test_the_same_expert_cannot_review_twice(time_env: WorkflowEnvironment, tmp_path) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        await case.assign()
        await case.review("张教授", 80)
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.submit_review, ExpertReview(BUREAU, "张教授", 95, "改分")
            )
        )
        assert "already reviewed" in message and "80" in message


async def test_withdrawing_a_designated_institute_is_refused(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        message = await refused(case.withdraw())
        assert "stage 'designated', where 'withdraw' is not possible" in message


async def test_a_plan_needs_a_real_checksum(time_env: WorkflowEnvironment, tmp_path) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.submit_plan, PlanSubmission(DISTRICT_OFFICER, "p.pdf", "xyz")
            )
        )
        assert "SHA-256 must be 64 hexadecimal characters" in message
        assert await case.stage() is Stage.SURVEYED


async def test_each_role_may_only_take_its_own_actions(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start(district="binhai")
        other_district = Actor("刘科长", Role.DISTRICT_OFFICER, "heping")
        applicant = Actor("赵经理", Role.APPLICANT)
        expert = Actor("张教授", Role.EXPERT)
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.submit_plan, PlanSubmission(other_district, "p.pdf", "a" * 64)
            )
        )
        assert "district officer of heping" in message and "belongs to binhai" in message
        await case.handle.execute_update(
            InstituteWorkflow.submit_plan, PlanSubmission(applicant, "p.pdf", "a" * 64)
        )
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.recommend, Recommendation(applicant, "自荐")
            )
        )
        assert "'recommend' needs the role district_officer" in message
        await case.recommend()
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.assign_expert, ExpertAssignment(expert, "张教授", "天津大学")
            )
        )
        assert "needs the role bureau_officer" in message
        await case.assign("张教授", "天津大学")
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.submit_review,
                ExpertReview(Actor("冒名者", Role.EXPERT), "张教授", 90, "好"),
            )
        )
        assert "冒名者 is not an expert assigned" in message
        assert (await case.status()).reviews[0].score is None

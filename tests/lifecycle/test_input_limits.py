"""Rule (issue 18): what an operator sends a case is refused by the update's validator when a
name is too long or holds a control character, or an expert's address is not one plain
mailbox; the case stays as it was and nothing reaches its history."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from models.case import ExpertAssignment, Objection, Recommendation
from tests.lifecycle.harness import BUREAU, DISTRICT_OFFICER, harness, refused
from workflows.institute import InstituteWorkflow


async def test_an_expert_address_of_two_mailboxes_is_refused(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        before = await case.status()

        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.assign_expert,
                ExpertAssignment(BUREAU, "张教授", "天津大学", "zhang@tju.edu.cn, x@evil.example"),
            )
        )

        assert message == (
            "the expert's e-mail address 'zhang@tju.edu.cn, x@evil.example' is not one plain "
            "address like a@b.cn (one address only: no name, list, spaces or line breaks)"
        )
        assert await case.status() == before


async def test_a_megabyte_name_and_an_escape_sequence_are_refused(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        huge = await refused(
            case.handle.execute_update(
                InstituteWorkflow.recommend, Recommendation(DISTRICT_OFFICER, "A" * 1_000_000)
            )
        )
        await case.recommend()
        escape = await refused(
            case.handle.execute_update(
                InstituteWorkflow.assign_expert,
                ExpertAssignment(BUREAU, "张教授\x1b]0;pwned\x07", "天津大学", None),
            )
        )
        too_long = await refused(
            case.handle.execute_update(
                InstituteWorkflow.assign_expert,
                ExpertAssignment(BUREAU, "张" * 201, "天津大学", None),
            )
        )

        assert "the recommendation opinion is too long (1000000 characters" in huge
        assert escape.startswith("the expert's name holds a control character (U+001B)")
        assert "the expert's name is too long (201 characters; at most 200)" in too_long
        assert (await case.status()).reviews == []


async def test_an_objector_name_with_a_line_break_is_refused(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.through_review()
        message = await refused(
            case.handle.execute_update(
                InstituteWorkflow.lodge_objection,
                Objection(BUREAU, "王某\nBcc: victim@evil.example", "材料不实"),
            )
        )
        assert "the objector's name holds a control character (a line break)" in message
        assert (await case.status()).open_objections == 0

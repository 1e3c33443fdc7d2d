"""Wording a person reads: a designated institute waiting for its tracking evaluation is in the
registry (名录), not closed; an objection (异议) names its objector; a designation after dismissed
objections does not say there were none; every run of a case names its organisation."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import EvaluationResult, Stage
from tests.lifecycle.changes_kit import mail_harness, outbox
from tests.lifecycle.harness import refused


async def _details(case) -> str:  # type: ignore[no-untyped-def]
    """The Web UI's current details of the case's current run (the SDK's metadata query)."""
    metadata = await case.handle.query("__temporal_workflow_metadata")
    return str(metadata.current_details)


async def test_a_designated_case_waiting_for_its_evaluation_is_not_called_closed(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """定期…进行跟踪评估: between evaluations the institute stays designated; refusals and the Web
    UI's details say when its evaluation opens, never that the case is closed."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        message = await refused(case.evaluate(EvaluationResult.GOOD))
        assert "closed" not in message and "tracking evaluation opens on" in message
        details = await _details(case)
        assert "closed" not in details and "tracking evaluation opens on" in details


async def test_the_objector_is_in_the_history_and_the_designation_mail_says_dismissed(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """对公示无异议的…确定: a notice that closes after its objection was dismissed designates,
    and its mail says the objection was dismissed, not "without objection"; the objector's name
    given with --by is in the history."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.through_review()
        await case.object("市民甲", "场地不符")
        history = await case.handle.query("history")
        assert history[-1]["reason"] == "objection by 市民甲: 场地不符"
        await case.resolve(upheld=False, reason="经核实，异议不成立")
        await case.wait_for_stage(Stage.DESIGNATED, within=timedelta(days=30))
        closing = (await case.handle.query("history"))[-1]
        assert closing["event"] == "close_notice" and "without objection" not in closing["reason"]
        mails = [m for m in outbox(h, case) if m.event == "close_notice"]
        assert mails and all("无异议" not in m.body for m in mails)
        assert all("without objection" not in m.body for m in mails)
        assert all("异议经调查不成立" in m.body for m in mails)


async def test_every_run_of_a_case_names_its_organisation_in_the_web_ui(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """确定为市级工业设计研究院, then every 3 years a new run (continue-as-new): the current run's
    details still name the organisation, district and case (the SDK cannot give a continued run
    a static summary: those stay the first run's)."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await h.start("天津海河装备工业设计有限公司")
        await case.designated()
        current = h.client.get_workflow_handle(case.handle.id)
        description = await current.describe()
        assert description.run_id != case.handle.first_execution_run_id, "a new run"
        details = await _details(case)
        for shown in ("天津海河装备工业设计有限公司", "Binhai", case.case_id, "designated"):
            assert shown in details

"""Public notice (公示): anyone may object while it runs; the bureau investigates."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import Stage
from models.time import cst_date
from tests.lifecycle.harness import harness, pages_published, record_history, refused


async def test_an_upheld_objection_means_no_designation(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.through_review()
        status = await case.object("市民甲", "研发场地与申报不符")
        assert (status.stage, status.open_objections) == (Stage.PUBLIC_NOTICE, 1)
        status = await case.resolve(upheld=True, reason="经核实，异议成立")
        assert status.stage is Stage.REJECTED
        assert (await case.handle.result()).designated_at is None
        await record_history(case, "objection_upheld")


async def test_a_dismissed_objection_lets_the_notice_run_to_designation(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.through_review()
        await case.object()
        status = await case.resolve(upheld=False, reason="经核实，异议不成立")
        assert status.stage is Stage.PUBLIC_NOTICE
        await case.wait_for_stage(Stage.DESIGNATED, within=timedelta(days=30))


async def test_an_objection_still_open_when_the_notice_ends_is_investigated(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.through_review()
        await case.object()
        await case.wait_for_stage(Stage.INVESTIGATING, within=timedelta(days=30))
        status = await case.resolve(upheld=False, reason="调查后驳回")
        assert status.stage is Stage.DESIGNATED
        assert status.designated_at is not None
        await record_history(case, "objection_dismissed")


async def test_an_objection_after_the_notice_closed_is_refused(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        before = await case.status()
        message = await refused(case.object())
        assert "closed" in message and "no longer accepted" in message
        after = await case.status()
        assert after.history_length == before.history_length
        assert after.stage is Stage.DESIGNATED


async def test_an_investigation_left_open_is_reported_overdue_once(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path, investigation_period_days=10) as h:
        case = await h.start()
        await case.through_review()
        await case.object()
        await case.wait_for_stage(Stage.INVESTIGATING, within=timedelta(days=30))
        await h.env.sleep(timedelta(days=40))
        events = await case.history_events()
        assert events.count("overdue") == 1
        assert await case.stage() is Stage.INVESTIGATING


async def test_a_case_whose_objection_is_upheld_leaves_its_notice_page(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """The case republishes its batch's notice itself (not only the daily sweep)."""
    async with harness(time_env, tmp_path) as h:
        kept = await h.start("天津留下工业设计有限公司")
        rejected = await h.start("天津异议成立工业设计有限公司")
        await kept.through_review()
        status = await rejected.through_review()
        assert status.notice is not None
        await pages_published(h.settings)
        page = tmp_path / "public" / "notice" / f"{cst_date(status.notice.start)}.html"
        assert "天津异议成立工业设计有限公司" in page.read_text(encoding="utf-8")

        await rejected.object("市民甲", "研发场地与申报不符")
        await rejected.resolve(upheld=True, reason="经核实，异议成立")
        await pages_published(h.settings)

        text = page.read_text(encoding="utf-8")
        assert "天津留下工业设计有限公司" in text and "天津异议成立工业设计有限公司" not in text
        summaries = [
            e.user_metadata.summary.data.decode()
            async for e in rejected.handle.fetch_history_events()
            if e.HasField("user_metadata") and e.user_metadata.HasField("summary")
        ]
        assert summaries.count('"publish notice"') == 2  # the approval's, then the rejection's

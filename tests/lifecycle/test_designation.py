"""Survey → plan → recommendation → review → public notice → designation (DOMAIN.md 1-6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.calendar import load_calendar
from models.case import Outcome, Stage
from models.time import CST, add_years, cst_date, end_of_day
from tests.lifecycle.harness import harness, record_history
from workflows.institute import InstituteWorkflow


async def test_a_case_without_objection_is_designated_when_the_notice_period_ends(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.through_review()
        assert status.stage is Stage.PUBLIC_NOTICE
        notice = status.notice
        assert notice is not None
        last_day, _ = load_calendar().notice_end(cst_date(notice.start), 5)
        assert notice.end == end_of_day(last_day)
        assert status.deadline is not None and status.deadline.kind == "notice_end"

        await case.wait_for_stage(Stage.DESIGNATED, within=timedelta(days=30))

        status = await case.status()
        assert status.designated_at is not None and status.designated_at >= notice.end
        assert status.next_evaluation_due == add_years(status.designated_at, 3)
        assert await case.history_events() == [
            "created",
            "submit_plan",
            "recommend",
            "assign_expert",
            "assign_expert",
            "assign_expert",
            "submit_review",
            "submit_review",
            "submit_review",
            "record_inspection",
            "approve",
            "close_notice",
        ]
        await record_history(case, "designation")


async def test_the_history_says_who_did_what_when_and_why(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        entries = await case.handle.query(InstituteWorkflow.history)
        recommend = entries[-1]
        assert (recommend.event, recommend.actor, recommend.role.value) == (
            "recommend",
            "王科长",
            "district_officer",
        )
        assert recommend.reason == "推荐：基础扎实"
        assert (recommend.from_stage, recommend.to_stage) == (
            Stage.PLAN_SUBMITTED,
            Stage.RECOMMENDED,
        )
        assert recommend.at == await h.now() or recommend.at <= await h.now()


async def test_the_notice_period_counts_only_working_days(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        # A Friday morning in Beijing: five working days end on the next Thursday.
        now = (await h.now()).astimezone(CST)
        friday = now + timedelta(days=(4 - now.weekday()) % 7 + 7)
        await h.advance_to(friday.replace(hour=9, minute=0, second=0, microsecond=0))
        case = await h.start()
        status = await case.through_review()
        assert status.notice is not None
        start_day = cst_date(status.notice.start)
        assert start_day.weekday() == 4
        expected_last, _ = load_calendar().notice_end(start_day, 5)
        assert cst_date(status.notice.end - timedelta(seconds=1)) == expected_last
        assert (expected_last - start_day).days >= 6  # the weekend is not counted


async def test_a_year_without_holiday_data_falls_back_to_weekdays_with_a_warning(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    calendar = load_calendar()
    async with harness(time_env, tmp_path) as h:
        year = (await h.now()).astimezone(CST).year + 1
        assert not calendar.covers(year), "the calendar data reaches further than this test assumes"
        await h.advance_to(datetime(year, 3, 2, 9, tzinfo=CST))
        case = await h.start()
        status = await case.through_review()
        assert any(str(year) in warning for warning in status.warnings)
        assert status.stage is Stage.PUBLIC_NOTICE


async def test_reviewing_may_start_at_once_after_recommendation(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """成熟一家、创建一家: the bureau does not wait for the round to close."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        status = await case.assign()
        assert status.stage is Stage.UNDER_REVIEW


async def test_rejection_ends_the_case(time_env: WorkflowEnvironment, tmp_path) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        await case.assign()
        status = await case.decide(Outcome.REJECT, "不符合条件")
        assert status.stage is Stage.REJECTED
        result = await case.handle.result()
        assert result.stage is Stage.REJECTED
        await record_history(case, "rejection")


async def test_a_deferred_applicant_reapplies_as_a_new_case_linked_to_the_old(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        first = await h.start("天津某新材料有限公司", direction="new_materials")
        await first.submit_plan()
        await first.recommend()
        await first.assign()
        status = await first.decide(Outcome.DEFER, "尚不成熟，下一轮再申报")
        assert status.stage is Stage.DEFERRED
        assert (await first.handle.result()).stage is Stage.DEFERRED

        second = await h.start(
            "天津某新材料有限公司", direction="new_materials", previous_case_id=first.case_id
        )
        status = await second.status()
        assert status.previous_case_id == first.case_id
        assert status.stage is Stage.SURVEYED


async def test_withdrawal_closes_a_case_before_designation(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        status = await case.withdraw()
        assert status.stage is Stage.WITHDRAWN
        assert (await case.handle.result()).stage is Stage.WITHDRAWN
        await record_history(case, "withdrawal")


async def test_a_case_with_an_unknown_district_never_starts(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start(district="atlantis")
        try:
            await case.handle.result()
        except WorkflowFailureError as err:
            assert "unknown district 'atlantis'" in str(err.cause)
        else:
            raise AssertionError("a case in an unknown district ran")

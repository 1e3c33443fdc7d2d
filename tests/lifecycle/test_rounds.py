"""The yearly round: recommendations by 30 April (Beijing time), reminders, missed rounds, lapse."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import Stage
from models.time import CST, round_deadline, round_year_for
from tests.lifecycle.harness import Harness, harness, record_history
from workflows.institute import InstituteWorkflow


async def _just_after_a_round(h: Harness) -> int:
    """Move the clock to 2 May, a year before the next deadline; return that next round."""
    year = round_year_for(await h.now())
    await h.advance_to(round_deadline(year) + timedelta(days=1))
    return year + 1


async def test_reminders_come_30_7_and_1_days_before_and_a_late_case_joins_the_next_round(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        year = await _just_after_a_round(h)
        case = await h.start()
        await case.submit_plan()
        deadline = round_deadline(year)
        await h.advance_to(deadline - timedelta(hours=2))
        history = await case.handle.query(InstituteWorkflow.history)
        reminders = [e for e in history if e.event == "round_reminder"]
        lead_days = [round((deadline - e.at) / timedelta(hours=1)) / 24 for e in reminders]
        assert lead_days == [30, 7, 1]
        await h.advance_to(deadline + timedelta(hours=1))
        status = await case.status()
        assert status.stage is Stage.PLAN_SUBMITTED
        assert (status.missed_rounds, status.round_year) == (1, year + 1)
        recommended = await case.recommend()
        assert recommended.round_year == year + 1
        await record_history(case, "missed_round")


async def test_a_recommendation_on_30_april_in_beijing_joins_that_years_round(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        year = await _just_after_a_round(h)
        case = await h.start()
        await case.submit_plan()
        # 23:30 on 30 April in Beijing is 15:30 UTC: still in time, although UTC's date agrees.
        late_evening = round_deadline(year) - timedelta(minutes=30)
        assert late_evening.astimezone(CST).day == 30
        await h.advance_to(late_evening)
        status = await case.recommend()
        assert status.round_year == year
        assert status.stage is Stage.RECOMMENDED


async def test_a_case_lapses_after_the_configured_number_of_missed_rounds(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path, max_missed_rounds=2) as h:
        year = await _just_after_a_round(h)
        case = await h.start()
        await h.advance_to(round_deadline(year) + timedelta(days=1))
        assert (await case.status()).stage is Stage.SURVEYED
        await h.advance_to(round_deadline(year + 1) + timedelta(days=1))
        result = await case.handle.result()
        assert result.stage is Stage.LAPSED
        assert result.missed_rounds == 2
        await record_history(case, "lapse")

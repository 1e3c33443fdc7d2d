"""Tracking evaluation every 3 years: good standing, rectification, delisting, national level."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import EvaluationResult, Level, Stage
from models.time import add_years, cst_date
from tests.lifecycle.harness import Case, Harness, harness, record_history, refused


async def _open_when_due(h: Harness, case: Case) -> None:
    status = await case.status()
    assert status.next_evaluation_due is not None
    await h.advance_to(status.next_evaluation_due - timedelta(days=10))
    await case.open_evaluation()


async def test_good_standing_over_three_cycles_continues_as_new_each_cycle(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        first_run = (await case.handle.describe()).run_id
        runs = {first_run}
        for _ in range(3):
            await _open_when_due(h, case)
            status = await case.evaluate(EvaluationResult.GOOD)
            assert status.stage is Stage.DESIGNATED
            assert cst_date(status.next_evaluation_due) == cst_date(add_years(await h.now(), 3))  # type: ignore[arg-type]
            latest = h.client.get_workflow_handle(case.handle.id)
            runs.add((await latest.describe()).run_id)
        assert len(runs) >= 4, "every evaluation cycle starts a new run"
        assert (await case.history_events()).count("rate_good") == 3


async def test_an_evaluation_cannot_be_opened_long_before_it_is_due(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.designated()
        message = await refused(case.open_evaluation())
        assert "stage 'designated'" in message
        assert f"due on {cst_date(status.next_evaluation_due)}" in message  # type: ignore[arg-type]


async def test_an_evaluation_not_opened_in_time_is_reported_due_to_the_bureau(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.designated()
        assert status.next_evaluation_due is not None
        await h.advance_to(status.next_evaluation_due + timedelta(days=2))
        assert "evaluation_due" in await case.history_events()
        assert (await case.open_evaluation()).stage is Stage.UNDER_EVALUATION


async def test_a_rectification_that_succeeds_returns_to_good_standing(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        await _open_when_due(h, case)
        deadline = cst_date(await h.now()) + timedelta(days=90)
        status = await case.evaluate(EvaluationResult.RECTIFY, deadline=deadline.isoformat())
        assert status.stage is Stage.RECTIFYING
        assert status.rectification_due is not None
        assert cst_date(status.rectification_due - timedelta(seconds=1)) == deadline
        await h.env.sleep(timedelta(days=30))
        assert (await case.rectified()).stage is Stage.UNDER_EVALUATION
        assert (await case.evaluate(EvaluationResult.GOOD)).stage is Stage.DESIGNATED
        await record_history(case, "rectification_passed")


async def test_a_rectification_that_fails_ends_in_delisting(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        await _open_when_due(h, case)
        await case.evaluate(EvaluationResult.RECTIFY)
        # No report by the deadline: the bureau and the district are told, once.
        await h.env.sleep(timedelta(days=200))
        assert (await case.history_events()).count("overdue") == 1
        await case.rectified()
        status = await case.evaluate(EvaluationResult.DELIST)
        assert status.stage is Stage.DELISTED
        assert (await case.handle.result()).stage is Stage.DELISTED


async def test_an_institute_that_no_longer_meets_the_conditions_is_delisted(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        await _open_when_due(h, case)
        status = await case.evaluate(EvaluationResult.DELIST)
        assert status.stage is Stage.DELISTED
        await record_history(case, "delisting")


async def test_a_national_recommendation_needs_two_years_of_stable_operation(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    # Yearly evaluations make the first one fall before two years of operation.
    async with harness(time_env, tmp_path, evaluation_interval_years=1) as h:
        case = await h.start()
        status = await case.designated()
        designated_on = cst_date(status.designated_at)  # type: ignore[arg-type]
        await _open_when_due(h, case)
        message = await refused(case.evaluate(EvaluationResult.EXCELLENT))
        assert "2 years of stable operation" in message
        assert designated_on.replace(year=designated_on.year + 2).isoformat() in message
        assert await case.stage() is Stage.UNDER_EVALUATION
        await case.evaluate(EvaluationResult.GOOD)

        await h.advance_to(add_years(status.designated_at, 2) + timedelta(days=1))  # type: ignore[arg-type]
        await case.open_evaluation()
        status = await case.evaluate(EvaluationResult.EXCELLENT)
        assert status.stage is Stage.NATIONAL_REVIEW
        status = await case.national(designated=True)
        assert (status.stage, status.level) == (Stage.DESIGNATED, Level.NATIONAL)
        await record_history(case, "national")


async def test_an_institute_not_designated_nationally_stays_municipal(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        await _open_when_due(h, case)
        await case.evaluate(EvaluationResult.EXCELLENT)
        status = await case.national(designated=False)
        assert (status.stage, status.level) == (Stage.DESIGNATED, Level.MUNICIPAL)


async def test_thirty_years_of_evaluations_keep_every_run_small(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        for _ in range(10):
            await _open_when_due(h, case)
            await case.evaluate(EvaluationResult.GOOD)
        status = await case.status()
        assert status.stage is Stage.DESIGNATED
        # The designation path (a panel of three), then each cycle: the reminder before the evaluation opens, the
        # opening and the result.
        assert status.history_length == 12 + 3 * 10
        latest = await h.client.get_workflow_handle(case.handle.id).fetch_history()
        assert len(latest.events) < 60, "a run carries state, not the years behind it"

"""Consequences do not wait for the 3-year cycle: evaluations out of cycle and the ministry's call.

The plan evaluates every 3 years (定期…进行跟踪评估，每3年进行1次), yet "对于不再具备建设工业设计研究院条件
的，将从市级工业设计研究院名录中删除" and national recommendations follow the ministry's schedule
("根据工业和信息化部统一部署"), not the case's.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import EvaluationOpening, EvaluationResult, Level, NationalNomination, Stage
from models.national import CRITERIA_ZH
from models.time import add_years, cst_date
from tests.lifecycle.harness import BUREAU, Case, accepted_updates, harness, refused
from workflows.institute import InstituteWorkflow

REASON = "群众举报：研发团队已解散，疑似不再具备建设条件"


async def open_out_of_cycle(case: Case, reason: str = REASON) -> Stage:
    status = await case.handle.execute_update(
        InstituteWorkflow.open_evaluation, EvaluationOpening(BUREAU, reason=reason)
    )
    return status.stage


async def nominate(case: Case) -> Stage:
    nomination = NationalNomination(
        BUREAU, "工信部2027年国家工业设计研究院创建通知", "航空航天设计国内领先", "服务企业120家"
    )
    status = await case._settled(
        case.handle.execute_update(InstituteWorkflow.nominate_national, nomination)
    )
    return status.stage


async def test_an_institute_is_evaluated_and_delisted_out_of_cycle_with_a_reason(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """不再具备建设工业设计研究院条件的，将从…名录中删除: a year after designation, long before the
    3-year evaluation, the bureau evaluates with a reason and delists; without one it is told
    the reason is needed, and nothing is recorded."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.designated()
        await h.env.sleep(timedelta(days=365))
        before = await accepted_updates(case)
        message = await refused(case.open_evaluation())
        assert f"due on {cst_date(status.next_evaluation_due)}" in message  # type: ignore[arg-type]
        assert "--reason" in message
        assert await accepted_updates(case) == before
        assert "open_evaluation_out_of_cycle" in (await case.status()).allowed_actions

        assert await open_out_of_cycle(case) is Stage.UNDER_EVALUATION
        entries = await case.handle.query(InstituteWorkflow.history)
        assert entries[-1].event == "open_evaluation_out_of_cycle"
        assert REASON in entries[-1].reason and "out of cycle" in entries[-1].reason
        assert (await case.evaluate(EvaluationResult.DELIST)).stage is Stage.DELISTED


async def test_an_out_of_cycle_evaluation_in_good_standing_restarts_the_3_year_count(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """每3年进行1次 counts from the last evaluation: one out of cycle, with the same outcomes,
    moves the next regular evaluation to 3 years after it."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.designated()
        await h.env.sleep(timedelta(days=500))
        await open_out_of_cycle(case)
        status = await case.evaluate(EvaluationResult.GOOD)
        assert status.stage is Stage.DESIGNATED
        assert cst_date(status.next_evaluation_due) == cst_date(add_years(await h.now(), 3))  # type: ignore[arg-type]


async def test_the_ministry_s_call_is_answered_after_two_stable_years_with_the_criteria(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """根据工业和信息化部统一部署: a nomination needs 稳定运行2年以上 (refused before, naming the
    earliest day), not an evaluation; the criteria 行业优势突出、服务良好、稳定运行2年以上 are recorded
    with it, and the ministry's outcome follows as before."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.designated()
        designated_at = status.designated_at
        assert designated_at is not None
        await h.env.sleep(timedelta(days=400))
        message = await refused(nominate(case))
        assert "2 years of stable operation" in message
        assert cst_date(add_years(designated_at, 2)).isoformat() in message
        assert await case.stage() is Stage.DESIGNATED

        await h.advance_to(add_years(designated_at, 2) + timedelta(days=1))
        assert await nominate(case) is Stage.NATIONAL_REVIEW
        status = await case.status()
        assert status.nomination is not None
        assert status.nomination.industry_advantage == "航空航天设计国内领先"
        assert status.nomination.stable_since == designated_at
        entry = (await case.handle.query(InstituteWorkflow.history))[-1]
        assert entry.event == "nominate_national" and "创建通知" in entry.reason
        criteria = status.nomination.criteria()
        assert set(criteria) == set(CRITERIA_ZH)
        assert criteria["服务良好"] == "服务企业120家"

        status = await case.national(designated=True)
        assert (status.stage, status.level) == (Stage.DESIGNATED, Level.NATIONAL)
        # A national institute is not nominated again.
        assert "already national" in await refused(nominate(case))


async def test_a_rectification_restarts_the_count_of_stable_operation(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """稳定运行2年以上: a rectification shows the operation was not stable; the two years count
    again from the day it was completed, for a nomination and an excellent evaluation alike."""
    async with harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.designated()
        assert status.designated_at is not None
        await h.advance_to(add_years(status.designated_at, 2) + timedelta(days=30))
        await open_out_of_cycle(case, "服务投诉较多，开展专项评估")
        await case.evaluate(EvaluationResult.RECTIFY)
        await h.env.sleep(timedelta(days=60))
        await case.rectified()
        rectified_on = cst_date(await h.now())
        message = await refused(case.evaluate(EvaluationResult.EXCELLENT))
        assert f"since the rectification completed on {rectified_on}" in message
        await case.evaluate(EvaluationResult.GOOD)

        message = await refused(nominate(case))
        restart = rectified_on.replace(year=rectified_on.year + 2)
        assert f"the earliest is {restart}" in message
        await h.env.sleep(timedelta(days=2 * 366))
        assert await nominate(case) is Stage.NATIONAL_REVIEW
        status = await case.status()
        assert status.nomination is not None
        assert cst_date(status.nomination.stable_since) == rectified_on

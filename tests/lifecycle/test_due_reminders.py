"""Reminders before due dates and escalation: experts of a review still missing, the bureau once
it is overdue, the institute before its rectification deadline (督促整改) and before its
tracking evaluation opens (跟踪评估). The outbox row is what was told."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import EvaluationResult
from models.time import add_years, cst_date
from tests.lifecycle.changes_kit import BUREAU_EMAIL, mail_harness, outbox, trail_events

EXPERT_EMAIL = "zhang@tju.edu.cn"


async def test_an_expert_is_reminded_and_the_bureau_told_of_a_missing_review(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """市工业和信息化局组织专家通过评审: an expert whose review is still missing after
    IDRI_REVIEW_REMINDER_DAYS is reminded once, and the bureau told once after
    IDRI_REVIEW_OVERDUE_DAYS; an expert who reviewed in time is left alone."""
    async with mail_harness(
        time_env, tmp_path, review_reminder_days=10, review_overdue_days=20
    ) as h:
        case = await h.start()
        await case.submit_plan()
        await case.recommend()
        await case.assign("张教授", "天津大学")
        await case.assign("陈工", "河北工业大学")
        await h.env.sleep(timedelta(days=5))
        await case.review("陈工", 90)
        await h.env.sleep(timedelta(days=6))
        reminders = [m for m in outbox(h, case) if m.event == "review_reminder"]
        assert [(m.role, m.address) for m in reminders] == [("expert", EXPERT_EMAIL)]
        assert "张教授" in reminders[0].body and "尚未提交评审意见" in reminders[0].body
        assert not [m for m in outbox(h, case) if m.event == "review_overdue"]

        await h.env.sleep(timedelta(days=30))
        overdue = [m for m in outbox(h, case) if m.event == "review_overdue"]
        assert [(m.role, m.address) for m in overdue] == [("bureau", BUREAU_EMAIL)]
        assert "张教授" in overdue[0].body
        events = trail_events(h, case)
        assert (events.count("review_reminder"), events.count("review_overdue")) == (1, 1)


async def test_the_institute_is_reminded_before_its_rectification_deadline(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """会同当地工业和信息化主管部门督促整改: 30 and 7 days before the deadline
    (IDRI_RECTIFICATION_REMINDER_DAYS) the institute and its district are reminded, once each."""
    async with mail_harness(time_env, tmp_path, evaluation_open_window_days=2000) as h:
        case = await h.start()
        await case.designated()
        await case.open_evaluation()
        deadline = cst_date(await h.now()) + timedelta(days=100)
        await case.evaluate(EvaluationResult.RECTIFY, deadline=str(deadline))
        await h.env.sleep(timedelta(days=60))
        assert not [m for m in outbox(h, case) if m.event == "rectification_reminder"]
        await h.env.sleep(timedelta(days=35))
        mails = [m for m in outbox(h, case) if m.event == "rectification_reminder"]
        assert sorted(m.role for m in mails) == ["applicant", "applicant", "district", "district"]
        assert all(f"{deadline.month}月{deadline.day}日" in m.body for m in mails)
        assert "还有30天" in mails[0].body


async def test_the_institute_is_reminded_before_its_evaluation_opens_every_cycle(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """每3年进行1次 (every 3 years): IDRI_EVALUATION_REMINDER_DAYS before the evaluation window
    opens, the institute (and its district) are told to prepare, in each cycle, across years."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await h.start()
        status = await case.designated()
        assert status.next_evaluation_due is not None
        opens = status.next_evaluation_due - timedelta(days=90)
        await h.advance_to(opens - timedelta(days=31))
        assert "evaluation_reminder" not in trail_events(h, case)
        await h.env.sleep(timedelta(days=2))
        mails = [m for m in outbox(h, case) if m.event == "evaluation_reminder"]
        assert sorted(m.role for m in mails) == ["applicant", "district"]
        assert "跟踪评估即将开始" in mails[0].body

        await h.advance_to(opens + timedelta(days=1))
        await case.open_evaluation()
        status = await case.evaluate(EvaluationResult.GOOD)
        await h.advance_to(add_years(await h.now(), 3))
        assert trail_events(h, case).count("evaluation_reminder") == 2

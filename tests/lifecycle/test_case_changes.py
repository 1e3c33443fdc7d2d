"""A case lives for years (跟踪评估，每3年进行1次): its contact and name change, and the bureau
moves a deadline with a reason; the history keeps the old values and the timers follow."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from models.case import EvaluationResult, Outcome, Stage
from models.time import cst_date
from tests.lifecycle.changes_kit import (
    APPLICANT,
    change,
    extend,
    mail_harness,
    outbox,
    registry_of,
    trail_events,
)
from tests.lifecycle.harness import BUREAU, refused


async def test_a_new_contact_is_recorded_with_the_old_one_and_gets_the_next_mail(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """创办主体企业 (the founding enterprise) changes its contact: the history names the old and
    the new values, and the next mail to the applicant goes to the new address."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await h.start()
        await case.submit_plan()
        await change(case, APPLICANT, contact_name="钱主任", email="qian@example.cn", phone="")
        [entry] = (await case.handle.query("history"))[-1:]
        assert entry["event"] == "change_contact" and entry["actor"] == "赵经理"
        for old, new in (("赵经理", "钱主任"), ("contact@example.cn", "qian@example.cn")):
            assert repr(old) in entry["reason"] and repr(new) in entry["reason"]
        assert "'13800000000' → '(none)'" in entry["reason"]

        await case.recommend()
        [to_applicant] = [
            m for m in outbox(h, case) if m.event == "recommend" and m.role == "applicant"
        ]
        assert (to_applicant.address, "钱主任") == (
            "qian@example.cn",
            to_applicant.body.split("：")[0].strip(),
        )
        message = await refused(change(case, email="qian@example.cn"))
        assert "nothing to change" in message
        assert "e-mail" in await refused(change(case, email="two@a.cn, three@b.cn"))


async def test_a_renamed_company_keeps_its_case_and_the_registry_follows(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """名录 (the registry) shows a designated institute under its new name after its company is
    renamed; the case id stays, and the former name is kept."""
    async with mail_harness(time_env, tmp_path) as h:
        case = await h.start("天津旧名装备有限公司")
        await case.designated()
        status = await change(case, organisation="天津新名装备集团有限公司", note="工商变更")
        assert status.organisation == "天津新名装备集团有限公司"
        assert status.former_organisations == ["天津旧名装备有限公司"]
        assert status.case_id == case.case_id and status.stage is Stage.DESIGNATED
        with registry_of(h) as engine:
            institute = registry_read.institute(engine, case.case_id)
            assert institute is not None and institute.organisation == "天津新名装备集团有限公司"
        description = await case.handle.describe()
        assert await description.memo_value("organisation") == "天津新名装备集团有限公司"
        assert "permission denied" in await refused(change(case, BUREAU, organisation="x公司"))


async def test_an_extended_rectification_deadline_moves_the_overdue_notice(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """督促整改 (rectification under supervision): the bureau extends the deadline with a reason;
    nothing is overdue at the old deadline, the overdue notice comes after the new one."""
    async with mail_harness(time_env, tmp_path, evaluation_open_window_days=2000) as h:
        case = await h.start()
        await case.designated()
        await case.open_evaluation()
        today = cst_date(await h.now())
        await case.evaluate(EvaluationResult.RECTIFY, deadline=str(today + timedelta(days=60)))
        message = await refused(extend(case, "rectification", str(today + timedelta(days=30))))
        assert "must be later" in message
        status = await extend(case, "rectification", str(today + timedelta(days=120)))
        assert status.rectification_due is not None
        assert cst_date(status.rectification_due - timedelta(seconds=1)) == today + timedelta(
            days=120
        )
        [entry] = (await case.handle.query("history"))[-1:]
        assert entry["event"] == "extend_deadline" and "疫情影响" in entry["reason"]
        assert str(today + timedelta(days=60)) in entry["reason"]

        await h.env.sleep(timedelta(days=90))
        assert "overdue" not in trail_events(h, case)
        await h.env.sleep(timedelta(days=40))
        assert trail_events(h, case).count("overdue") == 1
        assert await case.stage() is Stage.RECTIFYING


async def test_an_extended_review_and_round_deadline(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """每年4月30日前 (by 30 April each year): the bureau may extend one case's round, and a
    review; a recommendation within the extension stays in its round, and the review is not
    overdue before its new deadline."""
    async with mail_harness(time_env, tmp_path, review_period_days=30) as h:
        case = await h.start()
        status = await case.submit_plan()
        round_year = status.round_year
        assert round_year is not None
        assert "round" in await refused(extend(case, "round", f"{round_year + 1}-05-15"))
        await extend(case, "round", f"{round_year}-05-15")
        assert "review deadline" in await refused(extend(case, "review", f"{round_year}-06-01"))
        await h.advance_to((await case.status()).deadline.at - timedelta(days=40))
        while (await case.status()).deadline.kind == "round_reminder":
            await h.env.sleep(timedelta(days=1))
        assert cst_date(await h.now()).month == 5, "past 30 April, within the extension"
        status = await case.recommend()
        assert status.round_year == round_year and "miss_round" not in trail_events(h, case)

        await case.assign()
        until = cst_date(await h.now()) + timedelta(days=90)
        await extend(case, "review", str(until))
        await h.env.sleep(timedelta(days=60))
        assert "overdue" not in trail_events(h, case)
        await h.env.sleep(timedelta(days=35))
        assert "overdue" in trail_events(h, case)
        await case.review()
        for expert, organisation in (("陈工", "河北工业大学"), ("刘研究员", "天津理工大学")):
            await case.assign(expert, organisation)  # the minimum panel of three
            await case.review(expert)
        await case.inspect()
        assert (await case.decide(Outcome.APPROVE)).stage is Stage.PUBLIC_NOTICE

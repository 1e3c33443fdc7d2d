"""择优: the bureau approves a round's best candidates together, with one public notice.

The plan: "在市工业和信息化局等官方网站向社会公示，对公示无异议的，本着“成熟一家、创建一家”，择优确定为市级
工业设计研究院": one notice, one period, one page for the batch.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from models.case import CaseStatus, Decision, Outcome, Stage
from models.rounds import NoticeBatch
from models.time import cst_date
from tests.lifecycle.harness import (
    BUREAU,
    Case,
    Harness,
    harness,
    pages_published,
    refused,
)
from workflows.institute import InstituteWorkflow


async def ready(h: Harness, organisation: str) -> Case:
    """A case whose panel and inspection are complete: ready to be approved."""
    case = await h.start(organisation)
    await case.submit_plan()
    await case.recommend()
    for expert, org in (("张教授", "天津大学"), ("陈工", "河北工业大学"), ("刘研究员", "南开大学")):
        await case.assign(expert, org)
        await case.review(expert, 85)
    await case.inspect()
    return case


async def approve(case: Case, batch: NoticeBatch) -> CaseStatus:
    return await case.handle.execute_update(
        InstituteWorkflow.decide, Decision(BUREAU, Outcome.APPROVE, "择优", batch=batch)
    )


async def test_a_batch_shares_one_public_notice_one_period_and_one_page(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """择优确定…向社会公示: the first case's calendar activity computes the batch's period; the
    others are approved with it a while later, and one page lists all three."""
    async with harness(time_env, tmp_path) as h:
        cases = [await ready(h, f"天津择优样本{n}装备有限公司") for n in range(3)]
        year = (await cases[0].status()).round_year
        assert year is not None
        batch = NoticeBatch(year, [c.case_id for c in cases])
        first = await approve(cases[0], batch)
        assert first.notice is not None
        batch = dataclasses.replace(batch, start=first.notice.start, end=first.notice.end)
        await h.env.sleep(timedelta(minutes=5))
        later = [await approve(case, batch) for case in cases[1:]]
        notices = {(s.notice.start, s.notice.end) for s in [first, *later] if s.notice}
        assert notices == {(first.notice.start, first.notice.end)}
        assert all(s.stage is Stage.PUBLIC_NOTICE for s in later)

        await pages_published(h.settings)
        pages = list((h.settings.data_dir / "public" / "notice").glob("*.json"))
        assert [p.name for p in pages] == [f"{cst_date(first.notice.start)}.json"]
        page = json.loads(pages[0].read_text("utf-8"))
        assert {i["case_id"] for i in page["institutes"]} == {c.case_id for c in cases}


async def test_a_case_whose_period_differs_from_the_batch_s_is_refused_unchanged(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """择优…公示: a case joins the batch's notice only if its own calendar activity gives the
    batch's period, within an hour of the batch's start, and in the batch's round; else it is
    refused and stays as it was."""
    async with harness(time_env, tmp_path) as h:
        first, second = await ready(h, "天津甲装备有限公司"), await ready(h, "天津乙装备有限公司")
        year = (await first.status()).round_year
        assert year is not None
        batch = NoticeBatch(year, [first.case_id, second.case_id])
        notice = (await approve(first, batch)).notice
        assert notice is not None
        before = await second.status()
        wrong = dataclasses.replace(batch, start=notice.start, end=notice.end + timedelta(days=1))
        message = await refused(approve(second, wrong))
        assert "not the batch's" in message and "approve it on its own" in message
        # Checked once its own activity has answered (a validator cannot call one): the update
        # fails in its handler, before anything is recorded.
        assert await second.status() == before

        stale = dataclasses.replace(batch, start=notice.start, end=notice.end)
        await h.env.sleep(timedelta(hours=2))
        assert "within 1:00:00 of its start" in await refused(approve(second, stale))
        other_round = NoticeBatch(year + 1, [second.case_id])
        assert f"belongs to the {year} round" in await refused(approve(second, other_round))
        assert await second.stage() is Stage.UNDER_REVIEW

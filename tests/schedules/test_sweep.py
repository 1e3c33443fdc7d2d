"""The evaluation sweep: every due evaluation opened exactly once, page by page; what is overdue
reported to the bureau."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from activities.schedules import CaseItem, RegistrySource, ScheduleActivities
from idri.worker import mailboxes_of
from models.case import EvaluationResult, Stage
from models.schedules import SweepPageRequest
from models.time import round_deadline, round_year_for
from tests.lifecycle.harness import Case, Harness
from tests.schedules.helpers import (
    mails,
    recommend,
    registry,
    schedule_harness,
    settled,
    summaries,
    sweep,
)

FAST = {
    "notice_period_override": "1h",  # designation within hours: the sweep is what is tested
    "sweep_page_size": 1,  # one institute a page, one page a run: paging and continue-as-new
    "sweep_pages_per_run": 1,
}


async def designate(h: Harness, *names: str) -> list[Case]:
    cases = [await h.start(name) for name in names]
    for case in cases:
        await case.through_review()
    await h.env.sleep(timedelta(hours=2))
    for case in cases:
        await settled(case, Stage.DESIGNATED)
    return cases


async def due_of(case: Case) -> datetime:
    due = (await case.status()).next_evaluation_due
    assert due is not None
    return due


async def test_each_due_evaluation_is_opened_exactly_once_however_often_the_sweep_runs(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        a, b = await designate(h, "甲研究院", "乙研究院")
        await h.env.sleep(timedelta(days=200))
        [c] = await designate(h, "丙研究院")
        await h.advance_to(await due_of(a) - timedelta(days=60))  # inside a's 90-day window

        first = await sweep(h)
        second = await sweep(h)

        assert (first.totals.found, first.totals.opened) == (2, 2)
        assert first.totals.pages == 3, "two one-institute pages and the empty last one"
        assert sorted(first.totals.opened_sample) == sorted([a.case_id, b.case_id])
        assert (second.totals.found, second.totals.opened) == (0, 0)
        for case in (a, b):
            assert (await case.history_events()).count("open_evaluation") == 1
            assert await case.stage() is Stage.UNDER_EVALUATION
        assert await c.stage() is Stage.DESIGNATED, "c is due 200 days later: not yet"

        await h.advance_to(await due_of(c) - timedelta(days=60))
        third = await sweep(h)
        assert third.totals.opened_sample == [c.case_id]
        assert (await c.history_events()).count("open_evaluation") == 1


async def test_the_case_refuses_a_second_opening_and_the_sweep_counts_it(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    """Even a source that lists a case twice (stale visibility) opens nothing twice."""
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        [case] = await designate(h, "甲研究院")
        due = await due_of(case)
        await h.advance_to(due - timedelta(days=30))
        item = CaseItem(case.case_id, case.handle.id, "binhai", "high_end_equipment", "designated")

        class Stale(RegistrySource):
            async def due_evaluations(self, due_before, cursor, limit):  # type: ignore[no-untyped-def]
                return [item, item], None

        with registry(h) as engine:
            activities = ScheduleActivities(
                engine,
                rules=h.settings.schedule_rules(),
                mailboxes=mailboxes_of(h.settings),
                client=h.client,
                source=Stale(engine),
            )
            page = await activities.open_due_evaluations(
                SweepPageRequest(await h.now(), due, None, 10)
            )
        assert (page.found, page.opened, page.refused) == (2, 1, 1)
        assert "under_evaluation" in page.refusals[0]
        assert (await case.history_events()).count("open_evaluation") == 1


async def test_overdue_evaluations_rectifications_and_reviews_are_reported_to_the_bureau(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, rectification_period_days=20, **FAST) as h:
        slow, rectifying = await designate(h, "评估迟缓研究院", "整改研究院")
        await h.advance_to(await due_of(slow) - timedelta(days=80))
        opened = await sweep(h)
        assert opened.totals.opened == 2
        assert opened.overdue.total == 0 and opened.overdue.queued, "opened: the bureau is told"
        await rectifying.evaluate(EvaluationResult.RECTIFY)  # 20 days to rectify (settings)
        # A case recommended this round that nobody starts to review.
        waiting = await h.start("待评审公司", district="heping")
        await recommend(waiting, "heping")
        year = round_year_for(await h.now())
        await h.advance_to(
            max(round_deadline(year) + timedelta(days=91), await h.now() + timedelta(days=61))
        )

        report = await sweep(h)

        assert report.overdue.by_kind == {
            "evaluation_overdue": 1,
            "rectification_due": 1,
            "review_due": 1,
        }
        with registry(h) as engine:
            [summary] = [
                s
                for s in summaries(engine, "evaluation_sweep")
                if s.key.startswith(report.overdue.key.partition("#")[0])
            ]
            [mail] = mails(engine, summary.key)
        assert (mail.role, mail.address) == ("bureau", h.settings.bureau_email)
        for case in (slow, rectifying, waiting):
            assert case.case_id in mail.body
        assert "逾期未完成的整改" in mail.body and "Rectifications past their deadline" in mail.body


async def test_a_quiet_day_sends_the_bureau_nothing(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, **FAST) as h:
        await designate(h, "甲研究院")
        result = await sweep(h)
        assert (result.totals.found, result.overdue.total, result.overdue.queued) == (0, 0, False)
        with registry(h) as engine:
            assert summaries(engine, "evaluation_sweep") == []

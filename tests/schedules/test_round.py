"""The annual round: district summaries before 30 April, the bureau's batch at its close
(end of 30 April in Beijing, i.e. 16:00 UTC), each sent once however often the round runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from models.schedules import ScheduleRules, round_opens_at
from models.time import CST, round_deadline, round_year_for
from tests.lifecycle.harness import Harness
from tests.schedules.helpers import (
    finished,
    mails,
    recommend,
    registry,
    run_round,
    schedule_harness,
    start_round,
    summaries,
)

MAILBOXES = {"binhai": "binhai@example.cn", "heping": "heping@example.cn"}


def _days_before(deadline: datetime, moment: datetime) -> float:
    """Whole days from ``moment`` to ``deadline`` (timers fire within milliseconds)."""
    days = (deadline - moment) / timedelta(days=1)
    assert abs(days - round(days)) < 1 / 1440, f"{moment} is not a whole number of days before"
    return round(days)


async def _next_round(h: Harness) -> int:
    """Move the clock just past a round's close; return the next round's year."""
    year = round_year_for(await h.now())
    await h.advance_to(round_deadline(year) + timedelta(days=1))
    return year + 1


async def test_districts_get_a_summary_30_7_and_1_days_before_the_deadline(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path, district_emails=MAILBOXES) as h:
        year = await _next_round(h)
        a = await h.start("甲装备公司", district="binhai", direction="high_end_equipment")
        b = await h.start("乙智能公司", district="binhai", direction="ai")
        c = await h.start("丙设计公司", district="heping", direction="ai")
        await h.advance_to(round_opens_at(year, ScheduleRules()))
        run = await start_round(h)
        deadline = round_deadline(year)
        await h.advance_to(deadline - timedelta(days=10))
        await recommend(a, "binhai")
        await h.advance_to(deadline - timedelta(hours=2))
        with registry(h) as engine:
            sent = summaries(engine, "round_reminder_summary")
            assert [_days_before(deadline, s.at) for s in sent] == [30, 7, 1]
            assert [s.details["districts"] for s in sent] == ["binhai,heping"] * 3
            first, second = (mails(engine, s.key) for s in sent[:2])
        assert [(m.role, m.address) for m in first] == [
            ("district", "binhai@example.cn"),
            ("district", "heping@example.cn"),
        ]
        binhai_30, binhai_7 = first[0].body, second[0].body
        assert a.case_id in binhai_30 and b.case_id in binhai_30 and c.case_id not in binhai_30
        assert a.case_id not in binhai_7, "recommended since: no longer in the summary"
        assert b.case_id in binhai_7
        assert "还有30天" in first[0].subject and "滨海新区" in first[0].subject
        await h.advance_to(deadline + timedelta(hours=1))
        result = await finished(h, run)
        assert result.round_year == year
        assert [r.lead_days for r in result.reminders] == [30, 7, 1]
        assert (result.closed.batch, result.closed.batch_sample) == (1, [a.case_id])


async def test_the_round_closes_at_midnight_in_beijing_not_in_utc(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path) as h:
        year = await _next_round(h)
        in_time = await h.start("准时公司", district="binhai")
        late = await h.start("迟到公司", district="binhai")
        await h.advance_to(round_opens_at(year, ScheduleRules()))
        run = await start_round(h)
        deadline = round_deadline(year)
        assert deadline == datetime(year, 4, 30, 16, 0, tzinfo=UTC)
        # 23:30 on 30 April in Beijing is 15:30 UTC: in this round.
        await h.advance_to(deadline - timedelta(minutes=30))
        await recommend(in_time, "binhai")
        with registry(h) as engine:
            assert summaries(engine, "round_closed") == [], "still open at 23:30 Beijing time"
        # 00:30 on 1 May in Beijing is still 30 April in UTC, but the round has closed.
        await h.advance_to(deadline + timedelta(minutes=30))
        assert (await h.now()).astimezone(UTC).day == 30
        await recommend(late, "binhai")
        result = await finished(h, run)
        with registry(h) as engine:
            [closed] = summaries(engine, "round_closed")
            [mail] = mails(engine, closed.key)
        assert abs(closed.at - deadline) < timedelta(seconds=1)
        assert (closed.at + timedelta(seconds=1)).astimezone(CST).date() == date(year, 5, 1)
        assert result.closed.batch_sample == [in_time.case_id]
        assert in_time.case_id in mail.body and late.case_id not in mail.body
        assert (mail.role, mail.address) == ("bureau", h.settings.bureau_email)
        assert (await late.status()).round_year == year + 1


async def test_a_second_run_of_the_same_round_tells_nobody_twice(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path) as h:
        year = await _next_round(h)
        await h.start("某公司", district="heping")
        await h.advance_to(round_opens_at(year, ScheduleRules()))
        first = await start_round(h)
        second = await start_round(h)  # e.g. `idri schedules trigger` next to the scheduled run
        await h.advance_to(round_deadline(year) + timedelta(hours=1))
        one, two = await finished(h, first), await finished(h, second)
        assert sum(r.queued for r in one.reminders + two.reminders) == 3, "each reminder once"
        assert one.closed.queued + two.closed.queued == 1
        with registry(h) as engine:
            assert len(summaries(engine, "round_reminder_summary")) == 3
            assert len(summaries(engine, "round_closed")) == 1
            for summary in summaries(engine, "round_reminder_summary"):
                assert len(mails(engine, summary.key)) == 1
        # Run again after the close: the close is not sent again, no reminder is sent late.
        late = await run_round(h, year)
        assert late.skipped_leads == [30, 7, 1] and not late.closed.queued


async def test_over_two_rounds_a_missed_case_moves_on_and_an_unreviewed_one_is_listed(
    time_env: WorkflowEnvironment, tmp_path
) -> None:
    async with schedule_harness(time_env, tmp_path) as h:
        year = await _next_round(h)
        waiting = await h.start("等待评审公司", district="binhai")
        missed = await h.start("错过公司", district="heping")
        await h.advance_to(round_opens_at(year, ScheduleRules()))
        first = await start_round(h)
        await recommend(waiting, "binhai")
        await h.advance_to(round_deadline(year) + timedelta(hours=1))
        assert (await finished(h, first)).closed.batch_sample == [waiting.case_id]
        await h.advance_to(round_opens_at(year + 1, ScheduleRules()))
        second = await run_round(h)
        assert second.round_year == year + 1
        with registry(h) as engine:
            reminders = [
                s
                for s in summaries(engine, "round_reminder_summary")
                if s.details["round_year"] == str(year + 1)
            ]
            assert [s.details["districts"] for s in reminders] == ["heping"] * 3
            assert missed.case_id in mails(engine, reminders[0].key)[0].body
            [closed] = [
                s
                for s in summaries(engine, "round_closed")
                if s.details["round_year"] == str(year + 1)
            ]
            body = mails(engine, closed.key)[0].body
        assert (second.closed.batch, second.closed.unreviewed) == (0, 1)
        assert waiting.case_id in body

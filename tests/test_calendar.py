"""The public notice lasts N Chinese working days (DOMAIN.md, "Public notice").

Expected dates come from the State Council arrangements as ``chinese_calendar`` records them (see
the comment on each test), not from the code under test.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.calendar import CalendarActivities, load_calendar, record_import
from activities.db import create_registry_engine, migrate
from models.calendar import Arrangement, WorkingDayCalendar
from models.case import NoticePeriod
from models.records import NoticeRequest
from models.time import CST

CALENDAR = load_calendar()


def test_an_ordinary_week_runs_monday_to_friday() -> None:
    # March 2024 has no holiday.
    assert CALENDAR.notice_end(date(2024, 3, 4), 5) == (date(2024, 3, 8), [])


def test_a_notice_published_on_saturday_starts_counting_on_monday() -> None:
    last_day, _ = CALENDAR.notice_end(date(2024, 3, 9), 5)
    assert last_day == date(2024, 3, 15)


def test_national_day_2024_is_skipped_and_sunday_29_september_counts() -> None:
    # Fri 27 Sep, Sun 29 Sep (调休), Mon 30 Sep; 1-7 Oct off; Tue 8 and Wed 9 Oct.
    assert CALENDAR.notice_end(date(2024, 9, 27), 5) == (date(2024, 10, 9), [])


def test_saturday_12_october_2024_is_a_working_day() -> None:
    # Tue 8 to Fri 11 Oct, then Sat 12 Oct (调休) is the fifth day.
    last_day, _ = CALENDAR.notice_end(date(2024, 10, 8), 5)
    assert last_day == date(2024, 10, 12)


def test_spring_festival_2025_is_skipped_and_sunday_26_january_counts() -> None:
    # Fri 24 Jan, Sun 26 Jan (调休), Mon 27 Jan; 28 Jan-4 Feb off; Wed 5 and Thu 6 Feb.
    last_day, _ = CALENDAR.notice_end(date(2025, 1, 24), 5)
    assert last_day == date(2025, 2, 6)


def test_saturday_8_february_2025_is_a_working_day() -> None:
    # Wed 5, Thu 6, Fri 7, Sat 8 Feb (调休), Mon 10 Feb.
    last_day, _ = CALENDAR.notice_end(date(2025, 2, 5), 5)
    assert last_day == date(2025, 2, 10)


def test_a_start_on_an_adjusted_working_day_is_day_one() -> None:
    assert CALENDAR.notice_end(date(2024, 9, 29), 1) == (date(2024, 9, 29), [])


def test_a_start_during_a_holiday_counts_from_the_first_working_day_after_it() -> None:
    last_day, _ = CALENDAR.notice_end(date(2024, 10, 1), 1)
    assert last_day == date(2024, 10, 8)


def test_a_calendar_without_data_or_estimate_falls_back_to_monday_to_friday() -> None:
    # Only a calendar built by hand lacks the computed holidays: the worker's never does.
    bare = WorkingDayCalendar(years=[])
    last_day, warnings = bare.notice_end(date(2031, 9, 30), 5)
    assert last_day == date(2031, 10, 6)
    assert warnings == ["no holiday data for 2031: Monday to Friday assumed"]


def test_a_year_without_the_arrangement_counts_its_statutory_holidays_with_a_warning() -> None:
    # Tue 30 Sep 2031: National Day (1-3 October, and the make-up days of 4-5 October, a
    # weekend) is counted although the State Council has not published 2031's arrangement.
    last_day, warnings = CALENDAR.notice_end(date(2031, 9, 30), 5)
    assert last_day > date(2031, 10, 7)
    assert len(warnings) == 1
    assert "2031" in warnings[0] and "调休" in warnings[0] and "lunar" in warnings[0]


def test_a_2027_notice_before_spring_festival_does_not_end_inside_the_holiday() -> None:
    # Wed 3 Feb 2027; Spring Festival is 6 February (Eve on Fri 5): the computed holiday runs
    # from the Eve to Wed 10 (make-up days for the Saturday and Sunday). Monday to Friday would
    # have ended the notice on Tue 9 February, in the middle of it.
    last_day, warnings = CALENDAR.notice_end(date(2027, 2, 3), 5)
    assert last_day == date(2027, 2, 15)
    assert not any(CALENDAR.is_working_day(date(2027, 2, d)) for d in range(5, 11))
    assert warnings and "no official holiday arrangement for 2027" in warnings[0]


def test_only_the_year_without_the_arrangement_is_warned_about() -> None:
    # Mon 28 Dec 2026 to 2027: New Year's Day 2027 is a statutory holiday, computed.
    last_day, warnings = CALENDAR.notice_end(date(2026, 12, 28), 5)
    assert last_day == date(2027, 1, 4)
    assert len(warnings) == 1 and "2027" in warnings[0]


ARRANGEMENT_2027 = {
    # Not the State Council's (unpublished when this was written): an arrangement of the same
    # shape, with Sat 13 and Sun 14 February as adjusted working days.
    "year": 2027,
    "source": "a 2027 arrangement for the tests",
    "holidays": [f"2027-02-{d:02d}" for d in range(5, 12)] + ["2027-01-01"],
    "workdays": ["2027-02-13", "2027-02-14"],
}


def test_an_imported_arrangement_replaces_the_computed_holidays_of_its_year() -> None:
    imported = load_calendar(imported=[Arrangement.parse(ARRANGEMENT_2027)])
    # Wed 3, Thu 4, then Fri 12, Sat 13 and Sun 14 (worked): the notice ends on the Sunday.
    assert imported.notice_end(date(2027, 2, 3), 5) == (date(2027, 2, 14), [])
    assert imported.covers(2027)


def test_an_arrangement_with_a_day_both_off_and_worked_is_refused() -> None:
    data = {**ARRANGEMENT_2027, "workdays": ["2027-02-05"]}
    with pytest.raises(ValueError, match="2027-02-05 listed both"):
        Arrangement.parse(data)


def test_an_arrangement_with_a_day_of_another_year_is_refused() -> None:
    data = {**ARRANGEMENT_2027, "holidays": ["2026-12-31", "2027-01-01"]}
    with pytest.raises(ValueError, match="outside 2027: 2026-12-31"):
        Arrangement.parse(data)


def test_october_2024_has_19_working_days() -> None:
    # 23 weekdays, less 1-4 and 7 Oct, plus Sat 12 Oct.
    assert CALENDAR.working_days_in(date(2024, 10, 1), date(2024, 10, 31)) == 19


def test_a_notice_of_no_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 working day"):
        CALENDAR.notice_end(date(2024, 3, 4), 0)


def test_a_day_listed_both_as_holiday_and_working_day_is_refused() -> None:
    data = {"years": {"2030": {"holidays": ["2030-10-01"], "workdays": ["2030-10-01"]}}}
    with pytest.raises(ValueError, match="2030-10-01"):
        WorkingDayCalendar.from_mapping(data)


def test_the_packaged_data_has_every_year_from_2004_to_2026() -> None:
    text = resources.files("models").joinpath("data", "cn_calendar.json").read_text("utf-8")
    years = json.loads(text)["years"]
    assert [int(y) for y in years] == list(range(2004, 2027))


def test_the_packaged_data_agrees_with_chinese_calendar_on_every_day() -> None:
    chinese_calendar = pytest.importorskip("chinese_calendar")
    day, last = date(2004, 1, 1), date(2026, 12, 31)
    while day <= last:
        assert CALENDAR.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


async def _notice(request: NoticeRequest) -> NoticePeriod:
    activities = CalendarActivities()
    result: NoticePeriod = await ActivityEnvironment().run(activities.notice_period, request)
    return result


async def test_an_override_ends_the_notice_that_many_seconds_after_its_start() -> None:
    start = datetime(2024, 3, 4, 1, 0, tzinfo=UTC)
    period = await _notice(NoticeRequest(start=start, working_days=5, override_seconds=20))
    assert period.end == start + timedelta(seconds=20)
    assert period.warnings == []


async def test_the_notice_ends_at_midnight_beijing_time_after_its_last_day() -> None:
    start = datetime(2024, 3, 4, 9, 0, tzinfo=CST)  # Monday morning in Beijing
    period = await _notice(NoticeRequest(start=start, working_days=5))
    assert period.end == datetime(2024, 3, 8, 16, 0, tzinfo=UTC)
    assert (period.start, period.working_days, period.warnings) == (start, 5, [])


async def test_the_notice_counts_from_the_beijing_date_of_its_start() -> None:
    # Friday 17:00 UTC is Saturday 01:00 in Beijing: counting starts on Monday 11 March.
    start = datetime(2024, 3, 8, 17, 0, tzinfo=UTC)
    period = await _notice(NoticeRequest(start=start, working_days=5))
    assert period.end == datetime(2024, 3, 15, 16, 0, tzinfo=UTC)


async def test_the_activity_refuses_a_notice_of_no_working_days_without_retrying() -> None:
    start = datetime(2024, 3, 4, 1, 0, tzinfo=UTC)
    with pytest.raises(ApplicationError) as raised:
        await _notice(NoticeRequest(start=start, working_days=0))
    assert raised.value.non_retryable


async def test_the_activity_counts_an_arrangement_imported_after_it_started(tmp_path) -> None:
    """An import counts from the next notice on; a notice computed before keeps its period (the
    workflow recorded it in history)."""
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    migrate(url)
    engine = create_registry_engine(url)
    try:
        activities = CalendarActivities(engine)
        request = NoticeRequest(start=datetime(2027, 2, 3, 10, tzinfo=CST), working_days=5)
        before = await ActivityEnvironment().run(activities.notice_period, request)
        content = json.dumps(ARRANGEMENT_2027).encode()
        record_import(engine, Arrangement.parse(ARRANGEMENT_2027), content=content, by="市工信局")
        after = await ActivityEnvironment().run(activities.notice_period, request)
    finally:
        engine.dispose()
    assert before.end == datetime(2027, 2, 16, tzinfo=CST)  # midnight after Mon 15 February
    assert before.warnings
    assert after.end == datetime(2027, 2, 15, tzinfo=CST)  # midnight after Sun 14 February
    assert after.warnings == []

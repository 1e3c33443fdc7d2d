"""Time rules of the programme, in China Standard Time.

China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for every date
a case can meet, and unlike ``zoneinfo`` it reads no tz database inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
"""Asia/Shanghai."""


def cst_date(moment: datetime) -> date:
    """The calendar date in Beijing of an aware moment."""
    return moment.astimezone(CST).date()


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` ends in Beijing (a deadline "by 30 April" ends here)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CST)


def round_deadline(year: int, month: int = 4, day: int = 30) -> datetime:
    """End of the recommendation deadline day (每年4月30日前) of ``year``."""
    return end_of_day(date(year, month, day))


def round_year_for(moment: datetime, month: int = 4, day: int = 30) -> int:
    """The round a recommendation made at ``moment`` belongs to.

    On or before the deadline day (Beijing time) it joins this year's round; after it, next year's.
    """
    local = moment.astimezone(CST)
    return local.year if moment < round_deadline(local.year, month, day) else local.year + 1


def add_years(moment: datetime, years: int) -> datetime:
    """The same Beijing calendar day ``years`` later (29 February becomes 28 February)."""
    local = moment.astimezone(CST)
    try:
        return local.replace(year=local.year + years)
    except ValueError:
        return local.replace(year=local.year + years, day=28)

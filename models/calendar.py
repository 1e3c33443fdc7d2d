"""Chinese working days: weekends off, statutory holidays off, adjusted working days (调休) on.

The public notice (公示) lasts a number of working days. Which days those are is decided each year
by the State Council, so the calendar is built from data (``models/data/cn_calendar.json``, read by
``activities.calendar.load_calendar``) and this module stays pure: it can be used inside the
workflow sandbox, although deadlines are computed in an activity so the result lands in history.

A year the data does not cover is not an error: Monday to Friday is assumed and the caller gets a
warning naming the year, so an officer can check the dates by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

_ONE_DAY = timedelta(days=1)


class WorkingDayCalendar:
    """Working days of mainland China for the years its data covers, Monday to Friday otherwise.

    Args:
        years: The years whose official arrangement is known. A year not listed here is assumed
            to have no holidays and no adjusted working days.
        holidays: Days off by the arrangement (weekdays and weekend days inside holiday periods).
        workdays: Adjusted working days (调休): weekend days that are working days.
        source: Where the data comes from, for messages and ``idri calendar``.
    """

    def __init__(
        self,
        *,
        years: Iterable[int],
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        source: str = "",
    ) -> None:
        self._years = frozenset(years)
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        self.source = source
        both = sorted(self._holidays & self._workdays)
        if both:
            # Which one wins would be a guess; a hand edit went wrong, so say where.
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"calendar lists {listed} both as a holiday and as a working day")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkingDayCalendar:
        """Build a calendar from the parsed JSON of ``cn_calendar.json``.

        Args:
            data: ``{"_source": str, "years": {"2024": {"holidays": [...], "workdays": [...]}}}``
                with ISO dates. A year's key is the year of the arrangement; its dates may fall
                in another year (late December days of a New Year arrangement).

        Raises:
            ValueError: A malformed year or date, or a date that is both holiday and working day.
        """
        years: list[int] = []
        holidays: list[date] = []
        workdays: list[date] = []
        for key, arrangement in data.get("years", {}).items():
            try:
                years.append(int(key))
                holidays.extend(date.fromisoformat(d) for d in arrangement.get("holidays", []))
                workdays.extend(date.fromisoformat(d) for d in arrangement.get("workdays", []))
            except (TypeError, ValueError) as error:
                raise ValueError(f"calendar data for year {key!r} is malformed: {error}") from error
        return cls(
            years=years, holidays=holidays, workdays=workdays, source=str(data.get("_source", ""))
        )

    @property
    def years(self) -> list[int]:
        """The years whose arrangement is known, in order."""
        return sorted(self._years)

    def covers(self, year: int) -> bool:
        """Whether the official arrangement of ``year`` is known."""
        return year in self._years

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (Monday to Friday in a year without data)."""
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        return day.weekday() < 5

    def working_days_in(self, start: date, end: date) -> int:
        """The number of working days from ``start`` to ``end``, both included (0 if reversed)."""
        count = 0
        day = start
        while day <= end:
            count += self.is_working_day(day)
            day += _ONE_DAY
        return count

    def notice_end(self, start: date, working_days: int) -> tuple[date, list[str]]:
        """The last day of a period of ``working_days`` working days starting on ``start``.

        ``start`` is day 1 when it is a working day; otherwise counting begins at the next working
        day (a notice published on a Saturday or during a holiday starts on the next working day).

        Args:
            start: The first calendar day of the period (a Beijing date).
            working_days: How many working days the period lasts, at least 1.

        Returns:
            The last day of the period, and one warning for each year from ``start`` to that day
            whose arrangement is unknown (Monday to Friday was assumed for it).

        Raises:
            ValueError: ``working_days`` is less than 1.
        """
        if working_days < 1:
            raise ValueError(f"a notice period lasts at least 1 working day, not {working_days}")
        day = start
        counted = int(self.is_working_day(day))
        while counted < working_days:
            day += _ONE_DAY
            counted += self.is_working_day(day)
        warnings = [
            f"no holiday data for {year}: Monday to Friday assumed"
            for year in range(start.year, day.year + 1)
            if not self.covers(year)
        ]
        return day, warnings

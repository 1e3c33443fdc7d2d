"""Chinese working days: weekends off, statutory holidays off, adjusted working days (调休) on.

The public notice (公示) lasts a number of working days. Which days those are is decided each year
by the State Council, so the calendar is built from data (``models/data/cn_calendar.json``, read by
``activities.calendar.load_calendar``) and this module stays pure: it can be used inside the
workflow sandbox, although deadlines are computed in an activity so the result lands in history.

A year without the official arrangement is not an error. Its statutory holidays can still be
computed (Spring Festival, Qingming, Dragon Boat and Mid-Autumn follow the lunar calendar; the
activity hands them in as ``estimated``), so they and the weekends are counted, without 调休, and
the caller gets a warning saying exactly that. Only a year with neither is counted Monday to
Friday (a calendar built by hand, in tests), with its own warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
        estimate: For a year without the official arrangement, its statutory holidays as
            computed (lunar calendar, make-up days for a holiday on a weekend; no 调休). Called
            once per year the calendar is asked about; None: such a year is Monday to Friday.
    """

    def __init__(
        self,
        *,
        years: Iterable[int],
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        source: str = "",
        estimate: Callable[[int], Iterable[date]] | None = None,
    ) -> None:
        self._years = frozenset(years)
        self._estimate = estimate
        self._estimated: dict[int, frozenset[date]] = {}
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
        return calendar_of(packaged_arrangements(data), source=str(data.get("_source", "")))

    @property
    def years(self) -> list[int]:
        """The years whose arrangement is known, in order."""
        return sorted(self._years)

    def covers(self, year: int) -> bool:
        """Whether the official arrangement of ``year`` is known."""
        return year in self._years

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (in a year without the official arrangement, a
        weekday that is no computed statutory holiday)."""
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        if day in self._estimated_holidays(day.year):
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
            whose official arrangement is unknown (:meth:`warning`).

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
            warning
            for year in range(start.year, day.year + 1)
            if (warning := self.warning(year)) is not None
        ]
        return day, warnings

    def warning(self, year: int) -> str | None:
        """What a period touching ``year`` should say about its days, or None (official)."""
        if self.covers(year):
            return None
        if self._estimate is not None:
            return (
                f"no official holiday arrangement for {year} yet: its statutory holidays "
                "(Spring Festival, Qingming, Dragon Boat and Mid-Autumn by the lunar calendar, "
                "New Year, Labour Day, National Day, with make-up days for those on a weekend) "
                "and weekends are counted; adjusted working days (调休) are not known"
            )
        return f"no holiday data for {year}: Monday to Friday assumed"

    def days_off(self, year: int) -> list[date]:
        """The days off in ``year`` that fall on weekdays or are listed holidays (official or
        computed), in order: what ``idri calendar show`` prints."""
        official = {d for d in self._holidays if d.year == year}
        return sorted(official | self._estimated_holidays(year))

    def _estimated_holidays(self, year: int) -> frozenset[date]:
        if year in self._years or self._estimate is None:
            return frozenset()
        if year not in self._estimated:
            self._estimated[year] = frozenset(d for d in self._estimate(year) if d.year == year)
        return self._estimated[year]

    def adjusted_working_days(self, year: int) -> list[date]:
        """The adjusted working days (调休) of ``year``'s official arrangement, in order."""
        return sorted(d for d in self._workdays if d.year == year)


@dataclass(frozen=True)
class Arrangement:
    """One year's official arrangement: its days off and adjusted working days (调休)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Arrangement:
        """An arrangement from the JSON of ``idri calendar import``, checked.

        Args:
            data: ``{"year": 2027, "source": "...", "holidays": [ISO dates],
                "workdays": [ISO dates]}``.

        Raises:
            ValueError: A missing or malformed field, a date outside the year, or a date listed
                both as a holiday and as a working day; the message names them.
        """
        year = data.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 < year < 2200:
            raise ValueError(f"'year' must be a year such as 2027, not {year!r}")
        lists: dict[str, frozenset[date]] = {}
        for key in ("holidays", "workdays"):
            values = data.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"'{key}' must be a list of ISO dates such as \"{year}-02-05\"")
            try:
                lists[key] = frozenset(date.fromisoformat(v) for v in values)
            except ValueError as error:
                raise ValueError(f"'{key}': {error}") from None
            outside = sorted(d.isoformat() for d in lists[key] if d.year != year)
            if outside:
                raise ValueError(f"'{key}' lists days outside {year}: {', '.join(outside)}")
        both = sorted(d.isoformat() for d in lists["holidays"] & lists["workdays"])
        if both:
            raise ValueError(f"{', '.join(both)} listed both as a holiday and as a working day")
        if not lists["holidays"]:
            raise ValueError(f"no holidays listed for {year}")
        source = data.get("source", "")
        return cls(year, lists["holidays"], lists["workdays"], str(source))


def calendar_of(
    arrangements: Iterable[Arrangement],
    *,
    source: str = "",
    estimate: Callable[[int], Iterable[date]] | None = None,
) -> WorkingDayCalendar:
    """The calendar of these arrangements, a later one of the same year replacing an earlier
    one (an imported year over the packaged data)."""
    by_year = {a.year: a for a in arrangements}
    return WorkingDayCalendar(
        years=by_year,
        holidays=(d for a in by_year.values() for d in a.holidays),
        workdays=(d for a in by_year.values() for d in a.workdays),
        source=source,
        estimate=estimate,
    )


def packaged_arrangements(data: Mapping[str, Any]) -> list[Arrangement]:
    """The arrangements of a ``cn_calendar.json`` file's parsed JSON, one per year key.

    Raises:
        ValueError: A malformed year or date, or a date that is both holiday and working day.
    """
    source = str(data.get("_source", ""))
    arrangements = []
    for key, days in data.get("years", {}).items():
        try:
            holidays = frozenset(date.fromisoformat(d) for d in days.get("holidays", []))
            workdays = frozenset(date.fromisoformat(d) for d in days.get("workdays", []))
            arrangements.append(Arrangement(int(key), holidays, workdays, source))
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"calendar data for year {key!r} is malformed: {error}") from error
    return arrangements

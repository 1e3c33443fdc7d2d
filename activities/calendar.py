"""The public notice window, computed from the working-day calendar, and the calendar's data.

The calendar's data changes every year (a new State Council arrangement, a corrected file), so the
workflow does not compute the window itself: this activity does, and Temporal records the result
in history, where a replay reads it back unchanged. A case already in notice keeps the window it
recorded when the arrangement of its year is imported later.

Where a year's days come from, first found first:

1. the registry's ``calendar_imports`` (``idri calendar import``, the newest import of the year);
2. the packaged ``models/data/cn_calendar.json`` (the official arrangements, 2004–2026);
3. the statutory holidays computed by the ``holidays`` package (its China calendar: the lunar
   holidays and the make-up days of a holiday on a weekend; no 调休), with a warning.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.db import read_session, write_session
from activities.tables import CalendarImportRow, utcnow
from models.calendar import Arrangement, WorkingDayCalendar, calendar_of, packaged_arrangements
from models.case import NoticePeriod
from models.records import ActivityName, NoticeRequest
from models.time import cst_date, end_of_day

PACKAGED_SOURCE = "packaged data (models/data/cn_calendar.json)"
COMPUTED_SOURCE = "computed: statutory holidays by the lunar calendar (holidays package), no 调休"


def statutory_holidays(year: int) -> list[date]:
    """The statutory holidays of ``year`` as the law fixes them, without the State Council's
    arrangement: New Year, Spring Festival (Eve and three days), Qingming, Labour Day, Dragon
    Boat, Mid-Autumn, National Day, and a make-up weekday for each that falls on a weekend."""
    import holidays
    from holidays.constants import PUBLIC

    return sorted(holidays.China(years=year, categories=(PUBLIC,)))


@functools.cache
def _packaged() -> tuple[Arrangement, ...]:
    text = resources.files("models").joinpath("data", "cn_calendar.json").read_text("utf-8")
    return tuple(packaged_arrangements(json.loads(text)))


def load_calendar(
    path: Path | None = None, *, imported: Sequence[Arrangement] = ()
) -> WorkingDayCalendar:
    """Read the working-day calendar.

    Args:
        path: A calendar JSON file; by default the packaged ``models/data/cn_calendar.json``.
        imported: Arrangements imported into the registry (:func:`imported_arrangements`); each
            replaces the file's data of its year.

    Raises:
        OSError: The file cannot be read.
        ValueError: The file is not valid calendar JSON.
    """
    if path is None:
        base: Sequence[Arrangement] = _packaged()
    else:
        base = packaged_arrangements(json.loads(path.read_text(encoding="utf-8")))
    return calendar_of([*base, *imported], source=PACKAGED_SOURCE, estimate=statutory_holidays)


# --- Imported arrangements (the registry's ``calendar_imports``) -----------------------------------


@dataclass(frozen=True)
class ImportRecord:
    """One import of a year's arrangement: what, from which file, by whom, when."""

    arrangement: Arrangement
    sha256: str
    imported_by: str
    imported_at: datetime


def _record(row: CalendarImportRow) -> ImportRecord:
    arrangement = Arrangement(
        row.year,
        frozenset(date.fromisoformat(d) for d in row.holidays),
        frozenset(date.fromisoformat(d) for d in row.workdays),
        row.source,
    )
    return ImportRecord(arrangement, row.sha256, row.imported_by, row.imported_at)


def import_history(engine: Engine, year: int | None = None) -> list[ImportRecord]:
    """Every import (of ``year`` only, if given), oldest first."""
    query = select(CalendarImportRow).order_by(col(CalendarImportRow.id))
    if year is not None:
        query = query.where(col(CalendarImportRow.year) == year)
    with read_session(engine) as session:
        return [_record(row) for row in session.exec(query).all()]


def imported_arrangements(engine: Engine) -> list[Arrangement]:
    """The arrangement in force for each imported year: its newest import."""
    newest = {r.arrangement.year: r.arrangement for r in import_history(engine)}
    return [newest[year] for year in sorted(newest)]


def record_import(engine: Engine, arrangement: Arrangement, *, content: bytes, by: str) -> None:
    """Store ``arrangement`` (already checked) as the year's arrangement from now on."""
    with write_session(engine) as session:
        session.add(
            CalendarImportRow(
                year=arrangement.year,
                holidays=sorted(d.isoformat() for d in arrangement.holidays),
                workdays=sorted(d.isoformat() for d in arrangement.workdays),
                source=arrangement.source,
                sha256=hashlib.sha256(content).hexdigest(),
                imported_by=by,
                imported_at=utcnow(),
            )
        )


class CalendarActivities:
    """Activities that need the working-day calendar: the packaged data, and the registry's
    imports read at every call (an import counts from the next notice on)."""

    def __init__(self, engine: Engine | None = None, *, path: Path | None = None) -> None:
        self._engine = engine
        self._path = path

    def calendar(self) -> WorkingDayCalendar:
        imported = imported_arrangements(self._engine) if self._engine is not None else []
        return load_calendar(self._path, imported=imported)

    @activity.defn(name=ActivityName.NOTICE_PERIOD)
    async def notice_period(self, request: NoticeRequest) -> NoticePeriod:
        """The public notice window that starts at ``request.start``.

        It ends at midnight Beijing time after its last working day, or, when
        ``request.override_seconds`` is set (demonstrations, tests), that many seconds after
        the start. The registry is read off the event loop, as every registry call.

        Raises:
            ApplicationError: Non-retryable, for a period of less than 1 working day: a retry
                would fail the same way.
        """
        if request.override_seconds is not None:
            end = request.start + timedelta(seconds=request.override_seconds)
            return NoticePeriod(request.start, end, request.working_days)
        try:
            calendar = await asyncio.to_thread(self.calendar)
            last_day, warnings = calendar.notice_end(cst_date(request.start), request.working_days)
        except ValueError as error:
            raise ApplicationError(
                str(error), type="InvalidNoticePeriod", non_retryable=True
            ) from error
        return NoticePeriod(request.start, end_of_day(last_day), request.working_days, warnings)

"""The public notice window, computed from the working-day calendar.

The calendar's data changes every year (a new State Council arrangement, a corrected file), so the
workflow does not compute the window itself: this activity does, and Temporal records the result
in history, where a replay reads it back unchanged.
"""

from __future__ import annotations

import json
from datetime import timedelta
from importlib import resources
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.calendar import WorkingDayCalendar
from models.case import NoticePeriod
from models.records import ActivityName, NoticeRequest
from models.time import cst_date, end_of_day


def load_calendar(path: Path | None = None) -> WorkingDayCalendar:
    """Read the working-day calendar.

    Args:
        path: A calendar JSON file; by default the packaged ``models/data/cn_calendar.json``.

    Raises:
        OSError: The file cannot be read.
        ValueError: The file is not valid calendar JSON.
    """
    if path is None:
        text = resources.files("models").joinpath("data", "cn_calendar.json").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return WorkingDayCalendar.from_mapping(json.loads(text))


class CalendarActivities:
    """Activities that need the working-day calendar, which is loaded once per worker."""

    def __init__(self, calendar: WorkingDayCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name=ActivityName.NOTICE_PERIOD)
    async def notice_period(self, request: NoticeRequest) -> NoticePeriod:
        """The public notice window that starts at ``request.start``.

        It ends at midnight Beijing time after its last working day, or, when
        ``request.override_seconds`` is set (demonstrations, tests), that many seconds after
        the start.

        Raises:
            ApplicationError: Non-retryable, for a period of less than 1 working day: a retry
                would fail the same way.
        """
        if request.override_seconds is not None:
            end = request.start + timedelta(seconds=request.override_seconds)
            return NoticePeriod(request.start, end, request.working_days)
        try:
            last_day, warnings = self._calendar.notice_end(
                cst_date(request.start), request.working_days
            )
        except ValueError as error:
            raise ApplicationError(
                str(error), type="InvalidNoticePeriod", non_retryable=True
            ) from error
        return NoticePeriod(request.start, end_of_day(last_day), request.working_days, warnings)

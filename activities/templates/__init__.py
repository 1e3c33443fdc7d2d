"""Templates of mails and public pages, and the labels and filters they share.

The wording lives in the template files of this package (``mail/``, ``pages/``) and the display
names in ``labels.json``; code only picks a template and passes data. Dates a person reads are in
China Standard Time.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from models.catalog import DIRECTIONS, DISTRICTS, UnknownEntry
from models.time import CST

# Spelled out rather than strftime("%B"), which follows the process locale.
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@cache
def labels() -> dict[str, Any]:
    """``labels.json``: display names of events, stages, levels and roles."""
    text = resources.files(__package__).joinpath("labels.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def label(kind: str, code: str | None) -> dict[str, str]:
    """``{"zh": ..., "en": ...}`` for an event, stage, level or role; the code itself if unknown."""
    if code is None:
        return {"zh": "", "en": ""}
    entry = labels()[kind].get(code)
    return {"zh": entry["zh"], "en": entry["en"]} if entry else {"zh": code, "en": code}


def district(code: str) -> dict[str, str]:
    try:
        entry = DISTRICTS.get(code)
    except UnknownEntry:
        return {"zh": code, "en": code}
    return {"zh": entry.zh, "en": entry.en}


def direction(code: str) -> dict[str, str]:
    try:
        entry = DIRECTIONS.get(code)
    except UnknownEntry:
        return {"zh": code, "en": code}
    return {"zh": entry.zh, "en": entry.en}


def parse_moment(value: object) -> datetime | date | None:
    """A datetime, a date or an ISO string of either (as carried in ``EventRecord.details``)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    try:
        # A bare date stays a date (datetime.fromisoformat would make it midnight).
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        return None


def _local_day(value: object) -> date | None:
    moment = parse_moment(value)
    if isinstance(moment, datetime):
        return moment.astimezone(CST).date() if moment.tzinfo else moment.date()
    return moment


def zh_date(value: object) -> str:
    day = _local_day(value)
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def en_date(value: object) -> str:
    day = _local_day(value)
    return f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}" if day else ""


def cst_time(value: object) -> str:
    """``2025-06-03 09:30 (Beijing time)``-style stamp, for both languages."""
    moment = parse_moment(value)
    if isinstance(moment, datetime) and moment.tzinfo:
        return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    return moment.isoformat() if moment else ""


def iso_day(value: object) -> str:
    day = _local_day(value)
    return day.isoformat() if day else ""


def last_day(value: object) -> date | None:
    """The last day (Beijing) before an exclusive end instant.

    Periods and deadlines end at midnight Beijing time after their last day (``end_of_day``), so
    a notice ending at 2025-06-11T00:00+08:00 runs through 10 June; that is the day people read.
    """
    moment = parse_moment(value)
    if isinstance(moment, datetime):
        local = moment.astimezone(CST) if moment.tzinfo else moment
        return (local - timedelta(microseconds=1)).date()
    return moment


def environment(package: str = "activities", *, autoescape: bool) -> Environment:
    """The one way idri builds a Jinja environment: templates of ``package``'s ``templates``
    folder, undefined names refused, the date filters and display names above at hand.

    ``autoescape`` escapes ``*.html.j2`` templates (pages); mails are plain text.
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html.j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The templates ship with the code: nothing changes them while a process runs.
        auto_reload=False,
    )
    env.filters.update(
        zh_date=zh_date, en_date=en_date, cst_time=cst_time, iso_day=iso_day, last_day=last_day
    )
    env.globals.update(label=label, district=district, direction=direction)
    return env


@cache
def mail_environment() -> Environment:
    """Plain-text mail templates (no HTML escaping)."""
    return environment(autoescape=False)


@cache
def page_environment() -> Environment:
    """HTML page templates (``*.html.j2``, escaped)."""
    return environment(autoescape=True)

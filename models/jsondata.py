"""Plain JSON data of idri's values, the same for the API's answers and ``--json`` output."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from models.time import CST


def jsonable(value: Any) -> Any:
    """Plain JSON data: dataclasses as objects, enums as their values, aware times in ISO form
    in Beijing time (``2025-06-03T10:00:00+08:00``), dates ISO, durations ISO 8601 (``P31D``,
    ``PT20S``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(CST).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def iso_duration(span: timedelta) -> str:
    """``span`` as an ISO 8601 duration: days, then hours, minutes and seconds (``P1DT2H``);
    a negative span with a leading minus, as XML Schema writes it."""
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    days = span.days
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = f"{seconds + span.microseconds / 1e6:g}" if span.microseconds else str(seconds)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n) + (
        f"{fraction}S" if seconds or span.microseconds else ""
    )
    if not days and not clock:
        return "PT0S"
    return f"{sign}P{f'{days}D' if days else ''}{f'T{clock}' if clock else ''}"

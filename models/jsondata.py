"""Plain JSON data of idri's values, the same for the API's answers and ``--json`` output."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from enum import Enum
from typing import Any

from models.time import CST


def jsonable(value: Any) -> Any:
    """Plain JSON data: dataclasses as objects, enums as their values, aware times in ISO form
    in Beijing time (``2025-06-03T10:00:00+08:00``), dates ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(CST).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value

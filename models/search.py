"""Typed search attributes that make cases findable in the Temporal Web UI and CLI.

They are not encrypted, so they carry codes and dates only, never personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

if TYPE_CHECKING:
    from models.case import CaseStatus

STAGE = SearchAttributeKey.for_keyword("IdriStage")
DISTRICT = SearchAttributeKey.for_keyword("IdriDistrict")
DIRECTION = SearchAttributeKey.for_keyword("IdriDirection")
ROUND_YEAR = SearchAttributeKey.for_int("IdriRoundYear")
DUE_AT = SearchAttributeKey.for_datetime("IdriDueAt")

ALL: tuple[SearchAttributeKey[Any], ...] = (STAGE, DISTRICT, DIRECTION, ROUND_YEAR, DUE_AT)

Values = tuple[str, str, str, int | None, datetime | None]
"""The values of ``ALL`` for one case, ``None`` for an attribute that is unset."""


def values_of(status: CaseStatus) -> Values:
    """What the search attributes of a case in ``status`` hold."""
    deadline = status.deadline
    return (
        status.stage.value,
        status.district,
        status.direction,
        status.round_year or None,
        deadline.at if deadline else None,
    )


def updates(values: Values) -> list[SearchAttributeUpdate[Any]]:
    """The upsert that sets every attribute of ``ALL`` to ``values`` (unsets those ``None``)."""
    return [
        key.value_unset() if value is None else key.value_set(value)
        for key, value in zip(ALL, values, strict=True)
    ]

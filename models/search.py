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
EXPERT = SearchAttributeKey.for_keyword_list("IdriExpert")
"""The account names of the experts assigned to the case, so the Web UI finds an expert's cases
(``IdriExpert = "张教授"``). Set by runs from the ``expert-search-attribute`` patch on. The one
attribute that is not a code: an expert's account name, which the bureau chose to index."""

CASE: tuple[SearchAttributeKey[Any], ...] = (STAGE, DISTRICT, DIRECTION, ROUND_YEAR, DUE_AT)
"""The attributes every run upserts together (:func:`updates`)."""
ALL: tuple[SearchAttributeKey[Any], ...] = (*CASE, EXPERT)
"""Every attribute idri registers in a namespace."""

Values = tuple[str, str, str, int | None, datetime | None]
"""The values of ``CASE`` for one case, ``None`` for an attribute that is unset."""


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
    """The upsert that sets every attribute of ``CASE`` to ``values`` (unsets those ``None``)."""
    return [
        key.value_unset() if value is None else key.value_set(value)
        for key, value in zip(CASE, values, strict=True)
    ]


def experts_of(status: CaseStatus) -> tuple[str, ...]:
    """The experts assigned to the case in ``status``, in assignment order (``IdriExpert``)."""
    return tuple(review.expert for review in status.reviews)


def expert_update(experts: tuple[str, ...]) -> SearchAttributeUpdate[Any]:
    """The upsert of ``IdriExpert`` (unset while nobody is assigned)."""
    return EXPERT.value_set(list(experts)) if experts else EXPERT.value_unset()

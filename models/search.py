"""Typed search attributes that make cases findable in the Temporal Web UI and CLI.

They are not encrypted, so they carry codes and dates only, never personal data.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("IdriStage")
DISTRICT = SearchAttributeKey.for_keyword("IdriDistrict")
DIRECTION = SearchAttributeKey.for_keyword("IdriDirection")
ROUND_YEAR = SearchAttributeKey.for_int("IdriRoundYear")
DUE_AT = SearchAttributeKey.for_datetime("IdriDueAt")

ALL = (STAGE, DISTRICT, DIRECTION, ROUND_YEAR, DUE_AT)

"""Duplicate construction (错位发展, 避免重复建设): a warning for the reviewing officer.

The work plan asks districts to develop in different directions and to avoid building the same
thing twice. A case in an industry direction where its district already has a designated
institute, or another open application, deserves a warning on the case and in the bureau's
report. It is a warning, not a refusal: the officer judges whether the two really overlap.

Pure functions over :class:`CaseRef`; the caller brings the cases (registry, visibility, a test).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from models.case import Stage

OPEN_STAGES: frozenset[Stage] = frozenset(
    {
        Stage.SURVEYED,
        Stage.PLAN_SUBMITTED,
        Stage.RECOMMENDED,
        Stage.UNDER_REVIEW,
        Stage.PUBLIC_NOTICE,
        Stage.INVESTIGATING,
    }
)
"""An application still on its way to a designation."""

REGISTRY_STAGES: frozenset[Stage] = frozenset(
    {Stage.DESIGNATED, Stage.UNDER_EVALUATION, Stage.RECTIFYING, Stage.NATIONAL_REVIEW}
)
"""A designated institute still in the registry (名录)."""

Scope = Literal["district", "city"]


@dataclass(frozen=True)
class CaseRef:
    """What the rule needs to know of a case."""

    case_id: str
    organisation: str
    district: str
    direction: str
    stage: Stage


@dataclass(frozen=True)
class DuplicateWarning:
    """Why ``case_id`` may duplicate what exists: the institutes and open cases it meets."""

    case_id: str
    district: str
    direction: str
    institutes: tuple[CaseRef, ...]
    """Designated institutes in the same direction (and district, unless the scope is city)."""
    open_cases: tuple[CaseRef, ...]
    """Other open applications in the same direction and district."""

    @property
    def message(self) -> str:
        """One line for the officer, naming what was found."""
        parts = []
        if self.institutes:
            names = ", ".join(f"{c.organisation} ({c.case_id})" for c in self.institutes)
            parts.append(f"designated institute(s) already in this direction: {names}")
        if self.open_cases:
            names = ", ".join(f"{c.organisation} ({c.case_id})" for c in self.open_cases)
            parts.append(f"other open application(s) in this direction and district: {names}")
        return (
            f"possible duplicate construction (错位发展) in {self.direction}, {self.district}: "
            + "; ".join(parts)
        )


def duplicate_warning(
    case: CaseRef, others: Iterable[CaseRef], *, scope: Scope = "district"
) -> DuplicateWarning | None:
    """The warning for ``case`` against ``others`` (the case itself among them is ignored).

    ``scope="district"`` (the plan's rule) compares with the case's own district only;
    ``scope="city"`` also names designated institutes of the same direction in other districts.
    Open applications always count in the same district only: elsewhere they are competitors
    for review, not duplicates.
    """
    institutes, open_cases = [], []
    for other in others:
        if other.case_id == case.case_id or other.direction != case.direction:
            continue
        same_district = other.district == case.district
        if other.stage in REGISTRY_STAGES and (same_district or scope == "city"):
            institutes.append(other)
        elif other.stage in OPEN_STAGES and same_district:
            open_cases.append(other)
    if not institutes and not open_cases:
        return None
    return DuplicateWarning(
        case.case_id,
        case.district,
        case.direction,
        tuple(sorted(institutes, key=lambda c: c.case_id)),
        tuple(sorted(open_cases, key=lambda c: c.case_id)),
    )


def duplicate_warnings(
    cases: Iterable[CaseRef], *, scope: Scope = "district"
) -> list[DuplicateWarning]:
    """A warning for every open application that has one, in case id order."""
    everything = list(cases)
    by_direction: dict[str, list[CaseRef]] = {}
    for case in everything:
        by_direction.setdefault(case.direction, []).append(case)
    warnings = []
    for case in sorted(everything, key=lambda c: c.case_id):
        if case.stage not in OPEN_STAGES:
            continue
        warning = duplicate_warning(case, by_direction[case.direction], scope=scope)
        if warning is not None:
            warnings.append(warning)
    return warnings

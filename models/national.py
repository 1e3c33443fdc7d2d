"""The ministry's call: nominating a designated institute for national level at any time.

The plan: "对于行业优势突出、服务良好、稳定运行2年以上且符合国家工业设计研究院基本条件的，市工业和信息化局
将根据工业和信息化部统一部署，按程序择优推荐争创国家级工业设计研究院". The ministry's schedule
(统一部署), not the case's 3-year cycle, decides when: the bureau nominates whenever the institute
has operated stably for 2 years, counted from designation, or from the last completed
rectification (a rectification shows the operation was not stable; its count starts again).

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from models.time import add_years, cst_date

if TYPE_CHECKING:
    from models.case import Actor, CaseState, Policy

CRITERIA_ZH = ("行业优势突出", "服务良好", "稳定运行2年以上")
"""The seed's national criteria, recorded with every nomination."""


@dataclass
class NationalNomination:
    """The bureau's answer to the ministry's call (``nominate_national``), with the seed's
    criteria as the bureau finds them met."""

    actor: Actor
    call: str
    """The ministry's call it answers (e.g. its notice's title and number)."""
    industry_advantage: str
    """行业优势突出: the institute's outstanding advantage in its industry."""
    service: str
    """服务良好: the service it gives."""


@dataclass
class NominationRecord:
    """A nomination as the case keeps it: the bureau's findings and the stable operation the
    workflow measured."""

    call: str
    industry_advantage: str
    service: str
    stable_since: datetime
    nominated_at: datetime

    def criteria(self) -> dict[str, str]:
        """The seed's three criteria with what was found for each (history details, status)."""
        years = (self.nominated_at - self.stable_since).days / 365.25
        return {
            CRITERIA_ZH[0]: self.industry_advantage,
            CRITERIA_ZH[1]: self.service,
            CRITERIA_ZH[2]: f"since {cst_date(self.stable_since).isoformat()} ({years:.1f} years)",
        }


def stable_since(case: CaseState) -> datetime | None:
    """Since when the institute has operated stably: its designation, or the completion of its
    last rectification if later. ``None`` before designation."""
    if case.designated_at is None:
        return None
    restarted = case.stable_since
    return max(case.designated_at, restarted) if restarted else case.designated_at


def eligible_from(case: CaseState, policy: Policy) -> datetime | None:
    """The first moment a national nomination (or an excellent evaluation) is allowed."""
    since = stable_since(case)
    return add_years(since, policy.national_min_stable_years) if since else None

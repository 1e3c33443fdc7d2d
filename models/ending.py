"""How a case's workflow ended outside the lifecycle (issue 18): pure data, shared by the
evaluation sweep's registry marks (``activities.ended``), the reading from Temporal
(``activities.endings``) and the operators' views (``idri status``, ``idri ended``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ENDED_HOW: dict[str, str] = {
    "TERMINATED": "terminated",
    "CANCELED": "cancelled",
    "TIMED_OUT": "timed_out",
    "FAILED": "failed",
}
"""Temporal's closed statuses (their SDK names) that are no end of the lifecycle, and what idri
calls them; completed and continued-as-new are the lifecycle's own ends."""

ENDED_VISIBILITY_NAMES: tuple[str, ...] = ("Terminated", "Canceled", "TimedOut", "Failed")
"""The same statuses as a visibility query spells them (``ExecutionStatus IN (...)``)."""


@dataclass(frozen=True)
class CaseEnding:
    """How a case's workflow ended outside the lifecycle."""

    how: str
    """terminated, cancelled, timed_out or failed."""
    at: datetime | None
    """The close time Temporal reports (UTC)."""
    run_id: str
    identity: str | None = None
    """Who ended it: the client identity of a termination or a cancellation request
    (``temporal`` CLI user, SDK client); unknown for a timeout or a failure."""
    reason: str | None = None
    """A termination's or a cancellation request's reason, or a failure's message."""

    @property
    def by(self) -> str | None:
        """Who and why in one line, as far as known (``ended_by`` in the registry)."""
        parts = [p for p in (self.identity, self.reason) if p]
        return ": ".join(parts) or None

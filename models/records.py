"""Payloads between the institute workflow and its activities.

Every registry write carries ``key`` = ``<workflow id>#<seq>``: the same event retried or replayed
writes the same key, so the registry keeps exactly one row for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from models.case import CaseState, Level, Role, Stage
from models.inbox import Wait


@dataclass
class Recipient:
    """Someone to notify. ``email`` is filled by the workflow for case contacts and experts; for
    ``district`` and ``bureau`` the activity looks the address up in settings."""

    role: str
    """applicant, district, bureau or expert."""
    name: str = ""
    email: str | None = None


@dataclass
class CaseSnapshot:
    """The registry's view of a case after an event (no personal data beyond the organisation)."""

    case_id: str
    organisation: str
    district: str
    direction: str
    stage: Stage
    level: Level
    round_year: int | None = None
    designated_at: datetime | None = None
    last_evaluated_at: datetime | None = None
    next_evaluation_due: datetime | None = None
    previous_case_id: str | None = None


def snapshot_of(case: CaseState) -> CaseSnapshot:
    """The registry's view of ``case`` as it stands."""
    survey = case.survey
    return CaseSnapshot(
        case_id=survey.case_id,
        organisation=survey.organisation,
        district=survey.district,
        direction=survey.direction,
        stage=case.stage,
        level=case.level,
        round_year=case.round_year,
        designated_at=case.designated_at,
        last_evaluated_at=case.last_evaluated_at,
        next_evaluation_due=case.next_evaluation_due,
        previous_case_id=survey.previous_case_id,
    )


@dataclass
class EventRecord:
    """One event of a case, written to the audit trail with its notifications (one transaction)."""

    key: str
    workflow_id: str
    run_id: str
    seq: int
    at: datetime
    event: str
    """A lifecycle action (``recommend``, ``close_notice``...) or a timer event
    (``round_reminder``, ``overdue``, ``evaluation_due``)."""
    from_stage: Stage
    to_stage: Stage
    actor: str
    role: Role
    reason: str
    snapshot: CaseSnapshot
    recipients: list[Recipient] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    """Event specifics for templates and the trail: score, expert, objector, deadline..."""
    waits: list[Wait] | None = None
    """The work the case waits for after the event, by role (``models.inbox``); None from
    workers older than the inbox, whose events leave the registry's waits as they were."""


@dataclass
class DeliveryRequest:
    """Deliver the pending notifications of one event (all of them when ``event_key`` is None)."""

    event_key: str | None = None


@dataclass
class PublicationRequest:
    """Regenerate the public pages an event changes: the notice of a batch, the registry list,
    a delisting announcement."""

    event_key: str
    kind: str
    """notice, registry or delisting."""
    case_id: str


@dataclass
class NoticeRequest:
    """Ask the calendar for the public notice window that starts at ``start``."""

    start: datetime
    working_days: int
    override_seconds: float | None = None


class ActivityName:
    """Activity names, so workflow code calls activities without importing their modules
    (workflows import only ``models/`` and the SDK)."""

    LOAD_POLICY = "load_policy"
    NOTICE_PERIOD = "notice_period"
    RECORD_EVENT = "record_event"
    DELIVER_NOTIFICATIONS = "deliver_notifications"
    PUBLISH = "publish"
    PUBLISH_QUEUED = "publish_queued"

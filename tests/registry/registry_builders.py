"""Event records as the institute workflow writes them, for driving the activities directly.

``Script`` plays one case: each call is the next event, with the next ``seq``, the stage it leads
to, the snapshot after it and the recipients ``models.notifications.ROUTES`` names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from models.case import Level, Role, Stage
from models.notifications import ROUTES
from models.records import CaseSnapshot, EventRecord, Recipient
from models.time import CST, add_years, end_of_day

START = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # 10:00 Beijing time on a Monday
APPLICANT_EMAIL = "contact@example.cn"
EXPERT_EMAIL = "zhang@tju.edu.cn"


@dataclass
class Script:
    case_id: str
    organisation: str = "天津智造工业设计研究有限公司"
    district: str = "binhai"
    direction: str = "high_end_equipment"
    at: datetime = START
    stage: Stage = Stage.SURVEYED
    level: Level = Level.MUNICIPAL
    seq: int = 0
    round_year: int | None = None
    designated_at: datetime | None = None
    last_evaluated_at: datetime | None = None
    next_evaluation_due: datetime | None = None
    applicant_email: str | None = APPLICANT_EMAIL
    run_id: str = "run-1"
    records: list[EventRecord] = field(default_factory=list)

    @property
    def workflow_id(self) -> str:
        return f"institute-{self.case_id}"

    def snapshot(self) -> CaseSnapshot:
        return CaseSnapshot(
            case_id=self.case_id,
            organisation=self.organisation,
            district=self.district,
            direction=self.direction,
            stage=self.stage,
            level=self.level,
            round_year=self.round_year,
            designated_at=self.designated_at,
            last_evaluated_at=self.last_evaluated_at,
            next_evaluation_due=self.next_evaluation_due,
        )

    def recipients(self, event: str) -> list[Recipient]:
        people = []
        for role in ROUTES.get(event, ()):
            if role == "applicant":
                people.append(Recipient(role, "赵经理", self.applicant_email))
            elif role == "expert":
                people.append(Recipient(role, "张教授", EXPERT_EMAIL))
            else:
                people.append(Recipient(role))
        return people

    def event(
        self,
        event: str,
        to: Stage | None = None,
        *,
        after: timedelta = timedelta(days=1),
        reason: str = "",
        details: dict[str, str] | None = None,
        role: Role = Role.BUREAU_OFFICER,
        actor: str = "李处长",
    ) -> EventRecord:
        """The next event, ``after`` the previous one; ``to`` is the stage it leads to."""
        self.at += after
        self.seq += 1
        from_stage = self.stage
        self.stage = to or self.stage
        record = EventRecord(
            key=f"{self.workflow_id}#{self.seq}",
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            seq=self.seq,
            at=self.at,
            event=event,
            from_stage=from_stage,
            to_stage=self.stage,
            actor=actor,
            role=role,
            reason=reason or event,
            snapshot=self.snapshot(),
            recipients=self.recipients(event),
            details=details or {},
        )
        self.records.append(record)
        return record

    # --- Whole stretches of the lifecycle -------------------------------------------------------

    def to_public_notice(self, notice_days: int = 7) -> list[EventRecord]:
        """Survey to approval; the approve record carries the notice window."""
        out = [
            self.event("created", Stage.SURVEYED, role=Role.DISTRICT_OFFICER, actor="王科长"),
            self.event(
                "submit_plan",
                Stage.PLAN_SUBMITTED,
                role=Role.DISTRICT_OFFICER,
                details={"file_name": "plan.pdf", "sha256": "a" * 64},
            ),
        ]
        self.round_year = self.at.year
        out += [
            self.event(
                "recommend",
                Stage.RECOMMENDED,
                role=Role.DISTRICT_OFFICER,
                reason="推荐：基础扎实",
                details={"round_year": str(self.round_year)},
            ),
            self.event(
                "assign_expert",
                Stage.UNDER_REVIEW,
                details={"expert": "张教授", "expert_organisation": "天津大学"},
            ),
            self.event(
                "submit_review",
                role=Role.EXPERT,
                actor="张教授",
                details={"expert": "张教授", "score": "88"},
            ),
            self.event("record_inspection", details={"passed": "true"}),
        ]
        start = self.at + timedelta(days=1)
        end = end_of_day((start + timedelta(days=notice_days - 1)).astimezone(CST).date())
        out.append(
            self.event(
                "approve",
                Stage.PUBLIC_NOTICE,
                after=timedelta(days=1),
                reason="评审通过",
                details={"notice_start": start.isoformat(), "notice_end": end.isoformat()},
            )
        )
        return out

    def designate(self, *, after: timedelta = timedelta(days=10)) -> EventRecord:
        self.designated_at = self.at + after
        self.next_evaluation_due = add_years(self.designated_at, 3)
        return self.event(
            "close_notice",
            Stage.DESIGNATED,
            after=after,
            role=Role.SYSTEM,
            actor="idri",
            reason="public notice closed without objection",
        )


async def record_as_its_case(record_event: Any, record: EventRecord) -> None:
    """Run the ``record_event`` activity as the case's own workflow run would schedule it:
    the activity refuses a record from any other workflow (``activities.registry``)."""
    from temporalio.testing import ActivityEnvironment

    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=record.workflow_id, workflow_run_id=record.run_id
    )
    await env.run(record_event, record)

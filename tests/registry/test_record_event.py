"""record_event: one event, one set of rows, in one transaction, however often it runs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from registry_builders import Script, record_as_its_case
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from activities import registry_read
from activities.registry import RegistryActivities
from activities.tables import EvaluationRow, EventRow, InstituteRow, NotificationRow, ObjectionRow
from idri.settings import Settings
from idri.worker import registry_activities
from models.case import Stage
from models.notifications import ROUTES
from models.records import EventRecord, Recipient


def count(engine: Engine, model: type, **where: object) -> int:
    with Session(engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.exec(query).one())


async def record(activities: RegistryActivities, *records: EventRecord) -> None:
    for item in records:
        await record_as_its_case(activities.record_event, item)


async def test_an_event_writes_its_trail_row_institute_and_one_mail_per_recipient(
    engine: Engine, settings: Settings
) -> None:
    script = Script("c1")
    await record(registry_activities(engine, settings), *script.to_public_notice())

    trail = registry_read.audit_trail(engine, "c1")
    assert [e.event for e in trail] == [
        "created",
        "submit_plan",
        "recommend",
        "assign_expert",
        "submit_review",
        "record_inspection",
        "approve",
    ]
    assert trail[-1].run_id == "run-1" and trail[-1].workflow_id == "institute-c1"
    assert trail[-1].from_stage == "under_review" and trail[-1].to_stage == "public_notice"
    assert trail[-1].details["notice_start"] == script.records[-1].details["notice_start"]
    institute = registry_read.institute(engine, "c1")
    assert institute is not None and institute.stage == "public_notice"
    assert institute.organisation == "天津智造工业设计研究有限公司"
    expected_mails = sum(len(ROUTES.get(r.event, ())) for r in script.records)
    assert count(engine, NotificationRow) == expected_mails


async def test_the_same_record_twice_leaves_exactly_one_set_of_rows(
    engine: Engine, settings: Settings
) -> None:
    activities = registry_activities(engine, settings)
    recommend = Script("c2").to_public_notice()[2]
    assert recommend.event == "recommend" and len(recommend.recipients) == 3

    await record(activities, recommend, recommend)
    assert activities.record_sync(recommend) is False  # a third time, told it was a duplicate

    assert count(engine, EventRow) == 1
    assert count(engine, NotificationRow) == 3
    assert count(engine, InstituteRow) == 1


async def test_concurrent_duplicates_leave_exactly_one_set_of_rows(
    engine: Engine, settings: Settings
) -> None:
    activities = registry_activities(engine, settings)
    records = Script("c3").to_public_notice()
    approve = records[-1]

    # Every event of the case eight times at once, as retries racing each other would.
    await asyncio.gather(
        *(record_as_its_case(activities.record_event, r) for r in records for _ in range(8))
    )

    assert count(engine, EventRow) == len(records)
    assert count(engine, NotificationRow) == sum(len(r.recipients) for r in records)
    assert count(engine, NotificationRow, event_key=approve.key) == len(approve.recipients)
    institute = registry_read.institute(engine, "c3")
    assert institute is not None and institute.stage == "public_notice"  # the newest event won


async def test_concurrent_events_of_many_cases_are_all_recorded(
    engine: Engine, settings: Settings
) -> None:
    activities = registry_activities(engine, settings)
    scripts = [Script(f"many{i}") for i in range(12)]
    batches = [s.to_public_notice() for s in scripts]

    async def one_case(records: list[EventRecord]) -> None:
        for item in records:
            await record_as_its_case(activities.record_event, item)

    await asyncio.gather(*(one_case(b) for b in batches))

    assert count(engine, EventRow) == sum(len(b) for b in batches)
    assert count(engine, InstituteRow, stage="public_notice") == 12


async def test_an_older_event_arriving_late_does_not_undo_a_newer_state(
    engine: Engine, settings: Settings
) -> None:
    activities = registry_activities(engine, settings)
    records = Script("c4").to_public_notice()
    await record(activities, records[-1], *records[:-1])  # approve first, the rest after

    institute = registry_read.institute(engine, "c4")
    assert institute is not None and institute.stage == "public_notice"
    assert len(registry_read.audit_trail(engine, "c4")) == len(records)


async def test_a_recipient_without_an_address_is_recorded_as_undeliverable(
    engine: Engine, settings: Settings
) -> None:
    script = Script("c5", district="jizhou")  # no mailbox configured for Jizhou
    script.applicant_email = None
    created, plan, recommend = script.to_public_notice()[:3]
    await record(registry_activities(engine, settings), created, plan, recommend)

    rows = {(o.role, o.status): o for o in registry_read.outbox(engine, case_id="c5")}
    district = rows[("district", "undeliverable")]
    assert district.address is None and "jizhou" in (district.last_error or "")
    applicant = rows[("applicant", "undeliverable")]
    assert "no e-mail address" in (applicant.last_error or "")
    assert rows[("bureau", "pending")].address == "bureau@gxj.tj.gov.cn"


async def test_objections_are_kept_and_resolved_with_the_event_that_resolved_them(
    engine: Engine, settings: Settings
) -> None:
    script = Script("c6")
    records = script.to_public_notice()
    records.append(
        script.event(
            "lodge_objection",
            reason="场地不符",
            details={"objection_id": "1", "objector": "市民甲"},
        )
    )
    records.append(
        script.event(
            "lodge_objection",
            reason="人员不足",
            details={"objection_id": "2", "objector": "市民乙"},
        )
    )
    records.append(script.event("close_notice", Stage.INVESTIGATING))
    dismiss = script.event(
        "dismiss_objection", Stage.INVESTIGATING, reason="调查不属实", details={"objection_id": "2"}
    )
    records.append(dismiss)
    await record(registry_activities(engine, settings), *records)

    with Session(engine) as session:
        rows = session.exec(select(ObjectionRow).order_by(col(ObjectionRow.objection_no))).all()
        assert [(r.objector, r.reason, r.status) for r in rows] == [
            ("市民甲", "场地不符", "open"),
            ("市民乙", "人员不足", "dismissed"),
        ]
        assert rows[1].resolved_event_key == dismiss.key
        assert rows[1].resolution == "调查不属实"


async def test_evaluations_record_their_result_and_rectification_deadline(
    engine: Engine, settings: Settings
) -> None:
    script = Script("c7")
    records = [*script.to_public_notice(), script.designate()]
    records.append(
        script.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=1000))
    )
    records.append(
        script.event(
            "order_rectification",
            Stage.RECTIFYING,
            details={"result": "rectify", "deadline": "2028-06-30"},
        )
    )
    await record(registry_activities(engine, settings), *records)

    with Session(engine) as session:
        evaluation = session.exec(select(EvaluationRow)).one()
    assert evaluation.result == "rectify" and evaluation.case_id == "c7"
    assert evaluation.deadline is not None
    # "By 30 June" ends at midnight Beijing time, i.e. 16:00 UTC on the 30th.
    assert evaluation.deadline.isoformat() == "2028-06-30T16:00:00+00:00"


async def test_a_failing_event_writes_nothing_at_all(engine: Engine, settings: Settings) -> None:
    activities = registry_activities(engine, settings)
    created = Script("c8").to_public_notice()[0]
    # A naive datetime in the snapshot fails after the trail row was inserted in the transaction.
    broken = replace(
        created,
        snapshot=replace(created.snapshot, designated_at=datetime(2025, 1, 1)),
        recipients=[Recipient("bureau")],
    )

    with pytest.raises(Exception, match="naive datetime"):
        await record_as_its_case(activities.record_event, broken)

    assert count(engine, EventRow) == 0
    assert count(engine, NotificationRow) == 0
    assert count(engine, InstituteRow) == 0
    await record_as_its_case(activities.record_event, created)  # the retry succeeds
    assert count(engine, EventRow) == 1


async def test_the_institute_row_keeps_the_first_delisting_time(
    engine: Engine, settings: Settings
) -> None:
    script = Script("c9")
    records = [*script.to_public_notice(), script.designate()]
    delist = script.event("delist", Stage.DELISTED, reason="评估不合格")
    later = script.event("correct_record", Stage.DELISTED, after=timedelta(days=30))
    await record(registry_activities(engine, settings), *records, delist, later)

    institute = registry_read.institute(engine, "c9")
    assert institute is not None and institute.stage == "delisted"
    assert institute.delisted_at == delist.at != later.at
    assert institute.designated_at == script.designated_at  # the snapshot's other fields applied


async def test_the_institute_row_keeps_what_the_survey_fixed(
    engine: Engine, settings: Settings
) -> None:
    # A case's survey never changes, so the upsert leaves its columns (and their indexes) alone:
    # a later snapshot saying otherwise does not move the institute to another district.
    script = Script("c10")
    created, plan = script.to_public_notice()[:2]
    moved = replace(
        plan,
        snapshot=replace(
            plan.snapshot, organisation="别的公司", district="heping", direction="fashion"
        ),
    )
    await record(registry_activities(engine, settings), created, moved)

    institute = registry_read.institute(engine, "c10")
    assert institute is not None and institute.stage == "plan_submitted"  # the event applied
    assert (institute.organisation, institute.district, institute.direction) == (
        "天津智造工业设计研究有限公司",
        "binhai",
        "high_end_equipment",
    )

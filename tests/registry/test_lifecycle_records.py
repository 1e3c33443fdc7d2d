"""One institute from survey to delisting, driven through the real activities as the workflow
calls them (record, deliver, publish): afterwards the registry, the audit trail, the outbox and the
public pages hold what DOMAIN.md says. (The workflow-driven version lives in tests/lifecycle.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from registry_builders import APPLICANT_EMAIL, EXPERT_EMAIL, Script, record_as_its_case
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import ActivityEnvironment

from activities import registry_read
from activities.tables import EvaluationRow, ObjectionRow
from idri.settings import Settings
from idri.worker import notification_activities, publication_activities, registry_activities
from models.case import Stage
from models.notifications import publication_for
from models.records import DeliveryRequest, EventRecord, PublicationRequest
from tests.smtp import SmtpServer


async def test_designation_rectification_and_delisting_leave_a_complete_record(
    engine: Engine, settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.start()
    mail_settings = smtp_server.settings(settings)
    registry = registry_activities(engine, mail_settings)
    mailer = notification_activities(engine, mail_settings)
    pages = publication_activities(engine, mail_settings)
    env = ActivityEnvironment()

    async def happen(record: EventRecord) -> None:
        """What the workflow does for each event: record, deliver, publish."""
        await record_as_its_case(registry.record_event, record)
        await env.run(mailer.deliver_notifications, DeliveryRequest(record.key))
        kind = publication_for(record.event, record.from_stage.value, record.to_stage.value)
        if kind:
            request = PublicationRequest(record.key, kind, record.snapshot.case_id)
            await env.run(pages.publish, request)

    case = Script("life1", "天津海河工业设计研究院有限公司", "xiqing", "new_materials")
    for record in case.to_public_notice():
        await happen(record)
    await happen(
        case.event(
            "lodge_objection",
            reason="研发场地与申报不符",
            details={"objection_id": "1", "objector": "市民甲"},
        )
    )
    await happen(case.event("close_notice", Stage.INVESTIGATING, after=timedelta(days=6)))
    case.designated_at = case.at + timedelta(days=5)
    case.next_evaluation_due = case.designated_at + timedelta(days=3 * 365)
    await happen(
        case.event(
            "dismiss_objection",
            Stage.DESIGNATED,
            after=timedelta(days=5),
            reason="经核查，场地符合要求",
            details={"objection_id": "1"},
        )
    )
    await happen(case.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=1050)))
    await happen(
        case.event(
            "order_rectification",
            Stage.RECTIFYING,
            reason="设计人员不足",
            details={"result": "rectify", "deadline": "2028-12-31"},
        )
    )
    await happen(
        case.event(
            "complete_rectification",
            Stage.UNDER_EVALUATION,
            after=timedelta(days=120),
            reason="已补充设计人员",
        )
    )
    await happen(case.event("delist", Stage.DELISTED, reason="整改后仍不符合条件"))

    # The registry: designated once, now removed.
    institute = registry_read.institute(engine, "life1")
    assert institute is not None and institute.stage == "delisted"
    assert institute.designated_at == case.designated_at
    assert institute.delisted_at == case.records[-1].at
    assert registry_read.current_registry(engine) == []

    # The audit trail: every event, who and why, in order.
    trail = registry_read.audit_trail(engine, "life1")
    assert [(e.event, e.to_stage) for e in trail][-7:] == [
        ("lodge_objection", "public_notice"),
        ("close_notice", "investigating"),
        ("dismiss_objection", "designated"),
        ("open_evaluation", "under_evaluation"),
        ("order_rectification", "rectifying"),
        ("complete_rectification", "under_evaluation"),
        ("delist", "delisted"),
    ]
    assert trail[-1].reason == "整改后仍不符合条件" and trail[-1].actor == "李处长"
    assert len(trail) == len(case.records)
    with Session(engine) as session:
        objection = session.exec(select(ObjectionRow)).one()
        assert (objection.objector, objection.status) == ("市民甲", "dismissed")
        results = [
            e.result for e in session.exec(select(EvaluationRow).order_by(col(EvaluationRow.at)))
        ]
        assert results == ["rectify", "rectified", "delist"]

    # The outbox: every mail sent once, and each party told what concerns it.
    outbox = registry_read.outbox(engine)
    assert {o.status for o in outbox} == {"sent"}
    assert len(smtp_server.messages) == len(outbox)
    told: dict[str, set[str]] = defaultdict(set)
    for row in outbox:
        told[row.address or ""].add(row.event_key.rsplit("#", 1)[1])
    events_by_seq = {str(r.seq): r.event for r in case.records}
    heard = {who: {events_by_seq[s] for s in seqs} for who, seqs in told.items()}
    assert {"recommend", "approve", "dismiss_objection", "order_rectification", "delist"} <= heard[
        APPLICANT_EMAIL
    ]
    assert {
        "recommend",
        "approve",
        "dismiss_objection",
        "order_rectification",
        "complete_rectification",
        "delist",
    } <= heard["xiqing@tj.gov.cn"]
    assert heard[EXPERT_EMAIL] == {"assign_expert"}
    assert {"lodge_objection", "recommend", "delist"} <= heard[settings.bureau_email]

    # The pages: the notice, the (now empty) registry, the delisting, all linked from the index.
    public = settings.data_dir / "public"
    notice = next((public / "notice").glob("*.html")).read_text(encoding="utf-8")
    assert case.organisation in notice and "公示期" in notice
    assert case.organisation not in (public / "registry.html").read_text(encoding="utf-8")
    delisting = (public / "delisting" / "life1.html").read_text(encoding="utf-8")
    assert "整改后仍不符合条件" in delisting
    index = (public / "index.html").read_text(encoding="utf-8")
    assert "delisting/life1.html" in index and "notice/" in index

"""The read side: the current registry, a case's audit trail, counts for reports."""

from __future__ import annotations

from datetime import timedelta

from registry_builders import Script, record_as_its_case
from sqlalchemy import Engine

from activities import registry_read
from idri.settings import Settings
from idri.worker import registry_activities
from models.case import Level, Stage
from models.records import EventRecord


async def run(engine: Engine, settings: Settings, records: list[EventRecord]) -> None:
    activities = registry_activities(engine, settings)
    for item in records:
        await record_as_its_case(activities.record_event, item)


def designated(case_id: str, district: str, direction: str, *, years_later: int = 0) -> Script:
    script = Script(case_id, f"设计院{case_id}", district, direction)
    script.at += timedelta(days=365 * years_later)
    script.to_public_notice()
    script.designate()
    return script


async def test_the_registry_and_its_counts_hold_designated_institutes_only(
    engine: Engine, settings: Settings
) -> None:
    a = designated("a", "binhai", "ai")
    b = designated("b", "binhai", "biomedicine")
    c = designated("c", "nankai", "ai", years_later=1)
    national = designated("n", "xiqing", "aerospace", years_later=1)
    national.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=800))
    national.event("recommend_national", Stage.NATIONAL_REVIEW)
    national.level = Level.NATIONAL
    national.event("record_national_outcome", Stage.DESIGNATED, details={"national": "designated"})
    gone = designated("gone", "nankai", "ai")
    gone.event("open_evaluation", Stage.UNDER_EVALUATION, after=timedelta(days=1000))
    gone.event("delist", Stage.DELISTED)
    waiting = Script("w", "公示中的设计院", "binhai", "ai")
    waiting.to_public_notice()
    for script in (a, b, c, national, gone, waiting):
        await run(engine, settings, script.records)

    registry = registry_read.current_registry(engine)
    assert [i.case_id for i in registry] == ["a", "b", "c", "n"]  # by designation date
    counts = registry_read.registry_counts(engine)
    assert counts.total == 4
    assert counts.by_district == {"binhai": 2, "nankai": 1, "xiqing": 1}
    assert counts.by_direction == {"aerospace": 1, "ai": 2, "biomedicine": 1}
    assert counts.by_level == {"municipal": 3, "national": 1}
    assert counts.by_year == {2025: 2, 2026: 2}
    assert registry_read.counts(engine, "district") == {"binhai": 2, "nankai": 1, "xiqing": 1}
    assert registry_read.counts(engine, "year") == {"2025": 2, "2026": 2}
    assert [i.case_id for i in registry_read.institutes(engine, stages=[Stage.DELISTED])] == [
        "gone"
    ]


async def test_the_audit_trail_spans_every_workflow_run_of_a_case(
    engine: Engine, settings: Settings
) -> None:
    script = Script("t1")
    first_run = script.to_public_notice()
    script.run_id = "run-2"  # continue-as-new: same workflow, same seq counter, a new run
    designation = script.designate()
    await run(engine, settings, [*first_run, designation])

    trail = registry_read.audit_trail(engine, "t1")
    assert [e.seq for e in trail] == list(range(1, len(first_run) + 2))
    assert {e.run_id for e in trail} == {"run-1", "run-2"}
    last = trail[-1]
    assert (last.event, last.from_stage, last.to_stage, last.actor, last.role) == (
        "close_notice",
        "public_notice",
        "designated",
        "idri",
        "system",
    )
    assert last.reason == "public notice closed without objection"
    assert registry_read.event(engine, designation.key) == last
    assert registry_read.audit_trail(engine, "unknown") == []


async def test_the_outbox_gives_its_newest_mails_oldest_first_and_counts_them_all(
    engine: Engine, settings: Settings
) -> None:
    first, second = designated("m1", "binhai", "ai"), designated("m2", "nankai", "ai")
    await run(engine, settings, first.records + second.records)
    everything = registry_read.outbox(engine)
    assert len(everything) > 10

    newest = registry_read.outbox(engine, newest=4)

    assert [m.key for m in newest] == [m.key for m in everything[-4:]]
    assert registry_read.outbox_size(engine) == len(everything)
    of_first = registry_read.outbox(engine, case_id="m1")
    assert registry_read.outbox_size(engine, case_id="m1") == len(of_first)
    assert registry_read.outbox(engine, case_id="m1", newest=1)[0].key == of_first[-1].key
    assert registry_read.outbox_size(engine, status="sent") == 0
    assert registry_read.outbox(engine, status="pending", newest=len(everything) + 5) == everything

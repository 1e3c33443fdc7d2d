"""What the registry, the audit trail, the outbox and the public pages hold after the workflow
designates an institute, sees it through a rectification and delists it (DOMAIN.md 5-7).

The real worker and activities run on a time-skipping server with a SQLite registry in the
harness's data directory; without an SMTP server every mail becomes an ``.eml`` file. Everything
is read back through ``activities.registry_read`` (and the tables it does not cover).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from activities.db import create_registry_engine
from activities.tables import EvaluationRow, ObjectionRow
from models.case import EvaluationResult, HistoryEntry, Level, Role, Stage
from models.time import add_years, cst_date, end_of_day
from tests.lifecycle.harness import (
    BUREAU,
    DISTRICT_OFFICER,
    Case,
    Harness,
    harness,
    pages_published,
)
from workflows.institute import InstituteWorkflow, workflow_id

APPLICANT_EMAIL = "contact@example.cn"
"""The case contact's mailbox (``Harness.start``)."""
APPLICANT_NAME = "赵经理"
EXPERT_EMAIL = "zhang@tju.edu.cn"
"""Every expert ``Case.assign`` assigns has this mailbox."""
BUREAU_EMAIL = "bureau@gxj.tj.gov.cn"
DISTRICT_EMAIL = "binhai@tj.gov.cn"
ORGANISATION = "天津海河装备工业设计有限公司"

TOLD: dict[str, frozenset[str]] = {
    "created": frozenset({"district"}),
    "submit_plan": frozenset({"district"}),
    # DOMAIN: the applicant and the district on recommendation (and the bureau receives it)...
    "recommend": frozenset({"applicant", "district", "bureau"}),
    # ...experts on assignment...
    "assign_expert": frozenset({"expert"}),
    "submit_review": frozenset(),
    "record_inspection": frozenset(),
    # ...the review outcome and the notice...
    "approve": frozenset({"applicant", "district"}),
    # ...the bureau on objections...
    "lodge_objection": frozenset({"bureau"}),
    "close_notice": frozenset({"applicant", "district", "bureau"}),
    # ...designation (here after the objection was dismissed)...
    "dismiss_objection": frozenset({"applicant", "district", "bureau"}),
    # ...the evaluation result and the rectification deadline...
    "open_evaluation": frozenset({"applicant", "district"}),
    "order_rectification": frozenset({"applicant", "district", "bureau"}),
    "complete_rectification": frozenset({"district", "bureau"}),
    "rate_good": frozenset({"applicant", "district"}),
    # ...the bureau (and the supervising district) on overdue deadlines...
    "overdue": frozenset({"bureau", "district"}),
    # ...the institute before its evaluation opens and before its rectification deadline...
    "evaluation_reminder": frozenset({"applicant", "district"}),
    "rectification_reminder": frozenset({"applicant", "district"}),
    # ...and delisting.
    "delist": frozenset({"applicant", "district", "bureau"}),
}
"""Who is told of each event of this story (DOMAIN.md "every party is told what concerns it")."""

ADDRESS = {
    "applicant": APPLICANT_EMAIL,
    "district": DISTRICT_EMAIL,
    "bureau": BUREAU_EMAIL,
    "expert": EXPERT_EMAIL,
}

SEPARATOR = "-" * 72
"""Between the Chinese and the English part of a mail."""


# --- The story ------------------------------------------------------------------------------


@asynccontextmanager
async def registry_harness(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(
        env,
        tmp_path / "data",
        bureau_email=BUREAU_EMAIL,
        district_emails={"binhai": DISTRICT_EMAIL},
        smtp_host=None,
    ) as h:
        yield h


@contextmanager
def registry_of(h: Harness) -> Iterator[Engine]:
    engine = create_registry_engine(h.settings.registry_url)
    try:
        yield engine
    finally:
        engine.dispose()


async def designate(h: Harness) -> Case:
    """Review, public notice with an objection, investigation, dismissal: designated."""
    case = await h.start(ORGANISATION)
    await case.through_review()
    await case.object("市民甲", "研发场地与申报不符")
    await case.wait_for_stage(Stage.INVESTIGATING, within=timedelta(days=30))
    status = await case.resolve(upheld=False, reason="经核查，场地符合要求")
    assert status.stage is Stage.DESIGNATED
    return case


async def open_when_due(h: Harness, case: Case) -> None:
    status = await case.status()
    assert status.next_evaluation_due is not None
    await h.advance_to(status.next_evaluation_due - timedelta(days=10))
    await case.open_evaluation()


async def rectify_then_good(h: Harness, case: Case) -> date:
    """A tracking evaluation finds problems; rectified in time; good standing. The deadline."""
    await open_when_due(h, case)
    deadline = cst_date(await h.now()) + timedelta(days=90)
    await case.evaluate(EvaluationResult.RECTIFY, deadline=deadline.isoformat())
    await h.env.sleep(timedelta(days=30))
    await case.rectified()
    status = await case.evaluate(EvaluationResult.GOOD)
    assert status.stage is Stage.DESIGNATED
    return deadline


async def rectify_late_then_delist(h: Harness, case: Case) -> None:
    """The next evaluation orders rectification again; the deadline passes; delisted."""
    await open_when_due(h, case)
    deadline = cst_date(await h.now()) + timedelta(days=30)
    await case.evaluate(EvaluationResult.RECTIFY, deadline=deadline.isoformat())
    await h.env.sleep(timedelta(days=40))
    await case.rectified()
    status = await case.evaluate(EvaluationResult.DELIST)
    assert status.stage is Stage.DELISTED


# --- Reading back -----------------------------------------------------------------------------


async def history(case: Case) -> list[HistoryEntry]:
    """The workflow's history query, asked again if it hits a continue-as-new (see
    ``Case.status``: the test server can drop a query to a run that is closing)."""
    for attempt in range(3):
        try:
            return await case.handle.query(
                InstituteWorkflow.history, rpc_timeout=timedelta(seconds=5)
            )
        except RPCError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def settled(case: Case, engine: Engine) -> list[HistoryEntry]:
    """Wait (real time) until the workflow's side effects caught up with its history: every
    entry recorded, no mail waiting, no activity (publication, delivery) still running."""
    entries: list[HistoryEntry] = []
    for _ in range(200):
        entries = await history(case)
        recorded = [e.seq for e in registry_read.audit_trail(engine, case.case_id)]
        busy = registry_read.outbox(engine, case_id=case.case_id, status="pending")
        busy += registry_read.outbox(engine, case_id=case.case_id, status="sending")
        if recorded == [e.seq for e in entries] and not busy and not await running(case):
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"case {case.case_id} did not settle: {len(entries)} history entries")


async def running(case: Case) -> int:
    """Activities of the case's current run still scheduled or running.

    Asked of the service directly: once ``IdriDueAt`` is unset (a case without a deadline, e.g.
    delisted) the time-skipping server returns it as a null payload, which
    ``WorkflowHandle.describe`` fails to decode (``TypeError`` in ``fromisoformat``).
    """
    client = case.env.client
    description = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=case.handle.id)
        )
    )
    return len(description.pending_activities)


def check_trail_is_the_history(case: Case, engine: Engine, entries: list[HistoryEntry]) -> None:
    """One audit row per history entry, keyed ``institute-<id>#<seq>``, across all runs; a new
    run begins after each return to good standing (continue-as-new)."""
    trail = registry_read.audit_trail(engine, case.case_id)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert [
        (t.seq, t.at, t.event, t.from_stage, t.to_stage, t.actor, t.role, t.reason) for t in trail
    ] == [
        (
            e.seq,
            e.at,
            e.event,
            e.from_stage.value,
            e.to_stage.value,
            e.actor,
            e.role.value,
            e.reason,
        )
        for e in entries
    ]
    assert [t.key for t in trail] == [f"{workflow_id(case.case_id)}#{e.seq}" for e in entries]
    assert {t.workflow_id for t in trail} == {case.handle.id}
    assert trail[0].run_id == case.handle.first_execution_run_id
    for before, after in itertools.pairwise(trail):
        back_in_good_standing = before.to_stage == "designated" != before.from_stage
        assert (after.run_id != before.run_id) == back_in_good_standing, (
            f"{before.event} → {after.event}: a new run only after a return to 'designated'"
        )


def check_outbox(h: Harness, case: Case, engine: Engine) -> None:
    """One outbox row per notification: the parties of ``TOLD`` for every recorded event, at
    their mailboxes, each sent once (an ``.eml`` file), rendered Chinese first."""
    trail = registry_read.audit_trail(engine, case.case_id)
    expected = {(t.key, role, ADDRESS[role]) for t in trail for role in TOLD[t.event]}
    rows = registry_read.outbox(engine, case_id=case.case_id)
    assert sorted((r.event_key, r.role, r.address) for r in rows) == sorted(expected)
    assert {r.status for r in rows} == {"sent"}
    assert all(r.attempts == 1 and r.sent_at is not None for r in rows)
    files = {Path(r.transport or "") for r in rows}
    assert len(files) == len(rows)
    assert files == set((h.settings.data_dir / "outbox").glob("*.eml"))
    for row in rows:
        check_chinese_first(case, row, read_mail(row))
        if row.role == "applicant":
            assert addressee(row) == f"{APPLICANT_NAME} <{APPLICANT_EMAIL}>"


def read_mail(row: registry_read.OutboxEntry) -> EmailMessage:
    """The ``.eml`` file of a sent row."""
    assert row.transport is not None
    mail = message_from_bytes(Path(row.transport).read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def addressee(row: registry_read.OutboxEntry) -> str:
    """The ``To`` header as written. The file's headers are raw UTF-8 (RFC 6532, readable in an
    editor), whose display names ``email``'s parser leaves undecoded; so read the line."""
    assert row.transport is not None
    lines = Path(row.transport).read_text(encoding="utf-8").splitlines()
    return next(line.removeprefix("To: ") for line in lines if line.startswith("To: "))


def body_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()  # type: ignore[attr-defined]  # EmailMessage part
    return content


CJK = re.compile(r"[\u4e00-\u9fff]")


def check_chinese_first(case: Case, row: registry_read.OutboxEntry, mail: EmailMessage) -> None:
    assert mail["To"].addresses[0].addr_spec == row.address
    assert mail["Subject"] == row.subject
    assert mail["X-Idri-Notification"] == row.key
    zh_subject, _, en_subject = row.subject.partition(" / ")
    assert zh_subject.startswith("【天津市工业设计研究院】") and ORGANISATION in zh_subject
    assert en_subject.startswith("[Tianjin IDRI] ")
    zh, separator, en = body_of(mail).partition(SEPARATOR)
    assert separator, f"{row.key}: no English part after the Chinese one"
    assert CJK.search(zh.splitlines()[0]), f"{row.key}: the mail does not open in Chinese"
    assert f"案件编号：{case.case_id}" in zh and "事项：" in zh and "Dear" not in zh
    assert f"Case: {case.case_id}" in en and "Event: " in en


def mails_of(case: Case, engine: Engine, event: str, role: str) -> list[str]:
    """The bodies of the mails ``role`` received about ``event``."""
    events = {t.key: t.event for t in registry_read.audit_trail(engine, case.case_id)}
    return [
        body_of(read_mail(row))
        for row in registry_read.outbox(engine, case_id=case.case_id)
        if row.role == role and events[row.event_key] == event
    ]


def evaluations(engine: Engine, case_id: str) -> list[EvaluationRow]:
    with Session(engine) as session:
        query = select(EvaluationRow).where(EvaluationRow.case_id == case_id)
        return list(session.exec(query.order_by(col(EvaluationRow.at), col(EvaluationRow.id))))


def objections(engine: Engine, case_id: str) -> list[ObjectionRow]:
    with Session(engine) as session:
        query = select(ObjectionRow).where(ObjectionRow.case_id == case_id)
        return list(session.exec(query.order_by(col(ObjectionRow.id))))


def page(h: Harness, path: str) -> str:
    return (h.settings.data_dir / "public" / path).read_text(encoding="utf-8")


def page_json(h: Harness, path: str) -> Any:
    return json.loads(page(h, path))


def zh_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def last_day(end: datetime) -> date:
    """The last day (Beijing) of a period ending at ``end`` (midnight after its last day)."""
    return cst_date(end - timedelta(microseconds=1))


def only(entries: list[HistoryEntry], event: str) -> HistoryEntry:
    found = [e for e in entries if e.event == event]
    assert len(found) == 1, f"{len(found)} {event} events"
    return found[0]


async def recorded(h: Harness, case: Case, engine: Engine) -> list[HistoryEntry]:
    """Settle, then check what holds at every point of the story: trail and outbox."""
    entries = await settled(case, engine)
    check_trail_is_the_history(case, engine, entries)
    check_outbox(h, case, engine)
    return entries


# --- The rules ------------------------------------------------------------------------------


async def test_a_designation_enters_the_registry_with_its_trail_mails_and_pages(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with registry_harness(time_env, tmp_path) as h:
        case = await designate(h)
        with registry_of(h) as engine:
            entries = await recorded(h, case, engine)
            status = await case.status()
            approve, designation = only(entries, "approve"), only(entries, "dismiss_objection")
            assert [e.event for e in entries] == [
                "created",
                "submit_plan",
                "recommend",
                "assign_expert",
                "assign_expert",
                "assign_expert",
                "submit_review",
                "submit_review",
                "submit_review",
                "record_inspection",
                "approve",
                "lodge_objection",
                "close_notice",
                "dismiss_objection",
            ]

            # The registry (名录): designated on the day the objection was dismissed, municipal
            # level, first tracking evaluation three years on.
            institute = registry_read.institute(engine, case.case_id)
            assert institute is not None
            assert (institute.stage, institute.level) == ("designated", "municipal")
            assert (institute.organisation, institute.district, institute.direction) == (
                ORGANISATION,
                "binhai",
                "high_end_equipment",
            )
            assert institute.designated_at == designation.at == status.designated_at
            assert institute.last_evaluated_at is None
            assert institute.next_evaluation_due == add_years(designation.at, 3)
            assert institute.next_evaluation_due == status.next_evaluation_due
            assert institute.delisted_at is None
            assert registry_read.current_registry(engine) == [institute]

            # The objection: lodged during the notice, dismissed by the investigation.
            [objection] = objections(engine, case.case_id)
            lodged = only(entries, "lodge_objection")
            assert (objection.objection_no, objection.objector, objection.reason) == (
                1,
                "市民甲",
                "研发场地与申报不符",
            )
            assert (objection.status, objection.resolution) == ("dismissed", "经核查，场地符合要求")
            assert (objection.lodged_at, objection.resolved_at) == (lodged.at, designation.at)
            assert objection.event_key == f"{case.handle.id}#{lodged.seq}"
            assert objection.resolved_event_key == f"{case.handle.id}#{designation.seq}"
            assert evaluations(engine, case.case_id) == []

            # The mails: each expert invited by name; the notice period and the designation date
            # in the applicant's mails.
            experts = registry_read.outbox(engine, case_id=case.case_id)
            assert sorted(addressee(r) for r in experts if r.role == "expert") == [
                f"刘研究员 <{EXPERT_EMAIL}>",
                f"张教授 <{EXPERT_EMAIL}>",
                f"陈工 <{EXPERT_EMAIL}>",
            ]
            trail_approve = registry_read.event(engine, f"{case.handle.id}#{approve.seq}")
            assert trail_approve is not None
            start = datetime.fromisoformat(trail_approve.details["notice_start"])
            end = datetime.fromisoformat(trail_approve.details["notice_end"])
            [approval_mail] = mails_of(case, engine, "approve", "applicant")
            assert f"公示期：{zh_day(cst_date(start))}至{zh_day(last_day(end))}" in approval_mail
            [designation_mail] = mails_of(case, engine, "dismiss_objection", "applicant")
            assert "确定为天津市市级工业设计研究院" in designation_mail
            assert f"确定日期：{zh_day(cst_date(designation.at))}" in designation_mail
            assert designation_mail.index("确定日期") < designation_mail.index("Designated on")

            # The pages: the notice with its period, the registry listing the institute.
            await pages_published(h.settings)
            notice_stem = f"notice/{cst_date(start).isoformat()}"
            notice = page(h, f"{notice_stem}.html")
            assert ORGANISATION in notice and "公示期" in notice and BUREAU_EMAIL in notice
            assert f'公示期：<time datetime="{cst_date(start).isoformat()}">' in notice
            assert f"{zh_day(cst_date(start))}</time>至" in notice
            assert f"{zh_day(last_day(end))}</time>" in notice
            notice_data = page_json(h, f"{notice_stem}.json")
            assert datetime.fromisoformat(notice_data["notice_start"]) == start
            assert datetime.fromisoformat(notice_data["notice_end"]) == end
            assert notice_data["notice_last_day"] == last_day(end).isoformat()
            assert [i["case_id"] for i in notice_data["institutes"]] == [case.case_id]
            assert end <= designation.at, "designated only after the notice period"
            registry_page = page(h, "registry.html")
            assert ORGANISATION in registry_page
            assert zh_day(cst_date(designation.at)) in registry_page
            [listed] = page_json(h, "registry.json")["institutes"]
            assert listed["case_id"] == case.case_id
            assert datetime.fromisoformat(listed["designated_at"]) == designation.at
            assert f"{notice_stem}.html" in page(h, "index.html")


async def test_a_rectification_is_recorded_and_good_standing_restarts_the_cycle(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with registry_harness(time_env, tmp_path) as h:
        case = await designate(h)
        deadline = await rectify_then_good(h, case)
        with registry_of(h) as engine:
            entries = await recorded(h, case, engine)
            designation = only(entries, "dismiss_objection")
            ordered, good = only(entries, "order_rectification"), only(entries, "rate_good")
            assert [e.event for e in entries][-4:] == [
                "open_evaluation",
                "order_rectification",
                "complete_rectification",
                "rate_good",
            ]
            runs = {t.run_id for t in registry_read.audit_trail(engine, case.case_id)}
            assert len(runs) == 2, "designation and the rectification cycle: two runs"

            # The registry: still designated, evaluated on the good result, next one in 3 years.
            institute = registry_read.institute(engine, case.case_id)
            assert institute is not None
            assert (institute.stage, institute.level) == ("designated", "municipal")
            assert institute.designated_at == designation.at
            assert institute.last_evaluated_at == good.at
            assert institute.next_evaluation_due == add_years(good.at, 3)
            assert institute.next_evaluation_due == (await case.status()).next_evaluation_due

            # The evaluations: rectify (with its deadline), rectified, good.
            rows = evaluations(engine, case.case_id)
            assert [(r.result, r.actor, r.note) for r in rows] == [
                ("rectify", BUREAU.name, "评估：rectify"),
                ("rectified", DISTRICT_OFFICER.name, "已整改"),
                ("good", BUREAU.name, "评估：good"),
            ]
            assert rows[0].deadline == end_of_day(deadline)
            assert [r.at for r in rows] == [
                ordered.at,
                only(entries, "complete_rectification").at,
                good.at,
            ]
            assert [r.event_key for r in rows] == [
                f"{case.handle.id}#{e.seq}"
                for e in entries
                if e.event in ("order_rectification", "complete_rectification", "rate_good")
            ]

            # The mails: the deadline to the applicant, and to the district that supervises.
            [to_applicant] = mails_of(case, engine, "order_rectification", "applicant")
            assert f"整改期限：{zh_day(deadline)}" in to_applicant
            [to_district] = mails_of(case, engine, "order_rectification", "district")
            assert f"整改期限：{zh_day(deadline)}" in to_district and "督促整改" in to_district
            [good_news] = mails_of(case, engine, "rate_good", "applicant")
            next_due = last_day(add_years(good.at, 3))
            assert f"下次评估：{zh_day(next_due)}前" in good_news

            # The registry page shows the institute with its new evaluation date.
            await pages_published(h.settings)
            [listed] = page_json(h, "registry.json")["institutes"]
            assert listed["case_id"] == case.case_id
            assert datetime.fromisoformat(listed["next_evaluation_due"]) == add_years(good.at, 3)
            assert ORGANISATION in page(h, "registry.html")


async def test_a_delisting_leaves_the_registry_and_is_announced(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with registry_harness(time_env, tmp_path) as h:
        case = await designate(h)
        await rectify_then_good(h, case)
        await rectify_late_then_delist(h, case)
        assert (await case.handle.result()).stage is Stage.DELISTED
        with registry_of(h) as engine:
            entries = await recorded(h, case, engine)
            designation, delisting = only(entries, "dismiss_objection"), only(entries, "delist")
            assert [e.event for e in entries][-7:] == [
                "open_evaluation",
                "order_rectification",
                # 30 and 7 days before the deadline (a reminder's moment, not the order's)
                "rectification_reminder",
                "rectification_reminder",
                "overdue",
                "complete_rectification",
                "delist",
            ]
            runs = {t.run_id for t in registry_read.audit_trail(engine, case.case_id)}
            assert len(runs) == 3, "designation, good standing, delisting: three runs"

            # The registry: the case is kept, delisted, and no longer in the 名录.
            institute = registry_read.institute(engine, case.case_id)
            assert institute is not None
            assert (institute.stage, institute.level) == ("delisted", Level.MUNICIPAL.value)
            assert institute.designated_at == designation.at
            assert institute.delisted_at == delisting.at == institute.last_evaluated_at
            assert registry_read.current_registry(engine) == []
            assert registry_read.registry_counts(engine).total == 0

            # The evaluations of both cycles, in order.
            assert [r.result for r in evaluations(engine, case.case_id)] == [
                "rectify",
                "rectified",
                "good",
                "rectify",
                "rectified",
                "delist",
            ]

            # The overdue rectification went to the bureau and the district, once.
            overdue = only(entries, "overdue")
            assert (overdue.from_stage, overdue.role) == (Stage.RECTIFYING, Role.SYSTEM)
            [to_bureau] = mails_of(case, engine, "overdue", "bureau")
            assert "已逾期" in to_bureau
            [delisted_mail] = mails_of(case, engine, "delist", "applicant")
            assert "从名录中删除" in delisted_mail

            # The pages: the registry is empty, the delisting announced and linked.
            await pages_published(h.settings)
            assert ORGANISATION not in page(h, "registry.html")
            registry_data = page_json(h, "registry.json")
            assert (registry_data["count"], registry_data["institutes"]) == (0, [])
            announcement = page(h, f"delisting/{case.case_id}.html")
            assert ORGANISATION in announcement and "评估：delist" in announcement
            assert f"{zh_day(cst_date(delisting.at))}</time>起从天津市工业设计研究院名录中删除" in (
                announcement
            )
            announced = page_json(h, f"delisting/{case.case_id}.json")
            assert datetime.fromisoformat(announced["delisted_at"]) == delisting.at
            assert datetime.fromisoformat(announced["designated_at"]) == designation.at
            assert f"delisting/{case.case_id}.html" in page(h, "index.html")

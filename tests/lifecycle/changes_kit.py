"""Shared by the tests of issue 20 items 4-9: actors, the changes' updates, and the outbox (the
source of truth for who was told what)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from activities import registry_read
from activities.db import create_registry_engine
from activities.tables import EventRow, NotificationRow
from models.case import Actor, CaseStatus, Role
from models.changes import ContactChange, DeadlineExtension, WillingnessChange
from tests.lifecycle.harness import BUREAU, DISTRICT_OFFICER, Case, Harness, harness
from workflows.institute import InstituteWorkflow

APPLICANT = Actor("赵经理", Role.APPLICANT)
BUREAU_EMAIL = "bureau@gxj.tj.gov.cn"
DISTRICT_EMAIL = "binhai@tj.gov.cn"


@asynccontextmanager
async def mail_harness(env: WorkflowEnvironment, tmp_path: Path, **overrides: Any):  # type: ignore[no-untyped-def]
    """A harness whose bureau and district have mailboxes (mail written as .eml files)."""
    async with harness(
        env,
        tmp_path / "data",
        bureau_email=BUREAU_EMAIL,
        district_emails={"binhai": DISTRICT_EMAIL},
        smtp_host=None,
        **overrides,
    ) as h:
        yield h


async def willing(case: Case, yes: bool, actor: Actor = DISTRICT_OFFICER) -> CaseStatus:
    return await case.handle.execute_update(
        InstituteWorkflow.record_willingness, WillingnessChange(actor, yes, "企业表态")
    )


async def change(case: Case, actor: Actor = DISTRICT_OFFICER, **fields: Any) -> CaseStatus:
    return await case.handle.execute_update(
        InstituteWorkflow.change_contact, ContactChange(actor, **fields)
    )


async def extend(case: Case, kind: str, until: str, actor: Actor = BUREAU) -> CaseStatus:
    return await case.handle.execute_update(
        InstituteWorkflow.extend_deadline, DeadlineExtension(actor, kind, until, "疫情影响")
    )


@dataclass(frozen=True)
class Mail:
    event: str
    role: str
    address: str | None
    subject: str
    body: str


@contextmanager
def registry_of(h: Harness) -> Iterator[Engine]:
    engine = create_registry_engine(h.settings.registry_url)
    try:
        yield engine
    finally:
        engine.dispose()


def outbox(h: Harness, case: Case) -> list[Mail]:
    """Every mail the case wrote to the outbox, oldest first, with its event's name."""
    with registry_of(h) as engine, Session(engine) as session:
        rows = session.exec(
            select(NotificationRow, EventRow.event)
            .join(EventRow, col(EventRow.key) == col(NotificationRow.event_key))
            .where(col(NotificationRow.case_id) == case.case_id)
            .order_by(col(NotificationRow.created_at), col(NotificationRow.key))
        ).all()
        return [Mail(event, n.role, n.address, n.subject, n.body) for n, event in rows]


def trail_events(h: Harness, case: Case) -> list[str]:
    with registry_of(h) as engine:
        return [t.event for t in registry_read.audit_trail(engine, case.case_id)]


async def start_case(
    h: Harness, *, willing: bool = True, duplicate_warning: str | None = None, **kwargs: Any
) -> Case:
    """Start a case as ``Harness.start`` does, with the survey's willingness and the warning the
    service found (``InstituteInput``)."""
    import uuid

    from models.case import InstituteInput
    from tests.lifecycle.harness import survey_record
    from workflows.institute import workflow_id

    case_id = uuid.uuid4().hex[:10]
    survey = survey_record(case_id, **kwargs)
    survey.willing = willing
    handle = await h.client.start_workflow(
        InstituteWorkflow.run,
        InstituteInput(survey, duplicate_warning=duplicate_warning),
        id=workflow_id(case_id),
        task_queue=h.settings.task_queue,
    )
    case = Case(h.env, handle, case_id, survey.organisation)
    h.cases.append(case)
    return case

"""Drives institute cases on the time-skipping server with the real worker and activities."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from idri.settings import Settings
from idri.worker import build_worker
from models.case import (
    Actor,
    CaseStatus,
    Contact,
    Decision,
    EvaluationOpening,
    EvaluationRecord,
    EvaluationResult,
    ExpertAssignment,
    ExpertReview,
    InstituteInput,
    NationalOutcome,
    Objection,
    ObjectionResolution,
    Outcome,
    PlanSubmission,
    Recommendation,
    RectificationReport,
    Role,
    SiteInspection,
    Stage,
    SurveyRecord,
    Withdrawal,
)
from models.review import DEFAULT_CRITERIA
from workflows.institute import InstituteWorkflow, workflow_id

DISTRICT_OFFICER = Actor("王科长", Role.DISTRICT_OFFICER, "binhai")
BUREAU = Actor("李处长", Role.BUREAU_OFFICER)
PLAN_SHA = "a" * 64


@dataclass
class Case:
    """One case under test, with shortcuts for every operator action."""

    env: WorkflowEnvironment
    handle: WorkflowHandle[InstituteWorkflow, CaseStatus]
    case_id: str
    organisation: str
    criteria: list[str] = field(default_factory=lambda: list(DEFAULT_CRITERIA))
    """The review criteria of the worker's settings (by default the product's): each review
    scores them all."""

    def scored(self, actor: Actor, expert: str, score: Any, opinion: str) -> ExpertReview:
        """A review giving ``score`` on every criterion (so ``score`` is also their mean)."""
        return ExpertReview(actor, expert, score, opinion, {c: score for c in self.criteria})

    async def status(self) -> CaseStatus:
        return await self.handle.query(InstituteWorkflow.status)

    async def stage(self) -> Stage:
        return (await self.status()).stage

    async def history_events(self) -> list[str]:
        return [h.event for h in await self.handle.query(InstituteWorkflow.history)]

    async def submit_plan(self) -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.submit_plan, PlanSubmission(DISTRICT_OFFICER, "plan.pdf", PLAN_SHA)
        )

    async def recommend(self) -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.recommend, Recommendation(DISTRICT_OFFICER, "推荐：基础扎实")
        )

    async def assign(self, expert: str = "张教授", org: str = "天津大学") -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.assign_expert,
            ExpertAssignment(BUREAU, expert, org, "zhang@tju.edu.cn"),
        )

    async def review(self, expert: str = "张教授", score: float = 88) -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.submit_review,
            self.scored(Actor(expert, Role.EXPERT), expert, score, "方案可行"),
        )

    async def inspect(self, passed: bool = True) -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.record_inspection, SiteInspection(BUREAU, passed, "现场条件良好")
        )

    async def decide(self, outcome: Outcome, reason: str = "综合评价") -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.decide, Decision(BUREAU, outcome, reason)
        )

    async def object(self, by: str = "市民甲", reason: str = "场地不符") -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.lodge_objection, Objection(BUREAU, by, reason)
        )

    async def resolve(self, upheld: bool, reason: str = "调查结论") -> CaseStatus:
        return await self._settled(
            self.handle.execute_update(
                InstituteWorkflow.resolve_objection, ObjectionResolution(BUREAU, upheld, reason)
            )
        )

    async def open_evaluation(self) -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.open_evaluation, EvaluationOpening(BUREAU)
        )

    async def evaluate(self, result: EvaluationResult, **kwargs: Any) -> CaseStatus:
        return await self._settled(
            self.handle.execute_update(
                InstituteWorkflow.record_evaluation,
                EvaluationRecord(BUREAU, result, f"评估：{result.value}", **kwargs),
            )
        )

    async def _settled(self, update: Any) -> CaseStatus:
        """Run an update that may end the run with continue-as-new, then let the new run start.

        The time-skipping test server loses a query that reaches a run as it closes, and then
        holds its clock still; a minute of simulated time lets the next run take over first.
        """
        status: CaseStatus = await update
        if status.stage is Stage.DESIGNATED:
            await self.env.sleep(timedelta(minutes=1))
        return status

    async def rectified(self) -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.complete_rectification,
            RectificationReport(DISTRICT_OFFICER, "已整改"),
        )

    async def national(self, designated: bool) -> CaseStatus:
        return await self._settled(
            self.handle.execute_update(
                InstituteWorkflow.record_national_outcome, NationalOutcome(BUREAU, designated)
            )
        )

    async def withdraw(self, reason: str = "企业战略调整") -> CaseStatus:
        return await self.handle.execute_update(
            InstituteWorkflow.withdraw, Withdrawal(DISTRICT_OFFICER, reason)
        )

    async def through_review(self) -> CaseStatus:
        """From a fresh case to the bureau's approval: the case enters public notice."""
        await self.submit_plan()
        await self.recommend()
        await self.assign("张教授", "天津大学")
        await self.assign("陈工", "河北工业大学")
        await self.assign("刘研究员", "天津理工大学")
        await self.review("张教授", 88)
        await self.review("陈工", 91)
        await self.review("刘研究员", 85)
        await self.inspect()
        return await self.decide(Outcome.APPROVE, "评审通过")

    async def designated(self) -> CaseStatus:
        """Through review and an objection-free notice period to designation."""
        await self.through_review()
        await self.wait_for_stage(Stage.DESIGNATED, within=timedelta(days=30))
        return await self.status()

    async def wait_for_stage(self, stage: Stage, *, within: timedelta) -> None:
        """Let simulated time pass, in steps, until the case reaches ``stage``."""
        step = min(within, timedelta(days=1))
        waited = timedelta(0)
        while (await self.stage()) is not stage:
            if waited >= within:
                raise AssertionError(f"case still {await self.stage()} after {within}, not {stage}")
            await self.env.sleep(step)
            waited += step


def survey_record(
    case_id: str,
    organisation: str = "天津某装备制造有限公司",
    *,
    district: str = "binhai",
    direction: str = "high_end_equipment",
    previous_case_id: str | None = None,
    email: str | None = "contact@example.cn",
) -> SurveyRecord:
    """A candidate as the district officer of its district records it."""
    return SurveyRecord(
        case_id=case_id,
        organisation=organisation,
        district=district,
        direction=direction,
        # Districts survey their own district: the officer of the case's district.
        actor=Actor(DISTRICT_OFFICER.name, Role.DISTRICT_OFFICER, district),
        contact=Contact("赵经理", email, "13800000000"),
        qualifications=["市级工业设计中心"],
        previous_case_id=previous_case_id,
    )


@dataclass
class Harness:
    """A worker with the real activities on a temporary data directory."""

    env: WorkflowEnvironment
    settings: Settings
    cases: list[Case] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def start(
        self,
        organisation: str = "天津某装备制造有限公司",
        *,
        district: str = "binhai",
        direction: str = "high_end_equipment",
        previous_case_id: str | None = None,
        email: str | None = "contact@example.cn",
    ) -> Case:
        case_id = uuid.uuid4().hex[:10]
        survey = survey_record(
            case_id,
            organisation,
            district=district,
            direction=direction,
            previous_case_id=previous_case_id,
            email=email,
        )
        handle = await self.client.start_workflow(
            InstituteWorkflow.run,
            InstituteInput(survey),
            id=workflow_id(case_id),
            task_queue=self.settings.task_queue,
        )
        case = Case(self.env, handle, case_id, organisation, list(self.settings.review_criteria))
        self.cases.append(case)
        return case

    async def advance_to(self, moment: datetime) -> None:
        now = await self.now()
        if moment > now:
            await self.env.sleep(moment - now)


@asynccontextmanager
async def harness(
    env: WorkflowEnvironment, data_dir: Path, **overrides: Any
) -> AsyncIterator[Harness]:
    settings = Settings(
        data_dir=data_dir, task_queue=f"idri-test-{uuid.uuid4().hex[:8]}", **overrides
    )
    h = Harness(env, settings)
    try:
        async with build_worker(env.client, settings):
            yield h
    finally:
        # The test server skips time only while no task waits for a worker: a case left running
        # after its worker stopped would hold the shared clock for every later test.
        for case in h.cases:
            with contextlib.suppress(RPCError):
                await env.client.get_workflow_handle(case.handle.id).terminate("test finished")


async def accepted_updates(case: Case) -> int:
    """How many updates the case's current run has accepted (refused ones leave no event)."""
    from temporalio.api.enums.v1 import EventType

    history = await case.handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def refused(call: Any) -> str:
    """Run an update expected to be refused; return the refusal message."""
    try:
        await call
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        return str(getattr(cause, "message", cause))
    raise AssertionError("the action was accepted, but it should have been refused")


async def pages_published(settings: Settings, within: float = 15.0) -> None:
    """Wait until every page due is published (the queue ``record_event`` fills is empty).

    A case publishes its pages with a ``publish`` activity beside it; a test that reads a page
    waits for it here.
    """
    from sqlalchemy import func
    from sqlmodel import select

    from activities.db import create_registry_engine, read_session
    from activities.tables import PageDueRow

    engine = create_registry_engine(settings.registry_url)
    try:
        waited = 0.0
        while True:
            with read_session(engine) as session:
                due = session.exec(select(func.count()).select_from(PageDueRow)).one()
            if due == 0:
                return
            if waited >= within:
                raise AssertionError(f"{due} page(s) still due after {within:g} s")
            await asyncio.sleep(0.1)
            waited += 0.1
    finally:
        engine.dispose()


HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def record_history(case: Case, name: str) -> None:
    """With ``IDRI_RECORD_HISTORIES=1``, save the case's history for the replay test.

    Recorded histories are committed: they stand for cases already running in production, which
    every later version of the workflow must replay.
    """
    import os

    if os.environ.get("IDRI_RECORD_HISTORIES") != "1":
        return
    HISTORIES.mkdir(exist_ok=True)
    client = case.handle._client
    first = client.get_workflow_handle(case.handle.id, run_id=case.handle.first_execution_run_id)
    latest = client.get_workflow_handle(case.handle.id)
    first_run = (await first.fetch_history()).to_json()
    last_run = (await latest.fetch_history()).to_json()
    (HISTORIES / f"{name}.json").write_text(first_run, "utf-8")
    # Compared parsed: the JSON of one history can list a map's entries in another order.
    if json.loads(last_run) != json.loads(first_run):
        (HISTORIES / f"{name}-last-run.json").write_text(last_run, "utf-8")

"""Scale: one evaluation sweep over N designated institutes (10,000 in the issue).

The institutes are set up as they stand after their designation: each is a running
``InstituteWorkflow`` started with the state a designated case carries across continue-as-new
(``InstituteInput.carried``, designated three years ago less 30 days, so its evaluation falls due
in 30 days, inside the 90-day window), and a row in the registry's ``institutes`` table as
``record_event`` would have left it. Driving 10,000 cases through review first would measure the
lifecycle again, for hours.

Then :class:`EvaluationSweepWorkflow` runs once, as the daily schedule starts it, with the
default page size and concurrency (``IDRI_SWEEP_*``): the measure is its wall time until every
due evaluation is open (each ``open_evaluation`` update has completed, so the case has recorded
it). The worker process's memory is read with all cases open, before and after the sweep.
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from temporalio.client import Client

from activities.db import create_registry_engine, migrate, write_session
from activities.tables import InstituteRow, table_of
from bench.common import WorkerProcess, bounded
from models.case import (
    SYSTEM,
    Actor,
    CaseState,
    Contact,
    HistoryEntry,
    InstituteInput,
    Role,
    Stage,
    SurveyRecord,
)
from models.schedules import EVALUATION_SWEEP_ID, SweepInput, SweepResult
from workflows.institute import InstituteWorkflow, workflow_id
from workflows.schedules import EvaluationSweepWorkflow

OFFICER = Actor("王科长", Role.DISTRICT_OFFICER, "binhai")
SEQ = 12
"""Events a case has recorded by its designation (survey to ``close_notice``)."""


@dataclass
class ScaleResult:
    institutes: int
    setup_seconds: float
    sweep_seconds: float
    result: SweepResult
    rss_before_mb: float
    rss_after_mb: float
    peak_mb: float

    @property
    def opened_per_second(self) -> float:
        return self.result.totals.opened / self.sweep_seconds


def carried(case_id: str, n: int, now: datetime) -> CaseState:
    designated_at = now - timedelta(days=3 * 365 - 30)
    survey = SurveyRecord(
        case_id=case_id,
        organisation=f"天津规模{n}号设计研究院有限公司",
        district="binhai",
        direction="high_end_equipment",
        actor=OFFICER,
        contact=Contact("赵经理", "contact@example.cn", "13800000000"),
        qualifications=["市级工业设计中心"],
    )
    events = [
        "created",
        "submit_plan",
        "recommend",
        "assign_expert",
        "assign_expert",
        "submit_review",
        "submit_review",
        "record_inspection",
        "approve",
        "close_notice",
        "round_reminder",
        "round_reminder",
    ]
    history = [
        HistoryEntry(
            seq,
            designated_at - timedelta(days=SEQ - seq),
            event,
            Stage.PUBLIC_NOTICE if event == "close_notice" else Stage.UNDER_REVIEW,
            Stage.DESIGNATED if event == "close_notice" else Stage.UNDER_REVIEW,
            SYSTEM.name,
            Role.SYSTEM,
            f"{event} (set up by the scale benchmark)",
        )
        for seq, event in enumerate(events, start=1)
    ]
    return CaseState(
        survey=survey,
        created_at=designated_at - timedelta(days=120),
        stage=Stage.DESIGNATED,
        stage_entered_at=designated_at,
        seq=SEQ,
        round_year=designated_at.year,
        designated_at=designated_at,
        next_evaluation_due=designated_at + timedelta(days=3 * 365),
        history=history,
    )


def registry_rows(states: list[CaseState], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "case_id": s.case_id,
            "organisation": s.survey.organisation,
            "district": s.survey.district,
            "direction": s.survey.direction,
            "level": s.level.value,
            "stage": s.stage.value,
            "round_year": s.round_year,
            "designated_at": s.designated_at,
            "next_evaluation_due": s.next_evaluation_due,
            "workflow_id": workflow_id(s.case_id),
            "last_event_seq": s.seq,
            "updated_at": now,
        }
        for s in states
    ]


def seed_registry(registry_url: str, institutes: int) -> tuple[str, list[CaseState]]:
    """``institutes`` designated institutes written to the registry (no workflows): their ids'
    tag and their states. The workbench's benchmark (``bench/web.py``) needs only these."""
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:4]
    states = [carried(f"scale{n:05d}{tag}", n, now) for n in range(institutes)]
    migrate(registry_url)
    engine = create_registry_engine(registry_url)
    try:
        with write_session(engine) as session:
            session.execute(insert(table_of(InstituteRow)), registry_rows(states, now))
    finally:
        engine.dispose()
    return tag, states


async def seed_designated(
    client: Client,
    worker: WorkerProcess,
    *,
    institutes: int,
    registry_url: str,
    task_queue: str,
    progress: Any,
) -> tuple[str, float]:
    """``institutes`` designated cases, running and in the registry: (their ids' tag, seconds
    taken).

    Since issue 18 a case started with a carried state fails at once (``identity_refusal``):
    these "running" cases are failed workflows, and the sweep's figures at scale mean nothing
    until the cases are made another way (``bench/RESULTS.md``)."""
    tag, states = seed_registry(registry_url, institutes)

    async def start(state: CaseState) -> None:
        await client.start_workflow(
            InstituteWorkflow.run,
            InstituteInput(state.survey, carried=state),
            id=workflow_id(state.case_id),
            task_queue=task_queue,
        )

    begin = time.monotonic()
    for chunk in range(0, institutes, 1000):
        await bounded([functools.partial(start, s) for s in states[chunk : chunk + 1000]], 50)
        progress(f"scale: {min(chunk + 1000, institutes)} of {institutes} institutes started")
    await worker.wait_idle(limit=600)
    return tag, time.monotonic() - begin


async def run_scale(
    client: Client,
    worker: WorkerProcess,
    *,
    institutes: int,
    registry_url: str,
    task_queue: str,
    progress: Any,
) -> ScaleResult:
    tag, setup = await seed_designated(
        client,
        worker,
        institutes=institutes,
        registry_url=registry_url,
        task_queue=task_queue,
        progress=progress,
    )
    rss_before, _ = worker.rss_mb()
    progress(f"scale: set up in {setup:.0f} s; the sweep starts")

    begin = time.monotonic()
    handle = await client.start_workflow(
        EvaluationSweepWorkflow.run,
        SweepInput(),
        id=f"{EVALUATION_SWEEP_ID}-bench-{tag}",
        task_queue=task_queue,
    )
    result = await handle.result()
    sweep = time.monotonic() - begin
    await worker.wait_idle(limit=600)
    rss_after, peak = worker.rss_mb()
    return ScaleResult(institutes, setup, sweep, result, rss_before, rss_after, peak)

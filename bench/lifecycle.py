"""Lifecycle throughput: N real cases from survey to designation against two baselines.

The baselines (``bench/plan.py``) do what Temporal is asked to do for a real case without the
case: the **bare** one only its updates, activities and timers; the **matched** one also the
search-attribute upserts, markers, summaries and current details the real case gives the Web UI,
with a workflow type of the same shape. The throughput ratio against the matched baseline is the
benchmark's result (the last line; its CPU ratio is measured paired, ``bench/paired.py``); the
ratios against the bare one show what the Web UI costs.

All three kinds run on the same dev server and the same worker process (``bench/worker.py``, a
worker per kind), in rounds of short phases, each kind once a round, in an order that reverses
every round (:func:`schedule`), so that whatever drifts during the run (the VM's speed, the
server's database growing, other load on the machine) weighs on all alike. In a phase
the driver starts every case and sends its updates with at most ``concurrency`` cases being
driven at a time, then waits until each case has continued as new at its designation (the
server's long-poll, no query: queries would load the worker). The phase's wall time runs from
the first start to the last designation; its CPU time is the worker process's, read from
``/proc``, until the real cases' mail is sent and pages published and the worker is idle again
(the new runs' first tasks included).
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import func, select
from temporalio.client import Client, WorkflowContinuedAsNewError, WorkflowHandle

from activities.db import create_registry_engine, read_session
from activities.notify import PENDING, SENDING
from activities.registry_read import outbox_size
from activities.tables import PageDueRow
from bench.baseline import BaselineWorkflow
from bench.common import WorkerProcess
from bench.matched import MatchedBaselineWorkflow
from bench.plan import BARE, MATCHED, PLAN, BaselineInput, counts, planned
from models.case import (
    Actor,
    Contact,
    Decision,
    ExpertAssignment,
    ExpertReview,
    InstituteInput,
    Outcome,
    PlanSubmission,
    Recommendation,
    Role,
    SiteInspection,
    SurveyRecord,
)
from workflows.institute import InstituteWorkflow, workflow_id

DISTRICT_OFFICER = Actor("王科长", Role.DISTRICT_OFFICER, "binhai")
BUREAU = Actor("李处长", Role.BUREAU_OFFICER)
EXPERTS = (("张教授", "天津大学", 88.0), ("陈工", "河北工业大学", 91.0))


def real_updates() -> list[tuple[Any, Any]]:
    """The operator actions from survey to approval (as ``tests/lifecycle/harness.py`` drives
    ``Case.through_review``), as (update method, argument)."""
    updates: list[tuple[Any, Any]] = [
        (InstituteWorkflow.submit_plan, PlanSubmission(DISTRICT_OFFICER, "plan.pdf", "a" * 64)),
        (InstituteWorkflow.recommend, Recommendation(DISTRICT_OFFICER, "推荐：基础扎实")),
    ]
    for name, organisation, _ in EXPERTS:
        updates.append(
            (
                InstituteWorkflow.assign_expert,
                ExpertAssignment(BUREAU, name, organisation, f"{uuid.uuid4().hex[:6]}@example.cn"),
            )
        )
    for name, _, score in EXPERTS:
        updates.append(
            (
                InstituteWorkflow.submit_review,
                ExpertReview(Actor(name, Role.EXPERT), name, score, "方案可行"),
            )
        )
    updates += [
        (InstituteWorkflow.record_inspection, SiteInspection(BUREAU, True, "现场条件良好")),
        (InstituteWorkflow.decide, Decision(BUREAU, Outcome.APPROVE, "评审通过")),
    ]
    return updates


def survey(case_id: str, n: int) -> SurveyRecord:
    return SurveyRecord(
        case_id=case_id,
        organisation=f"天津基准{n}号装备制造有限公司",
        district="binhai",
        direction="high_end_equipment",
        actor=DISTRICT_OFFICER,
        contact=Contact("赵经理", "contact@example.cn", "13800000000"),
        qualifications=["市级工业设计中心"],
    )


async def designated(client: Client, handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the case's first run continues as new (it reached ``designated``)."""
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    try:
        await first.result(follow_runs=False)
    except WorkflowContinuedAsNewError:
        return
    raise RuntimeError(f"{handle.id} ended without continuing as new")


@dataclass
class Phase:
    kind: str
    cases: int
    seconds: float
    cpu: float


BASELINES = {"matched": MATCHED, "bare": BARE}
"""Each baseline kind and what it must do exactly as often as the real case."""


@dataclass
class LifecycleResult:
    phases: list[Phase]
    counts: dict[str, Counter[str]]
    """Mean history counts of a case, by kind (``real`` and the baselines)."""
    sample: str
    """A real case's id, left designated (for the CLI latency benchmark)."""
    handles: dict[str, list[WorkflowHandle[Any, Any]]] = field(default_factory=dict)

    def total(self, kind: str) -> Phase:
        phases = [p for p in self.phases if p.kind == kind]
        return Phase(
            kind,
            sum(p.cases for p in phases),
            sum(p.seconds for p in phases),
            sum(p.cpu for p in phases),
        )

    def rate(self, kind: str) -> float:
        total = self.total(kind)
        return total.cases / total.seconds

    def cpu_per_case(self, kind: str) -> float:
        total = self.total(kind)
        return total.cpu / total.cases

    def throughput_ratio(self, baseline: str = "matched") -> float:
        return self.rate("real") / self.rate(baseline)

    def cpu_ratio(self, baseline: str = "matched") -> float:
        return self.cpu_per_case("real") / self.cpu_per_case(baseline)

    def round_cpu_ratios(self, baseline: str = "matched") -> list[float]:
        """The CPU ratio of each round (one phase of each kind, side by side): its spread shows
        how far the machine's drift moves a single measurement."""
        rounds = [self.phases[i : i + len(KINDS)] for i in range(0, len(self.phases), len(KINDS))]
        ratios = []
        for phases in rounds:
            per_case = {p.kind: p.cpu / p.cases for p in phases}
            if "real" in per_case and baseline in per_case:
                ratios.append(per_case["real"] / per_case[baseline])
        return ratios

    def mirrored(self, baseline: str) -> str:
        """What ``baseline`` mirrors, as real/baseline counts per case."""
        real, base = self.counts["real"], self.counts[baseline]
        return ", ".join(f"{k} {real[k]}/{base[k]}" for k in BASELINES[baseline])

    def mirrored_equal(self, baseline: str) -> bool:
        expected = planned(matched=baseline == "matched")
        real, base = self.counts["real"], self.counts[baseline]
        return all(real[k] == base[k] == expected[k] for k in BASELINES[baseline])


def updates_of(workflow_class: type) -> set[str]:
    """The names of a workflow class's update handlers: ``@workflow.update`` gives each handler
    a ``validator`` decorator (the handlers here are named as their updates)."""
    return {
        name
        for name, member in vars(workflow_class).items()
        if callable(member) and callable(getattr(member, "validator", None))
    }


def same_shape() -> bool:
    """The matched baseline has an update for each of the real workflow's."""
    return updates_of(InstituteWorkflow) == updates_of(MatchedBaselineWorkflow)


KINDS = ("matched", "bare", "real")


def schedule(cases: int, round_size: int) -> list[tuple[str, int]]:
    """The phases: ``cases`` of each kind in rounds of ``round_size``, each round running every
    kind once, in an order that reverses from one round to the next (matched-bare-real,
    real-bare-matched, ...). This VM's speed drifts by tens of per cent within minutes; short
    phases of each kind side by side weigh that drift on all kinds alike."""
    rounds = max(1, -(-cases // round_size))
    phases = []
    for n in range(rounds):
        count = cases // rounds + (1 if n < cases % rounds else 0)
        order = KINDS if n % 2 == 0 else KINDS[::-1]
        phases += [(kind, count) for kind in order if count]
    return phases


class Lifecycle:
    def __init__(
        self,
        client: Client,
        worker: WorkerProcess,
        *,
        real_queue: str,
        baseline_queues: dict[str, str],
        registry_url: str,
        notice_seconds: float,
        concurrency: int,
        progress: Callable[[str], None],
    ) -> None:
        self.client = client
        self.worker = worker
        self.real_queue = real_queue
        self.baseline_queues = baseline_queues
        """The task queue of each baseline kind: a worker each, so that each has its own cache
        of runs, as the real kind has."""
        self.registry_url = registry_url
        """The real worker's registry (the benchmark reads its outbox and its pages due)."""
        self.notice_seconds = notice_seconds
        self.concurrency = concurrency
        self.progress = progress
        self.started = 0
        self.handles: dict[str, list[WorkflowHandle[Any, Any]]] = {
            "real": [],
            "bare": [],
            "matched": [],
        }

    async def run(self, cases: int) -> LifecycleResult:
        phases = []
        for kind, count in schedule(cases, self.concurrency):
            phases.append(await self.phase(kind, count))
            p = phases[-1]
            self.progress(
                f"{kind:8} {p.cases:5} cases {p.seconds:7.1f} s "
                f"{p.cases / p.seconds:6.1f}/s  worker CPU {p.cpu / p.cases * 1000:6.1f} ms/case"
            )
        return LifecycleResult(
            phases,
            {kind: await self.sample_counts(kind) for kind in self.handles},
            self.handles["real"][0].id.removeprefix("institute-"),
            self.handles,
        )

    async def phase(self, kind: str, count: int) -> Phase:
        await self.worker.wait_idle()
        cpu = self.worker.cpu_seconds()
        start = time.monotonic()
        numbers = range(self.started, self.started + count)
        self.started += count
        handles = await self.drive_to_designation(kind, numbers)
        seconds = time.monotonic() - start
        if kind == "real":
            # A case continues as new with its last mail possibly still going out (the next
            # run sends it): that is the real cases' work, and must not fall into the next phase.
            await self.outbox_drained()
        await self.worker.wait_idle()
        self.handles[kind] += handles
        return Phase(kind, count, seconds, self.worker.cpu_seconds() - cpu)

    async def drive_to_designation(
        self, kind: str, numbers: range
    ) -> list[WorkflowHandle[Any, Any]]:
        """Start the cases ``numbers`` of ``kind`` and send their updates, ``concurrency`` cases
        at a time; return once every one has continued as new at its designation."""
        drive: Callable[[int], Awaitable[WorkflowHandle[Any, Any]]] = (
            self.drive_real if kind == "real" else functools.partial(self.drive_baseline, kind)
        )
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(n: int) -> WorkflowHandle[Any, Any]:
            async with semaphore:
                handle = await drive(n)
            await designated(self.client, handle)
            return handle

        return await asyncio.gather(*(one(n) for n in numbers))

    async def outbox_drained(self, limit: float = 60) -> None:
        """Wait until the registry has no mail left to send and no page left to publish (the
        cases' ``deliver_notifications`` and ``publish`` activities empty both)."""
        deadline = time.monotonic() + limit
        engine = create_registry_engine(self.registry_url)
        try:
            while True:
                mails, pages = pending(engine)
                if not mails and not pages:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"after {limit:.0f} s, {mails} mail(s) unsent and {pages} page(s) still"
                        " due: see the worker's log for failing deliver_notifications or publish"
                        " activities"
                    )
                await asyncio.sleep(0.2)
        finally:
            engine.dispose()

    async def drive_real(self, n: int) -> WorkflowHandle[Any, Any]:
        case_id = f"bench{n:05d}{uuid.uuid4().hex[:4]}"
        handle = await self.client.start_workflow(
            InstituteWorkflow.run,
            InstituteInput(survey(case_id, n)),
            id=workflow_id(case_id),
            task_queue=self.real_queue,
        )
        for method, argument in real_updates():
            await handle.execute_update(method, argument)
        return handle

    async def drive_baseline(self, kind: str, n: int) -> WorkflowHandle[Any, Any]:
        matched = kind == "matched"
        handle = await self.client.start_workflow(
            (MatchedBaselineWorkflow if matched else BaselineWorkflow).run,
            BaselineInput(self.notice_seconds),
            id=f"{kind}-{n:05d}-{uuid.uuid4().hex[:4]}",
            task_queue=self.baseline_queues[kind],
        )
        for step in PLAN:
            # The matched baseline takes each update under the real action's name, as the driver
            # sends the real ones; the bare one has a single update for every step.
            update = step.update if matched else "step"
            await handle.execute_update(update, step.update, result_type=int)
        return handle

    async def sample_counts(self, kind: str, sample: int = 9) -> Counter[str]:
        """Counts of the typical case of ``kind``, all runs (the designation's continued run
        included): the median of each count over a few cases. Now and then a case takes one
        workflow task more (an update arriving while a task runs gets a task of its own: three
        events), which moved a mean of five cases by one from run to run."""
        cases: list[Counter[str]] = []
        for handle in self.handles[kind][:sample]:
            first = self.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
            latest = self.client.get_workflow_handle(handle.id)
            events = [e async for e in first.fetch_history_events()]
            events += [e async for e in latest.fetch_history_events()]
            cases.append(counts(events))
        keys = set().union(*cases)
        return Counter({k: statistics.median_low(case[k] for case in cases) for k in keys})


def pending(engine: Engine) -> tuple[int, int]:
    """(mails not sent yet, pages not published yet) in the registry of ``engine``."""
    mails = outbox_size(engine, status=PENDING) + outbox_size(engine, status=SENDING)
    with read_session(engine) as session:
        pages = session.exec(select(func.count()).select_from(PageDueRow)).one()
    return mails, pages


NOTICE = timedelta(seconds=3)
"""The public notice of the benchmark's cases (``IDRI_NOTICE_PERIOD_OVERRIDE``): long enough that
its timer fires even when the approval's activities are slow under load, as it does in real life
(a shorter notice can end before the case waits for it, and the case then skips that timer)."""

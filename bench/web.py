"""The workbench at scale: 我的待办 (my work) and a case page, answered with N designated cases
running and in the registry (10,000 in issue 21; target under 200 ms, median).

The registry holds N designated institutes (their rows, as ``bench.scale`` writes them) and
the API process (``python -m idri.api``, which serves the workbench) runs beside the worker, and
two people sign in through the workbench's form: a bureau officer, who sees every case, and the
district officer of the district all of them are in. Each case's waits are written to the
registry as its events would have left them (``models.inbox.waits_of``: the bureau's evaluation
to open, its window open), so 我的待办 reads a full ``waits`` table. Each page is fetched
``runs`` times in turn; two times are kept: the server's (its ``Server-Timing`` header, from the
request's arrival to the page's last byte rendered) and the client's on the same machine.

The case page timed is a real case started through the API (a running workflow: its status and
history are asked of Temporal). The 10,000 are registry rows only: issue 18 refuses a workflow
started with a carried state, which is how ``bench.scale`` used to make designated cases in
seconds, so they would be failed workflows, not institutes.

Then the case page's parts are timed alone, ``runs`` times each, against the same case: the
status query, the workflow's description, the history query (Temporal), and the registry's
documents and inbox reads, to say where a slow page spends its time.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select
from temporalio.client import Client

from activities.db import create_registry_engine, write_session
from activities.endings import ending_of
from activities.tables import DocumentRow, WaitRow, table_of
from bench.api_latency import ApiProcess, sample_case
from bench.common import WorkerProcess
from bench.scale import carried, seed_registry
from idri.service.temporal import case_handle
from models.candidates import organisation_key
from models.case import Policy
from models.inbox import waits_of
from workflows.institute import InstituteWorkflow, workflow_id

PASSWORD = "bench password 1"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')
SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


@dataclass
class WebResult:
    institutes: int
    setup_seconds: float
    seconds: dict[str, list[float]]
    """Per page and person (``work, bureau``), the seconds each request took (client's)."""
    server: dict[str, list[float]]
    """The same, as the server timed them (``Server-Timing``)."""
    parts: dict[str, list[float]]
    """The case page's parts timed alone: ``status query``, ``history query``..."""
    waits: int
    """Waits written for the seeded cases (the bureau's inbox)."""

    def median_ms(self, key: str) -> float:
        return 1000 * statistics.median(self.seconds[key])

    def server_ms(self, key: str) -> float:
        return 1000 * statistics.median(self.server[key])


async def run_web(
    client: Client,
    worker: WorkerProcess,
    api: ApiProcess,
    *,
    institutes: int,
    registry_url: str,
    task_queue: str,
    progress: Any,
    runs: int = 30,
) -> WebResult:
    begin = time.monotonic()
    tag, _ = seed_registry(registry_url, institutes)
    waits = _seed_waits(registry_url, tag, institutes)
    setup = time.monotonic() - begin
    case_id = await sample_case(api)
    await worker.wait_idle(window=2, busy=0.25, limit=120)
    progress(f"web: {institutes} institutes in the registry in {setup:.0f} s ({waits} waits)")
    case_path = f"/cases/{case_id}"
    people = {
        "bureau": {"role": "bureau_officer"},
        "district": {"role": "district_officer", "district": "binhai"},
    }
    seconds: dict[str, list[float]] = {}
    server: dict[str, list[float]] = {}
    admin = {"Authorization": f"Bearer {api.admin_token}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        for who, fields in people.items():
            name = f"bench-{who}-{uuid.uuid4().hex[:4]}"
            made = await http.post(
                "/api/users", json={"name": name, "password": PASSWORD, **fields}, headers=admin
            )
            made.raise_for_status()
            async with httpx.AsyncClient(base_url=api.url, timeout=60) as browser:
                await _sign_in(browser, name)
                for _ in range(runs):
                    for page in ("/work", case_path):
                        begin = time.perf_counter()
                        answer = await browser.get(page)
                        elapsed = time.perf_counter() - begin
                        if answer.status_code != 200:
                            raise RuntimeError(f"{page} answered {answer.status_code}")
                        key = f"{'work' if page == '/work' else 'case'}, {who}"
                        seconds.setdefault(key, []).append(elapsed)
                        timing = SERVER_TIMING.search(answer.headers.get("server-timing", ""))
                        if timing:
                            server.setdefault(key, []).append(float(timing.group(1)) / 1000)
    parts = await _time_parts(client, api, registry_url, case_id, runs)
    return WebResult(institutes, setup, seconds, server, parts, waits)


def _seed_waits(registry_url: str, tag: str, institutes: int) -> int:
    """The waits each seeded case's last event would have written (``_write_waits``)."""
    now = datetime.now(UTC)
    policy = Policy()
    rows = []
    for n in range(institutes):
        state = carried(f"scale{n:05d}{tag}", n, now)
        for wait in waits_of(state, policy):
            rows.append(
                {
                    "case_id": state.case_id, "event_key": f"{workflow_id(state.case_id)}#seed",
                    "role": wait.role.value, "who": wait.who, "action": wait.action,
                    "description": wait.description, "since": wait.since,
                    "due_at": wait.due_at, "district": state.survey.district,
                    "organisation_key": organisation_key(state.survey.organisation),
                }
            )  # fmt: skip
    engine = create_registry_engine(registry_url)
    try:
        with write_session(engine) as session:
            session.execute(insert(table_of(WaitRow)), rows)
    finally:
        engine.dispose()
    return len(rows)


async def _time_parts(
    client: Client, api: ApiProcess, registry_url: str, case_id: str, runs: int
) -> dict[str, list[float]]:
    """Each call the case page makes, alone, ``runs`` times: where its time goes."""
    handle = case_handle(client, case_id)
    engine = create_registry_engine(registry_url)
    admin = {"Authorization": f"Bearer {api.admin_token}"}
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "status query": lambda: handle.query(InstituteWorkflow.status),
        "history query": lambda: handle.query(InstituteWorkflow.history),
        "describe (ending_of)": lambda: ending_of(client, workflow_id(case_id)),
        "registry: documents rows": lambda: asyncio.to_thread(_documents_rows, engine, case_id),
    }
    timed: dict[str, list[float]] = {}
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=60, headers=admin) as http:
            calls["API GET /api/inbox (admin)"] = lambda: http.get("/api/inbox")
            for _ in range(runs):
                for name, call in calls.items():
                    begin = time.perf_counter()
                    await call()
                    timed.setdefault(name, []).append(time.perf_counter() - begin)
    finally:
        engine.dispose()
    return timed


def _documents_rows(engine: Engine, case_id: str) -> int:
    documents = table_of(DocumentRow)
    query = select(documents.c.sha256).where(documents.c.case_id == case_id)
    with engine.connect() as conn:
        return len(conn.execute(query).all())


async def _sign_in(browser: httpx.AsyncClient, name: str) -> None:
    form = await browser.get("/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    answer = await browser.post(
        "/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"signing in to the workbench failed: {answer.status_code}")

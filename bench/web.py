"""The workbench at scale: 我的待办 (my work) and a case page, answered with N designated cases
running and in the registry (10,000 in issue 21; target under 200 ms, median).

The cases are set up as the sweep's benchmark sets them up (``bench.scale.seed_designated``),
the API process (``python -m idri.api``, which serves the workbench) runs beside the worker, and
two people sign in through the workbench's form: a bureau officer, who sees every case, and the
district officer of the district all of them are in. Each page is fetched ``runs`` times in
turn; the time is taken by the client on the same machine, from request to the last byte, so
it bounds the server's time from above.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio.client import Client

from bench.api_latency import ApiProcess
from bench.common import WorkerProcess
from bench.scale import seed_designated

PASSWORD = "bench password 1"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')


@dataclass
class WebResult:
    institutes: int
    setup_seconds: float
    seconds: dict[str, list[float]]
    """Per page and person (``work, bureau``), the seconds each request took."""

    def median_ms(self, key: str) -> float:
        return 1000 * statistics.median(self.seconds[key])


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
    tag, setup = await seed_designated(
        client,
        worker,
        institutes=institutes,
        registry_url=registry_url,
        task_queue=task_queue,
        progress=progress,
    )
    progress(f"web: {institutes} cases set up in {setup:.0f} s; the pages are timed")
    case_path = f"/cases/scale{institutes // 2:05d}{tag}"
    people = {
        "bureau": {"role": "bureau_officer"},
        "district": {"role": "district_officer", "district": "binhai"},
    }
    seconds: dict[str, list[float]] = {}
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
                        key = "work" if page == "/work" else "case"
                        seconds.setdefault(f"{key}, {who}", []).append(elapsed)
    return WebResult(institutes, setup, seconds)


async def _sign_in(browser: httpx.AsyncClient, name: str) -> None:
    form = await browser.get("/sign-in")
    token = CSRF.search(form.text)
    assert token is not None
    answer = await browser.post(
        "/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"signing in to the workbench failed: {answer.status_code}")

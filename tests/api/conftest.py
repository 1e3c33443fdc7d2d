"""The API's stack: a real Temporal dev server (visibility lists cases), the real worker on a
temporary registry, and the API app spoken to over HTTP in-process (httpx's ASGI transport).

The public notice lasts 2 seconds and an evaluation may be opened at once, so a case reaches
every stage in seconds; the accounts are created through the store the API uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from idri.api.app import create_app
from idri.api.deps import Services
from idri.api.server import build_services
from idri.auth.accounts import AccountRole, AccountStore
from idri.codec import STRICT_CONVERTER
from idri.settings import Settings
from idri.worker import build_worker
from models import search
from tests.conftest import venv_binary

PLAN_SHA = "b" * 64
APPLICANT_ORG = "天津接口示例装备有限公司"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "李处长": {"role": AccountRole.BUREAU_OFFICER},
    "王科长": {"role": AccountRole.DISTRICT_OFFICER, "district": "binhai"},
    "刘科长": {"role": AccountRole.DISTRICT_OFFICER, "district": "heping"},
    "陈工": {"role": AccountRole.EXPERT, "organisation": "天津大学", "email": "chen@tju.edu.cn"},
    "赵工": {
        "role": AccountRole.EXPERT,
        "organisation": "河北工业大学",
        "email": "zhao@hebut.edu.cn",
    },
    "申请人": {"role": AccountRole.APPLICANT, "organisation": APPLICANT_ORG},
    "别家": {"role": AccountRole.APPLICANT, "organisation": "天津另一家有限公司"},
}
"""The people of the tests, by name: the bureau, two districts, two experts, two applicants."""


@dataclass
class Clock:
    """The account store's clock, which a test may move forward (token expiry, throttling)."""

    offset: timedelta = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Api:
    http: httpx.AsyncClient
    services: Services
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(
        self, who: str | None, method: str, path: str, body: Any = None, **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.http.request(
            method, path, json=body, headers=headers, params=params or None
        )

    async def ok(self, who: str, method: str, path: str, body: Any = None) -> Any:
        answer = await self.call(who, method, path, body)
        assert answer.status_code in (200, 201), (who, path, answer.status_code, answer.text)
        return answer.json()

    async def new_case(self, organisation: str | None = None, district: str = "binhai") -> str:
        officer = "王科长" if district == "binhai" else "刘科长"
        body = {
            "organisation": organisation or f"天津接口测试{uuid.uuid4().hex[:8]}有限公司",
            "district": district,
            "direction": "high_end_equipment",
            "contact": {"name": "赵经理", "email": "contact@example.cn", "phone": "13800000000"},
        }
        return str((await self.ok(officer, "POST", "/api/cases", body))["case_id"])

    async def stage(self, case_id: str) -> str:
        return str((await self.ok("李处长", "GET", f"/api/cases/{case_id}"))["stage"])

    async def to_stage(self, case_id: str, stage: str) -> None:
        """Drive the case through the API, with the right accounts, until it is in ``stage``."""
        for step, reached in STEPS:
            if await self.stage(case_id) == stage:
                return
            await step(self, case_id)
            if reached == "designated":
                await self.wait_stage(case_id, "designated")
        assert await self.stage(case_id) == stage

    async def wait_stage(self, case_id: str, stage: str, seconds: float = 20) -> None:
        for _ in range(int(seconds / 0.2)):
            if await self.stage(case_id) == stage:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"case {case_id} not in {stage} within {seconds}s")


def _post(who: str, path: str, body: dict[str, Any]) -> Callable[[Api, str], Any]:
    async def step(api: Api, case_id: str) -> None:
        await api.ok(who, "POST", f"/api/cases/{case_id}/{path}", body)

    return step


async def _assign_and_review(api: Api, case_id: str) -> None:
    await api.ok("李处长", "POST", f"/api/cases/{case_id}/experts", {"experts": ["陈工"]})
    await api.ok("陈工", "POST", f"/api/cases/{case_id}/reviews", {"score": 88, "opinion": "好"})
    await api.ok(
        "李处长", "POST", f"/api/cases/{case_id}/inspection", {"passed": True, "note": "属实"}
    )


STEPS: list[tuple[Callable[[Api, str], Any], str]] = [
    (_post("王科长", "plan", {"file_name": "plan.pdf", "sha256": PLAN_SHA}), "plan_submitted"),
    (_post("王科长", "recommend", {"opinion": "推荐"}), "recommended"),
    (_assign_and_review, "under_review"),
    (_post("李处长", "decision", {"outcome": "approve", "reason": "择优"}), "public_notice"),
    (lambda api, case_id: asyncio.sleep(0), "designated"),
    (_post("李处长", "evaluation/open", {"note": ""}), "under_evaluation"),
    (
        _post(
            "李处长",
            "evaluation",
            {"result": "rectify", "note": "整改", "deadline": "2030-06-30"},
        ),
        "rectifying",
    ),
]
"""How a case moves forward, one step each, and the stage each step leads to."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=list(search.ALL),
        ui=False,
        data_converter=STRICT_CONVERTER,
    )
    data_dir: Path = tmp_path_factory.mktemp("api")
    settings = Settings(
        data_dir=data_dir,
        task_queue=f"idri-api-{uuid.uuid4().hex[:8]}",
        notice_period_override="2s",
        # Every evaluation may be opened at once, and national level needs no waiting.
        evaluation_open_window_days=3650,
        national_min_stable_years=0,
    )
    clock = Clock()
    async with env, build_worker(env.client, settings):
        built = build_services(env.client, settings)
        accounts = AccountStore(built.registry, now=clock)
        cases = type(built.cases)(env.client, settings.task_queue, built.registry, accounts)
        assert built.documents is not None
        services = Services(
            cases=cases,
            accounts=accounts,
            registry=built.registry,
            documents=dataclasses.replace(built.documents, cases=cases),
        )
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://idri") as http:
            found = Api(http, services, clock)
            admin_token = accounts.ensure_first_admin()
            assert admin_token is not None
            found.tokens["admin"] = admin_token
            for name, fields in ACCOUNTS.items():
                _, token = accounts.add("admin", name, password="correct horse 1", **fields)
                found.tokens[name] = token
            yield found

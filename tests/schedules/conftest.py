"""The schedule tests run on a time-skipping server of their own.

They move the clock by years. On a shared server, a workflow another test left running without
its worker (or an activity in flight when that worker stopped) holds the clock, and every later
``env.sleep`` waits for it forever; a server for this package keeps them independent of the
order the suite runs in. Each test here terminates what it started (``schedule_harness``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import start_time_skipping


@pytest.fixture(scope="package")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await start_time_skipping() as env:
        yield env

"""Rule: the embedded Temporal server killed outright (SIGKILL) and started again on the same
database file loses no case. Operators' calls in flight are sent again with the same update id;
each action is applied once, and every case goes on to its end."""

from __future__ import annotations

import asyncio
import os
import random
import time

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.faults.checks import assert_recorded_exactly_once
from tests.faults.conftest import Faults

pytestmark = [pytest.mark.devserver]

SEED = int(os.environ.get("IDRI_FAULT_SEED", "20260430"))


@pytest.mark.timeout(230)
async def test_no_case_is_lost_when_the_server_is_killed_and_restarted(faults: Faults) -> None:
    rng = random.Random(SEED)
    await faults.worker.start()
    idle = faults.driver("idle")
    await idle.start()  # a case nobody touches: it must still be there afterwards
    drivers = [faults.driver(f"srv{n}") for n in range(3)]
    running = asyncio.gather(*(d.to_designation() for d in drivers))
    await asyncio.sleep(rng.uniform(0.5, 2.5))
    assert not running.done(), "the cases finished before the kill: kill sooner"
    faults.server.kill()
    killed = time.monotonic()
    await asyncio.sleep(1)
    await faults.server.start()
    restarted = time.monotonic()
    try:
        await asyncio.wait_for(running, 120)
    except Exception as error:
        raise AssertionError(f"{error!r}\n{faults.logs()}") from error

    assert faults.worker.alive(), f"the worker did not survive the server's death\n{faults.logs()}"
    retries = sum(d.retries for d in drivers)
    print(
        f"seed {SEED}: server back after {restarted - killed:.1f} s; steps after it: "
        f"{[[round(t - restarted, 1) for t in d.progress if t > killed] for d in drivers]}; "
        f"calls sent again: {retries}"
    )
    description = await faults.client.get_workflow_handle(idle.workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert (await idle.status()).stage.value == "surveyed"
    for driver in drivers:
        assert (await driver.status()).stage.value == "designated"
    await assert_recorded_exactly_once(faults.registry_url, [idle, *drivers], faults.mailbox)

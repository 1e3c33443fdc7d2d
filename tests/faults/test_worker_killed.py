"""Rule: a worker killed at any moment loses nothing. Restarted, it takes every case up where it
stood; every case ends where it should, within 15 s of the restart it is moving again, and the
registry and the outbox hold each event and each mail once.

"Moving again" is the case's own next step: an operator's action answered, or the designation
when the notice ends. No case waits for its mail: the workers' deliverers send the outbox, and
mail a killed worker had claimed is sent by another once that claim's lease ran out, which the
final check waits for (``checks.MAIL_WITHIN``)."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from tests.faults.checks import assert_recorded_exactly_once
from tests.faults.conftest import Faults
from tests.faults.stack import CaseDriver

pytestmark = [pytest.mark.devserver]

SEED = int(os.environ.get("IDRI_FAULT_SEED", "20260430"))
"""Where the kills fall; ``IDRI_FAULT_SEED`` tries other points."""
RESUME_WITHIN = 15.0


def resume_delays(drivers: list[CaseDriver], restarts: list[float]) -> list[float]:
    """For each restart after which a case still had work, the seconds until its next step had
    its outcome (counted from the restart; a restart followed by another kill before any case
    moved counts up to that kill only)."""
    delays = []
    for i, restart in enumerate(restarts):
        next_kill = restarts[i + 1] if i + 1 < len(restarts) else float("inf")
        for driver in drivers:
            if driver.stage_reached_at is not None and driver.stage_reached_at <= restart:
                continue
            later = [t for t in driver.progress if t > restart]
            if later and later[0] < next_kill:
                delays.append(later[0] - restart)
            elif next_kill - restart >= RESUME_WITHIN:
                delays.append(float("inf"))  # no progress in a whole window
    return delays


@pytest.mark.timeout(230)
async def test_cases_survive_worker_kills_at_random_points(faults: Faults) -> None:
    rng = random.Random(SEED)
    await faults.worker.start()
    drivers = [faults.driver(f"kill{n}") for n in range(3)]
    running = asyncio.gather(*(d.to_designation() for d in drivers))
    restarts = []
    for _ in range(2):
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        if running.done():
            break
        faults.worker.kill()
        restarts.append(faults.worker.spawn())
        await faults.worker.ready()
    try:
        await asyncio.wait_for(running, 120)
    except Exception as error:
        raise AssertionError(f"{error!r}\n{faults.logs()}") from error
    delays = resume_delays(drivers, restarts)
    retried = {d.case_id: await d.retried_activities() for d in drivers}
    print(
        f"seed {SEED}: kills at {len(restarts)} points; resumed after "
        f"{[round(d, 1) for d in delays]} s; activities retried: {retried}"
    )
    assert restarts, "the cases finished before the first kill: kill sooner"
    assert all(d <= RESUME_WITHIN for d in delays), (
        f"a case resumed {max(delays):.1f} s after the restart (at most {RESUME_WITHIN:g}); "
        f"activities retried: {retried}"
    )
    for driver in drivers:
        assert (await driver.status()).stage.value == "designated"
    await assert_recorded_exactly_once(faults.registry_url, drivers, faults.mailbox)

"""Rule: every guard holds under concurrency. Two conflicting updates sent at the same instant
end as if they had come one after the other: one is accepted, the other refused with the message
its validator gives once the first has been recorded, and the case (its reviews, objections and
history) holds only the accepted one.

Two updates can both pass their validators before either handler runs (both reach the worker in
one workflow task), so each handler checks again under the case's lock; these tests send the
pairs together on the real time-skipping server with the real worker and activities.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.case import (
    Actor,
    CaseStatus,
    ExpertAssignment,
    ObjectionResolution,
    Recommendation,
    Role,
    Stage,
)
from tests.conftest import start_time_skipping
from tests.lifecycle.harness import BUREAU, DISTRICT_OFFICER, Case, Harness, harness, refused
from workflows.institute import InstituteWorkflow

EXAMPLES = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

names = st.text(
    alphabet=st.sampled_from("张王李赵陈刘孙周吴郑教授工"), min_size=1, max_size=6
).filter(lambda n: n not in ("李处长", "王科长"))
"""Expert names (never one of the harness's officers)."""
scores = st.integers(0, 100) | st.floats(0, 100, allow_nan=False).map(lambda s: round(s, 1))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def h(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    """One server and worker for every example; each example starts its own case."""
    env = await start_time_skipping()
    async with env, harness(env, tmp_path_factory.mktemp("concurrent")) as h:
        yield h


async def together(update: Any, first: Any, second: Any, case: Case) -> tuple[Any, Any, str]:
    """Send two updates at the same instant; exactly one must be accepted and the other refused
    by a rule. Returns the accepted payload, the refused one and the refusal's message."""
    # A refused action sent just ahead keeps the worker busy with a workflow task, so the two
    # arrive in the next one together, as they do when many operators act at once.
    outcomes: tuple[Any, ...] = await asyncio.gather(
        case.handle.execute_update(
            InstituteWorkflow.recommend, Recommendation(DISTRICT_OFFICER, "")
        ),
        case.handle.execute_update(update, first),
        case.handle.execute_update(update, second),
        return_exceptions=True,
    )
    ahead, results = outcomes[0], outcomes[1:]
    assert isinstance(ahead, WorkflowUpdateFailedError)
    accepted = [p for p, r in zip((first, second), results, strict=True) if type(r) is CaseStatus]
    loser = second if accepted == [first] else first
    refusals = [r for r in results if isinstance(r, WorkflowUpdateFailedError)]
    assert (len(accepted), len(refusals)) == (1, 1), f"not one accepted, one refused: {results!r}"
    cause = refusals[0].cause
    assert isinstance(cause, ApplicationError) and cause.type == "ActionRefused", repr(cause)
    assert cause.non_retryable
    return accepted[0], loser, cause.message


async def events(case: Case, event: str) -> list[str]:
    """The reasons recorded in the case's history for ``event``, in order."""
    return [
        h.reason for h in await case.handle.query(InstituteWorkflow.history) if h.event == event
    ]


async def under_review(h: Harness) -> Case:
    case = await h.start()
    await case.submit_plan()
    await case.recommend()
    return case


@EXAMPLES
@given(expert=names, padding=st.sampled_from(["", " ", "  "]))
async def test_an_expert_assigned_twice_at_once_is_assigned_once(
    h: Harness, expert: str, padding: str
) -> None:
    case = await under_review(h)
    assignment = ExpertAssignment(BUREAU, expert, "天津大学", None)
    padded = ExpertAssignment(BUREAU, f"{padding}{expert}{padding}", "天津大学", None)

    _, loser, message = await together(InstituteWorkflow.assign_expert, assignment, padded, case)

    assert message == f"expert {loser.expert} is already assigned to this case"
    status = await case.status()
    assert [r.expert for r in status.reviews] == [expert]
    assert len(await events(case, "assign_expert")) == 1
    # The validator, now that the first is recorded, refuses the same way.
    assert await refused(case.assign(expert, "天津大学")) == (
        f"expert {expert} is already assigned to this case"
    )


@EXAMPLES
@given(expert=names, first=scores, second=scores)
async def test_an_expert_reviewing_twice_at_once_is_scored_once(
    h: Harness, expert: str, first: float, second: float
) -> None:
    case = await under_review(h)
    await case.assign(expert, "天津大学")
    await case.assign("另一位专家", "南开大学")
    actor = Actor(expert, Role.EXPERT)
    reviews = (
        case.scored(actor, expert, first, "方案可行"),
        case.scored(actor, expert, second, "需补充材料"),
    )

    won, _, message = await together(InstituteWorkflow.submit_review, *reviews, case)

    # The accepted review stands, unchanged by the other; the refusal names its score.
    assert message == f"{expert} has already reviewed this case (score {float(won.score):g})"
    status = await case.status()
    scored = {r.expert: (r.score, r.opinion) for r in status.reviews}
    assert scored == {expert: (float(won.score), won.opinion), "另一位专家": (None, "")}
    assert await events(case, "submit_review") == [f"review by {expert}: {won.score:g}"]
    assert status.stage is Stage.UNDER_REVIEW


@EXAMPLES
@given(objection=st.sampled_from([1, 2]), reasons=st.tuples(names, names))
async def test_an_objection_dismissed_twice_at_once_is_dismissed_once(
    h: Harness, objection: int, reasons: tuple[str, str]
) -> None:
    case = await h.start()
    await case.through_review()
    await case.object("市民甲", "场地不符")
    await case.object("市民乙", "人员不足")
    first, second = (ObjectionResolution(BUREAU, False, r, objection) for r in reasons)

    won, _, message = await together(InstituteWorkflow.resolve_objection, first, second, case)

    other = 3 - objection
    assert message == f"objection {objection} is not open (open: {other})"
    status = await case.status()
    assert (status.stage, status.open_objections) == (Stage.PUBLIC_NOTICE, 1)
    assert await events(case, "dismiss_objection") == [won.reason]
    # The objection left open can still be resolved: nothing was lost to the refusal.
    status = await case.handle.execute_update(
        InstituteWorkflow.resolve_objection, ObjectionResolution(BUREAU, False, "驳回", other)
    )
    assert status.open_objections == 0

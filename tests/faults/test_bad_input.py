"""Rule: bad input at the case's door is refused before anything is written. Every operator
action is a real update to a real case (time-skipping server, the real worker): whatever the
text (empty, blank, 40,000 characters, any script), numbers out of range, dates that are no date
or long past, identities and roles that may not act, the action is refused by the validator with
its own message (``ActionRefused``), the case is unchanged, and the worker goes on serving.
Payloads of the wrong shape altogether (a number for a name, a list for an action, ``true`` for a
score) are refused while the payload is decoded, before the validator sees them: the caller's
failure is ``RuntimeError: Failed decoding arguments``, caused by a ``PayloadTypeError`` that
names the field and the value (``idri.codec``: the shared converter reads JSON strictly).

The cases stand where each action is allowed, so what refuses is the input, not the stage:
``surveyed``, ``plan_submitted``, ``under_review`` (one expert assigned), ``public_notice`` and
``under_evaluation`` (designated, evaluation opened).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from idri.codec import STRICT_CONVERTER
from models import search
from models.case import (
    Actor,
    Decision,
    EvaluationRecord,
    EvaluationResult,
    ExpertAssignment,
    ExpertReview,
    Objection,
    ObjectionResolution,
    Outcome,
    PlanSubmission,
    Recommendation,
    Role,
    SiteInspection,
    Stage,
    Withdrawal,
)
from tests.conftest import venv_binary
from tests.lifecycle.harness import BUREAU, DISTRICT_OFFICER, PLAN_SHA, Case, Harness, harness
from workflows.institute import InstituteWorkflow

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- Input -------------------------------------------------------------------------------------

WHITESPACE = " \t\n\r\x0b\x0c\u3000\u2003\u00a0"
blank = st.text(alphabet=st.sampled_from(WHITESPACE), max_size=12)
"""Empty, or nothing but white space (ASCII, ideographic, em and no-break spaces)."""
huge = st.builds(
    lambda c, n: c * n,
    st.characters(codec="utf-8", exclude_categories=["Cs"]),
    st.integers(10_001, 40_000),
)
"""More than the 10,000 characters any text field takes, in any script."""
bad_text = st.one_of(blank, huge)
any_text = st.text(max_size=200)
"""Anything a person can type: every script, emoji, control and zero-width characters."""
wrong_role = st.builds(
    Actor, name=st.just("某人"), role=st.sampled_from([Role.EXPERT, Role.APPLICANT])
)
other_district = st.builds(
    Actor,
    name=st.just("某区科长"),
    role=st.just(Role.DISTRICT_OFFICER),
    district=st.one_of(st.none(), st.sampled_from(["heping", "hexi", "jizhou"]), any_text),
)
nameless = st.builds(Actor, name=blank, role=st.sampled_from(list(Role)))
no_sha = any_text.filter(lambda s: not re.fullmatch(r"[0-9a-fA-F]{64}", s))
bad_score = st.one_of(
    st.floats(max_value=0, exclude_max=True),
    st.floats(min_value=100, exclude_min=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.integers(min_value=101),
    st.integers(max_value=-1),
)
not_a_date = any_text.filter(lambda s: not _is_iso_date(s))


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except (TypeError, ValueError):
        return False
    return True


# --- The cases ---------------------------------------------------------------------------------


@dataclass
class Door:
    """The cases the tests knock at, by stage."""

    h: Harness
    cases: dict[Stage, Case]

    async def refuses(
        self, stage: Stage, update: Any, payload: Any, *, typed: bool = True
    ) -> ApplicationError:
        """Send ``payload``; it must be refused and leave the case as it was. Returns the
        refusal (the update failure's cause)."""
        case = self.cases[stage]
        before = await case.status()
        try:
            await case.handle.execute_update(update, payload)
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            assert isinstance(cause, ApplicationError), f"not an application error: {cause!r}"
            if typed:
                assert cause.type == "ActionRefused", (
                    f"refused by a {cause.type} ({cause.message!r}), not by a rule"
                )
            assert cause.message.strip(), "a refusal says why"
            refusal = cause
        else:
            raise AssertionError(f"accepted in stage {stage.value}: {payload!r}"[:500])
        after = await case.status()
        assert (after.stage, after.history_length) == (before.stage, before.history_length)
        return refusal


async def _designated(h: Harness, case: Case) -> None:
    """Let the public notice run out; the case designates and continues as new. (Waits by the
    first run's status, not by queries: a query racing a continue-as-new on the time-skipping
    server can stop its clock.)"""
    first = h.client.get_workflow_handle(case.handle.id, run_id=case.handle.first_execution_run_id)
    for _ in range(30):
        if (await first.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
        await h.env.sleep(timedelta(days=1))
    raise AssertionError(f"{case.case_id} was not designated within 30 days")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def door(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Door]:
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
    async with env, harness(env, tmp_path_factory.mktemp("door")) as h:
        cases: dict[Stage, Case] = {}
        evaluated = await h.start("天津评估样本装备有限公司")
        await evaluated.through_review()
        await _designated(h, evaluated)
        due = (await evaluated.status()).next_evaluation_due
        assert due is not None
        await h.advance_to(due - timedelta(days=10))
        await evaluated.open_evaluation()
        cases[Stage.UNDER_EVALUATION] = evaluated
        cases[Stage.SURVEYED] = await h.start("天津调研样本装备有限公司")
        cases[Stage.PLAN_SUBMITTED] = await h.start("天津方案样本装备有限公司")
        await cases[Stage.PLAN_SUBMITTED].submit_plan()
        review = await h.start("天津评审样本装备有限公司")
        await review.submit_plan()
        await review.recommend()
        await review.assign("张教授", "天津大学")
        cases[Stage.UNDER_REVIEW] = review
        notice = await h.start("天津公示样本装备有限公司")
        await notice.through_review()
        cases[Stage.PUBLIC_NOTICE] = notice
        for stage, case in cases.items():
            assert await case.stage() is stage
        yield Door(h, cases)


# --- Each action, refused ----------------------------------------------------------------------


@EXAMPLES
@given(
    st.one_of(
        st.builds(PlanSubmission, st.just(DISTRICT_OFFICER), bad_text, st.just(PLAN_SHA)),
        st.builds(PlanSubmission, st.just(DISTRICT_OFFICER), any_text, no_sha),
        st.builds(PlanSubmission, st.one_of(nameless, other_district), any_text, st.just(PLAN_SHA)),
    )
)
@example(PlanSubmission(DISTRICT_OFFICER, "plan.pdf", "g" * 64))
@example(PlanSubmission(DISTRICT_OFFICER, "plan.pdf", "０" * 64))
async def test_submit_plan_refuses_bad_input(door: Door, plan: PlanSubmission) -> None:
    await door.refuses(Stage.SURVEYED, InstituteWorkflow.submit_plan, plan)


@EXAMPLES
@given(
    st.one_of(
        st.builds(Recommendation, st.just(DISTRICT_OFFICER), bad_text, st.booleans()),
        st.builds(Recommendation, st.one_of(nameless, wrong_role, other_district), any_text),
    )
)
async def test_recommend_refuses_bad_input(door: Door, recommendation: Recommendation) -> None:
    await door.refuses(Stage.PLAN_SUBMITTED, InstituteWorkflow.recommend, recommendation)


@EXAMPLES
@given(
    st.one_of(
        st.builds(ExpertAssignment, st.just(BUREAU), bad_text, any_text, st.none()),
        st.builds(ExpertAssignment, st.just(BUREAU), any_text, bad_text, st.none()),
        # The applicant's own organisation, however it is spaced or cased: a conflict.
        st.builds(
            ExpertAssignment,
            st.just(BUREAU),
            st.just("王工"),
            st.sampled_from(["天津评审样本装备有限公司", " 天津评审样本 装备有限公司 "]),
        ),
        # Already assigned.
        st.builds(ExpertAssignment, st.just(BUREAU), st.just(" 张教授 "), st.just("南开大学")),
        st.builds(ExpertAssignment, st.one_of(nameless, wrong_role), any_text, any_text),
    )
)
async def test_assign_expert_refuses_bad_input(door: Door, assignment: ExpertAssignment) -> None:
    await door.refuses(Stage.UNDER_REVIEW, InstituteWorkflow.assign_expert, assignment)


EXPERT = Actor("张教授", Role.EXPERT)


@EXAMPLES
@given(
    st.one_of(
        st.builds(ExpertReview, st.just(EXPERT), st.just("张教授"), bad_score, st.just("可行")),
        st.builds(ExpertReview, st.just(EXPERT), st.just("张教授"), st.just(80), bad_text),
        # Not the assigned expert, or an expert writing someone else's review.
        st.builds(
            ExpertReview,
            st.just(BUREAU),
            any_text.filter(lambda s: s.strip() not in ("", "张教授")),
            st.just(80),
            st.just("可行"),
        ),
        st.builds(
            ExpertReview,
            st.just(Actor("陈工", Role.EXPERT)),
            st.just("张教授"),
            st.just(80),
            st.just("可行"),
        ),
        st.builds(
            ExpertReview, st.one_of(nameless, wrong_role), st.just("张教授"), st.just(80), any_text
        ),
    )
)
@example(ExpertReview(EXPERT, "张教授", 100.000001, "可行"))
async def test_submit_review_refuses_bad_input(door: Door, review: ExpertReview) -> None:
    await door.refuses(Stage.UNDER_REVIEW, InstituteWorkflow.submit_review, review)


@EXAMPLES
@given(
    st.one_of(
        st.builds(SiteInspection, st.just(BUREAU), st.booleans(), bad_text),
        st.builds(SiteInspection, st.one_of(nameless, wrong_role), st.booleans(), any_text),
        st.builds(
            Decision, st.just(BUREAU), st.sampled_from([Outcome.DEFER, Outcome.REJECT]), bad_text
        ),
        # Approval before the review is complete (one expert, no score yet).
        st.builds(Decision, st.just(BUREAU), st.just(Outcome.APPROVE), any_text),
        st.builds(
            Decision, st.one_of(nameless, wrong_role), st.sampled_from(list(Outcome)), any_text
        ),
    )
)
async def test_inspection_and_decision_refuse_bad_input(door: Door, payload: Any) -> None:
    update = (
        InstituteWorkflow.record_inspection
        if isinstance(payload, SiteInspection)
        else InstituteWorkflow.decide
    )
    await door.refuses(Stage.UNDER_REVIEW, update, payload)


@EXAMPLES
@given(
    st.one_of(
        st.builds(Objection, st.just(BUREAU), bad_text, any_text),
        st.builds(Objection, st.just(BUREAU), any_text, bad_text),
        st.builds(Objection, st.one_of(nameless, wrong_role), any_text, any_text),
        # Nothing lodged yet: nothing to resolve.
        st.builds(
            ObjectionResolution,
            st.just(BUREAU),
            st.booleans(),
            any_text,
            st.one_of(st.none(), st.integers()),
        ),
    )
)
async def test_objections_refuse_bad_input(door: Door, payload: Any) -> None:
    update = (
        InstituteWorkflow.lodge_objection
        if isinstance(payload, Objection)
        else InstituteWorkflow.resolve_objection
    )
    await door.refuses(Stage.PUBLIC_NOTICE, update, payload)


def _past_days() -> st.SearchStrategy[str]:
    return st.dates(max_value=date.today() - timedelta(days=2)).map(date.isoformat)


@EXAMPLES
@given(
    st.one_of(
        st.builds(
            EvaluationRecord, st.just(BUREAU), st.sampled_from(list(EvaluationResult)), bad_text
        ),
        st.builds(
            EvaluationRecord,
            st.just(BUREAU),
            st.just(EvaluationResult.RECTIFY),
            st.just("整改"),
            st.one_of(not_a_date, _past_days()),
        ),
        # A deadline belongs to a rectification only.
        st.builds(
            EvaluationRecord,
            st.just(BUREAU),
            st.sampled_from([EvaluationResult.GOOD, EvaluationResult.DELIST]),
            st.just("评估"),
            st.dates(min_value=date(2030, 1, 1), max_value=date(2040, 1, 1)).map(date.isoformat),
        ),
        st.builds(
            EvaluationRecord,
            st.one_of(nameless, wrong_role),
            st.sampled_from(list(EvaluationResult)),
            any_text,
        ),
    )
)
@example(EvaluationRecord(BUREAU, EvaluationResult.RECTIFY, "整改", "0001-01-01"))
@example(EvaluationRecord(BUREAU, EvaluationResult.RECTIFY, "整改", "2027-02-30"))
@example(EvaluationRecord(BUREAU, EvaluationResult.RECTIFY, "整改", ""))
async def test_record_evaluation_refuses_bad_input(door: Door, record: EvaluationRecord) -> None:
    await door.refuses(Stage.UNDER_EVALUATION, InstituteWorkflow.record_evaluation, record)


@EXAMPLES
@given(
    st.one_of(
        st.builds(Withdrawal, st.just(DISTRICT_OFFICER), bad_text),
        # (An applicant may withdraw its own case: only an expert is the wrong role here.)
        st.builds(
            Withdrawal,
            st.one_of(
                nameless, other_district, st.builds(Actor, st.just("某人"), st.just(Role.EXPERT))
            ),
            any_text,
        ),
    )
)
async def test_withdraw_refuses_bad_input(door: Door, withdrawal: Withdrawal) -> None:
    await door.refuses(Stage.SURVEYED, InstituteWorkflow.withdraw, withdrawal)


# --- Payloads of the wrong shape ----------------------------------------------------------------

UPDATES = {
    Stage.SURVEYED: ["submit_plan", "withdraw"],
    Stage.PLAN_SUBMITTED: ["recommend"],
    Stage.UNDER_REVIEW: ["assign_expert", "submit_review", "record_inspection", "decide"],
    Stage.PUBLIC_NOTICE: ["lodge_objection", "resolve_objection"],
    Stage.UNDER_EVALUATION: ["record_evaluation"],
}
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), any_text)
shapeless = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(any_text, scalars, max_size=4),
    # The right keys with values of the wrong type.
    st.fixed_dictionaries(
        {
            "actor": st.one_of(scalars, st.just({"name": "李处长", "role": "pirate"})),
            "file_name": scalars,
            "sha256": scalars,
            "opinion": scalars,
            "expert": st.one_of(st.integers(), st.lists(st.integers(), max_size=2)),
            "organisation": scalars,
            "score": st.one_of(any_text, st.lists(st.integers(), max_size=2)),
            "outcome": any_text.filter(lambda s: s not in {o.value for o in Outcome}),
            "result": any_text.filter(lambda s: s not in {r.value for r in EvaluationResult}),
            "note": scalars,
            "reason": scalars,
        }
    ),
)


@EXAMPLES
@given(
    st.sampled_from([(stage, name) for stage, names in UPDATES.items() for name in names]),
    shapeless,
)
async def test_payloads_of_the_wrong_shape_are_refused(
    door: Door, target: tuple[Stage, str], payload: Any
) -> None:
    stage, name = target
    await door.refuses(stage, name, payload, typed=False)


# --- Inputs at the edges ----------------------------------------------------------------------


async def test_a_deadline_at_the_end_of_the_calendar_is_refused_clearly(door: Door) -> None:
    record = EvaluationRecord(BUREAU, EvaluationResult.RECTIFY, "整改", "9999-12-31")
    await door.refuses(Stage.UNDER_EVALUATION, InstituteWorkflow.record_evaluation, record)


async def test_an_expert_mailbox_that_cannot_be_mailed_is_refused(door: Door) -> None:
    assignment = ExpertAssignment(BUREAU, "刘研究员", "南开大学", "liu@nankai.example.cn\nBcc: x@y")
    await door.refuses(Stage.UNDER_REVIEW, InstituteWorkflow.assign_expert, assignment)


async def test_a_missing_payload_is_refused_by_a_rule(door: Door) -> None:
    await door.refuses(Stage.SURVEYED, "submit_plan", None, typed=True)


async def test_a_score_of_true_is_refused(door: Door) -> None:
    """JSON's ``true`` is not the score 1.0 (Temporal's default converter would make it so, and
    the validator would never see the boolean): the shared converter refuses it while decoding,
    so the update is rejected before the validator runs, with the field and the value named."""
    review = ExpertReview(EXPERT, "张教授", True, "可行")
    refusal = await door.refuses(
        Stage.UNDER_REVIEW, InstituteWorkflow.submit_review, review, typed=False
    )
    assert (refusal.type, refusal.message) == ("RuntimeError", "Failed decoding arguments")
    cause = refusal.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "PayloadTypeError"
    assert cause.message == (
        "ExpertReview.score: expected a number (float), got the JSON boolean true"
    )


async def test_an_objection_number_of_true_is_refused(door: Door) -> None:
    """The same for an ``int | None`` field: ``true`` would have become objection no. 1."""
    resolution = ObjectionResolution(BUREAU, True, "调查结论", True)
    refusal = await door.refuses(
        Stage.PUBLIC_NOTICE, InstituteWorkflow.resolve_objection, resolution, typed=False
    )
    assert isinstance(refusal.cause, ApplicationError)
    assert refusal.cause.message == (
        "ObjectionResolution.objection_id: expected a whole number (int), got the JSON boolean true"
    )


# --- The worker is still there -----------------------------------------------------------------


async def test_after_all_that_the_cases_still_take_good_actions(door: Door) -> None:
    """Nothing above crashed the worker or wedged a case: each still takes a valid action.
    (Last in the module: it moves the cases on.)"""
    surveyed = door.cases[Stage.SURVEYED]
    assert (await surveyed.submit_plan()).stage is Stage.PLAN_SUBMITTED
    review = door.cases[Stage.UNDER_REVIEW]
    assert (await review.inspect()).stage is Stage.UNDER_REVIEW
    evaluated = door.cases[Stage.UNDER_EVALUATION]
    assert (await evaluated.evaluate(EvaluationResult.GOOD)).stage is Stage.DESIGNATED

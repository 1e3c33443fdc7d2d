"""The lifecycle table itself (no Temporal): it is the only place that says what may follow what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from transitions import MachineError

from models.case import Actor, CaseState, Policy, Stage, SurveyRecord
from models.lifecycle import (
    MACHINE,
    SYSTEM_ACTIONS,
    TRANSITIONS,
    ActionRefused,
    allowed_actions,
    apply,
)
from workflows.institute import InstituteWorkflow

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _case(stage: Stage) -> CaseState:
    survey = SurveyRecord("c1", "某公司", "heping", "ai", Actor("x"))
    return CaseState(survey=survey, created_at=NOW, stage=stage)


def test_there_are_no_free_jumps_between_stages() -> None:
    assert not any(name.startswith("to_") for name in MACHINE.events)


def test_terminal_stages_allow_nothing() -> None:
    for stage in Stage:
        if stage.terminal:
            assert allowed_actions(_case(stage), Policy(), NOW) == []


def test_every_open_stage_has_a_way_forward() -> None:
    sources = {source for row in TRANSITIONS for source in row["source"]}
    assert {s.value for s in Stage if not s.terminal} <= sources


def test_every_operator_action_has_an_update() -> None:
    updates = {
        "submit_plan",
        "recommend",
        "assign_expert",
        "submit_review",
        "record_inspection",
        "lodge_objection",
        "open_evaluation",
        "complete_rectification",
        "record_national_outcome",
        "nominate_national",
        "withdraw",
    }
    # Actions reached through a shared update: decide, resolve_objection, record_evaluation.
    via_shared = {
        "approve",
        "defer",
        "reject",
        "uphold_objection",
        "dismiss_objection",
        "rate_good",
        "order_rectification",
        "delist",
        "recommend_national",
        "open_evaluation_out_of_cycle",
    }
    actions = set(MACHINE.events) - SYSTEM_ACTIONS
    assert actions == updates | via_shared
    for name in updates:
        assert hasattr(InstituteWorkflow, name)


def test_an_illegal_action_raises_and_leaves_the_stage() -> None:
    case = _case(Stage.SURVEYED)
    with pytest.raises(ActionRefused):
        apply(case, Policy(), NOW, "approve")
    assert case.stage is Stage.SURVEYED
    with pytest.raises(MachineError):
        MACHINE.events["approve"].trigger(type("M", (), {"state": "surveyed"})())

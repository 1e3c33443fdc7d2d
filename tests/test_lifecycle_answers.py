"""The lifecycle's questions, answered from the machine's table indexed by stage, agree with
the machine itself.

``lifecycle.refusal`` and ``lifecycle.allowed_actions`` read the rows and evaluate their
conditions (they are asked on every event, so they skip the walk over every trigger and the
explanation strings); ``lifecycle.apply`` fires the machine. For every stage, action and guard
outcome, all three say what a machine fired on a fresh model says.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from transitions import MachineError

from models.case import (
    Actor,
    CaseState,
    Level,
    NoticePeriod,
    ObjectionEntry,
    Policy,
    ReviewEntry,
    SiteInspection,
    Stage,
    SurveyRecord,
)
from models.lifecycle import GUARDS, MACHINE, ActionRefused, allowed_actions, apply, refusal

NOW = datetime(2030, 3, 1, tzinfo=UTC)
POLICY = Policy()


class _Model:
    """A stand-in model the machine itself fires on: its state and its guards."""

    def __init__(self, case: CaseState) -> None:
        self.state = case.stage.value
        self._case = case

    def __getattr__(self, name: str) -> Callable[[], bool]:
        guard = GUARDS[name]
        return lambda: guard.check(self._case, POLICY, NOW)


def _cases() -> Iterator[CaseState]:
    """Every stage, with each guard's inputs both ways."""
    survey = SurveyRecord("c1", "某公司", "heping", "ai", Actor("x"))
    for (
        stage,
        reviewed,
        inspected,
        open_objections,
        missed,
        due_in,
        level,
        designated,
    ) in itertools.product(
        Stage,
        (None, 80.0),
        (False, True),
        (0, 1, 2),
        (0, 1),
        (timedelta(days=30), timedelta(days=200)),
        Level,
        (NOW - timedelta(days=365), NOW - timedelta(days=365 * 3)),
    ):
        yield CaseState(
            survey=survey,
            created_at=NOW,
            stage=stage,
            level=level,
            stage_entered_at=NOW,
            round_year=2030,
            missed_rounds=missed,
            reviews=[ReviewEntry("expert", "org", score=reviewed)],
            inspection=SiteInspection(Actor("x"), True, "ok") if inspected else None,
            notice=NoticePeriod(NOW, NOW + timedelta(days=7), 5),
            objections=[ObjectionEntry(i, "someone", "why", NOW) for i in range(open_objections)],
            designated_at=designated,
            next_evaluation_due=NOW + due_in,
        )


def _fired(case: CaseState, trigger: str) -> Stage | None:
    model = _Model(case)
    try:
        return Stage(model.state) if MACHINE.events[trigger].trigger(model) else None
    except MachineError:
        return None


def _applied(case: CaseState, trigger: str) -> Stage | None:
    try:
        return apply(case, POLICY, NOW, trigger)
    except ActionRefused:
        return None


@pytest.mark.parametrize("trigger", list(MACHINE.events))
def test_apply_leads_where_the_machine_would(trigger: str) -> None:
    for case in _cases():
        expected = _fired(case, trigger)
        assert _applied(case, trigger) == expected, (case.stage, trigger)
        assert (refusal(case, POLICY, NOW, trigger) is None) == (expected is not None)


def test_allowed_actions_are_those_the_machine_would_fire() -> None:
    for case in _cases():
        expected = [
            trigger
            for trigger in MACHINE.events
            if trigger not in {"miss_round", "close_notice"} and _fired(case, trigger)
        ]
        assert allowed_actions(case, POLICY, NOW) == expected

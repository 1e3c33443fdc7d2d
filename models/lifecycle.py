"""The lifecycle of an institute case, declared as data and run by ``transitions``.

``TRANSITIONS`` is the whole process of DOMAIN.md as a table: each row names an action, the
stages it may start from, the stage it leads to and the guards that must hold. ``MACHINE`` is
built from it once at import and shared by every case in a worker: a case is only a stage name
plus its data, so nothing per workflow needs a machine of its own. ``auto_transitions=False``
means no action exists that the table does not list. :func:`apply` fires the machine; the
questions asked on every event (what is allowed now, why not) read its transitions and
conditions, indexed by stage once.

The workflow never decides what may follow what: it asks :func:`refusal` and calls :func:`apply`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from transitions import Machine

from models import national, review
from models.case import CaseState, EvaluationResult, Level, Policy, Rules, Stage
from models.deadlines import ALL_RULES, idle
from models.time import cst_date

# transitions logs every trigger at INFO; inside thousands of workflows that is noise.
logging.getLogger("transitions").setLevel(logging.WARNING)

S = Stage
BEFORE_DESIGNATION = [
    S.SURVEYED,
    S.PLAN_SUBMITTED,
    S.RECOMMENDED,
    S.UNDER_REVIEW,
    S.PUBLIC_NOTICE,
    S.INVESTIGATING,
]


def _row(
    trigger: str,
    source: Stage | list[Stage],
    dest: Stage,
    *,
    conditions: list[str] | None = None,
    unless: list[str] | None = None,
) -> dict[str, Any]:
    sources = source if isinstance(source, list) else [source]
    return {
        "trigger": trigger,
        "source": [s.value for s in sources],
        "dest": dest.value,
        "conditions": conditions or [],
        "unless": unless or [],
    }


TRANSITIONS: list[dict[str, Any]] = [
    # Survey, creation plan and the district's recommendation.
    _row("submit_plan", [S.SURVEYED, S.PLAN_SUBMITTED], S.PLAN_SUBMITTED),
    _row("recommend", S.PLAN_SUBMITTED, S.RECOMMENDED),
    _row("miss_round", [S.SURVEYED, S.PLAN_SUBMITTED], S.LAPSED, conditions=["last_round"]),
    _row("miss_round", S.SURVEYED, S.SURVEYED, unless=["last_round"]),
    _row("miss_round", S.PLAN_SUBMITTED, S.PLAN_SUBMITTED, unless=["last_round"]),
    # Expert review, site inspection and the comprehensive evaluation (成熟一家、创建一家).
    _row("assign_expert", [S.RECOMMENDED, S.UNDER_REVIEW], S.UNDER_REVIEW),
    _row("submit_review", S.UNDER_REVIEW, S.UNDER_REVIEW),
    _row("record_inspection", S.UNDER_REVIEW, S.UNDER_REVIEW),
    _row("approve", S.UNDER_REVIEW, S.PUBLIC_NOTICE, conditions=["review_complete"]),
    _row("defer", S.UNDER_REVIEW, S.DEFERRED),
    _row("reject", S.UNDER_REVIEW, S.REJECTED),
    # Public notice (公示) and objections (异议).
    _row("lodge_objection", S.PUBLIC_NOTICE, S.PUBLIC_NOTICE),
    _row("close_notice", S.PUBLIC_NOTICE, S.DESIGNATED, unless=["has_open_objection"]),
    _row("close_notice", S.PUBLIC_NOTICE, S.INVESTIGATING, conditions=["has_open_objection"]),
    _row(
        "uphold_objection",
        [S.PUBLIC_NOTICE, S.INVESTIGATING],
        S.REJECTED,
        conditions=["has_open_objection"],
    ),
    _row("dismiss_objection", S.PUBLIC_NOTICE, S.PUBLIC_NOTICE, conditions=["has_open_objection"]),
    _row(
        "dismiss_objection",
        S.INVESTIGATING,
        S.DESIGNATED,
        conditions=["has_open_objection"],
        unless=["several_open_objections"],
    ),
    _row(
        "dismiss_objection",
        S.INVESTIGATING,
        S.INVESTIGATING,
        conditions=["several_open_objections"],
    ),
    # Tracking evaluation (跟踪评估) every few years.
    _row(
        "open_evaluation", S.DESIGNATED, S.UNDER_EVALUATION, conditions=["evaluation_window_open"]
    ),
    # Consequences do not wait for the cycle (不再具备…条件的，将从…名录中删除): the bureau may
    # evaluate at any time, with a reason (the ``open_evaluation`` update's), same outcomes.
    _row(
        "open_evaluation_out_of_cycle",
        S.DESIGNATED,
        S.UNDER_EVALUATION,
        unless=["evaluation_window_open"],
    ),
    _row("rate_good", S.UNDER_EVALUATION, S.DESIGNATED),
    _row("order_rectification", S.UNDER_EVALUATION, S.RECTIFYING),
    _row("complete_rectification", S.RECTIFYING, S.UNDER_EVALUATION),
    _row("delist", S.UNDER_EVALUATION, S.DELISTED),
    _row(
        "recommend_national",
        S.UNDER_EVALUATION,
        S.NATIONAL_REVIEW,
        conditions=["is_municipal", "stable_long_enough"],
    ),
    # The ministry's call (根据工业和信息化部统一部署), answered whenever the institute is eligible.
    _row(
        "nominate_national",
        S.DESIGNATED,
        S.NATIONAL_REVIEW,
        conditions=["is_municipal", "stable_long_enough"],
    ),
    _row("record_national_outcome", S.NATIONAL_REVIEW, S.DESIGNATED),
    # Leaving before designation.
    _row("withdraw", BEFORE_DESIGNATION, S.WITHDRAWN),
]

SYSTEM_ACTIONS = frozenset({"miss_round", "close_notice"})
"""Actions only the workflow's own timers take; operators never see them as allowed."""


@dataclass(frozen=True)
class Guard:
    check: Callable[[CaseState, Policy, datetime], bool]
    explain: Callable[[CaseState, Policy, datetime], str]
    """Why the guard fails, in words an operator can act on."""


def _review_complete(case: CaseState, policy: Policy, now: datetime) -> bool:
    """The panel's work is complete (``models/review.py``: its size, its reviews, a site
    inspection; under the case's rules, one that passed)."""
    return not review.approval_missing(case)


def _explain_review(case: CaseState, policy: Policy, now: datetime) -> str:
    return review.approval_refusal(case)


def evaluation_opens_at(case: CaseState, policy: Policy) -> datetime | None:
    if case.next_evaluation_due is None:
        return None
    return case.next_evaluation_due - timedelta(days=policy.evaluation_open_window_days)


def national_eligible_from(case: CaseState, policy: Policy) -> datetime | None:
    return national.eligible_from(case, policy)


def _explain_stability(case: CaseState, policy: Policy, now: datetime) -> str:
    since = national.stable_since(case)
    counted = (
        f"the rectification completed on {_day(since)}"
        if since is not None and since != case.designated_at
        else f"designation on {_day(case.designated_at)}"
    )
    return (
        f"a national recommendation needs {policy.national_min_stable_years} years of stable "
        f"operation (稳定运行2年以上) since {counted}; the earliest is "
        f"{_day(national_eligible_from(case, policy))}"
    )


GUARDS: dict[str, Guard] = {
    "review_complete": Guard(_review_complete, _explain_review),
    "has_open_objection": Guard(
        lambda case, policy, now: bool(case.open_objections()),
        lambda case, policy, now: "no objection is open",
    ),
    "several_open_objections": Guard(
        lambda case, policy, now: len(case.open_objections()) > 1,
        lambda case, policy, now: "only one objection is open",
    ),
    "last_round": Guard(
        # Asked before the miss is counted: this miss is the last one the policy allows.
        lambda case, policy, now: case.missed_rounds + 1 >= policy.max_missed_rounds,
        lambda case, policy, now: (
            f"{case.missed_rounds} of {policy.max_missed_rounds} rounds missed so far"
        ),
    ),
    "evaluation_window_open": Guard(
        lambda case, policy, now: (
            (opens := evaluation_opens_at(case, policy)) is not None and now >= opens
        ),
        lambda case, policy, now: (
            f"the evaluation is due on {_day(case.next_evaluation_due)} and may be opened from "
            f"{_day(evaluation_opens_at(case, policy))}"
        ),
    ),
    "is_municipal": Guard(
        lambda case, policy, now: case.level is Level.MUNICIPAL,
        lambda case, policy, now: "the institute is already national level",
    ),
    "stable_long_enough": Guard(
        lambda case, policy, now: (
            (eligible := national_eligible_from(case, policy)) is not None and now >= eligible
        ),
        _explain_stability,
    ),
}


def _day(moment: datetime | None) -> str:
    return cst_date(moment).isoformat() if moment else "(unknown)"


class _Subject:
    """What the shared machine acts on for one call: a stage plus the case it belongs to.

    ``transitions`` reads and writes ``state`` and resolves guard names as attributes, so each
    guard name answers with its check from ``GUARDS``.
    """

    def __init__(self, case: CaseState, policy: Policy, now: datetime) -> None:
        self.state = case.stage.value
        self._case, self._policy, self._now = case, policy, now

    def __getattr__(self, name: str) -> Callable[[], bool]:
        guard = GUARDS[name]
        return lambda: guard.check(self._case, self._policy, self._now)


MACHINE = Machine(
    model=None,
    states=[s.value for s in Stage],
    transitions=TRANSITIONS,
    initial=Stage.SURVEYED.value,
    auto_transitions=False,
    send_event=False,
)

EVALUATION_ACTIONS: dict[EvaluationResult, str] = {
    EvaluationResult.GOOD: "rate_good",
    EvaluationResult.RECTIFY: "order_rectification",
    EvaluationResult.DELIST: "delist",
    EvaluationResult.EXCELLENT: "recommend_national",
}
"""The action each evaluation result takes (the ``record_evaluation`` update)."""


def _rows_by_stage() -> dict[Stage, dict[str, list[Any]]]:
    """The machine's transitions, per source stage and then per trigger, in table order."""
    by_stage: dict[Stage, dict[str, list[Any]]] = {stage: {} for stage in Stage}
    for trigger, event in MACHINE.events.items():
        for source, rows in event.transitions.items():
            by_stage[Stage(source)][trigger] = rows
    return by_stage


# Every workflow event asks what its stage allows (the status, the Web UI's details) and which
# row fires: looked up here, in the machine's own table, instead of walking every event.
_ROWS = _rows_by_stage()


class ActionRefused(Exception):
    """An action the case's stage or guards do not allow; the message says what is allowed."""


def _rows(trigger: str, stage: Stage) -> list[Any]:
    return _ROWS[stage].get(trigger, [])


def _failing(row: Any, case: CaseState, policy: Policy, now: datetime) -> Iterator[Guard]:
    """The guards of ``row`` that do not hold (``unless`` guards are conditions with target
    False), checked in order and only as far as the caller reads."""
    for condition in row.conditions:
        guard = GUARDS[condition.func]
        if guard.check(case, policy, now) != condition.target:
            yield guard


def _holds(row: Any, case: CaseState, policy: Policy, now: datetime) -> bool:
    return next(_failing(row, case, policy, now), None) is None


def _guard_failures(row: Any, case: CaseState, policy: Policy, now: datetime) -> list[str]:
    return [guard.explain(case, policy, now) for guard in _failing(row, case, policy, now)]


RECORD_WILLINGNESS = "record_willingness"
WHILE_UNWILLING = frozenset({"withdraw"})
"""企业自愿: what may happen to a case whose organisation has not said it is willing. Closing
its record is not chasing it; everything else waits for its willingness."""


def allowed_actions(
    case: CaseState, policy: Policy, now: datetime, rules: Rules = ALL_RULES
) -> list[str]:
    """Operator actions the case allows now (guards included), in table order; for a case
    whose organisation is not willing (企业自愿), recording its willingness comes first."""
    unwilling = idle(case, rules)
    allowed = [
        trigger
        for trigger, rows in _ROWS[case.stage].items()
        if trigger not in SYSTEM_ACTIONS
        and (not unwilling or trigger in WHILE_UNWILLING)
        and any(_holds(r, case, policy, now) for r in rows)
    ]
    return [RECORD_WILLINGNESS, *allowed] if unwilling else allowed


def nothing_allowed(case: CaseState, policy: Policy) -> str:
    """What "allowed now" says when nothing is: a designated institute waiting for its
    evaluation is not closed (定期…跟踪评估), only a terminal case is."""
    if case.stage.terminal:
        return "none (the case is closed)"
    if case.stage is Stage.DESIGNATED and (opens := evaluation_opens_at(case, policy)):
        return (
            f"none until its tracking evaluation opens on {_day(opens)} (the institute stays "
            "designated meanwhile)"
        )
    return "none until its next deadline"


def awaiting(allowed: list[str], case: CaseState, policy: Policy, now: datetime) -> str:
    """What "allowed now" says: the actions, or why there are none. A designated institute is
    never called closed (定期…跟踪评估): an evaluation out of cycle is always possible, and the
    text says when its regular evaluation opens."""
    if not allowed:
        return nothing_allowed(case, policy)
    opens = evaluation_opens_at(case, policy)
    text = ", ".join(allowed)
    if case.stage is Stage.DESIGNATED and opens is not None and now < opens:
        text += f" (its tracking evaluation opens on {_day(opens)}; it stays designated)"
    return text


def refusal(
    case: CaseState, policy: Policy, now: datetime, trigger: str, rules: Rules = ALL_RULES
) -> str | None:
    """Why ``trigger`` may not happen now, or ``None`` if it may."""
    if trigger not in MACHINE.events:
        return f"unknown action {trigger!r}"
    if idle(case, rules) and trigger not in WHILE_UNWILLING:
        return (
            f"{case.survey.organisation} has not said it is willing to build an institute "
            f"(企业自愿): case {case.case_id} takes no '{trigger}' until the district or the "
            "applicant records its willingness (idri willing CASE --yes)"
        )
    rows = _rows(trigger, case.stage)
    if any(_holds(r, case, policy, now) for r in rows):
        return None
    allowed = awaiting(allowed_actions(case, policy, now, rules), case, policy, now)
    if not rows:
        return (
            f"case {case.case_id} is in stage '{case.stage.value}', where '{trigger}' is not "
            f"possible; allowed now: {allowed}"
        )
    reasons = "; ".join(
        dict.fromkeys(f for r in rows for f in _guard_failures(r, case, policy, now))
    )
    return (
        f"case {case.case_id} is in stage '{case.stage.value}' and cannot '{trigger}' yet: "
        f"{reasons}; allowed now: {allowed}"
    )


def apply(
    case: CaseState, policy: Policy, now: datetime, trigger: str, rules: Rules = ALL_RULES
) -> Stage:
    """Fire ``trigger`` on the shared machine and return the case's new stage.

    The machine acts on a stand-in (:class:`_Subject`), so the case itself is unchanged: the
    workflow sets the stage when it records the event. Raises :class:`ActionRefused` when the
    table or a guard forbids it.
    """
    reason = refusal(case, policy, now, trigger, rules)
    if reason:
        raise ActionRefused(reason)
    subject = _Subject(case, policy, now)
    if not MACHINE.events[trigger].trigger(subject):
        raise ActionRefused(f"case {case.case_id}: '{trigger}' was refused by its guards")
    return Stage(subject.state)


def mermaid_diagram() -> str:
    """The state diagram as Mermaid, generated from ``TRANSITIONS`` (shown in the README)."""
    lines = ["stateDiagram-v2", f"    [*] --> {Stage.SURVEYED.value}"]
    for row in TRANSITIONS:
        guard = " ".join(
            [f"[{c}]" for c in row["conditions"]] + [f"[not {u}]" for u in row["unless"]]
        )
        label = f"{row['trigger']} {guard}".strip()
        for source in row["source"]:
            lines.append(f"    {source} --> {row['dest']}: {label}")
    for stage in Stage:
        if stage.terminal:
            lines.append(f"    {stage.value} --> [*]")
    return "\n".join(lines) + "\n"

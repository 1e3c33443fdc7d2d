"""What changes on an institute case that lives for years, without moving its stage: the
organisation's willingness (企业自愿), its contact and name, the bureau's extension of a deadline,
and the reminders the case sends on its own before its due dates.

A part of :class:`workflows.institute.InstituteWorkflow` (which inherits these updates), kept in
its own module; the rules behind them are pure functions of ``models/changes.py`` and
``models/deadlines.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models import changes, deadlines, permissions
    from models.case import (
        SYSTEM,
        Actor,
        CaseState,
        CaseStatus,
        Deadline,
        Policy,
        ReviewEntry,
        Rules,
        Stage,
    )
    from models.changes import (
        ContactChange,
        DeadlineExtension,
        DeadlineKind,
        WillingnessChange,
    )
    from models.time import cst_date, end_of_day, round_year_for

from workflows.checks import refuse, require, require_text

REMINDER_KINDS = frozenset(
    {"review_reminder", "review_overdue", "rectification_reminder", "evaluation_reminder"}
)
"""Timer events that remind someone; the stage's own overdue notice is the workflow's."""

_WILLINGNESS_STAGES = (Stage.SURVEYED, Stage.PLAN_SUBMITTED)


class CaseChanges:
    """The updates and reminders above; the workflow provides the state and the recording."""

    _case: CaseState
    _policy: Policy | None
    _rules: Rules
    _lock: asyncio.Lock

    async def _record(
        self,
        event: str,
        actor: Actor,
        reason: str,
        *,
        from_stage: Stage | None = None,
        details: dict[str, str] | None = None,
        expert: ReviewEntry | None = None,
    ) -> CaseStatus:
        raise NotImplementedError  # InstituteWorkflow._record

    def _join_round(self, moment: datetime) -> None:
        """Put the case in the round ``moment`` falls in; reminders already past are not sent."""
        assert self._policy is not None
        case = self._case
        case.round_year = round_year_for(
            moment, self._policy.round_deadline_month, self._policy.round_deadline_day
        )
        case.reminders_sent = deadlines.reminders_already_past(case, self._policy, moment)

    # --- Shared by the updates below --------------------------------------------------------

    def _amendable(self, trigger: str, actor: Actor) -> None:
        """Refuse a change to a closed case, or by a role that may not make it."""
        if not isinstance(actor, Actor) or not actor.name or not actor.name.strip():
            raise refuse("every action needs the operator's identity")
        if self._case.stage.terminal:
            raise refuse(
                f"case {self._case.case_id} is closed (stage '{self._case.stage.value}'): "
                f"nothing of it changes any more ('{trigger}')"
            )
        acting = dataclasses.replace(actor, role=actor.recorded_role)
        denied = permissions.permission_refusal(acting, trigger, self._case)
        if denied:
            raise refuse(f"permission denied: {denied}")

    async def _amend(
        self,
        trigger: str,
        actor: Actor,
        check: Callable[[], object],
        change: Callable[[], tuple[str, dict[str, str]]],
    ) -> CaseStatus:
        """Apply one change under the lock, after its validator's checks again (two updates
        may both be validated before either runs), and record it with its reason."""
        await workflow.wait_condition(lambda: self._policy is not None)
        async with self._lock:
            self._amendable(trigger, actor)
            check()
            reason, details = change()
            return await self._record(trigger, actor, reason, details=details)

    # --- 企业自愿: the organisation's willingness ------------------------------------------------

    @workflow.update
    async def record_willingness(self, change: WillingnessChange) -> CaseStatus:
        """企业自愿 (participation is voluntary): an organisation that says it is willing joins
        the current round; one that no longer is leaves its round and is not chased."""

        def apply() -> tuple[str, dict[str, str]]:
            case = self._case
            case.survey.willing = bool(change.willing)
            if change.willing:
                self._join_round(workflow.now())
                reason = "the organisation is willing to build an institute (企业自愿)"
            else:
                case.round_year, case.reminders_sent, case.round_extended_to = None, [], None
                reason = "the organisation is no longer willing to build an institute (企业自愿)"
            details = {"willing": str(bool(change.willing)).lower()}
            if case.round_year is not None:
                details["round_year"] = str(case.round_year)
            return reason + (f": {change.note}" if change.note else ""), details

        return await self._amend(
            "record_willingness", change.actor, lambda: self._willingness(change), apply
        )

    @record_willingness.validator
    def _validate_record_willingness(self, change: WillingnessChange) -> None:
        require(change)
        self._amendable("record_willingness", change.actor)
        if change.note:
            require_text(change.note, "the note")
        self._willingness(change)

    def _willingness(self, change: WillingnessChange) -> None:
        case = self._case
        if not isinstance(change.willing, bool):
            raise refuse(f"willing is true or false, not {change.willing!r}")
        if case.stage not in _WILLINGNESS_STAGES:
            raise refuse(
                f"case {case.case_id} is in stage '{case.stage.value}', past its recommendation: "
                "an organisation that no longer wants to take part withdraws (idri withdraw)"
            )
        if case.survey.willing == change.willing:
            said = "willing" if change.willing else "not willing"
            raise refuse(f"{case.survey.organisation} is already recorded as {said}")

    # --- Contact and name ---------------------------------------------------------------------

    @workflow.update
    async def change_contact(self, change: ContactChange) -> CaseStatus:
        """A years-long case's contact and name change; each is recorded with its old value."""

        def apply() -> tuple[str, dict[str, str]]:
            found = changes.contact_changes(self._case, change)
            changes.apply_contact(self._case, found)
            details = {"changed": ",".join(name for name, _, _ in found)}
            for name, old, new in found:
                details[f"old_{name}"], details[f"new_{name}"] = old, new
            if any(name == "organisation" for name, _, _ in found):
                # `idri list` and the applicant's access read the organisation from the memo.
                workflow.upsert_memo(
                    {
                        "organisation": self._case.survey.organisation,
                        "former_organisations": list(self._case.former_organisations),
                    }
                )
            return changes.describe_changes(found, change.note), details

        return await self._amend(
            "change_contact", change.actor, lambda: self._contact_changes(change), apply
        )

    @change_contact.validator
    def _validate_change_contact(self, change: ContactChange) -> None:
        require(change)
        self._amendable("change_contact", change.actor)
        problems = changes.contact_problems(change)
        if problems:
            raise refuse("; ".join(problems))
        self._contact_changes(change)

    def _contact_changes(self, change: ContactChange) -> None:
        if not changes.contact_changes(self._case, change):
            raise refuse(f"nothing to change: case {self._case.case_id} already has these details")

    # --- The bureau extends a deadline ------------------------------------------------------

    @workflow.update
    async def extend_deadline(self, extension: DeadlineExtension) -> CaseStatus:
        """The bureau moves a rectification, review or round deadline; the timers follow."""

        def apply() -> tuple[str, dict[str, str]]:
            assert self._policy is not None
            case, kind = self._case, DeadlineKind(extension.kind)
            old = changes.current_due(case, self._policy, kind)
            assert old is not None
            new = end_of_day(date.fromisoformat(extension.until))
            if kind is DeadlineKind.RECTIFICATION:
                case.rectification_due = new
            elif kind is DeadlineKind.REVIEW:
                case.review_extended_to = new
            else:
                case.round_extended_to = new
            # The overdue notice and the reminders are due again before the new deadline.
            case.overdue_notified = False
            case.reminders_from = workflow.now()
            case.due_reminders_sent = []
            reason = (
                f"{kind.value} deadline extended from {_last_day(old)} to "
                f"{extension.until}: {extension.reason}"
            )
            return reason, {
                "deadline_kind": kind.value,
                "old_due": old.isoformat(),
                "new_due": new.isoformat(),
            }

        return await self._amend(
            "extend_deadline", extension.actor, lambda: self._extensible(extension), apply
        )

    @extend_deadline.validator
    def _validate_extend_deadline(self, extension: DeadlineExtension) -> None:
        require(extension)
        self._amendable("extend_deadline", extension.actor)
        require_text(extension.reason, "the reason for the extension")
        self._extensible(extension)

    def _extensible(self, extension: DeadlineExtension) -> None:
        problem = changes.extension_refusal(
            self._case, self._policy or Policy(), workflow.now(), extension
        )
        if problem:
            raise refuse(problem)

    # --- Reminders before due dates (the caller holds the lock) -----------------------------

    async def _send_reminder(self, deadline: Deadline) -> None:
        """Remind the expert of a review still missing, tell the bureau once it is overdue, or
        remind the institute of its rectification deadline or its evaluation's opening."""
        case = self._case
        details: dict[str, Any] = {"due_at": deadline.at.isoformat()}
        if deadline.kind in ("review_reminder", "review_overdue"):
            entry = next(r for r in case.reviews if r.expert == deadline.subject)
            assigned = _last_day(entry.assigned_at) if entry.assigned_at else "?"
            if deadline.kind == "review_reminder":
                entry.reminded = True
                reason = f"reminder to {entry.expert}: the review assigned on {assigned} is missing"
            else:
                entry.escalated = True
                reason = f"{entry.expert}'s review (assigned on {assigned}) is overdue"
            details["expert"] = entry.expert
            await self._record(deadline.kind, SYSTEM, reason, details=details, expert=entry)
            return
        case.due_reminders_sent.append(deadline.subject)
        if deadline.kind == "rectification_reminder" and case.rectification_due:
            details["rectification_due"] = case.rectification_due.isoformat()
            details["lead_days"] = deadline.subject.partition(":")[2]
        elif case.next_evaluation_due:
            details["evaluation_due"] = case.next_evaluation_due.isoformat()
        await self._record(deadline.kind, SYSTEM, deadline.description, details=details)


def _last_day(moment: datetime) -> str:
    """The last day a deadline (the end of that day, Beijing time) leaves, as a date."""
    return cst_date(moment - timedelta(seconds=1)).isoformat()

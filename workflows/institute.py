"""One institute case as one long-running workflow, from survey to the last evaluation.

The workflow owns the case's state and its timers; ``models.lifecycle`` decides what may follow
what. Every operator action is an update whose validator refuses, before anything reaches
history, an action the stage does not allow or an input that is wrong. Side effects (the
registry with its outbox, the mail, the public pages, the calendar) are activities called by
name; mail and pages run beside the case, so no operator waits for a mail server.

Determinism: no clock but ``workflow.now()``, no I/O, no randomness. Periods come from the
``load_policy`` activity and the notice window from the ``notice_period`` activity, so a replay
sees the values the case used, whatever the settings or the calendar say today.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models import (
        catalog,
        deadlines,
        documents,
        inbox,
        lifecycle,
        national,
        notifications,
        permissions,
        records,
        review,
        rounds,
        search,
    )
    from models.case import (
        SYSTEM,
        Actor,
        CaseState,
        CaseStatus,
        Deadline,
        Decision,
        DocumentAttachment,
        EvaluationOpening,
        EvaluationRecord,
        EvaluationResult,
        ExpertAssignment,
        ExpertReview,
        HistoryEntry,
        InstituteInput,
        Level,
        NationalNomination,
        NationalOutcome,
        NoticePeriod,
        Objection,
        ObjectionEntry,
        ObjectionResolution,
        Outcome,
        PlanSubmission,
        Policy,
        Recommendation,
        RectificationReport,
        ReviewEntry,
        Role,
        Rules,
        SiteInspection,
        Stage,
        Withdrawal,
    )
    from models.national import NominationRecord
    from models.rounds import NoticeBatch
    from models.time import add_years, cst_date, end_of_day, round_year_for

from workflows.changes import REMINDER_KINDS, CaseChanges
from workflows.checks import refuse
from workflows.checks import require as _require
from workflows.checks import require_mailbox as _require_mailbox
from workflows.checks import require_name as _require_name
from workflows.checks import require_text as _require_text

BEFORE_NOTICE = frozenset(
    {Stage.SURVEYED, Stage.PLAN_SUBMITTED, Stage.RECOMMENDED, Stage.UNDER_REVIEW}
)

PAGES_BY_WORKER = "pages-by-worker"
"""Patch: runs from this version on leave the public pages to the worker's publisher (the
registry queues them with the event) instead of a ``publish`` activity per page, and upsert
search attributes only when one changes. Earlier runs replay as they ran."""

MAIL_BY_WORKER = "mail-by-worker"
"""Patch: runs from this version on leave their mail to the worker's deliverer, which sends what
the registry wrote to the outbox with the event, batched across cases, instead of a
``deliver_notifications`` activity per event. Earlier runs replay as they ran."""

OUTBOX_BY_ACTIVITIES = "outbox-by-activities"
"""Patch: runs from this version on send each event's mail with a ``deliver_notifications``
activity and publish its pages with a ``publish`` activity again; the worker runs nothing beside
its workflows and activities. The SDK decides a patch once per run, so a run that began under
``pages-by-worker``/``mail-by-worker`` keeps leaving both to the queues until it continues as new;
the daily evaluation sweep empties those queues (``workflows/schedules.py``)."""

SURVEY_CHECKS_ROLE = "survey-checks-role"
"""Patch: runs from this version on refuse to start a case whose survey actor may not record
candidates (``permissions.survey_refusal``). Cases started earlier replay as they ran."""

IDENTITY_FROM_WORKFLOW_ID = "identity-from-workflow-id"
"""Patch: from this version on a run refuses an input that is not its own case's (see
:func:`identity_refusal`); a refused start fails before anything is recorded."""

RECHECK_UNDER_LOCK = "recheck-under-lock"
"""Patch: from this version on an update's handler repeats its validator's checks of the case
under the lock. A run that accepted two conflicting updates before (the fault this fixes) must
replay accepting them."""

HANDLERS_BEFORE_CONTINUING = "handlers-before-continuing"
"""Patch: from this version a run ends only once every accepted update has finished, even one
accepted while its last mails and pages went out; earlier runs ended without waiting then."""

NOTICE_FOLLOWS_LEAVERS = "notice-follows-leavers"
"""Patch: from this version a case that leaves its public notice (an upheld objection, a
withdrawal) republishes its batch's notice page, which no longer lists it; earlier runs left the
page as it was (the registry queues it, and the daily sweep publishes it)."""

PAPER_REVIEW_NAMED = "paper-review-named"
"""Patch: from this version a review a bureau officer enters for an expert (received on paper)
says so in the history's reason; earlier runs recorded the plain reason."""

REVIEW_PANEL_RULES = "review-panel-rules"
"""Patch: a case started from this version on carries the panel rules in force when it started
(``models/review.py``: a minimum panel, scores on criteria, a site inspection that passed);
cases started earlier keep the rules they started with (``review_rules`` stays ``None``)."""

RECTIFICATION_RESTARTS_STABILITY = "rectification-restarts-stability"
"""Patch: from this version a completed rectification restarts the count of stable operation
(稳定运行2年以上) a national recommendation needs; earlier runs counted from designation."""

VOLUNTARY_PARTICIPATION = "voluntary-participation"
"""Patch: from this version an organisation not willing to build an institute (企业自愿) belongs
to no round, gets no reminders and no case actions until its willingness is recorded; earlier
runs replay treating every organisation alike."""

DUE_REMINDERS = "due-reminders"
"""Patch: from this version a run reminds experts of missing reviews (and tells the bureau when
one is overdue), and reminds the institute before its rectification deadline and before its
evaluation opens; earlier runs replay with the overdue notices alone."""

OBJECTIONS_WORDED = "objections-worded"
"""Patch: from this version an objection's history entry names its objector, and a notice that
closes after dismissed objections does not say it closed "without objection"."""

EXPERT_SEARCH_ATTRIBUTE = "expert-search-attribute"
"""Patch: from this version a run keeps ``IdriExpert`` (the assigned experts' account names)
with the other search attributes, so the Web UI finds an expert's cases. Earlier runs upserted
the five case attributes only and replay so."""

MAIL_BEFORE_CONTINUING = timedelta(minutes=10)
"""How long a run that continues as new waits for its mail still going out (a mail server that
is down is retried by the next run instead)."""

HISTORY_CARRIED = 200
"""History entries carried across continue-as-new; the registry's audit trail keeps them all."""

QUICK: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
)
# A registry that is down for a while (PostgreSQL restarting, SQLite locked) is waited out:
# retries never stop. The start-to-close is short because an attempt a killed worker had
# started is only retried once it times out: 10 s keeps a case moving within 15 s of a restart.
DURABLE: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
# A mail server down for hours: keep trying, up to every five minutes.
DELIVERY: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
)


def _same_organisation(a: str, b: str) -> bool:
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


@workflow.defn
class InstituteWorkflow(CaseChanges):
    """The case of one candidate organisation; workflow id ``institute-<case id>``."""

    @workflow.init
    def __init__(self, input: InstituteInput) -> None:
        now = workflow.now()
        self._case: CaseState = input.carried or CaseState(
            survey=input.survey, created_at=now, stage_entered_at=now
        )
        if input.carried is None:
            self._case.duplicate_warning = input.duplicate_warning
        self._policy: Policy | None = None
        self._rules = Rules()
        """The rules of this run (decided by their patches when the run starts)."""
        self._lock = asyncio.Lock()
        self._version = 0
        """Bumped after every recorded event; the main loop re-plans its timer on a change."""
        self._cycle_completed = False
        """The case reached ``designated`` in this run: a new evaluation cycle begins."""
        self._deliveries: list[asyncio.Task[Any]] = []
        """Mail deliveries and pages of runs from before ``OUTBOX_BY_ACTIVITIES``: awaited before
        the run ends."""
        self._mail: dict[str, asyncio.Task[Any]] = {}
        """This run's mail deliveries, by event key: those still going out when the run
        continues as new are handed to the next run, which delivers them."""
        self._pages: list[asyncio.Task[Any]] = []
        self._search_values: search.Values | None = None
        """The search attributes as last upserted in this run (an upsert is a history event)."""
        self._search_experts: tuple[str, ...] | None = None
        """``IdriExpert`` as last upserted in this run (from ``EXPERT_SEARCH_ATTRIBUTE`` on)."""

    # --- The main loop: timers ------------------------------------------------------------

    @workflow.run
    async def run(self, input: InstituteInput) -> CaseStatus:
        survey = input.survey
        if workflow.patched(IDENTITY_FROM_WORKFLOW_ID):
            forged = identity_refusal(input, workflow.info())
            if forged:
                raise refuse(forged)
        if survey.district not in catalog.DISTRICTS or survey.direction not in catalog.DIRECTIONS:
            # The CLI checks first; this guards a client that does not.
            raise refuse(f"unknown district {survey.district!r} or direction {survey.direction!r}")
        if input.carried is None and workflow.patched(SURVEY_CHECKS_ROLE):
            # The CLI checks first; this guards a client that starts the workflow itself.
            denied = permissions.survey_refusal(survey)
            if denied:
                raise refuse(f"permission denied: {denied}; case {survey.case_id} not started")
        if input.carried is None and input.duplicate_warning is not None:
            _require_text(input.duplicate_warning, "the duplicate construction warning")
        self._rules = Rules(
            voluntary=workflow.patched(VOLUNTARY_PARTICIPATION),
            reminders=workflow.patched(DUE_REMINDERS),
        )
        self._policy = await workflow.execute_activity(
            records.ActivityName.LOAD_POLICY, result_type=Policy, **QUICK
        )
        if input.carried is None:
            async with self._lock:
                if workflow.patched(REVIEW_PANEL_RULES):
                    self._case.review_rules = review.ReviewRules(
                        self._policy.min_experts, list(self._policy.review_criteria)
                    )
                if not deadlines.idle(self._case, self._rules):
                    self._join_round(self._case.created_at)
                # The operator who recorded the candidate, not the system: every action
                # names who took it. A case started before surveys checked the role may
                # carry an actor without one; its history keeps the system as before.
                creator = survey.actor if survey.actor.role is not None else SYSTEM
                reason = "candidate recorded"
                details = {}
                if deadlines.idle(self._case, self._rules):
                    reason += " (not willing to build an institute now: 企业自愿)"
                    details["willing"] = "false"
                if self._case.duplicate_warning:
                    details["duplicate_warning"] = self._case.duplicate_warning
                await self._record("created", creator, reason, details=details)
        else:
            self._publish_search_attributes(self.status())
            for key in self._case.undelivered:
                self._deliver(key, "mail of the last run")
            self._case.undelivered = []
        while not self._case.stage.terminal and not self._time_to_continue():
            deadline = deadlines.next_deadline(self._case, self._policy, self._rules)
            seen = self._version
            if deadline is not None and deadline.at <= workflow.now():
                await self._on_deadline(deadline, seen)
                continue
            try:
                await workflow.wait_condition(
                    lambda: self._version != seen,  # noqa: B023 - awaited in this iteration
                    timeout=(deadline.at - workflow.now()) if deadline else None,
                    timeout_summary=deadline.description if deadline else None,
                )
            except TimeoutError:
                await self._on_deadline(deadline, seen)
        # Runs from before OUTBOX_BY_ACTIVITIES send their mails before they end; a delivery
        # that failed for good stays pending in the outbox (the daily sweep sends it later).
        for failure in await asyncio.gather(*self._deliveries, return_exceptions=True):
            if isinstance(failure, BaseException):
                workflow.logger.warning("notification delivery failed: %s", failure)
        await self._let_mail_go_out()
        # An update accepted while the mails went out finishes (and its own mails are sent)
        # before the run ends; its result is carried into the next run.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self._deliveries, *self._pages, return_exceptions=True)
        # An update accepted while the pages went out (an evaluation opened the moment the
        # case was designated) must finish too, or its caller is told the run ended under it.
        if workflow.patched(HANDLERS_BEFORE_CONTINUING):
            while not workflow.all_handlers_finished():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await asyncio.gather(*self._deliveries, *self._pages, return_exceptions=True)
        if self._case.stage.terminal:
            await self._let_mail_go_out()
            return self.status()
        carried = self._case.compact(HISTORY_CARRIED)
        carried.undelivered = [key for key, task in self._mail.items() if not task.done()]
        workflow.continue_as_new(InstituteInput(self._case.survey, carried=carried))

    async def _let_mail_go_out(self) -> None:
        """Wait for this run's mail before it ends: all of it in the last run (nobody would
        deliver it after), else at most ``MAIL_BEFORE_CONTINUING`` (the next run delivers what
        is still going out, so a mail server that is down holds nothing up)."""
        if all(task.done() for task in self._mail.values()):
            return  # no timer for nothing: runs from before the patch record none here
        if self._case.stage.terminal:
            await asyncio.gather(*self._mail.values(), return_exceptions=True)
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: all(task.done() for task in self._mail.values()),
                timeout=MAIL_BEFORE_CONTINUING,
                timeout_summary="mail still going out",
            )

    def _time_to_continue(self) -> bool:
        """Continue-as-new at every evaluation cycle (each return to ``designated``) and whenever
        the server suggests it, so a case that lives 30 years keeps each run's history small."""
        if self._cycle_completed and self._case.stage is Stage.DESIGNATED:
            return True
        return workflow.info().is_continue_as_new_suggested()

    async def _on_deadline(self, deadline: Deadline | None, seen: int) -> None:
        assert deadline is not None and self._policy is not None
        async with self._lock:
            if self._version != seen:
                return  # someone acted while the timer fired; re-plan
            case, policy = self._case, self._policy
            if deadline.kind == "round_reminder":
                lead = max(x for x in policy.reminder_lead_days if x not in case.reminders_sent)
                case.reminders_sent.append(lead)
                await self._record(
                    "round_reminder",
                    SYSTEM,
                    f"{lead} days left to recommend for the {case.round_year} round",
                    details={"lead_days": str(lead), "round_year": str(case.round_year)},
                )
            elif deadline.kind == "round_deadline":
                missed_round = case.round_year
                assert missed_round is not None
                new_stage = lifecycle.apply(case, policy, workflow.now(), "miss_round", self._rules)
                case.missed_rounds += 1
                case.round_extended_to = None
                if not new_stage.terminal:
                    case.round_year = missed_round + 1
                    case.reminders_sent = []
                await self._transition(
                    "miss_round",
                    SYSTEM,
                    new_stage,
                    f"not recommended by the {missed_round} round deadline "
                    f"({case.missed_rounds} of {policy.max_missed_rounds} rounds missed)",
                    details={"round_year": str(missed_round)},
                )
            elif deadline.kind == "notice_end":
                new_stage = lifecycle.apply(
                    case, policy, workflow.now(), "close_notice", self._rules
                )
                details = {}
                dismissed = sum(1 for o in case.objections if o.status == "dismissed")
                if new_stage is Stage.DESIGNATED:
                    self._designate()
                    reason = "public notice closed without objection"
                    if dismissed and workflow.patched(OBJECTIONS_WORDED):
                        reason = (
                            f"public notice closed; the {dismissed} objection(s) lodged were "
                            "dismissed after investigation"
                        )
                        details["objections_dismissed"] = str(dismissed)
                else:
                    reason = (
                        f"public notice closed with {len(case.open_objections())} open objection(s)"
                    )
                await self._transition("close_notice", SYSTEM, new_stage, reason, details=details)
            elif deadline.kind in REMINDER_KINDS:
                await self._send_reminder(deadline)
            else:
                case.overdue_notified = True
                event = "evaluation_due" if deadline.kind == "evaluation_due" else "overdue"
                await self._record(
                    event,
                    SYSTEM,
                    deadline.description,
                    details={"deadline": deadline.kind, "due_at": deadline.at.isoformat()},
                )

    # --- Recording: history, registry, mail, pages, search attributes ---------------------

    async def _transition(
        self,
        event: str,
        actor: Actor,
        new_stage: Stage,
        reason: str,
        *,
        details: dict[str, str] | None = None,
        expert: ReviewEntry | None = None,
    ) -> CaseStatus:
        from_stage = self._case.stage
        if new_stage is Stage.DESIGNATED and from_stage is not Stage.DESIGNATED:
            self._cycle_completed = True
        if new_stage is not from_stage:
            self._case.stage = new_stage
            self._case.stage_entered_at = workflow.now()
            self._case.overdue_notified = False
            # An extended deadline and the reminders sent belong to the stage left behind.
            self._case.review_extended_to = self._case.round_extended_to = None
            self._case.reminders_from, self._case.due_reminders_sent = None, []
        return await self._record(
            event, actor, reason, from_stage=from_stage, details=details, expert=expert
        )

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
        """Write one event everywhere it belongs: the case's history, the registry (with the
        event's mail and pages queued in the same transaction) and the search attributes. The
        caller holds the lock.

        ``from_stage`` is the stage before a transition; timer events leave the stage as it is.
        Returns the case's status after the event: an update's result.
        """
        case, info = self._case, workflow.info()
        case.seq += 1
        to_stage = case.stage
        from_stage = from_stage or to_stage
        at = workflow.now()
        case.history.append(
            HistoryEntry(
                case.seq, at, event, from_stage, to_stage, actor.name, actor.recorded_role, reason
            )
        )
        record = records.EventRecord(
            key=f"{info.workflow_id}#{case.seq}",
            workflow_id=info.workflow_id,
            run_id=info.run_id,
            seq=case.seq,
            at=at,
            event=event,
            from_stage=from_stage,
            to_stage=to_stage,
            actor=actor.name,
            role=actor.recorded_role,
            reason=reason,
            snapshot=records.snapshot_of(case),
            recipients=notifications.recipients_for(event, case, expert),
            details=details or {},
            waits=inbox.waits_of(case, self._policy) if self._policy else None,
        )
        # The Web UI's timeline names each event by this summary.
        await workflow.execute_activity(
            records.ActivityName.RECORD_EVENT, record, summary=f"registry: {event}", **DURABLE
        )
        by_activities = workflow.patched(OUTBOX_BY_ACTIVITIES)
        if record.recipients and by_activities:
            self._deliver(record.key, f"mail: {event}")
        elif record.recipients and not workflow.patched(MAIL_BY_WORKER):
            self._deliveries = [t for t in self._deliveries if not t.done()]
            self._deliveries.append(
                asyncio.create_task(
                    workflow.execute_activity(
                        records.ActivityName.DELIVER_NOTIFICATIONS,
                        records.DeliveryRequest(record.key),
                        **DELIVERY,
                    )
                )
            )
        publication = notifications.publication_for(event, from_stage, to_stage)
        if notifications.leaves_notice(from_stage, to_stage) and not workflow.patched(
            NOTICE_FOLLOWS_LEAVERS
        ):
            publication = None  # as the run did before the patch
        if publication and by_activities:
            self._pages = [t for t in self._pages if not t.done()]
            self._pages.append(
                asyncio.create_task(
                    workflow.execute_activity(
                        records.ActivityName.PUBLISH,
                        records.PublicationRequest(record.key, publication, case.case_id),
                        summary=f"publish {publication}",
                        **DURABLE,
                    )
                )
            )
        elif publication and not workflow.patched(PAGES_BY_WORKER):
            await workflow.execute_activity(
                records.ActivityName.PUBLISH,
                records.PublicationRequest(record.key, publication, case.case_id),
                summary=f"publish {publication}",
                **DURABLE,
            )
        self._version += 1
        # The next deadline and the allowed actions, computed once for the event: the search
        # attributes, the Web UI's details and the update's result all show them.
        status = self.status()
        self._publish_search_attributes(status)
        return status

    def _deliver(self, event_key: str, summary: str) -> None:
        """Send the mail of one event beside the case: a mail server that is down for hours
        holds up neither the case nor its operators (the retry policy waits it out)."""
        self._mail = {key: task for key, task in self._mail.items() if not task.done()}
        self._mail[event_key] = asyncio.create_task(
            workflow.execute_activity(
                records.ActivityName.DELIVER_NOTIFICATIONS,
                records.DeliveryRequest(event_key),
                summary=summary,
                **DELIVERY,
            )
        )

    def _publish_search_attributes(self, status: CaseStatus) -> None:
        """Keep the Web UI's filters and the case's current details in step with the case."""
        values = search.values_of(status)
        experts = search.experts_of(status)
        if not workflow.patched(EXPERT_SEARCH_ATTRIBUTE):
            if values != self._search_values or not workflow.patched(PAGES_BY_WORKER):
                workflow.upsert_search_attributes(search.updates(values))
                self._search_values = values
        elif values != self._search_values or experts != self._search_experts:
            workflow.upsert_search_attributes(
                [*search.updates(values), search.expert_update(experts)]
            )
            self._search_values, self._search_experts = values, experts
        assert self._policy is not None
        workflow.set_current_details(
            _details_markdown(
                status,
                self._case,
                lifecycle.awaiting(
                    status.allowed_actions, self._case, self._policy, workflow.now()
                ),
            )
        )

    # --- Queries ---------------------------------------------------------------------------

    @workflow.query
    def status(self) -> CaseStatus:
        case, policy = self._case, self._policy
        return case.status(
            deadlines.next_deadline(case, policy, self._rules) if policy else None,
            lifecycle.allowed_actions(case, policy or Policy(), workflow.now(), self._rules),
        )

    @workflow.query
    def history(self) -> list[HistoryEntry]:
        return self._case.history

    @workflow.query
    def stage(self) -> str:
        return self._case.stage.value

    # --- Shared machinery of the updates ---------------------------------------------------

    def _check(self, trigger: str, actor: Actor) -> None:
        """Refuse an action the stage, a guard or the actor's role forbids."""
        if not isinstance(actor, Actor) or not actor.name or not actor.name.strip():
            raise refuse(
                "every action needs the identity of whoever takes it (an actor with a name)"
            )
        # In a run's first moments its periods are still being loaded (``load_policy``): guards
        # decided on the defaults would refuse what the bureau's settings allow (an evaluation
        # window other than 90 days, right after a continue-as-new). A validator then leaves the
        # stage and the guards to the handler, which waits for the periods and checks again.
        if self._policy is not None:
            reason = lifecycle.refusal(
                self._case, self._policy, workflow.now(), trigger, self._rules
            )
            if reason:
                raise refuse(reason)
        # A role-less actor reaches here only when a handler replays an update accepted before
        # roles were required (``_require`` refuses one first): check it as it was checked then.
        acting = dataclasses.replace(actor, role=actor.recorded_role)
        denied = permissions.permission_refusal(acting, trigger, self._case)
        if denied:
            raise refuse(f"permission denied: {denied}")

    async def _act(
        self,
        trigger: str,
        actor: Actor,
        reason: str,
        change: Callable[[], dict[str, str] | None] | None = None,
        *,
        recheck: Callable[[], object] | None = None,
        expert: ReviewEntry | None = None,
        batch: NoticeBatch | None = None,
    ) -> CaseStatus:
        """Apply one operator action under the lock and record it.

        The validator already checked; its checks of the case repeat here, before anything
        changes, because two updates can both be validated before either handler runs (two
        identical ``assign_expert`` sent at once): the stage and the role by ``_check``, the
        action's own rules by ``recheck``, the same function its validator calls, so a refusal
        here reads as the validator's would and nothing is recorded.
        """
        await workflow.wait_condition(lambda: self._policy is not None)
        async with self._lock:
            self._check(trigger, actor)
            if recheck and workflow.patched(RECHECK_UNDER_LOCK):
                recheck()
            assert self._policy is not None
            # The machine decides on the case as it stands; the action's data comes after.
            new_stage = lifecycle.apply(
                self._case, self._policy, workflow.now(), trigger, self._rules
            )
            details = (change() if change else None) or {}
            await self._after(trigger, new_stage, details, batch)
            return await self._transition(
                trigger, actor, new_stage, reason, details=details, expert=expert
            )

    async def _after(
        self,
        trigger: str,
        new_stage: Stage,
        details: dict[str, str],
        batch: NoticeBatch | None = None,
    ) -> None:
        """Consequences of reaching a stage that need more than the trigger's own data.

        An approval in a batch (择优) starts its notice when the batch's first case did: this
        case's own ``notice_period`` activity must give the batch's period, or it is refused
        (nothing recorded) rather than put into the notice with another one."""
        case, policy, now = self._case, self._policy, workflow.now()
        assert policy is not None
        if new_stage is Stage.PUBLIC_NOTICE and case.stage is not Stage.PUBLIC_NOTICE:
            notice = await workflow.execute_activity(
                records.ActivityName.NOTICE_PERIOD,
                records.NoticeRequest(
                    batch.start if batch and batch.start else now,
                    policy.notice_working_days,
                    policy.notice_override_seconds,
                ),
                result_type=NoticePeriod,
                **QUICK,
            )
            if batch is not None:
                if batch.end is not None and notice.end != batch.end:
                    raise refuse(
                        rounds.period_mismatch(case.case_id, batch, notice.start, notice.end)
                    )
                details.update(batch_round=str(batch.round_year), batch=",".join(batch.cases))
            case.notice, case.objections = notice, []
            case.warnings.extend(w for w in notice.warnings if w not in case.warnings)
            details.update(notice_start=notice.start.isoformat(), notice_end=notice.end.isoformat())
        elif new_stage is Stage.DESIGNATED and case.stage is Stage.INVESTIGATING:
            self._designate()
        elif trigger in ("rate_good", "recommend_national"):
            case.next_evaluation_due = add_years(now, policy.evaluation_interval_years)
        if trigger in ("rate_good", "order_rectification", "delist", "recommend_national"):
            case.last_evaluated_at = now
            case.evaluation_cycle += 1

    def _designate(self) -> None:
        assert self._policy is not None
        now = workflow.now()
        self._case.designated_at = now
        self._case.next_evaluation_due = add_years(now, self._policy.evaluation_interval_years)

    # --- Updates: one per operator action --------------------------------------------------

    @workflow.update
    async def submit_plan(self, plan: PlanSubmission) -> CaseStatus:
        def change() -> dict[str, str]:
            self._case.plan = plan
            details = {"file_name": plan.file_name, "sha256": plan.sha256}
            if plan.size is not None:  # a plan kept in the document store
                details.update(size=str(plan.size), media_type=plan.media_type or "")
            return details

        return await self._act("submit_plan", plan.actor, f"creation plan {plan.file_name}", change)

    @submit_plan.validator
    def _validate_submit_plan(self, plan: PlanSubmission) -> None:
        _require(plan)
        self._check("submit_plan", plan.actor)
        _require_name(plan.file_name, "the plan's file name")
        digest = plan.sha256 if isinstance(plan.sha256, str) else ""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
            raise refuse("the plan's SHA-256 must be 64 hexadecimal characters")
        size = plan.size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise refuse(f"the plan's size is a number of bytes, not {size!r}")

    @workflow.update
    async def attach_document(self, document: DocumentAttachment) -> CaseStatus:
        """A document kept in the store (a recommendation form, an inspection or rectification
        report, evaluation materials) recorded on the case: its kind, name, size and SHA-256."""
        await workflow.wait_condition(lambda: self._policy is not None)
        async with self._lock:
            self._attachable(document)
            return await self._record(
                "attach_document",
                document.actor,
                f"{document.kind} document {document.name} ({document.size} bytes)",
                details={
                    "kind": document.kind,
                    "name": document.name,
                    "sha256": document.sha256,
                    "size": str(document.size),
                    "media_type": document.media_type,
                },
            )

    @attach_document.validator
    def _validate_attach_document(self, document: DocumentAttachment) -> None:
        _require(document)
        self._attachable(document)

    def _attachable(self, document: DocumentAttachment) -> None:
        """Refuse a document of a kind the actor or the stage does not allow, or a malformed
        reference (the store is the API's: here only the record is checked)."""
        if not isinstance(document.actor, Actor) or not (document.actor.name or "").strip():
            raise refuse("every action needs the operator's identity")
        try:
            kind = documents.kind_of(str(document.kind))
        except ValueError as error:
            raise refuse(str(error)) from None
        if kind is documents.DocumentKind.PLAN:
            raise refuse("the creation plan is recorded by submitting it (idri plan submit)")
        problem = documents.name_refusal(str(document.name))
        if problem is not None:
            raise refuse(problem)
        if not documents.is_sha256(document.sha256):
            raise refuse("a document's SHA-256 must be 64 lowercase hexadecimal characters")
        size = document.size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise refuse(f"a document's size is a number of bytes, not {size!r}")
        denied = documents.attach_refusal(
            kind, document.actor, self._case.stage, self._case.survey.district
        )
        if denied:
            raise refuse(f"permission denied: {denied}")

    @workflow.update
    async def recommend(self, recommendation: Recommendation) -> CaseStatus:
        def change() -> dict[str, str]:
            assert self._policy is not None
            case = self._case
            case.recommendation = recommendation
            extended = case.round_extended_to
            if extended is None or workflow.now() > extended:
                # Within a round deadline the bureau extended, the case stays in its round.
                case.round_year = round_year_for(
                    workflow.now(),
                    self._policy.round_deadline_month,
                    self._policy.round_deadline_day,
                )
            return {
                "round_year": str(case.round_year),
                "national_ambition": str(recommendation.national_ambition).lower(),
            }

        return await self._act("recommend", recommendation.actor, recommendation.opinion, change)

    @recommend.validator
    def _validate_recommend(self, recommendation: Recommendation) -> None:
        _require(recommendation)
        self._check("recommend", recommendation.actor)
        _require_text(recommendation.opinion, "the recommendation opinion")

    @workflow.update
    async def assign_expert(self, assignment: ExpertAssignment) -> CaseStatus:
        entry = ReviewEntry(
            assignment.expert.strip(),
            assignment.organisation.strip(),
            assignment.email,
            assigned_at=workflow.now(),
        )

        def change() -> dict[str, str]:
            self._case.reviews.append(entry)
            return {"expert": entry.expert, "expert_organisation": entry.organisation}

        return await self._act(
            "assign_expert",
            assignment.actor,
            f"expert {entry.expert} ({entry.organisation}) assigned",
            change,
            recheck=lambda: self._assignable(assignment),
            expert=entry,
        )

    @assign_expert.validator
    def _validate_assign_expert(self, assignment: ExpertAssignment) -> None:
        _require(assignment)
        self._check("assign_expert", assignment.actor)
        _require_name(assignment.expert, "the expert's name")
        _require_name(assignment.organisation, "the expert's organisation")
        _require_mailbox(assignment.email, "the expert's")
        self._assignable(assignment)

    def _assignable(self, assignment: ExpertAssignment) -> None:
        """Refuse an expert of the applicant's own organisation, or one already assigned."""
        if _same_organisation(assignment.organisation, self._case.survey.organisation):
            raise refuse(
                f"expert {assignment.expert} works for the applicant "
                f"({self._case.survey.organisation}): a conflict of interest; assign another expert"
            )
        if any(r.expert == assignment.expert.strip() for r in self._case.reviews):
            raise refuse(f"expert {assignment.expert} is already assigned to this case")

    @workflow.update
    async def submit_review(self, review: ExpertReview) -> CaseStatus:
        def change() -> dict[str, str]:
            entry = next(r for r in self._case.reviews if r.expert == review.expert.strip())
            entry.score, entry.opinion = float(review.score), review.opinion
            entry.scores = {name: float(value) for name, value in review.scores.items()}
            details = {"expert": entry.expert, "score": f"{entry.score:g}"}
            details.update({f"score_{name}": f"{value:g}" for name, value in entry.scores.items()})
            return details

        reason = f"review by {review.expert}: {review.score:g}"
        if review.actor.role is Role.BUREAU_OFFICER and workflow.patched(PAPER_REVIEW_NAMED):
            reason += f" (received on paper, entered by {review.actor.name})"
        return await self._act(
            "submit_review",
            review.actor,
            reason,
            change,
            recheck=lambda: self._reviewable(review),
        )

    @submit_review.validator
    def _validate_submit_review(self, review: ExpertReview) -> None:
        _require(review)
        self._check("submit_review", review.actor)
        _require_name(review.expert, "the expert's name")
        _require_text(review.opinion, "the review opinion")
        if review.actor.role is Role.EXPERT and review.actor.name != review.expert.strip():
            raise refuse(
                f"{review.actor.name} may submit only their own review, not {review.expert}'s"
            )
        self._reviewable(review)
        problem = review_rules_problem(self._case, review)
        if problem:
            raise refuse(problem)

    def _reviewable(self, review: ExpertReview) -> None:
        """Refuse a review by an expert not assigned to the case, or one who already reviewed."""
        entry = next((r for r in self._case.reviews if r.expert == review.expert.strip()), None)
        if entry is None:
            assigned = ", ".join(r.expert for r in self._case.reviews) or "nobody"
            raise refuse(f"{review.expert} is not assigned to this case (assigned: {assigned})")
        if entry.score is not None:
            raise refuse(f"{review.expert} has already reviewed this case (score {entry.score:g})")

    @workflow.update
    async def record_inspection(self, inspection: SiteInspection) -> CaseStatus:
        def change() -> dict[str, str]:
            self._case.inspection = inspection
            return {"passed": str(inspection.passed).lower()}

        verdict = "passed" if inspection.passed else "failed"
        return await self._act(
            "record_inspection",
            inspection.actor,
            f"site inspection {verdict}: {inspection.note}",
            change,
        )

    @record_inspection.validator
    def _validate_record_inspection(self, inspection: SiteInspection) -> None:
        _require(inspection)
        self._check("record_inspection", inspection.actor)
        _require_text(inspection.note, "the inspection note")

    @workflow.update
    async def decide(self, decision: Decision) -> CaseStatus:
        batch = decision.batch
        return await self._act(
            Outcome(decision.outcome).value,
            decision.actor,
            decision.reason,
            recheck=(lambda: self._joinable(batch)) if batch is not None else None,
            batch=batch,
        )

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        _require(decision)
        try:
            outcome = Outcome(decision.outcome)
        except ValueError:
            raise refuse(
                f"the outcome is approve, defer or reject, not {decision.outcome!r}"
            ) from None
        self._check(outcome.value, decision.actor)
        _require_text(decision.reason, "the reason for the decision")
        if decision.batch is not None:
            if outcome is not Outcome.APPROVE:
                raise refuse("only approvals are given in a batch (one public notice)")
            self._joinable(decision.batch)

    def _joinable(self, batch: NoticeBatch) -> None:
        """Refuse a batch this case does not belong to, or whose notice is not current."""
        if not isinstance(batch, NoticeBatch):
            raise refuse("the batch of an approval is malformed")
        problem = rounds.batch_problem(batch, self._case, workflow.now())
        if problem:
            raise refuse(problem)

    @workflow.update
    async def lodge_objection(self, objection: Objection) -> CaseStatus:
        def change() -> dict[str, str]:
            entry = ObjectionEntry(
                len(self._case.objections) + 1, objection.objector, objection.reason, workflow.now()
            )
            self._case.objections.append(entry)
            details = {"objection_id": str(entry.id), "objector": entry.objector}
            if named:
                details["reason"] = objection.reason
            return details

        reason = objection.reason
        named = workflow.patched(OBJECTIONS_WORDED)
        if named:
            reason = f"objection by {objection.objector.strip()}: {objection.reason}"
        return await self._act(
            "lodge_objection",
            objection.actor,
            reason,
            change,
            recheck=self._objections_accepted,
        )

    @lodge_objection.validator
    def _validate_lodge_objection(self, objection: Objection) -> None:
        _require(objection)
        self._objections_accepted()
        self._check("lodge_objection", objection.actor)
        _require_name(objection.objector, "the objector's name")
        _require_text(objection.reason, "the reason for the objection")

    def _objections_accepted(self) -> None:
        """Refuse an objection once the public notice has closed, saying when it closed."""
        notice = self._case.notice
        if self._case.stage is Stage.PUBLIC_NOTICE and notice and workflow.now() >= notice.end:
            raise refuse(
                f"the public notice of case {self._case.case_id} closed on "
                f"{cst_date(notice.end - timedelta(seconds=1))}; objections are no longer accepted"
            )
        if self._case.stage not in BEFORE_NOTICE | {Stage.PUBLIC_NOTICE}:
            raise refuse(
                f"case {self._case.case_id} is in stage '{self._case.stage.value}': its public "
                "notice has closed and objections are no longer accepted"
            )

    @workflow.update
    async def resolve_objection(self, resolution: ObjectionResolution) -> CaseStatus:
        def change() -> dict[str, str]:
            entry = self._objection(resolution)
            entry.status = "upheld" if resolution.upheld else "dismissed"
            entry.resolution = resolution.reason
            return {"objection_id": str(entry.id), "status": entry.status}

        trigger = "uphold_objection" if resolution.upheld else "dismiss_objection"
        return await self._act(
            trigger,
            resolution.actor,
            resolution.reason,
            change,
            recheck=lambda: self._objection(resolution),
        )

    @resolve_objection.validator
    def _validate_resolve_objection(self, resolution: ObjectionResolution) -> None:
        _require(resolution)
        self._check(
            "uphold_objection" if resolution.upheld else "dismiss_objection", resolution.actor
        )
        _require_text(resolution.reason, "the reason for the resolution")
        self._objection(resolution)

    def _objection(self, resolution: ObjectionResolution) -> ObjectionEntry:
        open_ones = self._case.open_objections()
        if not open_ones:
            raise refuse(f"case {self._case.case_id} has no open objection to resolve")
        if resolution.objection_id is None:
            return open_ones[0]
        for entry in open_ones:
            if entry.id == resolution.objection_id:
                return entry
        numbers = ", ".join(str(o.id) for o in open_ones)
        raise refuse(f"objection {resolution.objection_id} is not open (open: {numbers})")

    @workflow.update
    async def open_evaluation(self, opening: EvaluationOpening) -> CaseStatus:
        await workflow.wait_condition(lambda: self._policy is not None)
        trigger = self._opening_trigger(opening)
        reason = opening.reason.strip()
        if trigger == "open_evaluation":
            note = opening.note or reason
            note = note or f"evaluation cycle {self._case.evaluation_cycle + 1} opened"
        else:
            due = self._case.next_evaluation_due
            note = f"evaluation out of cycle (regular one due {cst_date(due) if due else '?'}): "
            note += reason
        return await self._act(
            trigger,
            opening.actor,
            note,
            lambda: {"cycle": str(self._case.evaluation_cycle + 1)},
        )

    @open_evaluation.validator
    def _validate_open_evaluation(self, opening: EvaluationOpening) -> None:
        _require(opening)
        reason = opening.reason if isinstance(opening.reason, str) else ""
        if reason.strip():
            _require_text(reason, "the reason for the evaluation")
        trigger = self._opening_trigger(opening)
        if trigger == "open_evaluation" and self._policy is not None and not reason.strip():
            refused = lifecycle.refusal(
                self._case, self._policy, workflow.now(), trigger, self._rules
            )
            if refused and "open_evaluation_out_of_cycle" in refused:
                raise refuse(
                    f"{refused}; to evaluate now, outside the regular window, give the reason "
                    "(idri evaluate open CASE --reason TEXT)"
                )
        self._check(trigger, opening.actor)

    def _opening_trigger(self, opening: EvaluationOpening) -> str:
        """``open_evaluation`` in the regular window; outside it, with a reason, an evaluation
        out of cycle (不再具备…条件的，将从…名录中删除: consequences do not wait for the cycle).
        Without a reason it stays ``open_evaluation``, whose refusal names the window."""
        reason = opening.reason if isinstance(opening.reason, str) else ""
        if not reason.strip() or self._policy is None:
            return "open_evaluation"
        now = workflow.now()
        if lifecycle.refusal(self._case, self._policy, now, "open_evaluation", self._rules):
            return "open_evaluation_out_of_cycle"
        return "open_evaluation"

    @workflow.update
    async def record_evaluation(self, evaluation: EvaluationRecord) -> CaseStatus:
        result = EvaluationResult(evaluation.result)

        def change() -> dict[str, str]:
            assert self._policy is not None
            details = {"result": result.value, "cycle": str(self._case.evaluation_cycle + 1)}
            if result is EvaluationResult.RECTIFY:
                due = (
                    end_of_day(date.fromisoformat(evaluation.deadline))
                    if evaluation.deadline
                    else workflow.now() + timedelta(days=self._policy.rectification_period_days)
                )
                self._case.rectification_due = due
                details["deadline"] = due.isoformat()
            return details

        return await self._act(
            lifecycle.EVALUATION_ACTIONS[result],
            evaluation.actor,
            evaluation.note,
            change,
            recheck=lambda: self._rectification_deadline(evaluation, result),
        )

    @record_evaluation.validator
    def _validate_record_evaluation(self, evaluation: EvaluationRecord) -> None:
        _require(evaluation)
        try:
            result = EvaluationResult(evaluation.result)
        except ValueError:
            raise refuse(
                f"the result is good, rectify, delist or excellent, not {evaluation.result!r}"
            ) from None
        self._check(lifecycle.EVALUATION_ACTIONS[result], evaluation.actor)
        _require_text(evaluation.note, "the evaluation note")
        self._rectification_deadline(evaluation, result)

    def _rectification_deadline(
        self, evaluation: EvaluationRecord, result: EvaluationResult
    ) -> None:
        """Refuse a deadline on anything but a rectification, or one already past (the clock
        may have moved on while the update waited for the lock) or more than 10 years away."""
        if evaluation.deadline is not None:
            if result is not EvaluationResult.RECTIFY:
                raise refuse("a deadline belongs only to a rectification result")
            try:
                deadline = date.fromisoformat(evaluation.deadline)
            except (TypeError, ValueError):
                raise refuse(
                    f"the deadline {evaluation.deadline!r} is not a date such as 2027-06-30"
                ) from None
            if deadline > cst_date(add_years(workflow.now(), 10)):
                raise refuse(f"the rectification deadline {deadline} is more than 10 years away")
            if end_of_day(deadline) <= workflow.now():
                raise refuse(f"the rectification deadline {evaluation.deadline} is already past")

    @workflow.update
    async def complete_rectification(self, report: RectificationReport) -> CaseStatus:
        def change() -> None:
            # 稳定运行2年以上: a rectification shows the operation was not stable; the count of
            # stable operation starts again when it is complete.
            if workflow.patched(RECTIFICATION_RESTARTS_STABILITY):
                self._case.stable_since = workflow.now()

        return await self._act("complete_rectification", report.actor, report.report, change)

    @complete_rectification.validator
    def _validate_complete_rectification(self, report: RectificationReport) -> None:
        _require(report)
        self._check("complete_rectification", report.actor)
        _require_text(report.report, "the rectification report")

    @workflow.update
    async def nominate_national(self, nomination: NationalNomination) -> CaseStatus:
        """Answer the ministry's call (根据工业和信息化部统一部署) whenever the institute has
        operated stably for 2 years, with the seed's criteria (行业优势突出、服务良好、稳定运行2年以上)
        recorded; the ministry's outcome follows as after an excellent evaluation."""

        def change() -> dict[str, str]:
            since = national.stable_since(self._case)
            assert since is not None
            record = NominationRecord(
                nomination.call.strip(),
                nomination.industry_advantage.strip(),
                nomination.service.strip(),
                since,
                workflow.now(),
            )
            self._case.nomination = record
            return {"call": record.call, **record.criteria()}

        return await self._act(
            "nominate_national",
            nomination.actor,
            f"nominated for national level, answering {nomination.call.strip()}",
            change,
        )

    @nominate_national.validator
    def _validate_nominate_national(self, nomination: NationalNomination) -> None:
        _require(nomination)
        self._check("nominate_national", nomination.actor)
        _require_name(nomination.call, "the ministry's call")
        _require_text(nomination.industry_advantage, "the industry advantage (行业优势突出)")
        _require_text(nomination.service, "the service (服务良好)")

    @workflow.update
    async def record_national_outcome(self, outcome: NationalOutcome) -> CaseStatus:
        def change() -> dict[str, str]:
            if outcome.designated:
                self._case.level = Level.NATIONAL
            return {"national": "designated" if outcome.designated else "not_designated"}

        verdict = "designated national level" if outcome.designated else "stays municipal level"
        return await self._act(
            "record_national_outcome",
            outcome.actor,
            f"MIIT: {verdict}" + (f" ({outcome.note})" if outcome.note else ""),
            change,
        )

    @record_national_outcome.validator
    def _validate_record_national_outcome(self, outcome: NationalOutcome) -> None:
        _require(outcome)
        self._check("record_national_outcome", outcome.actor)

    @workflow.update
    async def withdraw(self, withdrawal: Withdrawal) -> CaseStatus:
        return await self._act("withdraw", withdrawal.actor, withdrawal.reason)

    @withdraw.validator
    def _validate_withdraw(self, withdrawal: Withdrawal) -> None:
        _require(withdrawal)
        self._check("withdraw", withdrawal.actor)
        _require_text(withdrawal.reason, "the reason for withdrawing")


def _details_markdown(status: CaseStatus, case: CaseState, awaiting: str) -> str:
    """The case at a glance, as the Web UI shows it beside the workflow: on every run, so a case
    that continued as new (its static summary and details belong to its first run) still names
    its organisation, district, direction and case id."""
    awaited = awaiting
    lines = [
        f"**{status.organisation}** · {catalog.DISTRICTS.get(status.district).label} · "
        f"{catalog.DIRECTIONS.get(status.direction).label}",
        f"**Case:** `{status.case_id}`"
        + (f" (re-application of `{status.previous_case_id}`)" if status.previous_case_id else ""),
        f"**Stage:** `{status.stage.value}` ({status.level.value})",
        f"**Awaiting:** {awaited}",
    ]
    if not status.willing:
        lines.append("**Willing:** no (企业自愿: not chased until it says it is willing)")
    if case.former_organisations:
        lines.append(f"**Formerly:** {'; '.join(case.former_organisations)}")
    if status.duplicate_warning:
        lines.append(f"**Warning (错位发展):** {status.duplicate_warning}")
    if deadline := status.deadline:
        lines.append(f"**Next deadline:** {deadline.description}, {deadline.at.isoformat()}")
    if status.round_year:
        lines.append(f"**Round:** {status.round_year}")
    if status.next_evaluation_due:
        lines.append(f"**Next evaluation due:** {cst_date(status.next_evaluation_due)}")
    return "\n\n".join(lines)


def review_rules_problem(case: CaseState, submitted: ExpertReview) -> str | None:
    """Why a review's scores do not fit the case's panel rules (``models/review.py``)."""
    scores = submitted.scores if isinstance(submitted.scores, dict) else None
    return review.scores_problem(case.review_rules, submitted.score, scores)


def identity_refusal(input: InstituteInput, info: workflow.Info) -> str | None:
    """Why ``input`` is not this workflow's own case, or None.

    A case's identity is its workflow id, ``institute-<case id>``: an input naming another case
    would write that case's registry rows and pages. Its state is carried only from its own
    previous run (continue-as-new): given at a fresh start it would put a case into the
    registry at any stage, with no history behind it.
    """
    expected = workflow_id(input.survey.case_id)
    if info.workflow_id != expected:
        return (
            f"workflow {info.workflow_id} cannot hold case {input.survey.case_id}: that case's "
            f"workflow is {expected}; nothing was recorded"
        )
    if input.carried is None:
        return None
    if info.continued_run_id is None:
        return (
            f"case {input.survey.case_id} was started with a carried state: a case's state is "
            "carried only from its own previous run (continue-as-new), never given at a start; "
            "start it with its survey alone"
        )
    if input.carried.survey.case_id != input.survey.case_id:
        return (
            f"the carried state of case {input.carried.survey.case_id} cannot continue case "
            f"{input.survey.case_id}; nothing was recorded"
        )
    return None


def workflow_id(case_id: str) -> str:
    """The workflow id of a case: one workflow per institute case."""
    return f"institute-{case_id}"

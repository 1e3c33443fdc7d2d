"""Case actions and views for a signed-in account: start, act, status, history, list.

Each public method takes the account first, checks what only the service can know (which cases
the account may see), builds the actor from the account and asks the case's workflow, which
decides the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.endings import CaseEnding, ending_of
from activities.registry_read import events_of_kind, institutes
from idri.auth.accounts import Account, AccountNotFound, AccountRole, AccountStore
from idri.service.access import SEES_EVERY_CASE, actor_of, status_refusal
from idri.service.actions import AssignExperts, CaseAction, NewCase, SubmitReview
from idri.service.errors import Forbidden, Invalid, NotFound, Refused, Unavailable
from idri.service.inbox import waiting_cases
from idri.service.temporal import (
    accepted_then_done,
    answer,
    case_handle,
    normalise_case_id,
    rpc_failure,
)
from models import permissions, review, search
from models.candidates import candidate_problems, case_id_for, next_case_id, organisation_key
from models.case import (
    TERMINAL_STAGES,
    Actor,
    CaseStatus,
    Contact,
    ExpertAssignment,
    ExpertReview,
    HistoryEntry,
    InstituteInput,
    Role,
    Stage,
    SurveyRecord,
)
from models.catalog import DIRECTIONS, DISTRICTS, UnknownEntry
from models.duplicates import CaseRef, duplicate_warning
from workflows.institute import InstituteWorkflow, workflow_id

LIST_LIMIT = 500


@dataclass(frozen=True)
class CaseView:
    """A case's status and, when its workflow ended outside the lifecycle, how."""

    status: CaseStatus
    ended: CaseEnding | None


@dataclass(frozen=True)
class Started:
    case_id: str
    workflow_id: str
    organisation: str
    warnings: list[str]


@dataclass(frozen=True)
class CaseFilter:
    stage: str | None = None
    district: str | None = None
    direction: str | None = None
    round_year: int | None = None
    open_only: bool = False
    limit: int = LIST_LIMIT
    overdue: bool = False
    """Only cases with work overdue (the registry's waits, ``idri.service.inbox``)."""
    due_before: date | None = None
    """Only cases with work due before this day (Beijing time)."""
    waiting_on: str | None = None
    """Only cases waiting on this role: district, expert, bureau or applicant."""


@dataclass
class CaseService:
    client: Client
    task_queue: str
    registry: Engine
    accounts: AccountStore

    # --- Views -----------------------------------------------------------------------------

    async def status(self, account: Account, case_id: str) -> CaseView:
        """Where a case stands. The query still answers from a closed workflow's history, but
        a case ended outside the lifecycle has no deadline nor allowed actions any more."""
        case_id = normalise_case_id(case_id)
        # Asked together: the status query and the description of how the workflow stands.
        status, ending = await asyncio.gather(
            self._visible_status(account, case_id), ending_of(self.client, workflow_id(case_id))
        )
        if ending is not None:
            status = dataclasses.replace(
                status,
                deadline=None,
                allowed_actions=[],
                next_evaluation_due=None,
                rectification_due=None,
            )
        return CaseView(status, ending)

    async def status_and_history(
        self, account: Account, case_id: str
    ) -> tuple[CaseView, list[HistoryEntry]]:
        """``status``, then the history without asking the status again (``history`` after
        ``status`` asks it twice). One query after the other, never two at once: a case with a
        workflow task in flight buffers one query only and refuses a second ("consistent
        query buffer is full"), as the 10,000-case benchmark showed (bench/RESULTS.md)."""
        view = await self.status(account, case_id)
        handle = case_handle(self.client, view.status.case_id)
        history = await answer(self.client, case_id, handle.query(InstituteWorkflow.history))
        return view, history

    async def history(self, account: Account, case_id: str) -> list[HistoryEntry]:
        case_id = normalise_case_id(case_id)
        await self._visible_status(account, case_id)
        handle = case_handle(self.client, case_id)
        return await answer(self.client, case_id, handle.query(InstituteWorkflow.history))

    async def list_cases(self, account: Account, wanted: CaseFilter) -> list[dict[str, Any]]:
        """Cases newest first, by the search attributes the Web UI filters on, limited to the
        ones ``account`` may see."""
        if account.role is AccountRole.DISTRICT_OFFICER:
            if wanted.district and _district(wanted.district) != account.district:
                raise Forbidden(
                    f"{account.name} is a district officer of {account.district} and sees only "
                    "its cases"
                )
            wanted = dataclasses.replace(wanted, district=account.district)
        only: set[str] | None = None
        if account.role is AccountRole.EXPERT:
            only = await asyncio.to_thread(self._assigned_to, account.name)
        if wanted.overdue or wanted.due_before or wanted.waiting_on:
            waiting = await asyncio.to_thread(
                waiting_cases,
                self.registry,
                role=wanted.waiting_on,
                overdue=wanted.overdue,
                due_before=wanted.due_before,
            )
            only = waiting if only is None else only & waiting
        rows = []
        async for execution in self.client.list_workflows(_list_query(wanted)):
            case_id = execution.id.removeprefix("institute-")
            if only is not None and case_id not in only:
                continue
            organisation = str(await execution.memo_value("organisation", default=""))
            if account.role is AccountRole.APPLICANT:
                former = await execution.memo_value("former_organisations", default=[])
                names = {organisation_key(str(n)) for n in (organisation, *former)}
                if organisation_key(account.organisation or "") not in names:
                    continue
            attrs = execution.typed_search_attributes
            rows.append(
                {
                    "case_id": case_id,
                    "organisation": organisation,
                    "district": attrs.get(search.DISTRICT),
                    "direction": attrs.get(search.DIRECTION),
                    "stage": attrs.get(search.STAGE),
                    "round_year": attrs.get(search.ROUND_YEAR),
                    "due_at": attrs.get(search.DUE_AT),
                    "status": execution.status.name.lower() if execution.status else None,
                    "started_at": execution.start_time,
                    "workflow_id": execution.id,
                }
            )
            if len(rows) >= wanted.limit:
                break
        return rows

    # --- Actions ---------------------------------------------------------------------------

    async def act(self, account: Account, case_id: str, action: CaseAction) -> CaseView:
        """One update carrying ``action``'s decision and the account's actor."""
        case_id = normalise_case_id(case_id)
        await self._may_act(account, case_id)
        update, payload = action.payload(actor_of(account))
        return await self._update(case_id, [(update, payload)])

    async def assign_experts(
        self, account: Account, case_id: str, request: AssignExperts
    ) -> CaseView:
        """Assign expert accounts; each one's organisation (the conflict-of-interest check)
        and e-mail come from its account. Every name is checked before the first is assigned."""
        case_id = normalise_case_id(case_id)
        await self._may_act(account, case_id)
        actor = actor_of(account)
        experts = [await asyncio.to_thread(self._expert, name) for name in request.experts]
        updates = [
            (
                InstituteWorkflow.assign_expert,
                ExpertAssignment(actor, e.name, e.organisation or "", e.email),
            )
            for e in experts
        ]
        return await self._update(case_id, updates)

    async def submit_review(
        self, account: Account, case_id: str, request: SubmitReview
    ) -> CaseView:
        """An expert's own review; or, by a bureau officer, a review received on paper, entered
        for the expert it names (history records both: the officer acts, the expert reviewed)."""
        case_id = normalise_case_id(case_id)
        await self._may_act(account, case_id)
        actor = actor_of(account)
        if actor.role is Role.EXPERT:
            if request.expert not in (None, account.name):
                raise Forbidden(
                    f"{account.name} may submit only their own review, not {request.expert}'s"
                )
            expert = account.name
        elif actor.role is Role.BUREAU_OFFICER and request.expert is None:
            raise Invalid('name the expert whose paper review this is ("expert")')
        else:
            # Anyone else is refused by the workflow, which decides who may review.
            expert = request.expert or account.name
        review = _review_of(actor, expert, request)
        return await self._update(case_id, [(InstituteWorkflow.submit_review, review)])

    async def start(self, account: Account, request: NewCase) -> Started:
        """Record a candidate and start its case (one organisation, one case: Temporal refuses
        a second workflow with the id, open or closed)."""
        district = _district(request.district)
        direction = _direction(request.direction)
        organisation = " ".join(request.organisation.split())
        contact = request.contact
        problems = candidate_problems(
            organisation,
            contact=contact.name if contact else None,
            email=contact.email if contact else None,
            phone=contact.phone if contact else None,
            qualifications=request.qualifications,
        )
        if problems:
            raise Invalid(f"no case started: {'; '.join(problems)}")
        case_id = case_id_for(district, organisation)
        previous_id = None
        if request.previous_case_id:
            previous_id = normalise_case_id(request.previous_case_id)
            await self._check_previous(previous_id, district, organisation)
            case_id = next_case_id(previous_id)
        survey = SurveyRecord(
            case_id=case_id,
            organisation=organisation,
            district=district,
            direction=direction,
            actor=actor_of(account),
            contact=_contact(contact),
            qualifications=[q.strip() for q in request.qualifications if q.strip()],
            willing=request.willing,
            previous_case_id=previous_id,
        )
        denied = permissions.survey_refusal(survey)
        if denied:
            raise Forbidden(f"permission denied: {denied}; case {case_id} not started")
        # 错位发展: kept on the case (status, the Web UI, the report), and told to the caller.
        try:
            warning = await asyncio.to_thread(
                duplicate_construction, self.registry, case_id, organisation, district, direction
            )
        except SQLAlchemyError:
            raise Unavailable(
                f"the registry cannot be read to check duplicate construction (错位发展): case "
                f"{case_id} not started; try again when the registry is back"
            ) from None
        await self._start_workflow(survey, warning)
        warnings = [warning] if warning else []
        return Started(case_id, workflow_id(case_id), organisation, warnings)

    # --- Helpers ---------------------------------------------------------------------------

    async def _may_act(self, account: Account, case_id: str) -> None:
        """Refuse an action on a case ``account`` may not see, before the workflow answers
        (its refusals name the stage). The bureau sees every case: no question asked then, so
        its actions cost one call to Temporal, not two."""
        if account.role not in SEES_EVERY_CASE:
            await self._visible_status(account, case_id)

    async def _visible_status(self, account: Account, case_id: str) -> CaseStatus:
        """The case's status, once ``account`` is known to be allowed to see the case."""
        handle = case_handle(self.client, case_id)
        status = await answer(self.client, case_id, handle.query(InstituteWorkflow.status))
        denied = status_refusal(account, status)
        if denied:
            raise Forbidden(f"permission denied: {denied}")
        return status

    async def update(self, case_id: str, updates: list[tuple[Any, Any]]) -> CaseView:
        """Send updates already built with the account's actor (a batch approval's)."""
        return await self._update(case_id, updates)

    async def _update(self, case_id: str, updates: list[tuple[Any, Any]]) -> CaseView:
        """Send updates in order, stopping at the first refusal (earlier ones stay applied)."""
        handle = case_handle(self.client, case_id)
        status = None
        for update, payload in updates:
            status = await accepted_then_done(self.client, case_id, handle, update, payload)
        assert status is not None
        return CaseView(status, None)

    def _expert(self, name: str) -> Account:
        try:
            expert = self.accounts.get(name)
        except AccountNotFound:
            raise NotFound(f"there is no expert account {name!r}; nothing assigned") from None
        if expert.role is not AccountRole.EXPERT or not expert.enabled:
            what = "is disabled" if not expert.enabled else f"is a {expert.role.value}"
            raise Invalid(f"{name} {what}, not an expert who can review; nothing assigned")
        return expert

    def _assigned_to(self, expert: str) -> set[str]:
        """The cases ``expert`` was ever assigned to, from the registry's audit trail."""
        return {
            e.case_id
            for e in events_of_kind(self.registry, "assign_expert")
            if e.details.get("expert") == expert
        }

    async def _start_workflow(self, survey: SurveyRecord, warning: str | None = None) -> None:
        district, direction = DISTRICTS.get(survey.district), DIRECTIONS.get(survey.direction)
        details = [
            f"**Organisation:** {survey.organisation}",
            f"**District:** {district.label}",
            f"**Direction:** {direction.label}",
            f"**Case:** `{survey.case_id}`",
        ]
        if survey.previous_case_id:
            details.append(f"**Re-application of:** `{survey.previous_case_id}`")
        try:
            await self.client.start_workflow(
                InstituteWorkflow.run,
                InstituteInput(survey, duplicate_warning=warning),
                id=workflow_id(survey.case_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                # No personal data here: search attributes are not encrypted; the memo and the
                # summary carry only the organisation and codes (see models/search.py).
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(search.STAGE, Stage.SURVEYED.value),
                        SearchAttributePair(search.DISTRICT, survey.district),
                        SearchAttributePair(search.DIRECTION, survey.direction),
                    ]
                ),
                memo={"organisation": survey.organisation},
                static_summary=f"{survey.organisation} · {district.zh}",
                static_details="\n\n".join(details),
            )
        except WorkflowAlreadyStartedError:
            stage = await self._stage_of(survey.case_id)
            hint = (
                f"to apply again in a later round name the earlier case {survey.case_id}"
                if stage in ("rejected", "deferred", "lapsed", "withdrawn")
                else f"see case {survey.case_id}'s status"
            )
            raise Refused(
                f"{survey.organisation} already has case {survey.case_id} (stage '{stage}'); {hint}"
            ) from None
        except RPCError as error:
            raise await rpc_failure(self.client, survey.case_id, error) from None

    async def _stage_of(self, case_id: str) -> str:
        description = await case_handle(self.client, case_id).describe()
        return description.typed_search_attributes.get(search.STAGE) or "unknown"

    async def _check_previous(self, previous: str, district: str, organisation: str) -> None:
        try:
            description = await case_handle(self.client, previous).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"there is no case {previous!r} to re-apply after") from None
            raise await rpc_failure(self.client, previous, error) from None
        # The stage, not the execution status: a closed case's workflow may still be
        # delivering its last mails for a while.
        stage = description.typed_search_attributes.get(search.STAGE) or "unknown"
        if stage not in {s.value for s in TERMINAL_STAGES}:
            raise Refused(
                f"case {previous} is still open (stage '{stage}'): a re-application follows a "
                "closed case (rejected or deferred)"
            )
        earlier = await description.memo_value("organisation", default="")
        if description.typed_search_attributes.get(search.DISTRICT) != district or (
            organisation_key(str(earlier)) != organisation_key(organisation)
        ):
            raise Refused(
                f"case {previous} is not a case of {organisation} in this district "
                f"(it is {earlier or 'another organisation'}); a re-application names its own "
                "earlier case"
            )


def duplicate_construction(
    registry: Engine, case_id: str, organisation: str, district: str, direction: str
) -> str | None:
    """错位发展 (避免重复建设): the registry's designated institutes and open applications in the
    district and direction of a new candidate, as one warning (``models/duplicates.py``, the
    rule the bureau's report applies too), or None."""
    new = CaseRef(case_id, organisation, district, direction, Stage.SURVEYED)
    others = [
        CaseRef(i.case_id, i.organisation, i.district, i.direction, Stage(i.stage))
        for i in institutes(registry)
        if i.district == district and i.direction == direction
    ]
    found = duplicate_warning(new, others)
    return found.message if found else None


def _list_query(wanted: CaseFilter) -> str:
    # A case continues-as-new at every evaluation cycle; its earlier runs keep their last
    # search attributes, so only the current run of each case is listed. Every value put in
    # the query is a known code (a catalogue's, a stage's) or an int, never the caller's text.
    clauses = ["WorkflowType = 'InstituteWorkflow'", "ExecutionStatus != 'ContinuedAsNew'"]
    if wanted.stage:
        clauses.append(f"{search.STAGE.name} = '{_stage(wanted.stage).value}'")
    if wanted.district:
        clauses.append(f"{search.DISTRICT.name} = '{_district(wanted.district)}'")
    if wanted.direction:
        clauses.append(f"{search.DIRECTION.name} = '{_direction(wanted.direction)}'")
    if wanted.round_year is not None:
        clauses.append(f"{search.ROUND_YEAR.name} = {int(wanted.round_year)}")
    if wanted.open_only:
        clauses.append("ExecutionStatus = 'Running'")
    return " AND ".join(clauses)


def _stage(text: str) -> Stage:
    try:
        return Stage(text.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        names = ", ".join(s.value for s in Stage)
        raise Invalid(f"unknown stage {text!r} (stages: {names})") from None


def _district(text: str) -> str:
    try:
        return DISTRICTS.find(text).code
    except UnknownEntry as error:
        raise Invalid(str(error)) from None


def _direction(text: str) -> str:
    try:
        return DIRECTIONS.find(text).code
    except UnknownEntry as error:
        raise Invalid(str(error)) from None


def _review_of(actor: Actor, expert: str, request: SubmitReview) -> ExpertReview:
    """The review as the workflow takes it: scores per criterion with their mean, or one
    score (the case's rules decide which it needs, and refuse the other)."""
    if request.scores is not None and request.score is not None:
        raise Invalid(
            'give the scores per criterion ("scores") or one overall score ("score"), not both'
        )
    if request.scores:
        if any(not 0 <= value <= 100 for value in request.scores.values()):
            raise Invalid("every criterion's score is a number from 0 to 100")
        scores = dict(request.scores)
        return ExpertReview(actor, expert, review.overall(scores), request.opinion, scores)
    if request.score is None:
        raise Invalid('a review needs its scores per criterion ("scores") or a "score"')
    return ExpertReview(actor, expert, request.score, request.opinion)


def _contact(contact: Any) -> Contact | None:
    if contact is None or not (contact.name or contact.email or contact.phone):
        return None
    return Contact(
        name=(contact.name or "").strip(), email=contact.email or None, phone=contact.phone or None
    )

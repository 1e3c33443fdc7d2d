"""Case routes: start, act, and the views (docs/api.md). Each one parses, calls the service with
the signed-in account, and answers JSON; 403/404/409/422/503 come from the service's errors."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from idri.api.deps import Found, SignedIn
from idri.service import actions as a
from idri.service.cases import CaseFilter, CaseView
from idri.service.registry import mail, registry
from models.jsondata import jsonable

router = APIRouter(tags=["cases"])


def view_json(view: CaseView) -> dict[str, Any]:
    """A case's status as the API answers it: the ``CaseStatus`` fields plus ``ended``."""
    return {**jsonable(view.status), "ended": jsonable(view.ended)}


async def _act(
    request: Request, found: Found, account: SignedIn, case_id: str, action: a.CaseAction
) -> dict[str, Any]:
    request.state.action = action.path
    return view_json(await found.cases.act(account, case_id, action))


# --- Views ---------------------------------------------------------------------------------------


@router.get("/cases")
async def list_cases(
    found: Found,
    account: SignedIn,
    stage: str | None = None,
    district: str | None = None,
    direction: str | None = None,
    round: int | None = Query(default=None, description="The round's year."),
    open: bool = Query(default=False, description="Only cases still running."),
    limit: int = Query(default=500, ge=1, le=10_000),
    overdue: bool = Query(default=False, description="Only cases with work overdue."),
    due_before: Annotated[date | None, Query(description="Work due before this day.")] = None,
    waiting_on: str | None = Query(default=None, description="district, expert, bureau, ..."),
) -> list[dict[str, Any]]:
    """Cases newest first, found by the search attributes the Web UI filters on; an account
    sees only the cases it may (a district its own, an expert those assigned to it). The
    waiting filters ask the registry's waits (``idri inbox``'s source)."""
    wanted = CaseFilter(
        stage, district, direction, round, open, limit, overdue, due_before, waiting_on
    )
    return list(jsonable(await found.cases.list_cases(account, wanted)))


@router.get("/cases/{case_id}")
async def status(found: Found, account: SignedIn, case_id: str) -> dict[str, Any]:
    """Where a case stands: stage, deadline, what it awaits, reviews, objections, and how it
    ended if its workflow ended outside the lifecycle."""
    return view_json(await found.cases.status(account, case_id))


@router.get("/cases/{case_id}/history")
async def history(found: Found, account: SignedIn, case_id: str) -> list[dict[str, Any]]:
    """Who did what, when and why."""
    return list(jsonable(await found.cases.history(account, case_id)))


@router.get("/registry")
async def registry_view(found: Found, account: SignedIn) -> list[dict[str, Any]]:
    """The institutes in the registry (名录) now."""
    return list(jsonable(await asyncio.to_thread(registry, account, found.registry)))


@router.get("/mail")
async def mail_view(
    found: Found,
    account: SignedIn,
    case: str | None = None,
    status: str | None = None,
    limit: int = Query(default=500, ge=1, le=10_000),
) -> dict[str, Any]:
    """The newest mails of the outbox (oldest first), and how many match in all."""
    bag = await asyncio.to_thread(
        mail, account, found.registry, case_id=case, status=status, limit=limit
    )
    return {"mails": jsonable(bag.mails), "total": bag.total}


# --- Starting a case -----------------------------------------------------------------------------


@router.post("/cases", status_code=201)
async def start(
    request: Request, found: Found, account: SignedIn, body: a.NewCase
) -> dict[str, Any]:
    """Record a candidate (调研发动) and start its case."""
    request.state.action = "survey"
    started = await found.cases.start(account, body)
    request.state.case = started.case_id
    return dict(jsonable(started))


# --- Actions -------------------------------------------------------------------------------------


@router.post("/cases/{case_id}/plan")
async def submit_plan(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.SubmitPlan
) -> dict[str, Any]:
    """Record the creation plan (创建方案): its file name and SHA-256."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/recommend")
async def recommend(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.Recommend
) -> dict[str, Any]:
    """The district recommends the candidate to the bureau (by 30 April)."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/experts")
async def assign_experts(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.AssignExperts
) -> dict[str, Any]:
    """Assign expert accounts (an expert of the applicant's own organisation is refused)."""
    request.state.action = "experts"
    return view_json(await found.cases.assign_experts(account, case_id, body))


@router.post("/cases/{case_id}/reviews")
async def submit_review(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.SubmitReview
) -> dict[str, Any]:
    """An expert's review; a bureau officer names the expert of a review received on paper."""
    request.state.action = "reviews"
    return view_json(await found.cases.submit_review(account, case_id, body))


@router.post("/cases/{case_id}/inspection")
async def inspect(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.Inspect
) -> dict[str, Any]:
    """The site inspection (现场考查)."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/decision")
async def decide(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.Decide
) -> dict[str, Any]:
    """The bureau's comprehensive evaluation: approve (public notice), defer or reject."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/objections")
async def lodge_objection(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.Object
) -> dict[str, Any]:
    """An objection received during the public notice (异议)."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/objections/resolve")
async def resolve_objection(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.ResolveObjection
) -> dict[str, Any]:
    """Resolve an objection after investigating it."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/evaluation/open")
async def open_evaluation(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.OpenEvaluation
) -> dict[str, Any]:
    """Open the tracking evaluation (跟踪评估)."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/evaluation")
async def record_evaluation(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.RecordEvaluation
) -> dict[str, Any]:
    """The evaluation's result: good, rectify (with a deadline), delist or excellent."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/rectification")
async def report_rectification(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.ReportRectification
) -> dict[str, Any]:
    """The rectification (整改) is complete; the case returns to evaluation."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/national")
async def record_national(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.RecordNational
) -> dict[str, Any]:
    """MIIT's national-level decision."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/withdrawal")
async def withdraw(
    request: Request, found: Found, account: SignedIn, case_id: str, body: a.Withdraw
) -> dict[str, Any]:
    """The candidate withdraws (before designation)."""
    return await _act(request, found, account, case_id, body)

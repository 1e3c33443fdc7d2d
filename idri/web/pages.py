"""The workbench's pages: my work, cases (list, search, new), one case and its forms, the
registry, the bureau's report. Each route parses, calls the service with the session's
account, and renders; refusals come from the service (and the workflow behind it)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idri.api.deps import Found
from idri.reports import chart
from idri.service import actions as a
from idri.service.cases import CaseFilter
from idri.service.errors import Forbidden, Invalid, NotFound, Refused, ServiceError
from idri.service.inbox import INBOX_LIMIT, inbox
from idri.service.registry import registry
from idri.service.report import bureau_report
from idri.settings import Settings
from idri.web import uploads
from idri.web.casepage import case_page
from idri.web.forms import BY_KEY, call_for
from idri.web.render import page
from idri.web.session import Form, SignedIn
from models.case import Stage
from models.catalog import DIRECTIONS, DISTRICTS

router = APIRouter()

WORK_ITEMS = INBOX_LIMIT
"""Items 我的待办 lists (the oldest; the page says how many wait in all)."""
LIST_LIMIT = 200


@router.get("/")
def home() -> Response:
    return RedirectResponse("/work", status_code=303)


@router.get("/work")
async def my_work(request: Request, found: Found, session: SignedIn) -> Response:
    """我的待办: the inbox ``GET /api/inbox`` answers (``idri.service.inbox``), oldest first."""
    waiting = await asyncio.to_thread(inbox, session.account, found.registry, limit=WORK_ITEMS)
    return page(request, "work.html", session, title="我的待办", inbox=waiting)


@router.get("/cases")
async def case_list(
    request: Request,
    found: Found,
    session: SignedIn,
    stage: str = "",
    district: str = "",
    direction: str = "",
    round: str = "",
) -> Response:
    wanted = {"stage": stage, "district": district, "direction": direction, "round": round}
    error, rows = "", []
    try:
        year = int(round) if round.strip() else None
    except ValueError:
        error, year = f"年度须为数字 (the round is a year, not {round!r})", None
    if not error:
        try:
            rows = await found.cases.list_cases(
                session.account,
                CaseFilter(
                    stage or None, district or None, direction or None, year, False, LIST_LIMIT
                ),
            )
        except (Invalid, Forbidden) as refused:
            error = refused.message
    return page(
        request,
        "cases.html",
        session,
        status=422 if error else 200,
        title="案件",
        rows=rows,
        wanted=wanted,
        error=error,
        limit=LIST_LIMIT,
        **_catalogues(),
    )


@router.get("/cases/new")
def new_case_form(request: Request, session: SignedIn) -> Response:
    return _new_case(request, session, {}, "")


@router.post("/cases/new")
async def new_case(request: Request, found: Found, session: SignedIn, form: Form) -> Response:
    request.state.action = "survey"
    fields = {k: str(v).strip() for k, v in form.items() if isinstance(v, str)}
    try:
        contact = a.Contact(
            name=fields.get("contact_name", ""),
            email=fields.get("contact_email") or None,
            phone=fields.get("contact_phone") or None,
        )
        body = a.NewCase(
            organisation=fields.get("organisation", ""),
            district=fields.get("district", ""),
            direction=fields.get("direction", ""),
            contact=contact,
            qualifications=[q for q in fields.get("qualifications", "").splitlines() if q.strip()],
            willing=form.get("willing") == "on",
        )
        started = await found.cases.start(session.account, body)
    except ServiceError as refused:
        return _new_case(request, session, fields, refused.message, status=refused.status)
    except ValueError as invalid:  # pydantic's, before the service is asked
        return _new_case(request, session, fields, str(invalid), status=422)
    return RedirectResponse(f"/cases/{started.case_id}", status_code=303)


@router.get("/cases/{case_id}")
async def case(request: Request, found: Found, session: SignedIn, case_id: str) -> Response:
    return await _case(request, found, session, case_id)


@router.post("/cases/{case_id}/documents")
async def upload(request: Request, found: Found, session: SignedIn, case_id: str) -> Response:
    """The upload form (multipart, its CSRF token checked in ``uploads.take``). Kept: back to
    the case's documents; refused: the case page again, the service's message on the form."""
    request.state.action = "documents"
    refused = await uploads.take(request, uploads.service_of(found), session, case_id)
    if refused is not None:
        request.state.outcome = "UploadRefused"
        sent = ("documents", refused.message, refused.sent)
        return await _case(request, found, session, case_id, refusal=sent, status=refused.status)
    return RedirectResponse(f"/cases/{case_id}#documents", status_code=303)


@router.post("/cases/{case_id}/{key}")
async def act(
    request: Request, found: Found, session: SignedIn, form: Form, case_id: str, key: str
) -> Response:
    """One form of the case page. Done: back to the case page (a reload sends nothing twice);
    refused: the case page again, the refusal on the form that was sent."""
    if key not in BY_KEY:
        raise NotFound(f"no such form {key!r}")
    request.state.action = key
    try:
        call = call_for(key, form)
        await call(found.cases, session.account, case_id)
    except (Refused, Forbidden, Invalid) as refused:
        sent = {k: v for k, v in form.items() if isinstance(v, str)}
        return await _case(
            request,
            found,
            session,
            case_id,
            refusal=(key, refused.message, sent),
            status=refused.status,
        )
    return RedirectResponse(f"/cases/{case_id}#timeline", status_code=303)


@router.get("/registry")
async def registry_page(request: Request, found: Found, session: SignedIn) -> Response:
    institutes = await asyncio.to_thread(registry, session.account, found.registry)
    return page(request, "registry.html", session, title="名录", institutes=institutes)


@router.get("/report")
async def report_page(request: Request, found: Found, session: SignedIn) -> Response:
    report = await bureau_report(
        session.account, found.registry, found.cases.client, found.settings or Settings()
    )
    return page(request, "report.html", session, title="工作报告", r=report)


@router.get("/report/chart.svg")
async def report_chart(found: Found, session: SignedIn) -> Response:
    report = await bureau_report(
        session.account, found.registry, found.cases.client, found.settings or Settings()
    )
    svg = await asyncio.to_thread(chart, report, fmt="svg")
    return Response(svg, media_type="image/svg+xml")


async def _case(
    request: Request,
    found: Found,
    session: SignedIn,
    case_id: str,
    *,
    refusal: tuple[str, str, dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    shown = await case_page(found.cases, found.documents, session.account, case_id)
    return page(
        request,
        "case.html",
        session,
        status=status,
        title=shown.view.status.organisation,
        c=shown,
        s=shown.view.status,
        refusal=refusal,
        kind_names=uploads.KIND_NAMES,
        accept=uploads.ACCEPT,
    )


def _new_case(
    request: Request, session: SignedIn, fields: dict[str, str], error: str, status: int = 200
) -> Response:
    return page(
        request,
        "new_case.html",
        session,
        status=status,
        title="登记调研对象",
        fields=fields,
        error=error,
        **_catalogues(),
    )


def _catalogues() -> dict[str, Any]:
    return {
        "stages": list(Stage),
        "districts": [DISTRICTS.get(code) for code in DISTRICTS.codes()],
        "directions": [DIRECTIONS.get(code) for code in DIRECTIONS.codes()],
    }

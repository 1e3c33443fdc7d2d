"""Routes for what changes on a years-long case (docs/api.md): willingness (企业自愿), contact and
name, and the bureau's extension of a deadline. Each answers the case's status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from idri.api.cases import view_json
from idri.api.deps import Found, SignedIn
from idri.service.actions import CaseAction
from idri.service.changes import ChangeContact, ExtendDeadline, RecordWillingness

router = APIRouter(tags=["cases"])


async def _act(
    request: Request, found: Found, account: SignedIn, case_id: str, action: CaseAction
) -> dict[str, Any]:
    request.state.action = action.path
    return view_json(await found.cases.act(account, case_id, action))


@router.post("/cases/{case_id}/willingness")
async def record_willingness(
    request: Request, found: Found, account: SignedIn, case_id: str, body: RecordWillingness
) -> dict[str, Any]:
    """企业自愿: record that the organisation is (or is no longer) willing to build an institute."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/contact")
async def change_contact(
    request: Request, found: Found, account: SignedIn, case_id: str, body: ChangeContact
) -> dict[str, Any]:
    """Change the contact person, e-mail, phone or the organisation's name (old values kept)."""
    return await _act(request, found, account, case_id, body)


@router.post("/cases/{case_id}/deadline")
async def extend_deadline(
    request: Request, found: Found, account: SignedIn, case_id: str, body: ExtendDeadline
) -> dict[str, Any]:
    """The bureau extends the rectification, review or round deadline, with a reason."""
    return await _act(request, found, account, case_id, body)

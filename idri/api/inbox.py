"""What waits on me: ``GET /api/inbox`` (docs/api.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query

from idri.api.deps import Found, SignedIn
from idri.service.inbox import INBOX_LIMIT, inbox
from models.jsondata import jsonable

router = APIRouter(tags=["inbox"])


@router.get("/inbox")
async def inbox_view(
    found: Found,
    account: SignedIn,
    limit: int = Query(default=INBOX_LIMIT, ge=1, le=10_000),
) -> dict[str, Any]:
    """The actions waiting on the signed-in account's role (and district), oldest first, with
    their deadlines; for the bureau also anything overdue. ``total``: how many in all."""
    found_inbox = await asyncio.to_thread(inbox, account, found.registry, limit=limit)
    return {"items": jsonable(found_inbox.items), "total": found_inbox.total}

"""Round routes (择优): a round's cases ranked by their panel, and a batch approved at once
(docs/api.md). Each parses, calls ``idri.service.rounds`` with the signed-in account, answers
JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from idri.api.deps import Found, SignedIn
from idri.service import rounds
from idri.service.actions import Body, Text
from models.jsondata import jsonable
from models.rounds import BATCH_MAX_CASES

router = APIRouter(tags=["rounds"])


class BatchApproval(Body):
    """The bureau approves several cases of one round together: one public notice."""

    cases: list[str] = Field(min_length=1, max_length=BATCH_MAX_CASES)
    reason: Text


@router.get("/rounds/{year}")
async def ranking(found: Found, account: SignedIn, year: int) -> list[dict[str, Any]]:
    """The round's cases, best aggregate score first, with stage and what each still needs."""
    return rounds.ranking_json(await rounds.ranking(found.cases, account, year))


@router.post("/rounds/{year}/approvals")
async def approve_batch(
    request: Request, found: Found, account: SignedIn, year: int, body: BatchApproval
) -> dict[str, Any]:
    """Approve a batch of the round's cases: one public notice, one period, one page."""
    request.state.action = "batch-approval"
    done = await rounds.approve_batch(found.cases, account, year, body.cases, body.reason)
    return {
        "round_year": done.round_year,
        "notice": jsonable(done.notice),
        "cases": [jsonable(status) for status in done.cases],
    }

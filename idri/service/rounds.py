"""择优 for a signed-in account: a round's cases ranked by their panel, and batch approval.

The plan: "对公示无异议的，本着“成熟一家、创建一家”，择优确定为市级工业设计研究院". The ranking reads
each case of the round (by the ``IdriRoundYear`` search attribute) and orders them by the
panel's aggregate score (``models/rounds.py``). A batch approval checks every case first and
approves none unless all can be; the first case's ``notice_period`` activity computes the
batch's one public notice period, and every other case is approved with it (its own activity
must give the same period), so the batch has one notice, one period and one page.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from idri.auth.accounts import Account, AccountRole
from idri.service.access import actor_of
from idri.service.cases import CaseService
from idri.service.errors import Forbidden, Invalid, Refused
from idri.service.temporal import normalise_case_id
from models import permissions, rounds, search
from models.case import CaseStatus, Decision, NoticePeriod, Outcome, Role
from workflows.institute import InstituteWorkflow


@dataclass(frozen=True)
class RankedCase:
    """One row of a round's ranking."""

    rank: int
    case_id: str
    organisation: str
    district: str
    stage: str
    score: float | None
    reviewed: int
    assigned: int
    inspection: str
    missing: list[str]


@dataclass(frozen=True)
class BatchApproved:
    """A batch approved: its one public notice and each case's status after it."""

    round_year: int
    notice: NoticePeriod
    cases: list[CaseStatus]


def _may_rank(account: Account) -> None:
    if account.role not in (
        AccountRole.BUREAU_OFFICER,
        AccountRole.ADMIN,
        AccountRole.DISTRICT_OFFICER,
    ):
        raise Forbidden(
            f"{account.name} acts as {account.role.value}: a round's ranking is for the bureau "
            "(and a district officer, for its own district)"
        )


async def ranking(service: CaseService, account: Account, year: int) -> list[RankedCase]:
    """The round's cases, best aggregate score first (those without one last), with their
    stage and what each still needs; a district officer sees its district's only."""
    _may_rank(account)
    if not 2000 <= year <= 2200:
        raise Invalid(f"{year} is not a round's year")
    query = (
        f"WorkflowType = 'InstituteWorkflow' AND ExecutionStatus != 'ContinuedAsNew' "
        f"AND {search.ROUND_YEAR.name} = {int(year)}"
    )
    if account.role is AccountRole.DISTRICT_OFFICER:
        query += f" AND {search.DISTRICT.name} = '{account.district}'"
    statuses = []
    async for execution in service.client.list_workflows(query):
        case_id = execution.id.removeprefix("institute-")
        statuses.append((await service.status(account, case_id)).status)
    statuses.sort(key=rounds.ranking_key)
    return [
        RankedCase(
            rank=number,
            case_id=status.case_id,
            organisation=status.organisation,
            district=status.district,
            stage=status.stage.value,
            score=status.panel.score if status.panel else None,
            reviewed=status.panel.reviewed if status.panel else 0,
            assigned=status.panel.assigned if status.panel else 0,
            inspection=status.panel.inspection if status.panel else "none",
            missing=rounds.missing_work(status),
        )
        for number, status in enumerate(statuses, start=1)
    ]


async def approve_batch(
    service: CaseService, account: Account, year: int, case_ids: list[str], reason: str
) -> BatchApproved:
    """Approve ``case_ids`` of the ``year`` round together: one public notice, one period.

    Every case is checked before the first is approved (its round, the approval allowed now);
    if any cannot be approved, none is, and the refusal names each and why.
    """
    actor = actor_of(account)
    if actor.role is None or Role(actor.role) not in permissions.ROLE_ACTIONS["approve"]:
        raise Forbidden(f"permission denied: {account.name} may not approve cases")
    ids = [normalise_case_id(c) for c in case_ids]
    if not ids:
        raise Invalid("a batch names at least one case")
    if len(ids) > rounds.BATCH_MAX_CASES:
        raise Invalid(f"a batch holds at most {rounds.BATCH_MAX_CASES} cases, not {len(ids)}")
    twice = sorted({c for c in ids if ids.count(c) > 1})
    if twice:
        raise Invalid(f"a batch names each case once: {', '.join(twice)} named twice")
    problems = []
    for case_id in ids:
        status = (await service.status(account, case_id)).status
        if status.round_year != year:
            problems.append(f"{case_id} belongs to the {status.round_year} round")
        elif "approve" not in status.allowed_actions:
            needs = "; ".join(rounds.missing_work(status)) or "its stage does not allow it"
            problems.append(f"{case_id} (stage '{status.stage.value}'): {needs}")
    if problems:
        raise Refused(f"nothing approved: {' | '.join(problems)}")
    batch = rounds.NoticeBatch(year, ids)
    approved: list[CaseStatus] = []
    for case_id in ids:
        decision = Decision(actor, Outcome.APPROVE, reason, batch=batch)
        try:
            view = await service.update(case_id, [(InstituteWorkflow.decide, decision)])
        except Refused as refusal:
            done = ", ".join(s.case_id for s in approved) or "none"
            raise Refused(
                f"{refusal}; approved before it: {done}; not sent: "
                f"{', '.join(ids[len(approved) + 1 :]) or 'none'}"
            ) from None
        approved.append(view.status)
        if batch.start is None:
            notice = view.status.notice
            assert notice is not None, "an approved case is in public notice"
            batch = dataclasses.replace(batch, start=notice.start, end=notice.end)
    notice = approved[0].notice
    assert notice is not None
    return BatchApproved(year, notice, approved)


def ranking_json(rows: list[RankedCase]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(row) for row in rows]

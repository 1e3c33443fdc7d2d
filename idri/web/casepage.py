"""What the case page shows, gathered from the service's views of one case."""

from __future__ import annotations

from dataclasses import dataclass

from idri.auth.accounts import Account
from idri.service.access import actions_for, sees_personal_data
from idri.service.cases import CaseService, CaseView
from idri.service.documents import DocumentInfo, DocumentService
from idri.web.forms import ActionForm, shown
from idri.web.uploads import UploadKind, upload_kinds
from models.case import HistoryEntry, ReviewEntry

OBJECTION_EVENTS = frozenset({"lodge_objection", "uphold_objection", "dismiss_objection"})


@dataclass(frozen=True)
class CasePage:
    view: CaseView
    history: list[HistoryEntry]
    """Newest first: what a reader looks for first is what happened last."""
    objections: list[HistoryEntry]
    reviews: list[ReviewEntry]
    personal: bool
    """Whether the caller may read people's contact data (experts' e-mail addresses)."""
    may_take: list[str]
    forms: list[ActionForm]
    documents: list[DocumentInfo]
    """The case's documents, oldest first (as ``GET /api/cases/{id}/documents``)."""
    uploads: list[UploadKind]
    """The kinds of document the caller may upload now; empty: no upload form."""


async def case_page(
    cases: CaseService, documents: DocumentService | None, account: Account, case_id: str
) -> CasePage:
    # The status first: it is the visibility check (403 before anything else is read). Then
    # the history and the documents, one after the other (see ``status_and_history``).
    view, history = await cases.status_and_history(account, case_id)
    kept = await documents.documents_of(account, view.status) if documents else []
    personal = sees_personal_data(account, view.status.district)
    may_take = actions_for(account, view.status.allowed_actions)
    return CasePage(
        view=view,
        history=list(reversed(history)),
        objections=[h for h in history if h.event in OBJECTION_EVENTS],
        reviews=view.status.reviews,
        personal=personal,
        may_take=may_take,
        forms=shown(may_take),
        documents=kept,
        uploads=upload_kinds(documents, account, view) if documents is not None else [],
    )

"""The case page's documents: the upload form (multipart, CSRF checked) and the downloads,
over the service functions ``POST``/``GET /api/cases/{id}/documents`` call
(``idri.service.documents``): the same checks, the same refusals, the same visibility.

No script: the browser's own upload indicator (Chromium's status bar: "Uploading (45%)") is the
progress a large file shows; the page's Content-Security-Policy runs no script at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from idri.api.deps import Found
from idri.auth.accounts import Account
from idri.documents.store import CHUNK, too_large
from idri.service.cases import CaseView
from idri.service.documents import DocumentService
from idri.service.errors import Invalid, ServiceError, Unavailable
from idri.web.session import Session, SignedIn, checked_form
from models.documents import EXTENSIONS, DocumentKind

FORM_OVERHEAD = 64 * 1024
"""What the form may add to its file's size (boundaries, headers, the kind and CSRF fields)."""
ACCEPT = ",".join(sorted(EXTENSIONS))
"""The file chooser's filter: the extensions the store accepts (it judges by content anyway)."""

router = APIRouter()


@dataclass(frozen=True)
class UploadKind:
    value: str
    zh: str
    en: str


_NAMES = {
    DocumentKind.PLAN: ("创建方案", "Creation plan"),
    DocumentKind.RECOMMENDATION: ("推荐意见表", "Recommendation form"),
    DocumentKind.INSPECTION: ("现场考查报告", "Site inspection report"),
    DocumentKind.RECTIFICATION: ("整改报告", "Rectification report"),
    DocumentKind.EVALUATION: ("跟踪评估材料", "Evaluation materials"),
}
KIND_NAMES = {kind.value: _NAMES[kind] for kind in DocumentKind}


def upload_kinds(documents: DocumentService, account: Account, view: CaseView) -> list[UploadKind]:
    """The kinds the account may upload to the case now (none once its workflow ended)."""
    if view.ended is not None:
        return []
    kinds = documents.attachable(account, view.status)
    return [UploadKind(k.value, *_NAMES[k]) for k in kinds]


def service_of(found: Found) -> DocumentService:
    if found.documents is None:
        raise Unavailable("this workbench has no document store configured")
    return found.documents


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    sent: dict[str, str]
    """What the form sent (its kind), to show it again."""


async def take(
    request: Request, service: DocumentService, session: Session, case_id: str
) -> Refusal | None:
    """Keep the posted file and record it on the case: None when done, else the service's
    refusal for the form. The size is judged from ``Content-Length`` before the form is read
    (as the API does), and again as the file passes into the store."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > service.max_bytes + FORM_OVERHEAD:
        return Refusal(413, too_large("the file", service.max_bytes), {})
    form = await checked_form(request, session.token, max_files=1, max_fields=4)
    kind = form.get("kind")
    sent = {"kind": kind} if isinstance(kind, str) else {}
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            raise Invalid("请选择要上传的文件 (choose a file to upload)")
        await service.upload(
            session.account,
            case_id,
            kind=kind if isinstance(kind, str) else "",
            name=part.filename,
            chunks=_chunks(part),
            declared_size=part.size,
        )
    except ServiceError as refused:
        if refused.status in (401, 503):
            raise
        return Refusal(refused.status, refused.message, sent)
    finally:
        await form.close()
    return None


@router.get("/cases/{case_id}/documents/{name}")
async def download(found: Found, session: SignedIn, case_id: str, name: str) -> Response:
    """The newest document of that name, for those who may see the case (403 otherwise)."""
    got = await service_of(found).get(session.account, case_id, name)
    info = got.document
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(info.name, safe='')}",
        "ETag": f'"{info.sha256}"',
    }
    if info.size is not None:
        headers["Content-Length"] = str(info.size)
    return StreamingResponse(
        got.chunks(), media_type=info.media_type or "application/octet-stream", headers=headers
    )


async def _chunks(part: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await part.read(CHUNK):
        yield chunk

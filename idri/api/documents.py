"""A case's documents: upload, list, download (docs/api.md). Parse, call the service, answer.

An upload is the raw body with ``?name=`` (what the CLI sends, streamed as it arrives), or a
``multipart/form-data`` form with one ``file`` part (a browser's form); ``kind`` says what it is
(default ``plan``). A download streams the kept content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from idri.api.cases import view_json
from idri.api.deps import Found, SignedIn
from idri.documents.store import CHUNK, TooLarge, too_large
from idri.service.documents import DocumentService
from idri.service.errors import Invalid, ServiceError
from models.jsondata import jsonable

router = APIRouter(tags=["documents"])

FORM_OVERHEAD = 64 * 1024
"""What a multipart form may add to its file's size (boundaries, headers, the kind field)."""


class LengthRequired(ServiceError):
    status = 411


def _service(found: Found) -> DocumentService:
    if found.documents is None:
        raise Invalid("this API has no document store configured")
    return found.documents


@router.post("/cases/{case_id}/documents", status_code=201)
async def upload(
    request: Request,
    found: Found,
    account: SignedIn,
    case_id: str,
    name: str | None = Query(default=None, description="The file name (raw body uploads)."),
    kind: str = Query(default="plan", description="plan, recommendation, inspection, ..."),
) -> dict[str, Any]:
    """Keep a document (PDF, DOCX, XLSX or an image) and record it on the case; the creation
    plan is submitted so (``submit_plan`` with its name, size and SHA-256)."""
    request.state.action = "documents"
    service = _service(found)
    declared = _content_length(request)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        if declared is None:
            raise LengthRequired("a multipart upload needs a Content-Length header")
        if declared > service.max_bytes + FORM_OVERHEAD:
            raise TooLarge(too_large(name or "the upload", service.max_bytes))
        form = await request.form(max_files=1, max_fields=4)
        try:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise Invalid('a multipart upload sends the document as the part "file"')
            given_kind = form.get("kind")
            uploaded = await service.upload(
                account,
                case_id,
                kind=given_kind if isinstance(given_kind, str) else kind,
                name=name or part.filename or "",
                chunks=_parts(part),
                declared_size=part.size,
            )
        finally:
            await form.close()
    else:
        if not name:
            raise Invalid("name the document: ?name=<file name> (or send a multipart form)")
        uploaded = await service.upload(
            account,
            case_id,
            kind=kind,
            name=name,
            chunks=request.stream(),
            declared_size=declared,
        )
    return {"document": jsonable(uploaded.document), "case": view_json(uploaded.case)}


@router.get("/cases/{case_id}/documents")
async def list_documents(found: Found, account: SignedIn, case_id: str) -> list[dict[str, Any]]:
    """The documents recorded on the case, oldest first."""
    return list(jsonable(await _service(found).list_documents(account, case_id)))


@router.get("/cases/{case_id}/documents/{name}")
async def download(found: Found, account: SignedIn, case_id: str, name: str) -> StreamingResponse:
    """The newest document of that name, streamed, for those who may see the case."""
    got = await _service(found).get(account, case_id, name)
    info = got.document
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(info.name, safe='')}",
        "ETag": f'"{info.sha256}"',
        "X-Content-Type-Options": "nosniff",
        "X-Idri-Sha256": info.sha256,
    }
    if info.size is not None:
        headers["Content-Length"] = str(info.size)
    return StreamingResponse(
        got.chunks(), media_type=info.media_type or "application/octet-stream", headers=headers
    )


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise Invalid(f"Content-Length is a number of bytes, not {value!r}")
    return int(value)


async def _parts(part: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await part.read(CHUNK):
        yield chunk

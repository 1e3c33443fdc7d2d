"""Receiving a document and keeping it in a directory, by the SHA-256 of its content.

An upload is streamed, chunk by chunk, into a staging file beside the store while its SHA-256
and size are computed: nothing holds the whole file in memory, and an upload past the limit is
cut off as soon as it passes it (the staging file deleted). Its type is judged by its bytes
(``models.documents.sniff``; a DOCX or XLSX by its ZIP table of contents), never by its name
alone. The kept file's path is made of the hash only (``ab/abcdef...``): the name a person gave
never reaches the filesystem.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import AsyncIterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from idri.service.errors import ServiceError
from models import documents

if TYPE_CHECKING:
    from idri.settings import Settings

CHUNK = 1024 * 1024
"""Bytes read or written at a time."""


class DocumentRefused(ServiceError):
    """An upload that cannot be kept: a wrong name, an empty file (422)."""

    status = 422


class TooLarge(DocumentRefused):
    """Larger than ``IDRI_DOCUMENT_MAX_BYTES``."""

    status = 413


class WrongType(DocumentRefused):
    """Not a PDF, DOCX, XLSX or image by its content, or not the type its name says."""

    status = 415


@dataclass(frozen=True)
class Received:
    """An upload in its staging file, checked: its hash, size and media type."""

    path: Path
    sha256: str
    size: int
    media_type: str


class DocumentStore(Protocol):
    """Where document contents are kept, by SHA-256. Every method blocks (run it in a thread)."""

    def staging_dir(self) -> Path:
        """Where uploads are written while they arrive."""
        ...

    def put(self, received: Received) -> None:
        """Keep ``received`` under its hash (nothing to do if that content is kept already);
        the staging file is gone afterwards."""
        ...

    def size_of(self, sha256: str) -> int | None:
        """The size of the content kept under ``sha256``, or None if none is."""
        ...

    def open(self, sha256: str) -> IO[bytes]:
        """The kept content, to read in chunks; FileNotFoundError if none is kept."""
        ...

    def describe(self) -> str:
        """Where the store is, for a person (no credentials)."""
        ...


async def receive(
    chunks: AsyncIterable[bytes], name: str, *, staging: Path, max_bytes: int
) -> Received:
    """Stream ``chunks`` into a staging file under ``staging`` and check it.

    Raises:
        DocumentRefused: the name is not a document's, the content is empty; TooLarge: it is
            larger than ``max_bytes`` (cut off as it passes); WrongType: its bytes are not what
            its name says.
    """
    problem = documents.name_refusal(name)
    if problem is not None:
        raise DocumentRefused(problem)
    staging.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    descriptor, temporary = tempfile.mkstemp(prefix=".upload-", dir=staging)
    path = Path(temporary)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(too_large(name, max_bytes))
                if len(head) < documents.SNIFF_BYTES:
                    head += chunk[: documents.SNIFF_BYTES - len(head)]
                digest.update(chunk)
                stream.write(chunk)
        if size == 0:
            raise DocumentRefused(f"{name!r} is empty: nothing to keep")
        media_type = documents.sniff(head)
        if media_type == "application/zip":
            media_type = _office_type(path)
        refusal = documents.type_refusal(name, media_type)
        if refusal is not None:
            raise WrongType(refusal)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    assert media_type is not None
    return Received(path, digest.hexdigest(), size, media_type)


def too_large(name: str, max_bytes: int) -> str:
    return (
        f"{name!r} is larger than the {_megabytes(max_bytes)} a document may be "
        "(IDRI_DOCUMENT_MAX_BYTES); nothing was kept"
    )


def _megabytes(count: int) -> str:
    return f"{count / 1024 / 1024:g} MiB" if count >= 1024 * 1024 else f"{count} bytes"


def _office_type(path: Path) -> str | None:
    """DOCX or XLSX by the ZIP's table of contents (read, not unpacked)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return documents.office_type(set(archive.namelist())) or "application/zip"
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


class FileStore:
    """Documents in a directory (``<data dir>/documents`` by default): ``ab/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def staging_dir(self) -> Path:
        # In the store's own directory: a kept upload is renamed into place, never copied.
        return self.root / ".staging"

    def _path(self, sha256: str) -> Path:
        if not documents.is_sha256(sha256):
            raise FileNotFoundError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, received: Received) -> None:
        target = self._path(received.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            received.path.unlink(missing_ok=True)
            return
        with contextlib.suppress(OSError):
            os.chmod(received.path, 0o640)
        os.replace(received.path, target)  # atomic: a reader sees the whole file or none

    def size_of(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> IO[bytes]:
        return self._path(sha256).open("rb")

    def describe(self) -> str:
        return str(self.root)


def open_store(settings: Settings) -> DocumentStore:
    """The store the settings name: a directory (default) or S3-compatible storage."""
    if settings.document_store == "s3":
        from idri.documents.s3 import S3Store

        return S3Store.from_settings(settings)
    return FileStore(settings.documents_path)

"""The document store: case documents kept by the SHA-256 of their content (issue 20, item 11).

``store.py`` receives an upload (streamed to a staging file, hashed, size-limited and its type
checked by its bytes) and keeps it in a directory; ``s3.py`` keeps it in S3-compatible object
storage (MinIO in the compose stack). ``open_store`` picks one from the settings.
"""

from __future__ import annotations

from idri.documents.store import (
    DocumentRefused,
    DocumentStore,
    FileStore,
    Received,
    TooLarge,
    WrongType,
    open_store,
    receive,
)

__all__ = [
    "DocumentRefused",
    "DocumentStore",
    "FileStore",
    "Received",
    "TooLarge",
    "WrongType",
    "open_store",
    "receive",
]

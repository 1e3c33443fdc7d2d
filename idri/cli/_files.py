"""Sending and receiving documents through the API, streamed: a file goes up from disk in
chunks (``http.client`` reads the open file) and comes down to disk in chunks, never whole in
memory. The same address, token and answers as ``_api.request``."""

from __future__ import annotations

import http.client
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from idri.cli import _api
from idri.cli._common import EXIT_REFUSED, fail

CHUNK = 1024 * 1024


def _open(
    method: str, path: str, query: dict[str, Any]
) -> tuple[http.client.HTTPConnection, str, dict[str, str], str]:
    base = _api.api_url()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"IDRI_API_URL must be an http(s) URL such as {_api.DEFAULT_URL}, not {base!r}")
    target = parts.path.rstrip("/") + path
    if query:
        target += "?" + urlencode(query)
    headers = {"Accept": "application/json", "User-Agent": "idri-cli"}
    used = _api.credential()
    if used is not None:
        headers["Authorization"] = f"Bearer {used.token}"
    return _api._connection(parts.scheme, parts.hostname, parts.port), target, headers, base


def _answer_error(base: str, answer: http.client.HTTPResponse) -> None:
    error = _api._refusal(
        base,
        answer.status,
        answer.read(),
        answer.getheader("Retry-After"),
        signed_in=True,
        used=_api.credential(),
    )
    fail(str(error), error.code)


def upload(path: str, file: Path, query: dict[str, Any]) -> Any:
    """POST ``file`` as the raw body (streamed from disk) and return the answer's JSON."""
    connection, target, headers, base = _open("POST", path, query)
    headers["Content-Type"] = "application/octet-stream"
    headers["Content-Length"] = str(file.stat().st_size)
    try:
        with file.open("rb") as stream:
            connection.request("POST", target, body=stream, headers=headers)
            answer = connection.getresponse()
            if answer.status >= 300:
                _answer_error(base, answer)
            return _api._json(base, answer.read())
    except (OSError, http.client.HTTPException) as error:
        fail(str(_api._unreachable(base, _api._reason(error))), _api.EXIT_UNAVAILABLE)
    finally:
        connection.close()


def download(path: str, destination: Path | None) -> tuple[int, str]:
    """GET ``path`` into ``destination`` (written whole, then renamed into place), or to
    standard output when None; the bytes written and the SHA-256 the API named."""
    connection, target, headers, base = _open("GET", path, {})
    headers["Accept"] = "*/*"
    try:
        connection.request("GET", target, headers=headers)
        answer = connection.getresponse()
        if answer.status >= 300:
            _answer_error(base, answer)
        sha256 = answer.getheader("X-Idri-Sha256") or ""
        written = 0
        if destination is None:
            out = os.fdopen(os.dup(1), "wb")
            with out:
                while chunk := answer.read(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
            return written, sha256
        destination.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".idri-", dir=destination.parent)
        try:
            with os.fdopen(descriptor, "wb") as out:
                while chunk := answer.read(CHUNK):
                    out.write(chunk)
                    written += len(chunk)
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return written, sha256
    except (OSError, http.client.HTTPException) as error:
        fail(str(_api._unreachable(base, _api._reason(error))), _api.EXIT_UNAVAILABLE)
    finally:
        connection.close()


__all__ = ["EXIT_REFUSED", "download", "upload"]

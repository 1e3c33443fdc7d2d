"""The CLI's client of the idri API (``docs/api.md``): where the API is, which token to show it,
and every answer turned into the CLI's exit status and one line on stderr.

Built on the standard library's ``http.client``: a case command sends one small JSON request
and reads one answer, and ``idri status`` has a latency budget (0.3 s, interpreter start
included) that ``httpx`` (0.11 s to import) or ``urllib.request`` would spend a good part of.
Nothing here imports Temporal, the database or pydantic.

Where the API is: ``IDRI_API_URL``, else the address ``idri up`` wrote to
``<data dir>/api.url``, else ``http://127.0.0.1:7280``. The token: ``IDRI_TOKEN``, else the one
``idri login`` saved (``$XDG_CONFIG_HOME/idri/token``, mode 0600), else
``<data dir>/admin.token`` (the first admin's, written by ``idri up``).
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from idri.cli._common import EXIT_REFUSED, EXIT_UNAVAILABLE, CliError, fail

DEFAULT_URL = "http://127.0.0.1:7280"
TIMEOUT_SECONDS = 60.0
"""Longer than the API's own wait for a case (30 s), so that its 503 arrives, not ours."""

SIGN_IN_HINT = "sign in with `idri login NAME`, or set IDRI_TOKEN to an API token"


class ApiError(CliError):
    """The API refused or failed a request; ``status`` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, code: int, status: int) -> None:
        super().__init__(message, code)
        self.status = status


# --- Where the API is, and who we are ------------------------------------------------------------


def data_dir() -> Path:
    """The data directory ``idri up`` uses: ``IDRI_DATA_DIR``, default ``.idri``."""
    return Path(os.environ.get("IDRI_DATA_DIR") or ".idri")


def api_url() -> str:
    """The API's base URL, without a trailing slash."""
    url = os.environ.get("IDRI_API_URL", "").strip()
    if not url:
        written = data_dir() / "api.url"
        try:
            url = written.read_text(encoding="utf-8").strip()
        except OSError:
            url = ""
    return (url or DEFAULT_URL).rstrip("/")


def token_file() -> Path:
    """Where ``idri login`` keeps the token: ``$XDG_CONFIG_HOME/idri/token``."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "idri" / "token"


@dataclass(frozen=True)
class Credential:
    token: str
    source: str
    """Where it came from, as a person reads it: ``IDRI_TOKEN``, or a file's path."""


def credential() -> Credential | None:
    """The token this invocation acts with, and where it was found; None without one."""
    token = os.environ.get("IDRI_TOKEN", "").strip()
    if token:
        return Credential(token, "IDRI_TOKEN")
    for path in (token_file(), data_dir() / "admin.token"):
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if token:
            return Credential(token, str(path))
    return None


def saved_token() -> str | None:
    """The token ``idri login`` saved, if any."""
    try:
        return token_file().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def save_token(token: str) -> Path:
    """Keep ``token`` in the token file: its directory 0700, the file 0600, written whole (a
    temporary file beside it, then renamed) so that no reader ever sees half a token."""
    path = token_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".token-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(token + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


# --- Requests -----------------------------------------------------------------------------------


def case_path(case: str, *rest: str) -> str:
    """``/api/cases/<case>/<rest>``, the case id quoted: typed text never becomes another path."""
    case_id = case.strip()
    return "/".join(["/api/cases", quote(case_id, safe=""), *rest])


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, Any] | None = None,
    signed_in: bool = True,
) -> Any:
    """Send one request and return the answer's JSON; on a refusal or failure, print its one
    line and exit (:func:`request` raises instead)."""
    try:
        return request(method, path, body, query=query, signed_in=signed_in)
    except ApiError as error:
        fail(str(error), error.code)


def request(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, Any] | None = None,
    signed_in: bool = True,
    token: str | None = None,
) -> Any:
    """Send one request to the API and return the answer's JSON (None for an empty body).

    Raises:
        ApiError: the API refused the request, failed, or could not be reached; its message is
            the line to print, its code the exit status.
    """
    base = api_url()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(
            f"IDRI_API_URL (or {data_dir() / 'api.url'}) must be an http(s) URL such as "
            f"{DEFAULT_URL}, not {base!r}",
            EXIT_REFUSED,
            0,
        )
    target = parts.path.rstrip("/") + path
    wanted = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
    if wanted:
        target += "?" + urlencode(wanted)
    headers = {"Accept": "application/json", "User-Agent": "idri-cli"}
    used = None
    if signed_in:
        used = Credential(token, "the saved token") if token else credential()
        if used is not None:
            headers["Authorization"] = f"Bearer {used.token}"
    payload = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    connection = _connection(parts.scheme, parts.hostname, parts.port)
    try:
        connection.request(method, target, body=payload, headers=headers)
        answer = connection.getresponse()
        status, data = answer.status, answer.read()
        retry_after = answer.getheader("Retry-After")
    except TimeoutError:
        raise _unreachable(base, f"no answer within {TIMEOUT_SECONDS:g}s") from None
    except (OSError, http.client.HTTPException) as error:
        raise _unreachable(base, _reason(error)) from None
    except ValueError as error:  # a header value http.client refuses (a token with a newline)
        raise ApiError(f"cannot send this request: {error}", EXIT_REFUSED, 0) from None
    finally:
        connection.close()
    if 200 <= status < 300:
        return _json(base, data) if data.strip() else None
    raise _refusal(base, status, data, retry_after, signed_in=signed_in, used=used)


def _connection(scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS)
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = " ".join(str(error).split())
    return text[:160] or type(error).__name__


def _unreachable(base: str, reason: str, status: int = 0) -> ApiError:
    return ApiError(
        f"cannot reach the idri API at {base} ({reason}); start it with `idri up` or set "
        "IDRI_API_URL",
        EXIT_UNAVAILABLE,
        status,
    )


def _json(base: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ApiError(
            f"the answer from {base} is not the idri API's JSON: is IDRI_API_URL right?",
            EXIT_REFUSED,
            0,
        ) from None


def _refusal(
    base: str,
    status: int,
    data: bytes,
    retry_after: str | None,
    *,
    signed_in: bool,
    used: Credential | None,
) -> ApiError:
    """The one line and exit status for an answer that is not a success."""
    detail = _detail(data)
    if status == 401:
        return ApiError(_not_signed_in(detail, signed_in, used), EXIT_REFUSED, status)
    if status in (403, 404, 409, 422, 429):
        message = detail or f"the idri API refused the request (HTTP {status})"
        if status == 429 and retry_after and "try again" not in message.lower():
            message = f"{message.rstrip('.')} (try again in {retry_after} s)"
        return ApiError(message, EXIT_REFUSED, status)
    if status == 503 and detail:
        # The API answered: what it cannot reach (Temporal, the registry, a case) is its detail.
        return ApiError(detail, EXIT_UNAVAILABLE, status)
    if status in (502, 503, 504):
        return _unreachable(base, f"HTTP {status}", status)
    said = f": {detail}" if detail else ""
    return ApiError(f"the idri API at {base} failed (HTTP {status}){said}", EXIT_REFUSED, status)


def _not_signed_in(detail: str, signed_in: bool, used: Credential | None) -> str:
    """Why a 401, and how to sign in: the line names where the refused token came from."""
    if not signed_in:  # signing in itself: the API says what was wrong (name or password)
        return detail or "signing in was refused"
    if used is None:
        return f"not signed in: {SIGN_IN_HINT}"
    message = detail or "the token was refused"
    if "idri login" not in message:
        message = f"{message.rstrip('.')}; {SIGN_IN_HINT}"
    return f"{message} (the token came from {used.source})"


def _detail(data: bytes) -> str:
    """The sentence of an error answer: ``detail``, or FastAPI's list of invalid fields."""
    try:
        body = json.loads(data)
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_invalid_field(item) for item in detail)
    return ""


def _invalid_field(item: Any) -> str:
    """One entry of FastAPI's 422 list as ``field: problem`` (``score: Input should be ...``)."""
    if not isinstance(item, dict):
        return str(item)
    location = [str(p) for p in item.get("loc") or [] if p not in ("body", "query", "path")]
    field = ".".join(location) or "the request"
    return f"{field}: {item.get('msg') or 'invalid'}"

"""The codec server: case officers read decrypted payloads in the Temporal Web UI and CLI.

It speaks Temporal's remote codec protocol: ``POST .../decode`` and ``POST .../encode`` take
``{"payloads": [...]}`` (payloads in protobuf JSON form) and answer in the same shape, run
through :class:`idri.codec.EncryptionCodec`. Only the last path segment counts, so
``http://host:8081/idri/decode`` works as a per-namespace endpoint. ``GET /health`` answers
``ok`` for container health checks and reveals nothing.

Who is served:

- With ``IDRI_CODEC_AUTH_TOKEN`` set, every call needs ``Authorization: Bearer <token>``: none
  gets 401, a wrong one 403. Loopback callers need it too, because behind a reverse proxy every
  call arrives from loopback. Set a token whenever the server is reachable from other machines.
- Without a token, only callers on this machine (loopback addresses) are served; others get
  403. This is the pattern Temporal documents for the Web UI: the officer's browser itself
  calls ``http://localhost:8081``, so the keys never leave the officer's machine.
- A call from a web page whose ``Origin`` is not the UI's (``IDRI_CODEC_CORS_ORIGIN``) gets
  403, token or not: another page open in the same browser must not read case data.

CORS: a preflight ``OPTIONS`` from the UI's origin is answered with the allowed method and
headers (``Authorization``, ``Content-Type``, ``X-Namespace``); every answer to that origin
carries ``Access-Control-Allow-Origin``. Decoded answers are marked ``Cache-Control: no-store``.

Run it with ``python -m idri.codec_server [--host 127.0.0.1] [--port 8081]``; the CLI uses it
with ``temporal workflow show --codec-endpoint http://localhost:8081
[--codec-auth "Bearer <token>"]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from idri.codec import EncryptionCodec, EncryptionConfigError
from idri.settings import Settings

log = logging.getLogger("idri.codec_server")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Larger than any history page the UI sends (Temporal's own message limit is 4 MiB)."""
_ALLOW_HEADERS = "Authorization, Content-Type, X-Namespace"
_ACTIONS = ("encode", "decode")


def cors_origins(settings: Settings) -> frozenset[str]:
    """The Web UI origins named by ``IDRI_CODEC_CORS_ORIGIN`` (comma-separated)."""
    return frozenset(
        origin.strip().rstrip("/")
        for origin in settings.codec_cors_origin.split(",")
        if origin.strip()
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a peer address) is this machine's loopback, IPv4-mapped included."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class CodecServer(ThreadingHTTPServer):
    """An HTTP codec server bound to ``address`` as soon as it is built.

    Args:
        address: ``(host, port)``; port 0 picks a free port (see :attr:`url`).
        codec: The codec to apply; None passes payloads through unchanged.
        auth_token: Bearer token every caller must present; None or empty serves loopback
            callers only.
        cors_origins: Web UI origins allowed to call from a browser.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        codec: PayloadCodec | None,
        auth_token: str | None,
        cors_origins: Iterable[str],
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.codec = codec
        self.auth_token = auth_token or None
        self.cors_origins = frozenset(cors_origins)
        self._thread: threading.Thread | None = None
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8081``."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (for ``idri up`` and tests); :meth:`close` stops it."""
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="idri-codec-server",
            daemon=True,
        )
        self._thread.start()
        return self._thread

    def close(self) -> None:
        """Stop serving (if started with :meth:`start`) and release the socket."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()


def make_server(
    settings: Settings, *, host: str = "127.0.0.1", port: int | None = None
) -> CodecServer:
    """A codec server for ``settings``' keys, token and UI origins, bound to ``host:port``.

    ``port`` defaults to ``IDRI_CODEC_PORT``.

    Raises:
        idri.codec.EncryptionConfigError: when the encryption settings are inconsistent.
    """
    return CodecServer(
        (host, settings.codec_port if port is None else port),
        codec=EncryptionCodec.from_settings(settings),
        auth_token=settings.codec_auth_token,
        cors_origins=cors_origins(settings),
    )


class _Handler(BaseHTTPRequestHandler):
    server: CodecServer
    protocol_version = "HTTP/1.1"
    server_version = "idri-codec"
    sys_version = ""
    timeout = 30

    # --- Methods ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self._path() == "/health":
            self._send(HTTPStatus.OK, b"ok\n", content_type="text/plain; charset=utf-8")
        else:
            self._error(
                HTTPStatus.NOT_FOUND,
                "not found; the codec endpoints are POST /decode and POST /encode",
            )

    def do_OPTIONS(self) -> None:
        origin = self.headers.get("Origin")
        if origin not in self.server.cors_origins:
            self._error(HTTPStatus.FORBIDDEN, self._origin_refusal(origin))
            return
        self._send(
            HTTPStatus.NO_CONTENT,
            b"",
            headers={
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": _ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    def do_POST(self) -> None:
        action = self._action()
        if action is None:
            self._error(
                HTTPStatus.NOT_FOUND,
                "not found; the codec endpoints are POST /decode and POST /encode",
            )
            return
        origin = self.headers.get("Origin")
        if origin is not None and origin not in self.server.cors_origins:
            self._error(HTTPStatus.FORBIDDEN, self._origin_refusal(origin))
            return
        refusal = self._refusal()
        if refusal is not None:
            self._error(*refusal)
            return
        body = self._read_json_body()
        if body is None:
            return
        try:
            request = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as err:
            self._error(
                HTTPStatus.BAD_REQUEST,
                f'the body is not {{"payloads": [...]}} in protobuf JSON: {err}',
            )
            return
        try:
            result = self._apply(action, list(request.payloads))
        except ValueError as err:  # DecryptionError, UnknownKeyError: the message says what to do
            self._error(HTTPStatus.BAD_REQUEST, f"could not {action}: {err}")
            return
        except Exception:
            log.exception("codec %s failed", action)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"could not {action}; see the server log")
            return
        answer = {"payloads": [json_format.MessageToDict(payload) for payload in result]}
        self._send(
            HTTPStatus.OK,
            json.dumps(answer).encode("utf-8"),
            headers={"Cache-Control": "no-store"},
        )

    # --- Checks -----------------------------------------------------------------------------
    def _refusal(self) -> tuple[HTTPStatus, str] | None:
        token = self.server.auth_token
        if token is None:
            if is_loopback(self.client_address[0]):
                return None
            return (
                HTTPStatus.FORBIDDEN,
                "no IDRI_CODEC_AUTH_TOKEN is configured, so this codec server only serves "
                "callers on its own machine; set a token to serve others",
            )
        header = self.headers.get("Authorization")
        if not header:
            return (
                HTTPStatus.UNAUTHORIZED,
                "this codec server needs `Authorization: Bearer <token>` "
                '(the CLI sends it with --codec-auth "Bearer <token>")',
            )
        scheme, _, presented = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode("utf-8"), token.encode("utf-8")
        ):
            return HTTPStatus.FORBIDDEN, "the bearer token is not this codec server's token"
        return None

    def _origin_refusal(self, origin: str | None) -> str:
        allowed = ", ".join(sorted(self.server.cors_origins)) or "none"
        return (
            f"origin {origin!r} may not call this codec server (allowed: {allowed}); "
            "set IDRI_CODEC_CORS_ORIGIN to the Web UI's address"
        )

    def _read_json_body(self) -> bytes | None:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self._error(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
            return None
        try:
            length = int(length_header)
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body may have at most {MAX_BODY_BYTES} bytes",
            )
            return None
        content_type = self.headers.get_content_type()
        if content_type != "application/json":
            self._error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type must be application/json, not {content_type}",
            )
            return None
        return self.rfile.read(length)

    # --- Work -------------------------------------------------------------------------------
    def _apply(self, action: str, payloads: list[Payload]) -> Sequence[Payload]:
        codec = self.server.codec
        if codec is None:
            return payloads
        method = codec.encode if action == "encode" else codec.decode
        return asyncio.run(method(payloads))

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _action(self) -> str | None:
        last = self._path().rstrip("/").rsplit("/", 1)[-1]
        return last if last in _ACTIONS else None

    # --- Answers ----------------------------------------------------------------------------
    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        origin = self.headers.get("Origin")
        if origin is not None and origin in self.server.cors_origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        # The body may not have been read: do not let it be mistaken for a next request.
        self.close_connection = True
        headers = {"Connection": "close"}
        if status is HTTPStatus.UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Bearer realm="idri codec server"'
        self._send(status, json.dumps({"error": message}).encode("utf-8"), headers=headers)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.client_address[0], format % args)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m idri.codec_server``: serve until interrupted."""
    from idri.logging import configure_logging
    from idri.settings import get_settings

    parser = argparse.ArgumentParser(
        prog="python -m idri.codec_server",
        description="Decrypt idri's payloads for the Temporal Web UI and CLI.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, loopback only)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="port (default: IDRI_CODEC_PORT, 8081)"
    )
    args = parser.parse_args(argv)

    configure_logging()
    settings = get_settings()
    try:
        server = make_server(settings, host=args.host, port=args.port)
    except EncryptionConfigError as err:
        parser.exit(2, f"idri codec server: {err}\n")
    log.info(
        "codec server listening on %s: %s; browser origins %s",
        server.url,
        "bearer token required" if server.auth_token else "no token, loopback callers only",
        ", ".join(sorted(server.cors_origins)) or "none",
    )
    if server.codec is None:
        log.warning("IDRI_ENCRYPTION_KEYS is empty: payloads pass through unchanged")
    if server.auth_token is None and args.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning(
            "listening on %s without IDRI_CODEC_AUTH_TOKEN: callers from other machines are refused",
            args.host,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

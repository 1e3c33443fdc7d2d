"""The codec server: case officers read decrypted payloads in the Temporal Web UI and CLI.

It speaks Temporal's remote codec protocol: ``POST .../decode`` and ``POST .../encode`` take
``{"payloads": [...]}`` (payloads in protobuf JSON form) and answer in the same shape, run
through :class:`idri.codec.EncryptionCodec`. Only the last path segment counts, so
``http://host:8081/idri/decode`` works as a per-namespace endpoint. ``GET /health`` answers
``ok`` for container health checks and reveals nothing. It is a Starlette app served by uvicorn.

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
Starlette's ``CORSMiddleware`` is not used because it only withholds the CORS headers from
other origins and leaves the refusal to the browser; this server refuses them itself.

Run it with ``python -m idri.codec_server [--host 127.0.0.1] [--port 8081]``; the CLI uses it
with ``temporal workflow show --codec-endpoint http://localhost:8081
[--codec-auth "Bearer <token>"]``.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import socket
import threading
from collections.abc import Iterable, Sequence
from http import HTTPStatus

import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from idri.codec import EncryptionCodec, EncryptionConfigError
from idri.settings import Settings

log = logging.getLogger("idri.codec_server")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Larger than any history page the UI sends (Temporal's own message limit is 4 MiB)."""
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
ACTIONS = ("encode", "decode")
NOT_FOUND = "not found; the codec endpoints are POST /decode and POST /encode"
SHUTDOWN_GRACE_SECONDS = 5
"""How long stopping waits for calls in flight before it cancels them."""


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


def action_of(path: str) -> str | None:
    """``"decode"`` or ``"encode"`` when the last segment of ``path`` names one, else None."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if last in ACTIONS else None


class CodecService:
    """The codec endpoints and the rules for who may call them.

    Args:
        codec: The codec to apply; None passes payloads through unchanged.
        auth_token: Bearer token every caller must present; None or empty serves loopback
            callers only.
        cors_origins: Web UI origins allowed to call from a browser.
    """

    def __init__(
        self,
        *,
        codec: PayloadCodec | None,
        auth_token: str | None,
        cors_origins: Iterable[str],
    ) -> None:
        self.codec = codec
        self.auth_token = auth_token or None
        self.cors_origins = frozenset(cors_origins)

    def app(self) -> Starlette:
        """The ASGI app; any other path or method is told where the endpoints are."""
        return Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                # POST first, so that another method on .../decode is told (Allow) to use POST.
                Route("/{path:path}", self.convert, methods=["POST"]),
                Route("/{path:path}", self.preflight, methods=["OPTIONS"]),
                Route("/{path:path}", self.not_found, methods=["GET"]),
            ],
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=self.answer_ui_origin)],
            exception_handlers={HTTPException: error_answer},
        )

    # --- Endpoints -------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def not_found(self, request: Request) -> Response:
        raise HTTPException(HTTPStatus.NOT_FOUND, NOT_FOUND)

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin not in self.cors_origins:
            raise HTTPException(HTTPStatus.FORBIDDEN, self.origin_refusal(origin))
        return Response(
            status_code=HTTPStatus.NO_CONTENT,
            headers={
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )

    async def convert(self, request: Request) -> Response:
        """``POST .../decode`` or ``.../encode``: the checks in order, then the codec."""
        action = action_of(request.url.path)
        if action is None:
            raise HTTPException(HTTPStatus.NOT_FOUND, NOT_FOUND)
        origin = request.headers.get("origin")
        if origin is not None and origin not in self.cors_origins:
            raise HTTPException(HTTPStatus.FORBIDDEN, self.origin_refusal(origin))
        self.check_caller(request)
        payloads = parse_payloads(await read_json_body(request))
        answer = await self.apply(action, payloads)
        return JSONResponse(
            {"payloads": [json_format.MessageToDict(payload) for payload in answer]},
            headers={"Cache-Control": "no-store"},
        )

    # --- Rules -----------------------------------------------------------------------------
    def check_caller(self, request: Request) -> None:
        """Refuse a caller without the token, or, with no token configured, off this machine."""
        if self.auth_token is None:
            peer = request.client.host if request.client else ""
            if not is_loopback(peer):
                raise HTTPException(
                    HTTPStatus.FORBIDDEN,
                    "no IDRI_CODEC_AUTH_TOKEN is configured, so this codec server only serves "
                    "callers on its own machine; set a token to serve others",
                )
            return
        header = request.headers.get("authorization")
        if not header:
            raise HTTPException(
                HTTPStatus.UNAUTHORIZED,
                "this codec server needs `Authorization: Bearer <token>` "
                '(the CLI sends it with --codec-auth "Bearer <token>")',
                headers={"WWW-Authenticate": 'Bearer realm="idri codec server"'},
            )
        scheme, _, presented = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode("utf-8"), self.auth_token.encode("utf-8")
        ):
            raise HTTPException(
                HTTPStatus.FORBIDDEN, "the bearer token is not this codec server's token"
            )

    def origin_refusal(self, origin: str | None) -> str:
        allowed = ", ".join(sorted(self.cors_origins)) or "none"
        return (
            f"origin {origin!r} may not call this codec server (allowed: {allowed}); "
            "set IDRI_CODEC_CORS_ORIGIN to the Web UI's address"
        )

    async def answer_ui_origin(
        self, request: Request, call_next: RequestResponseEndpoint
    ) -> Response:
        """Let the UI's page read every answer, refusals included."""
        response = await call_next(request)
        origin = request.headers.get("origin")
        if origin is not None and origin in self.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    # --- Work ------------------------------------------------------------------------------
    async def apply(self, action: str, payloads: list[Payload]) -> Sequence[Payload]:
        if self.codec is None:
            return payloads
        method = self.codec.encode if action == "encode" else self.codec.decode
        try:
            return await method(payloads)
        except ValueError as err:  # DecryptionError, UnknownKeyError: the message says what to do
            raise HTTPException(HTTPStatus.BAD_REQUEST, f"could not {action}: {err}") from err
        except Exception as err:
            log.exception("codec %s failed", action)
            raise HTTPException(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"could not {action}; see the server log"
            ) from err


async def read_json_body(request: Request) -> bytes:
    """The body, once its declared length and type are acceptable; it is not read before."""
    length = request.headers.get("content-length")
    if length is None:
        raise HTTPException(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
    # uvicorn has already refused a Content-Length that is not a number.
    if int(length) > MAX_BODY_BYTES:
        raise HTTPException(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the body may have at most {MAX_BODY_BYTES} bytes",
        )
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            # A body without a type is text/plain by HTTP's default.
            f"Content-Type must be application/json, not {media_type or 'text/plain'}",
        )
    return await request.body()


def parse_payloads(body: bytes) -> list[Payload]:
    try:
        return list(json_format.Parse(body, Payloads()).payloads)
    except (json_format.ParseError, UnicodeDecodeError) as err:
        raise HTTPException(
            HTTPStatus.BAD_REQUEST,
            f'the body is not {{"payloads": [...]}} in protobuf JSON: {err}',
        ) from err


async def error_answer(request: Request, exc: Exception) -> Response:
    """Every refusal as ``{"error": "<what was wrong and what to do>"}``."""
    if not isinstance(exc, HTTPException):
        raise exc
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


class CodecServer:
    """A codec service on a socket that is bound as soon as the server is built.

    Binding up front lets the caller report a taken port before anything else starts.
    """

    def __init__(self, service: CodecService, listener: socket.socket) -> None:
        self.service = service
        self.listener = listener
        self.uvicorn = uvicorn.Server(
            uvicorn.Config(
                service.app(),
                lifespan="off",
                # Records go to the root logger that idri.logging configures.
                log_config=None,
                # The loopback rule looks at the peer itself: a forwarded-for header that
                # claims another address must not change who is served.
                proxy_headers=False,
                server_header=False,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on."""
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:8081``."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve(self) -> None:
        """Serve in this thread until SIGINT or SIGTERM (the main thread) or :meth:`close`."""
        self.uvicorn.run(sockets=[self.listener])

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (for ``idri up`` and tests); :meth:`close` stops it.

        A thread of its own keeps decoding for the Web UI off the caller's event loop.
        """
        self._thread = threading.Thread(target=self.serve, name="idri-codec-server", daemon=True)
        self._thread.start()
        return self._thread

    def close(self) -> None:
        """Stop serving (if started with :meth:`start`) and release the socket."""
        if self._thread is not None:
            self.uvicorn.should_exit = True
            self._thread.join()
            self._thread = None
        self.listener.close()


def make_server(
    settings: Settings, *, host: str = "127.0.0.1", port: int | None = None
) -> CodecServer:
    """A codec server for ``settings``' keys, token and UI origins, bound to ``host:port``.

    ``port`` defaults to ``IDRI_CODEC_PORT``; 0 picks a free port (see :attr:`CodecServer.url`).

    Raises:
        idri.codec.EncryptionConfigError: when the encryption settings are inconsistent.
        OSError: when ``host:port`` cannot be bound (e.g. the port is taken).
    """
    service = CodecService(
        codec=EncryptionCodec.from_settings(settings),
        auth_token=settings.codec_auth_token,
        cors_origins=cors_origins(settings),
    )
    address = (host, settings.codec_port if port is None else port)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # uvicorn announces its start and stop at INFO; the operator needs only its problems.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    return CodecServer(service, socket.create_server(address, family=family))


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
    service = server.service
    log.info(
        "codec server listening on %s: %s; browser origins %s",
        server.url,
        "bearer token required" if service.auth_token else "no token, loopback callers only",
        ", ".join(sorted(service.cors_origins)) or "none",
    )
    if service.codec is None:
        log.warning("IDRI_ENCRYPTION_KEYS is empty: payloads pass through unchanged")
    if service.auth_token is None and args.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning(
            "listening on %s without IDRI_CODEC_AUTH_TOKEN: callers from other machines are refused",
            args.host,
        )
    try:
        server.serve()
    except KeyboardInterrupt:
        pass  # uvicorn has already stopped; it re-raises the interrupt for the default action
    finally:
        server.close()


if __name__ == "__main__":
    main()

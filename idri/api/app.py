"""The API application: one authenticated front door for people (docs/api.md).

Routes parse, call a service function with the signed-in account, and answer JSON; the rules
live in the service and the workflow. Every request is logged once (user, case, action,
outcome); no request body, token or password is ever logged.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from idri.api import accounts, cases, changes, documents, inbox, rounds
from idri.api.deps import Services
from idri.service.errors import ServiceError, StillRecording, Throttled
from idri.web.app import create_web_app

log = structlog.get_logger("idri.api")


def create_app(services: Services) -> FastAPI:
    """The API over ``services`` (built once by ``idri up`` or the API's own entry point)."""
    app = FastAPI(
        title="idri",
        summary="Industrial design research institutes (工业设计研究院): cases, accounts, registry",
        version="1",
    )
    app.state.services = services
    app.include_router(accounts.router, prefix="/api")
    app.include_router(cases.router, prefix="/api")
    app.include_router(rounds.router, prefix="/api")
    app.include_router(changes.router, prefix="/api")
    app.include_router(documents.router, prefix="/api")
    app.include_router(inbox.router, prefix="/api")
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.middleware("http")(_log_request)
    app.get("/api/health", tags=["service"])(_health)
    # The workbench (idri/web/): every path the API does not answer, on the same services.
    app.mount("/", create_web_app(services))
    return app


async def _health() -> dict[str, str]:
    """For health checks: the API answers (it says nothing about Temporal or the registry)."""
    return {"status": "ok"}


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    request.state.outcome = type(error).__name__
    headers = {}
    if isinstance(error, Throttled):
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body: dict[str, Any] = {"detail": error.message}
    if isinstance(error, StillRecording):
        body["accepted"] = True  # 202: the case took the action; its result is not in yet
    return JSONResponse(body, status_code=error.status, headers=headers)


async def _invalid(request: Request, error: Exception) -> Response:
    """FastAPI's list of problems, without echoing the input back (it may hold a password)."""
    assert isinstance(error, RequestValidationError)
    request.state.outcome = "Invalid"
    problems = [
        {
            "loc": list(problem.get("loc", ())),
            # Pydantic words a validator's ValueError "Value error, <its message>": the message
            # is ours, and reads as it is written.
            "msg": str(problem.get("msg", "")).removeprefix("Value error, "),
            "type": problem.get("type", ""),
        }
        for problem in error.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


async def _log_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    state: Any = request.state
    log.info(
        "request",
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        user=getattr(state, "user", None),
        case=request.path_params.get("case_id") if request.path_params else None,
        action=getattr(state, "action", None),
        outcome=getattr(state, "outcome", "ok" if response.status_code < 400 else None),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return response

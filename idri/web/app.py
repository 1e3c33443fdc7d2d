"""The workbench as an application of its own, mounted under the API's (``idri.api.app``): its
own error pages (HTML, where the API answers JSON) and its own response headers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException

from idri.api.deps import Services
from idri.service.errors import ServiceError
from idri.web import pages, signin, uploads
from idri.web.render import page
from idri.web.session import CsrfRefused, SignInFirst, current

_CSS = resources.files("idri.web").joinpath("static/idri.css").read_bytes()

HEADERS = {
    # Nothing but this site's own pages, styles and images; no script runs at all.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_web_app(services: Services) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.include_router(signin.router)
    app.include_router(uploads.router)
    app.include_router(pages.router)
    app.get("/static/idri.css", include_in_schema=False)(_css)
    app.add_exception_handler(SignInFirst, _sign_in_first)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.middleware("http")(_headers)
    return app


def _css() -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


async def _headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    begin = time.perf_counter()
    response = await call_next(request)
    # The server's own time for the page (the benchmark reads it; a browser's devtools show it).
    response.headers["Server-Timing"] = f"app;dur={1000 * (time.perf_counter() - begin):.1f}"
    response.headers.update(HEADERS)
    if response.media_type != "text/css":
        # Pages hold case data: neither the browser's cache nor a proxy keeps them.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _sign_in_first(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInFirst)
    target = "/sign-in" if error.back_to == "/work" else f"/sign-in?next={_quote(error.back_to)}"
    return RedirectResponse(target, status_code=303)


async def _csrf_refused(request: Request, error: Exception) -> Response:
    request.state.outcome = "CsrfRefused"
    return _error(
        request,
        403,
        "表单缺少有效的 CSRF 令牌，未予处理。请回到页面重新提交。",
        "The form was posted without its CSRF token; nothing was done.",
    )


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    request.state.outcome = type(error).__name__
    return _error(request, error.status, _STATUS_ZH.get(error.status, "出错了"), error.message)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error(request, error.status_code, _STATUS_ZH.get(error.status_code, "出错了"), "")


def _error(request: Request, status: int, zh: str, en: str) -> Response:
    try:
        session = current(request, request.app.state.services)
    except SignInFirst:
        session = None
    return page(request, "error.html", session, status=status, title=zh, zh=zh, en=en, code=status)


_STATUS_ZH = {
    401: "请先登录",
    403: "无权查看或办理",
    404: "未找到",
    409: "当前阶段不能办理",
    422: "填写有误",
    429: "请求过于频繁",
    503: "服务暂时不可用，请稍后再试",
}


def _quote(path: str) -> str:
    return quote(path, safe="/")

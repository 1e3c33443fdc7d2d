"""Signing in and out of the workbench (the session's rules are in ``idri.web.session``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from idri.api.deps import Found
from idri.auth.errors import SignInRefused, SignInThrottled
from idri.web.render import page
from idri.web.session import (
    FORM_COOKIE,
    SESSION_COOKIE,
    Form,
    checked_form,
    clear_cookie,
    csrf_for,
    form_secret,
    local_path,
    set_cookie,
)

router = APIRouter()


@router.get("/sign-in")
def sign_in_form(request: Request, found: Found, next: str = "/work") -> Response:
    return _form(request, found, next=next)


@router.post("/sign-in")
async def sign_in(request: Request, found: Found) -> Response:
    request.state.action = "sign-in"
    form = await checked_form(request, request.cookies.get(FORM_COOKIE, ""))
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    back = local_path(str(form.get("next", "")))
    try:
        account, token, expires = await asyncio.to_thread(
            found.accounts.sign_in, name, password, lifetime=found.web.session_lifetime
        )
    except SignInRefused:
        return _form(request, found, next=back, name=name, status=401, error="用户名或密码错误。")
    except SignInThrottled as error:
        message = f"登录失败次数过多，请 {max(1, round(error.retry_after))} 秒后再试。"
        return _form(request, found, next=back, name=name, status=429, error=message)
    request.state.user = account.name
    response = RedirectResponse(back, status_code=303)
    set_cookie(response, found, SESSION_COOKIE, token, expires)
    clear_cookie(response, found, FORM_COOKIE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, found: Found, form: Form) -> Response:
    """Revokes the session's token: the cookie, if kept somewhere, opens nothing any more."""
    del form  # checked: a sign-out, too, only from the workbench's own form
    request.state.action = "sign-out"
    await asyncio.to_thread(found.accounts.revoke, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/sign-in", status_code=303)
    clear_cookie(response, found, SESSION_COOKIE)
    return response


def _form(
    request: Request,
    found: Found,
    *,
    next: str,
    name: str = "",
    status: int = 200,
    error: str = "",
) -> Response:
    secret = form_secret(request)
    response = page(
        request,
        "sign_in.html",
        None,
        status=status,
        title="登录",
        csrf=csrf_for(secret),
        next=local_path(next),
        name=name,
        error=error,
    )
    set_cookie(response, found, FORM_COOKIE, secret, None)
    return response

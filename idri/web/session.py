"""Who is signed in to the workbench, and the CSRF token every form carries.

The session cookie holds an API token issued by ``AccountStore.sign_in`` (with the workbench's
shorter lifetime, ``IDRI_WEB_SESSION_HOURS``) rather than a session of its own: one kind of
credential, checked by ``AccountStore.authenticate`` on every request, so a disabled account or
a revoked token is out at the next click, sign-out revokes it, and no second table of sessions
has to be kept in step with the accounts. The cookie is HttpOnly (no script reads the token),
SameSite=Lax (a link in a notification mail still opens the page signed in; a cross-site form
post carries no cookie) and Secure when ``IDRI_WEB_SECURE_COOKIES`` is set.

CSRF: every form carries ``csrf_token``, an HMAC of the session's token (or, before signing in,
of a random cookie of its own), compared in constant time on every POST. Another site can
neither read the token nor compute the HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from idri.api.deps import Found, Services
from idri.auth.accounts import Account

SESSION_COOKIE = "idri_session"
FORM_COOKIE = "idri_form"
"""Before signing in: the random value the sign-in form's CSRF token is bound to."""
CSRF_FIELD = "csrf_token"


class SignInFirst(Exception):
    """No valid session: the page redirects to the sign-in form, and back after it."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


class CsrfRefused(Exception):
    """A form posted without its CSRF token (or with another session's)."""


def csrf_for(secret: str) -> str:
    return hmac.new(b"idri-web-csrf", secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    account: Account
    token: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)


def current(request: Request, found: Found) -> Session:
    """The signed-in account, authenticated anew (a plain function: FastAPI runs the store's
    database call in its thread pool)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    account = found.accounts.authenticate(token) if token else None
    if account is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInFirst(back if request.method == "GET" else "/work")
    request.state.user = account.name
    return Session(account, token)


SignedIn = Annotated[Session, Depends(current)]


async def checked_form(
    request: Request, secret: str, *, max_files: int = 1000, max_fields: int = 1000
) -> FormData:
    """The posted form, if it carries the CSRF token bound to ``secret`` (Starlette's limits on
    its parts unless told)."""
    form = await request.form(max_files=max_files, max_fields=max_fields)
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_for(secret)):
        await form.close()  # an uploaded file's spool, if any
        raise CsrfRefused()
    return form


async def session_form(request: Request, session: SignedIn) -> FormData:
    """A signed-in session's posted form, CSRF checked."""
    return await checked_form(request, session.token)


Form = Annotated[FormData, Depends(session_form)]


def form_secret(request: Request) -> str:
    """The pre-session value the sign-in form is bound to (a new one when absent)."""
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)


def set_cookie(
    response: Response, services: Services, name: str, value: str, expires: datetime | None
) -> None:
    response.set_cookie(
        name,
        value,
        expires=expires,
        path="/",
        httponly=True,
        samesite="lax",
        secure=services.web.secure_cookies,
    )


def clear_cookie(response: Response, services: Services, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=services.web.secure_cookies
    )


def local_path(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//host`` nor a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/work"
    return target

"""Account routes: sign in and out, who am I, and the admin's account management.

The account store's calls are synchronous database work: these routes are plain functions,
which FastAPI runs in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from idri.api.deps import Found, SignedIn, bearer
from idri.auth.accounts import (
    Account,
    AccountError,
    AccountExists,
    AccountNotFound,
    AccountRole,
    SignInRefused,
    SignInThrottled,
)
from idri.service.errors import Forbidden, Invalid, NotFound, NotSignedIn, Refused, Throttled
from models.jsondata import jsonable

router = APIRouter(tags=["accounts"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(max_length=200)
    role: AccountRole = Field(strict=False)
    """By value (``expert``): JSON has no enums, so this one field is read by value."""
    district: str | None = None
    organisation: str | None = None
    email: str | None = None
    password: str | None = Field(default=None, max_length=1000)


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    password: str = Field(max_length=1000)
    current: str | None = Field(default=None, max_length=1000)
    """One's own current password (not needed by an admin for another's account)."""


def user_json(account: Account) -> dict[str, Any]:
    return dict(jsonable(account))


def admin(account: SignedIn) -> Account:
    """The signed-in account, if it is an admin's; 403 otherwise."""
    if account.role is not AccountRole.ADMIN:
        raise Forbidden(f"accounts are managed by an admin; {account.name} is {account.role.value}")
    return account


AdminAccount = Annotated[Account, Depends(admin)]


@router.post("/sign-in")
def sign_in(request: Request, found: Found, credentials: Credentials) -> dict[str, Any]:
    """A token for a name and password. Failed attempts are throttled per name."""
    request.state.action = "sign-in"
    try:
        account, token, expires_at = found.accounts.sign_in(credentials.name, credentials.password)
    except SignInThrottled as error:
        raise Throttled(
            f"too many failed sign-ins for this name: try again in "
            f"{max(1, round(error.retry_after))} s",
            error.retry_after,
        ) from None
    except SignInRefused:
        raise NotSignedIn("wrong name or password") from None
    request.state.user = account.name
    return {"token": token, "expires_at": jsonable(expires_at), "user": user_json(account)}


@router.post("/sign-out")
def sign_out(
    found: Found,
    account: SignedIn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, Any]:
    """Revoke the token this request used."""
    del account
    if credentials is not None:
        found.accounts.revoke(credentials.credentials)
    return {}


@router.get("/me")
def me(account: SignedIn) -> dict[str, Any]:
    """The signed-in account."""
    return user_json(account)


@router.post("/me/password")
def set_own_password(
    request: Request, found: Found, account: SignedIn, body: NewPassword
) -> dict[str, Any]:
    """Set one's own password (the current one too, if there is one): then `idri login` works."""
    request.state.action = "password"
    try:
        changed = found.accounts.set_password(
            account.name, account.name, body.password, current=body.current
        )
    except AccountError as error:
        raise _account_error(error) from None
    return user_json(changed)


@router.post("/users/{name}/password")
def set_password(
    request: Request, found: Found, account: AdminAccount, name: str, body: NewPassword
) -> dict[str, Any]:
    """An admin sets an account's password (a forgotten one, or a first one)."""
    request.state.action = "user-password"
    try:
        return user_json(found.accounts.set_password(account.name, name, body.password))
    except AccountError as error:
        raise _account_error(error) from None


@router.post("/users", status_code=201)
def add_user(
    request: Request, found: Found, account: AdminAccount, body: NewAccount
) -> dict[str, Any]:
    """Create an account; its first token is in the answer, and shown only this once."""
    request.state.action = "user-add"
    try:
        user, token = found.accounts.add(
            account.name,
            body.name,
            body.role,
            district=body.district,
            organisation=body.organisation,
            email=body.email,
            password=body.password,
        )
    except AccountError as error:
        raise _account_error(error) from None
    return {"user": user_json(user), "token": token}


@router.get("/users")
def list_users(found: Found, account: AdminAccount) -> list[dict[str, Any]]:
    del account
    return [user_json(user) for user in found.accounts.list()]


@router.post("/users/{name}/disable")
def disable_user(
    request: Request, found: Found, account: AdminAccount, name: str
) -> dict[str, Any]:
    """Disable an account: its tokens stop working at once."""
    request.state.action = "user-disable"
    if name == account.name:
        raise Refused("an admin cannot disable its own account (another admin can)")
    try:
        return user_json(found.accounts.disable(account.name, name))
    except AccountError as error:
        raise _account_error(error) from None


@router.post("/users/{name}/token")
def new_token(request: Request, found: Found, account: AdminAccount, name: str) -> dict[str, Any]:
    """A new token for an account (its older tokens stay valid until they expire)."""
    request.state.action = "user-token"
    try:
        token = found.accounts.new_token(account.name, name)
        return {"user": user_json(found.accounts.get(name)), "token": token}
    except AccountError as error:
        raise _account_error(error) from None


def _account_error(error: AccountError) -> Exception:
    if isinstance(error, AccountNotFound):
        return NotFound(str(error))
    if isinstance(error, AccountExists):
        return Refused(str(error))
    return Invalid(str(error))

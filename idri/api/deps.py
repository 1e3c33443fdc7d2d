"""What every route needs: the services, and the signed-in account behind the request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from idri.auth.accounts import Account, AccountStore
from idri.service.cases import CaseService
from idri.service.documents import DocumentService
from idri.service.errors import NotSignedIn
from idri.settings import Settings


@dataclass(frozen=True)
class WebOptions:
    """What the workbench (``idri/web/``) needs of the settings."""

    secure_cookies: bool = False
    session_lifetime: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class Services:
    cases: CaseService
    accounts: AccountStore
    registry: Engine
    web: WebOptions = field(default_factory=WebOptions)
    settings: Settings | None = None
    """The settings the services were built from (the bureau's report reads its goals)."""
    documents: DocumentService | None = None
    """The case documents (``idri/documents/``); None where no store is configured."""


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


bearer = HTTPBearer(auto_error=False, description="An API token (`idri user token`, `idri login`)")


def signed_in(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    found: Annotated[Services, Depends(services)],
) -> Account:
    """The account of the request's token; 401 without one that is valid now.

    A plain function: FastAPI runs it in its thread pool, as the account store's database
    calls are synchronous.
    """
    if credentials is None:
        raise NotSignedIn(
            "sign in first: send an API token as 'Authorization: Bearer <token>' "
            "(`idri login`, or IDRI_TOKEN for the CLI)"
        )
    account = found.accounts.authenticate(credentials.credentials)
    if account is None:
        raise NotSignedIn(
            "the token is unknown, expired or revoked, or its account is disabled: "
            "sign in again (`idri login`) or ask an administrator for a new token"
        )
    request.state.user = account.name
    return account


SignedIn = Annotated[Account, Depends(signed_in)]
Found = Annotated[Services, Depends(services)]

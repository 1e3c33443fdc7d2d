"""The accounts' audit trail (``account_events``): when, by whom, which account, what.

Written in the transaction of the change it records (``record``), read by ``trail``. The details
are plain facts (a role, a district, a token's row id, a count): never a password, a token or a
hash of either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from activities.db import read_session
from idri.auth.tables import AccountEventRow
from models.case import SYSTEM as SYSTEM_ACTOR

SYSTEM = SYSTEM_ACTOR.name
"""``idri``: the actor of what idri does itself (the first admin), as in a case's history."""


class AccountEvent(str, Enum):
    """What an audit line records."""

    CREATED = "created"
    FIRST_ADMIN = "first_admin"
    DISABLED = "disabled"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"
    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    PASSWORD_SET = "password_set"


@dataclass(frozen=True)
class AuditEntry:
    """One line of the accounts' audit trail."""

    at: datetime
    actor: str | None
    """None: nobody signed in (a failed sign-in)."""
    account: str | None
    """None: a failed sign-in under a name no account has."""
    event: AccountEvent
    details: dict[str, str] = field(default_factory=dict)


def record(
    session: Session,
    at: datetime,
    actor: str | None,
    account: str | None,
    event: AccountEvent,
    details: dict[str, str] | None = None,
) -> None:
    """Add one line, committed (or rolled back) with the change it records."""
    session.add(
        AccountEventRow(
            at=at, actor=actor, account=account, event=event.value, details=details or {}
        )
    )


def trail(engine: Engine, account: str | None = None, *, limit: int = 1000) -> list[AuditEntry]:
    """The newest ``limit`` lines (of ``account`` only, if given), oldest first."""
    query = select(AccountEventRow).order_by(col(AccountEventRow.id).desc()).limit(limit)
    if account is not None:
        query = query.where(col(AccountEventRow.account) == account)
    with read_session(engine) as session:
        rows = session.exec(query).all()
        return [
            AuditEntry(r.at, r.actor, r.account, AccountEvent(r.event), dict(r.details))
            for r in reversed(rows)
        ]

"""The accounts' tables (SQLModel), in the registry database beside the cases' tables.

The schema is created by Alembic (``activities/migrations/versions/0006_accounts.py``); these
classes must match it, which ``tests/registry/test_migrations.py`` checks. No column holds a
secret: passwords are argon2 hashes, tokens SHA-256 digests, and the audit trail names tokens
by their row id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Text
from sqlmodel import Field, SQLModel

from activities.tables import UTCDateTime


class AccountRow(SQLModel, table=True):
    """One person (or office) who signs in to the API, and its sign-in throttle."""

    __tablename__ = "accounts"

    name: str = Field(primary_key=True)
    """Unique, as typed at sign-in and shown in a case's history (NFC, trimmed)."""
    role: str
    """An ``AccountRole`` value."""
    district: str | None = None
    """A district code (``models.catalog.DISTRICTS``): district officers only."""
    organisation: str | None = None
    email: str | None = None
    password_hash: str | None = Field(default=None, sa_type=Text)
    """argon2id (PHC string); None: the account signs in with tokens only."""
    enabled: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_by: str
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_by: str | None = None
    failed_sign_ins: int = 0
    """Consecutive failed sign-ins since the last success."""
    sign_in_blocked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """No sign-in is tried before this (``idri.auth.throttle``)."""


class TokenRow(SQLModel, table=True):
    """An API token: only its SHA-256 digest is kept; the token itself is shown once."""

    __tablename__ = "account_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True)
    """Hex digest of the whole token (``idri.auth.tokens.digest``)."""
    account: str = Field(foreign_key="accounts.name", index=True)
    issued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    issued_by: str
    via: str
    """How it was issued: ``created``, ``issued`` (by an admin), ``sign_in`` or ``first_admin``."""
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AccountEventRow(SQLModel, table=True):
    """The accounts' audit trail: when, by whom, which account, what. Never a secret or a hash."""

    __tablename__ = "account_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    actor: str | None = None
    """Who did it: an account name, ``idri`` for the system (the first admin), None for nobody
    signed in (a failed sign-in)."""
    account: str | None = Field(default=None, index=True)
    """The account concerned; None for a failed sign-in under a name no account has (what was
    typed is not kept: it may be a password typed into the wrong field)."""
    event: str = Field(index=True)
    """An ``AccountEvent`` value."""
    details: dict[str, str] = Field(default_factory=dict, sa_type=JSON)

"""Accounts: who signs in to the API, their tokens (as SHA-256 digests) and their audit trail.

The tables of ``idri/auth/tables.py``. Nothing in them is a secret: passwords are argon2 hashes,
tokens their digests, and the audit trail names a token by its row id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("district", sa.String(), nullable=True),
        sa.Column("organisation", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.Column("disabled_by", sa.String(), nullable=True),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("sign_in_blocked_until", TIME, nullable=True),
    )
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_sha256", sa.String(), nullable=False, unique=True),
        sa.Column("account", sa.String(), sa.ForeignKey("accounts.name"), nullable=False),
        sa.Column("issued_at", TIME, nullable=False),
        sa.Column("issued_by", sa.String(), nullable=False),
        sa.Column("via", sa.String(), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
    )
    op.create_index("ix_account_tokens_account", "account_tokens", ["account"])
    op.create_table(
        "account_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("account", sa.String(), nullable=True),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_index("ix_account_events_account", "account_events", ["account"])
    op.create_index("ix_account_events_event", "account_events", ["event"])


def downgrade() -> None:
    op.drop_table("account_events")
    op.drop_table("account_tokens")
    op.drop_table("accounts")

"""Retry times: a mail the server refused for now (4xx) waits before it is offered again.

The worker's deliverer looks for pending mail every few seconds; ``retry_at`` keeps a refused mail
out of its claims until its backoff has passed. Existing rows get NULL: claimable at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE on both databases (no copy of
    # the outbox on SQLite).
    op.add_column("notifications", sa.Column("retry_at", TIME, nullable=True))


def downgrade() -> None:
    op.drop_column("notifications", "retry_at")

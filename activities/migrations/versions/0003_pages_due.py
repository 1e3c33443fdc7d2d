"""Pages due: the events whose public pages are still to be (re)published.

``record_event`` adds a row in the event's own transaction; the worker's publisher regenerates
the pages and deletes the rows it handled, so publishing is off the case's path and never lost.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pages_due",
        sa.Column("event_key", sa.String(), sa.ForeignKey("events.key"), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("queued_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pages_due")

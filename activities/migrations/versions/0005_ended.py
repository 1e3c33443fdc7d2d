"""Cases ended outside the lifecycle: a case workflow terminated, cancelled, timed out or failed.

The case's own events never say so (its run stopped before it could record anything), so the
evaluation sweep asks Temporal and marks the institute here; the public registry leaves a marked
institute out until the bureau decides. Existing rows get NULL: not ended that way.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Nullable columns without defaults: plain ALTER TABLEs on both databases.
    op.add_column("institutes", sa.Column("ended_at", TIME, nullable=True))
    op.add_column("institutes", sa.Column("ended_how", sa.String(), nullable=True))
    op.add_column("institutes", sa.Column("ended_by", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("institutes", "ended_by")
    op.drop_column("institutes", "ended_how")
    op.drop_column("institutes", "ended_at")

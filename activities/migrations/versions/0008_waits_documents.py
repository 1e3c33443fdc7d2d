"""The inbox's waits and the case documents (issue 20, items 10 and 11).

``waits``: what each case waits for now and whose work it is, rewritten with every event.
``documents``: the documents recorded on a case (their content is in the document store).

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "waits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("event_key", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("who", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("since", TIME, nullable=False),
        sa.Column("due_at", TIME, nullable=True),
        sa.Column("district", sa.String(), nullable=False),
        sa.Column("organisation_key", sa.String(), nullable=False),
    )
    op.create_index("ix_waits_case_id", "waits", ["case_id"])
    op.create_index("ix_waits_role_since", "waits", ["role", "since"])
    op.create_index("ix_waits_district_role_since", "waits", ["district", "role", "since"])
    op.create_index("ix_waits_who_since", "waits", ["who", "since"])
    op.create_index("ix_waits_org_role_since", "waits", ["organisation_key", "role", "since"])
    op.create_index("ix_waits_due_at", "waits", ["due_at"])
    op.create_table(
        "documents",
        sa.Column("event_key", sa.String(), sa.ForeignKey("events.key"), primary_key=True),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("media_type", sa.String(), nullable=True),
        sa.Column("recorded_by", sa.String(), nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
    )
    op.create_index("ix_documents_case_name", "documents", ["case_id", "name"])


def downgrade() -> None:
    op.drop_table("documents")
    op.drop_table("waits")

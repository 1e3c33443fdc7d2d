"""Initial registry schema: institutes, audit trail, evaluations, objections, outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types at this revision: a revision never imports the live tables.
TIME = sa.DateTime(timezone=True)
TEXT = sa.String()


def upgrade() -> None:
    op.create_table(
        "institutes",
        sa.Column("case_id", TEXT, primary_key=True),
        sa.Column("organisation", TEXT, nullable=False),
        sa.Column("district", TEXT, nullable=False),
        sa.Column("direction", TEXT, nullable=False),
        sa.Column("level", TEXT, nullable=False),
        sa.Column("stage", TEXT, nullable=False),
        sa.Column("round_year", sa.Integer(), nullable=True),
        sa.Column("designated_at", TIME, nullable=True),
        sa.Column("last_evaluated_at", TIME, nullable=True),
        sa.Column("next_evaluation_due", TIME, nullable=True),
        sa.Column("delisted_at", TIME, nullable=True),
        sa.Column("previous_case_id", TEXT, nullable=True),
        sa.Column("workflow_id", TEXT, nullable=False),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    for column in ("district", "direction", "stage"):
        op.create_index(f"ix_institutes_{column}", "institutes", [column])

    op.create_table(
        "events",
        sa.Column("key", TEXT, primary_key=True),
        sa.Column("case_id", TEXT, nullable=False),
        sa.Column("workflow_id", TEXT, nullable=False),
        sa.Column("run_id", TEXT, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("event", TEXT, nullable=False),
        sa.Column("from_stage", TEXT, nullable=False),
        sa.Column("to_stage", TEXT, nullable=False),
        sa.Column("actor", TEXT, nullable=False),
        sa.Column("role", TEXT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
    )
    op.create_index("ix_events_case_seq", "events", ["case_id", "seq"])
    op.create_index("ix_events_event", "events", ["event"])

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_key", TEXT, sa.ForeignKey("events.key"), nullable=False, unique=True),
        sa.Column("case_id", TEXT, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("result", TEXT, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("deadline", TIME, nullable=True),
        sa.Column("actor", TEXT, nullable=False),
    )
    op.create_index("ix_evaluations_case_id", "evaluations", ["case_id"])

    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_key", TEXT, sa.ForeignKey("events.key"), nullable=False, unique=True),
        sa.Column("case_id", TEXT, nullable=False),
        sa.Column("objection_no", sa.Integer(), nullable=True),
        sa.Column("objector", TEXT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lodged_at", TIME, nullable=False),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("resolved_event_key", TEXT, nullable=True),
    )
    op.create_index("ix_objections_case_id", "objections", ["case_id"])

    op.create_table(
        "notifications",
        sa.Column("key", TEXT, primary_key=True),
        sa.Column("event_key", TEXT, sa.ForeignKey("events.key"), nullable=False),
        sa.Column("case_id", TEXT, nullable=False),
        sa.Column("role", TEXT, nullable=False),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("address", TEXT, nullable=True),
        sa.Column("subject", TEXT, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("claimed_by", TEXT, nullable=True),
        sa.Column("claimed_until", TIME, nullable=True),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("message_id", TEXT, nullable=False),
        sa.Column("transport", TEXT, nullable=True),
    )
    for column in ("event_key", "case_id", "status"):
        op.create_index(f"ix_notifications_{column}", "notifications", [column])


def downgrade() -> None:
    for table in ("notifications", "objections", "evaluations", "events", "institutes"):
        op.drop_table(table)

"""Tier stints with their own deadlines; request timers and versions; the outbox's sending holder.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from storage.backfill import backfill_all

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as t:
        t.add_column(sa.Column("stint", sa.Integer(), nullable=False, server_default="1"))
        t.add_column(sa.Column("next_due_at", sa.DateTime(), nullable=True))
        t.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_requests_county_next_due", "requests", ["county", "next_due_at"])
    with op.batch_alter_table("events") as t:
        t.add_column(sa.Column("stint", sa.Integer(), nullable=True))
    with op.batch_alter_table("outbox") as t:
        t.add_column(sa.Column("holder", sa.String(), nullable=True))
    op.create_table(
        "stints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("county", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("start", sa.String(), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(), nullable=True),
        sa.Column("resolve_due_at", sa.DateTime(), nullable=True),
        sa.Column("handler", sa.String(), nullable=True),
        sa.Column("handler_key", sa.String(), nullable=True),
        sa.Column("held_since", sa.DateTime(), nullable=True),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.Column("responder", sa.String(), nullable=True),
        sa.Column("responder_key", sa.String(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end", sa.String(), nullable=True),
        sa.Column("ended_by", sa.String(), nullable=True),
        sa.Column("ended_by_key", sa.String(), nullable=True),
        sa.Column("working_seconds", sa.Float(), nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("backfilled", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("county", "number", "seq", name="uq_stints_county_number_seq"),
    )
    op.create_index("ix_stints_county_resolve_due", "stints", ["county", "resolve_due_at"])
    backfill_all(op.get_bind(), context.config.attributes.get("policies", {}))


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

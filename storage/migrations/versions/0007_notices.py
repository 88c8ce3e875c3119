"""Notices down the tiers (通知#N): the notices, the units each went to, and the county's notice counter.

Revision ID: 0007
Revises: 0006

Nothing to fill in: a database written before has no notice; its counter starts at 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("counters") as t:
        t.add_column(sa.Column("last_notice", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("county", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("sender_key", sa.String(), nullable=False),
        sa.Column("sender_id", sa.String(), nullable=True),
        sa.Column("sender_room", sa.String(), nullable=False),
        sa.Column("sender_unit", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("remind_at", sa.DateTime(), nullable=False),
        sa.Column("report_at", sa.DateTime(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        sa.Column("source_msg_id", sa.String(), nullable=True),
        sa.UniqueConstraint("county", "number", name="uq_notices_county_number"),
    )
    op.create_index("ix_notices_county_created", "notices", ["county", "created_at"])
    op.create_table(
        "notice_units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("county", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("township", sa.String(), nullable=False),
        sa.Column("village", sa.String(), nullable=True),
        sa.Column("room", sa.String(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(), nullable=True),
        sa.Column("acknowledged_by_key", sa.String(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("county", "number", "unit", name="uq_notice_units_county_number_unit"),
    )
    op.create_index("ix_notice_units_county_unit", "notice_units", ["county", "unit", "acknowledged_at"])


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

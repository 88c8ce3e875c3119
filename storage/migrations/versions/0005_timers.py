"""Timers of the jobs that belong to no request (the digests): their next due time in an indexed column.

Revision ID: 0005
Revises: 0004

Nothing to fill in: the first tick after the upgrade sets each digest's timer from the config.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("county", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_timers_county_due", "timers", ["county", "due_at"])


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

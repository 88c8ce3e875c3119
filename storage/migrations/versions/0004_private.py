"""Confidential and privately registered requests; private messages in the outbox.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as t:
        t.add_column(sa.Column("confidential", sa.Boolean(), nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("outbox") as t:
        t.alter_column("room", existing_type=sa.String(), nullable=True)
        t.add_column(sa.Column("to_id", sa.String(), nullable=True))
        t.add_column(sa.Column("to_name", sa.String(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

"""Events indexed by county, kind and time: the ratings of a period are found without reading all its events.

Revision ID: 0009
Revises: 0008

A review counts the ratings given in its period (满意率) and a township digest the month's; with only
the county-and-time index, both read every event of the period to find the few that are ratings.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_county_kind_at", "events", ["county", "kind", "at"])


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

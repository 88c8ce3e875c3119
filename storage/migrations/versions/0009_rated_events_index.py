"""The ratings among the events indexed by county and time: a period's ratings are found without reading all its
events.

Revision ID: 0009
Revises: 0008

A review counts the ratings given in its period (满意率) and a township digest the month's; with only
the county-and-time index, both read every event of the period to find the few that are ratings. A
partial index (only the rating events have entries): the other events, most of them, cost no write
to it, so handling a message writes no more than before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rated = sa.text("kind IN ('satisfied', 'unsatisfied')")
    op.create_index("ix_events_county_rated_at", "events", ["county", "at"], sqlite_where=rated, postgresql_where=rated)


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

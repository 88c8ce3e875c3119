"""Fewer pages written per message: one index for the requests' status and timer, the outbox key's index holds
only keyed messages, the processed message ids are one b-tree keyed by county and id, and two indexes the queries
do without are dropped.

Revision ID: 0010
Revises: 0009

Each chat message writes a row to the outbox (its reply) and to messages_seen (its id, so that a
message delivered twice is handled once); every b-tree a row goes into is one more page written
and flushed at each commit (benchmarks/intake.py).

- requests: `ix_requests_county_status` and `ix_requests_county_next_due` become one index on
  (county, status, next_due_at). Every transition changes both a request's status and its next due
  time: one index entry moves instead of two. Lists by status use its first two columns; the
  timers are found with a seek per status (storage.repository `_DUE`, `_NEXT_TIMER`).
- outbox: the unique index on (county, key) becomes partial (key IS NOT NULL). Only the bot's own
  messages carry a key (digests, reminders, notices: one per slot); replies have none, and no
  longer write to it. Uniqueness of the keys is unchanged.
- messages_seen: the primary key is (county, msg_id), and on SQLite the table has no rowid: one
  b-tree instead of a table and its unique index. The surrogate `id` was never read.
- requests: `ix_requests_resolve_due_at` goes; deadlines are found through the stints
  (`ix_stints_county_resolve_due`) since revision 0002. `ix_requests_requester_key` goes too: the
  one query by requester (a rating without a number) asks for a status too, and the few requests
  awaiting a rating are found by (county, status).

On SQLite the outbox and messages_seen tables are rebuilt (their rows copied); on PostgreSQL the
constraints change in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KEYED = sa.text("key IS NOT NULL")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_requests_resolve_due_at", table_name="requests")
    op.drop_index("ix_requests_requester_key", table_name="requests")
    op.create_index("ix_requests_county_status_due", "requests", ["county", "status", "next_due_at"])
    op.drop_index("ix_requests_county_status", table_name="requests")
    op.drop_index("ix_requests_county_next_due", table_name="requests")

    if sqlite:  # a constraint written into CREATE TABLE goes only with a rebuilt table
        with op.batch_alter_table("outbox", recreate="always") as batch:
            batch.drop_constraint("uq_outbox_key", type_="unique")
    else:
        op.drop_constraint("uq_outbox_key", "outbox", type_="unique")
    op.create_index("uq_outbox_key", "outbox", ["county", "key"], unique=True, sqlite_where=KEYED,
                    postgresql_where=KEYED)

    if sqlite:
        op.create_table(
            "messages_seen_new",
            sa.Column("county", sa.String(), nullable=False),
            sa.Column("msg_id", sa.String(), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("county", "msg_id"),
            sqlite_with_rowid=False,
        )
        op.execute("INSERT INTO messages_seen_new (county, msg_id, at) SELECT county, msg_id, at FROM messages_seen")
        op.drop_table("messages_seen")
        op.rename_table("messages_seen_new", "messages_seen")
    else:
        op.drop_constraint("uq_messages_seen", "messages_seen", type_="unique")
        op.drop_column("messages_seen", "id")  # its primary key goes with it
        op.create_primary_key("messages_seen_pkey", "messages_seen", ["county", "msg_id"])


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

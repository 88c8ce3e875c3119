"""Each request keeps its text with personal data masked, made once at registration: an export or a report reads
it. Requests and events indexed by county and time together.

Revision ID: 0006
Revises: 0005

The texts stored before are masked here, by the masking rules of the code that runs the upgrade
(their number is stored beside each: `routing.privacy.MASK_RULES`), in batches.

The time indexes: with an index on the county alone and one on the time alone, SQLite takes the
county's and reads every request or event of the county to find a day's: digests and reviews
would grow slower with every year of history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from routing.privacy import MASK_RULES, mask

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.drop_index("ix_requests_created_at", table_name="requests")
    op.drop_index("ix_requests_first_ack_due_at", table_name="requests")
    op.drop_index("ix_events_at", table_name="events")
    op.create_index("ix_requests_county_created", "requests", ["county", "created_at"])
    op.create_index("ix_requests_county_first_ack_due", "requests", ["county", "first_ack_due_at"])
    op.create_index("ix_events_county_at", "events", ["county", "at"])
    with op.batch_alter_table("requests") as t:
        t.add_column(sa.Column("masked_text", sa.Text(), nullable=True))
        t.add_column(sa.Column("masked_by", sa.Integer(), nullable=False, server_default="0"))
    conn = op.get_bind()
    requests = sa.table("requests", sa.column("id", sa.Integer), sa.column("text", sa.Text),
                        sa.column("masked_text", sa.Text), sa.column("masked_by", sa.Integer))
    last = 0
    while True:
        rows = conn.execute(sa.select(requests.c.id, requests.c.text).where(requests.c.id > last)
                            .order_by(requests.c.id).limit(BATCH)).fetchall()
        if not rows:
            break
        conn.execute(requests.update().where(requests.c.id == sa.bindparam("row_id"))
                     .values(masked_text=sa.bindparam("m"), masked_by=MASK_RULES),
                     [{"row_id": i, "m": mask(text)} for i, text in rows])
        last = rows[-1][0]


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

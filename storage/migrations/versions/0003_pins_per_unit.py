"""Handler names pinned per unit: the same display name in two townships is two people.

Revision ID: 0003
Revises: 0002

Pins made before (county-wide) keep applying to every unit of that name (unit "*"), as they
did, until the operator replaces them with `minqing people pin` or `unpin`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("name_pins") as t:
        t.add_column(sa.Column("unit", sa.String(), nullable=False, server_default="*"))
        t.drop_constraint("uq_name_pins", type_="unique")
        t.create_unique_constraint("uq_name_pins_unit", ["county", "unit", "name"])
    with op.batch_alter_table("name_clashes") as t:
        t.add_column(sa.Column("unit", sa.String(), nullable=False, server_default="*"))
        t.drop_constraint("uq_name_clashes", type_="unique")
        t.create_unique_constraint("uq_name_clashes_unit", ["county", "unit", "name", "contact_id"])


def downgrade() -> None:
    raise NotImplementedError("minqing-relay does not downgrade a database: restore the backup taken before")

"""The schema of version 0.1.0, as its code created it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _county() -> sa.Column:
    return sa.Column("county", sa.String(), nullable=False)


def _time(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=nullable)


def _str(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table("audit", _id(), _county(), _time("at", False), _str("who"), _str("action"),
                    sa.Column("detail", sa.JSON(), nullable=False))
    op.create_table("counters", sa.Column("county", sa.String(), primary_key=True),
                    sa.Column("last_number", sa.Integer(), nullable=False))
    op.create_table(
        "events", _id(), _county(), sa.Column("number", sa.Integer(), nullable=False), _str("kind"),
        _time("at", False), _str("tier"), _str("from_tier", True), _str("actor", True), _str("actor_key", True),
        _str("from_status", True), _str("to_status", True), sa.Column("note", sa.Text(), nullable=True),
        _str("rule", True), sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_county_number", "events", ["county", "number"])
    op.create_table(
        "failed_messages", _id(), _county(), _str("msg_id"), _time("ts", False), _str("room"), _str("sender"),
        _str("sender_id", True), sa.Column("text", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False), _time("at", False),
    )
    op.create_table("messages_seen", _id(), _county(), _str("msg_id"), _time("at", False),
                    sa.UniqueConstraint("county", "msg_id", name="uq_messages_seen"))
    op.create_table("meta", sa.Column("county", sa.String(), primary_key=True),
                    sa.Column("name", sa.String(), primary_key=True), sa.Column("value", sa.Text(), nullable=False))
    op.create_table("name_clashes", _id(), _county(), _str("name"), _str("contact_id"), _time("at", False),
                    sa.UniqueConstraint("county", "name", "contact_id", name="uq_name_clashes"))
    op.create_table("name_pins", _id(), _county(), _str("name"), _str("contact_id"), _time("at", False),
                    sa.UniqueConstraint("county", "name", name="uq_name_pins"))
    op.create_table(
        "outbox", _id(), _county(), _str("room"), sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False), _str("key", True), _str("status"),
        sa.Column("attempts", sa.Integer(), nullable=False), _time("created_at", False), _time("not_before"),
        _time("sent_at"), sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("county", "key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_county_status", "outbox", ["county", "status"])
    op.create_table(
        "people", _id(), _county(), _str("contact_key"), _str("contact_id", True), _str("name"),
        sa.Column("rooms", sa.JSON(), nullable=False), sa.Column("messages", sa.Integer(), nullable=False),
        _time("first_seen", False), _time("last_seen", False),
        sa.UniqueConstraint("county", "contact_key", "name", name="uq_people"),
    )
    op.create_table(
        "requests", _id(), _county(), sa.Column("number", sa.Integer(), nullable=False), _str("requester"),
        _str("requester_key"), _str("requester_id", True), _str("village"), _str("township"), _str("tier"),
        _str("category"), sa.Column("urgent", sa.Boolean(), nullable=False), _str("urgency_reason", True),
        sa.Column("text", sa.Text(), nullable=False), _str("status"), _str("handler", True),
        _str("handler_key", True), _str("handler_id", True), _time("created_at", False), _time("tier_since", False),
        _time("ack_due_at"), _time("resolve_due_at"), _time("first_ack_due_at"), _time("acknowledged_at"),
        _str("responder", True), _time("escalated_at"), _time("resolved_at"), _time("closed_at"),
        _str("rating", True), sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True), _time("proposed_at"), _time("last_reminded_at"),
        _time("alerted_at"), _str("source_msg_id", True),
        sa.UniqueConstraint("county", "number", name="uq_requests_county_number"),
    )
    op.create_index("ix_requests_requester_key", "requests", ["requester_key"])
    op.create_index("ix_requests_created_at", "requests", ["created_at"])
    op.create_index("ix_requests_county_status", "requests", ["county", "status"])
    op.create_index("ix_requests_resolve_due_at", "requests", ["resolve_due_at"])
    op.create_index("ix_requests_first_ack_due_at", "requests", ["first_ack_due_at"])
    op.create_table(
        "rooms", _id(), _county(), _str("topic"), _str("room_id", True),
        sa.Column("configured", sa.Boolean(), nullable=False), sa.Column("messages", sa.Integer(), nullable=False),
        _time("first_seen", False), _time("last_seen", False),
        sa.UniqueConstraint("county", "topic", name="uq_rooms"),
    )


def downgrade() -> None:
    for table in ("rooms", "requests", "people", "outbox", "name_pins", "name_clashes", "meta", "messages_seen",
                  "failed_messages", "events", "counters", "audit"):
        op.drop_table(table)

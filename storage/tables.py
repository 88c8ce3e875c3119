"""SQLModel tables. Every row carries its county, so many deployments can share one database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel



class UTCDateTime(TypeDecorator):
    """Aware datetimes in, stored as naive UTC (the same on SQLite and PostgreSQL), aware UTC out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times must carry a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _text() -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=True))


class RequestRow(SQLModel, table=True):
    """A request's current state (its history is in EventRow)."""

    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("county", "number", name="uq_requests_county_number"),
        # the lists by status and the timers in one index: a transition changes both a request's status and its
        # next due time, and writes one index instead of two (revision 0010; queries: SqlRepository.due)
        Index("ix_requests_county_status_due", "county", "status", "next_due_at"),
        # by county and time together: with the county alone first, SQLite would read every request of it
        Index("ix_requests_county_created", "county", "created_at"),
        Index("ix_requests_county_first_ack_due", "county", "first_ack_due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county: str
    number: int
    requester: str
    requester_key: str  # found among a status's requests (ix_requests_county_status_due): no index of its own
    requester_id: str | None = None
    village: str
    township: str
    tier: str
    category: str
    urgent: bool = False
    urgency_reason: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: str
    handler: str | None = None
    handler_key: str | None = None
    handler_id: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    tier_since: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ack_due_at: datetime | None = _time()
    resolve_due_at: datetime | None = _time()
    first_ack_due_at: datetime | None = _time()
    acknowledged_at: datetime | None = _time()
    responder: str | None = None
    escalated_at: datetime | None = _time()
    resolved_at: datetime | None = _time()
    closed_at: datetime | None = _time()
    rating: str | None = None
    reopened: int = 0
    result: str | None = _text()
    proposed_at: datetime | None = _time()
    last_reminded_at: datetime | None = _time()
    alerted_at: datetime | None = _time()
    source_msg_id: str | None = None
    confidential: bool = False
    private: bool = False
    stint: int = 1  # the current stint's seq
    next_due_at: datetime | None = _time()  # the request's timer: when its next time-driven job falls due
    masked_text: str | None = _text()  # text with personal data masked (by the rules numbered masked_by)
    masked_by: int = 0  # routing.privacy.MASK_RULES when masked_text was made; 0: not made
    version: int = 0  # bumped by every change; a write of a stale copy matches no row


class StintRow(SQLModel, table=True):
    """One tier stint of a request: its deadlines, set once when it starts, and how it ended."""

    __tablename__ = "stints"
    __table_args__ = (
        UniqueConstraint("county", "number", "seq", name="uq_stints_county_number_seq"),
        Index("ix_stints_county_resolve_due", "county", "resolve_due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county: str
    number: int
    seq: int
    tier: str
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    start: str  # registered, escalated, sent_back or unsatisfied
    ack_due_at: datetime | None = _time()
    resolve_due_at: datetime | None = _time()
    handler: str | None = None
    handler_key: str | None = None
    held_since: datetime | None = _time()
    responded_at: datetime | None = _time()
    responder: str | None = None
    responder_key: str | None = None
    ended_at: datetime | None = _time()
    end: str | None = None  # escalated, sent_back, resolved or rejected
    ended_by: str | None = None
    ended_by_key: str | None = None
    working_seconds: float | None = None
    provisional: bool = False
    backfilled: bool = False


RATED = text("kind IN ('satisfied', 'unsatisfied')")  # the events that are ratings (the queries say it the same way)


class EventRow(SQLModel, table=True):
    """One entry of a request's append-only log."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_county_number", "county", "number"), Index("ix_events_county_at", "county", "at"),
                      # only the ratings: each other event costs no write to it (a period's 满意率 reads them)
                      Index("ix_events_county_rated_at", "county", "at", sqlite_where=RATED, postgresql_where=RATED))

    id: int | None = Field(default=None, primary_key=True)
    county: str
    number: int
    kind: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    tier: str
    from_tier: str | None = None
    actor: str | None = None
    actor_key: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = _text()
    rule: str | None = None
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    stint: int | None = None


class MessageSeen(SQLModel, table=True):
    """Message ids already processed: a message delivered twice is handled once."""

    __tablename__ = "messages_seen"
    # keyed by what identifies it, and on SQLite without a rowid: one b-tree, so a message writes one page here,
    # not a row page and an index page (revision 0010)
    __table_args__ = ({"sqlite_with_rowid": False},)

    county: str = Field(primary_key=True)
    msg_id: str = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class PersonSeen(SQLModel, table=True):
    """Someone who wrote in a configured room: name, contact id and where."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("county", "contact_key", "name", name="uq_people"),)

    id: int | None = Field(default=None, primary_key=True)
    county: str
    contact_key: str
    contact_id: str | None = None
    name: str
    rooms: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    messages: int = 0
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RoomSeen(SQLModel, table=True):
    """A room (group topic) the bot received messages from, configured or not."""

    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("county", "topic", name="uq_rooms"),)

    id: int | None = Field(default=None, primary_key=True)
    county: str
    topic: str
    room_id: str | None = None
    configured: bool = False
    messages: int = 0
    first_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class FailedMessage(SQLModel, table=True):
    """A message the bot could not handle because of an error of its own: kept, never lost."""

    __tablename__ = "failed_messages"

    id: int | None = Field(default=None, primary_key=True)
    county: str
    msg_id: str
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    room: str
    sender: str
    sender_id: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    error: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class NamePin(SQLModel, table=True):
    """A handler's display name in a unit pinned to a contact id (unit "*": a pin of version 0.1.0, any unit)."""

    __tablename__ = "name_pins"
    __table_args__ = (UniqueConstraint("county", "unit", "name", name="uq_name_pins_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    county: str
    unit: str
    name: str
    contact_id: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class NameClash(SQLModel, table=True):
    """Another contact id seen under a handler's name in a unit (reported once)."""

    __tablename__ = "name_clashes"
    __table_args__ = (UniqueConstraint("county", "unit", "name", "contact_id", name="uq_name_clashes_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    county: str
    unit: str
    name: str
    contact_id: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Counter(SQLModel, table=True):
    """The last request number and the last notice number given out in a county."""

    __tablename__ = "counters"

    county: str = Field(primary_key=True)
    last_number: int = 0
    last_notice: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class NoticeRow(SQLModel, table=True):
    """A notice sent down the tiers (通知#N); its units are NoticeUnitRow, its timer a row of `timers`."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("county", "number", name="uq_notices_county_number"),
        Index("ix_notices_county_created", "county", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county: str
    number: int
    sender: str
    sender_key: str
    sender_id: str | None = None
    sender_room: str
    sender_unit: str
    scope: str = ""
    text: str = Field(sa_column=Column(Text, nullable=False))
    urgent: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    remind_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    report_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reported_at: datetime | None = _time()
    source_msg_id: str | None = None


class NoticeUnitRow(SQLModel, table=True):
    """One unit a notice went to: its room and when (and by whom) it acknowledged, when it was reminded."""

    __tablename__ = "notice_units"
    __table_args__ = (
        UniqueConstraint("county", "number", "unit", name="uq_notice_units_county_number_unit"),
        Index("ix_notice_units_county_unit", "county", "unit", "acknowledged_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county: str
    number: int
    seq: int  # the order the units were listed in
    unit: str
    tier: str
    township: str
    village: str | None = None
    room: str
    acknowledged_at: datetime | None = _time()
    acknowledged_by: str | None = None
    acknowledged_by_key: str | None = None
    reminded_at: datetime | None = _time()


KEYED = text("key IS NOT NULL")  # the outbox messages with a key (the upsert says it the same way)


class OutboxRow(SQLModel, table=True):
    """A message the bot will say or has said; recorded before it is sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        # only keyed messages (digests, reminders, notices) need their key to be unique: the replies, most of the
        # outbox, have no key and cost no write to this index (revision 0010)
        Index("uq_outbox_key", "county", "key", unique=True, sqlite_where=KEYED, postgresql_where=KEYED),
        Index("ix_outbox_county_status", "county", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county: str
    room: str | None = None  # None: a private message to to_id
    to_id: str | None = None
    to_name: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    mentions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    key: str | None = None
    status: str = "queued"  # queued -> sending -> sent | failed | abandoned
    holder: str | None = None  # the sending process that took it (sending): only it may finish it
    attempts: int = 0
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    not_before: datetime | None = _time()
    sent_at: datetime | None = _time()
    error: str | None = _text()


class Timer(SQLModel, table=True):
    """When a time-driven job that belongs to no request (a digest) next falls due: an indexed time."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_county_due", "county", "due_at"),)

    county: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    due_at: datetime | None = _time()


class Meta(SQLModel, table=True):
    """Settings the deployment keeps: schema version, the clock's high-water mark."""

    __tablename__ = "meta"

    county: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class AuditRow(SQLModel, table=True):
    """Who looked at or exported what (e.g. unmasked names)."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    county: str
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    who: str
    action: str
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CalendarDay(SQLModel, table=True):
    """A day of an imported holiday year (`minqing calendar import`): a day off ("off") or a make-up working day
    ("work"). An imported year overrides chinese_calendar's data for that year."""

    __tablename__ = "calendar_days"
    __table_args__ = (
        UniqueConstraint("county", "day", name="uq_calendar_days"),
        Index("ix_calendar_days_county_year", "county", "year"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county: str
    year: int
    day: date
    kind: str  # "off" or "work"
    source: str  # the imported file's name
    imported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

"""Core domain types: tiers, statuses, people, requests and their events."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Tier(enum.IntEnum):
    """The three levels a request can sit at; higher value = higher tier."""

    VILLAGE = 1
    TOWNSHIP = 2
    COUNTY = 3

    @property
    def key(self) -> str:
        """The lower-case name used in JSON and the database."""
        return self.name.lower()

    @classmethod
    def from_key(cls, key: str) -> Tier:
        """Parse `village`, `township` or `county`."""
        return cls[key.upper()]

    def next(self) -> Tier | None:
        """The tier above, or None at the top."""
        return Tier(self + 1) if self < Tier.COUNTY else None

    def previous(self) -> Tier | None:
        """The tier below, or None at the bottom."""
        return Tier(self - 1) if self > Tier.VILLAGE else None


class Status(str, enum.Enum):
    """Where a request is in its lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"

    @property
    def active(self) -> bool:
        """True while someone still has to act on the request."""
        return self in (Status.OPEN, Status.ACKNOWLEDGED)

    @property
    def final(self) -> bool:
        """True once nothing can change the request any more."""
        return self in (Status.CLOSED, Status.REJECTED)


class Role(str, enum.Enum):
    """Roles come from the config; everyone else is a villager."""

    VILLAGE_CADRE = "village_cadre"
    TOWNSHIP_STAFF = "township_staff"
    TOWNSHIP_LEADER = "township_leader"
    COUNTY_STAFF = "county_staff"

    @property
    def tier(self) -> Tier:
        """The tier at which this role handles requests."""
        return {
            Role.VILLAGE_CADRE: Tier.VILLAGE,
            Role.TOWNSHIP_STAFF: Tier.TOWNSHIP,
            Role.TOWNSHIP_LEADER: Tier.TOWNSHIP,
            Role.COUNTY_STAFF: Tier.COUNTY,
        }[self]


class Rating(str, enum.Enum):
    """A requester's verdict on a resolution."""

    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"


class EventKind(str, enum.Enum):
    """Every kind of thing that can happen to a request."""

    REGISTERED = "registered"
    CLAIMED = "claimed"
    ESCALATED = "escalated"
    SENT_BACK = "sent_back"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    SATISFIED = "satisfied"
    UNSATISFIED = "unsatisfied"
    EXPIRED = "expired"  # rating window passed: closed unrated
    URGED = "urged"  # 催办 by a person
    REMINDED = "reminded"  # overdue reminder by the bot
    PROPOSED = "proposed"  # the bot asked the village cadres to confirm escalation
    ALERTED = "alerted"  # an urgent request shown to the township at once
    RESCHEDULED = "rescheduled"  # deadlines of a guessed calendar year worked out again once the year was imported
    RECATEGORIZED = "recategorized"  # a handler corrected the category (分类 #N 类别): a relabel only


@dataclass(frozen=True, slots=True)
class PersonRef:
    """Someone the bot can mention: a display name and, when known, a contact id."""

    name: str
    contact_id: str | None = None

    @property
    def key(self) -> str:
        """A stable identity: the contact id when known, else the name."""
        return self.contact_id or f"name:{self.name}"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One chat message as the dispatcher sees it, whatever transport brought it."""

    ts: datetime
    room: str | None  # None: a private message to the bot
    sender: str
    text: str
    msg_id: str
    sender_id: str | None = None
    mentions_bot: bool = False
    is_text: bool = True
    room_id: str | None = None  # the chat platform's id of the room, when the transport knows it
    member_of: tuple[str, ...] = ()  # a private message: the groups the transport knows the sender is in

    @property
    def private(self) -> bool:
        """True for a message to the bot alone, not in a group."""
        return self.room is None

    @property
    def sender_ref(self) -> PersonRef:
        """The sender as a mentionable person."""
        return PersonRef(self.sender, self.sender_id)


@dataclass(slots=True)
class Stint:
    """One stay of a request at one tier: from reaching it (registration, escalation, send-back or a
    reopening) to leaving it or being resolved, with its own deadlines, set once when it starts."""

    number: int
    seq: int  # 1, 2, ... within the request
    tier: Tier
    started_at: datetime
    start: EventKind  # REGISTERED, ESCALATED, SENT_BACK or UNSATISFIED
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    handler: str | None = None  # who held it: claimed it, or (a reopening) resolved it before
    handler_key: str | None = None
    held_since: datetime | None = None
    responded_at: datetime | None = None  # the first response by a person in this stint
    responder: str | None = None
    responder_key: str | None = None
    ended_at: datetime | None = None
    end: EventKind | None = None  # ESCALATED, SENT_BACK, RESOLVED or REJECTED
    ended_by: str | None = None  # who ended it (None: the bot)
    ended_by_key: str | None = None
    working_seconds: float | None = None  # the working time it took, once it ended
    provisional: bool = False  # its deadlines fall in a calendar year that is a guess
    backfilled: bool = False  # made from the event log when the database was upgraded

    def holder_at(self, when: datetime) -> tuple[str, str] | None:
        """Who held the stint at `when` (name, key), if anyone had by then."""
        if self.handler is None or self.held_since is None or self.held_since > when:
            return None
        return self.handler, self.handler_key or self.handler

    def ended_by_then(self, when: datetime) -> bool:
        """True when the stint had ended at or before `when`."""
        return self.ended_at is not None and self.ended_at <= when


@dataclass(slots=True)
class Request:
    """A villager's request (诉求) and its current state."""

    number: int
    requester: str
    requester_key: str
    requester_id: str | None
    village: str
    township: str
    tier: Tier
    category: str
    urgent: bool
    text: str
    created_at: datetime
    tier_since: datetime
    ack_due_at: datetime | None
    resolve_due_at: datetime | None
    first_ack_due_at: datetime | None
    status: Status = Status.OPEN
    handler: str | None = None
    handler_key: str | None = None
    handler_id: str | None = None
    urgency_reason: str | None = None
    acknowledged_at: datetime | None = None
    responder: str | None = None  # who responded first (三率 per handler); None when the bot did
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    rating: Rating | None = None
    reopened: int = 0
    result: str | None = None
    proposed_at: datetime | None = None
    last_reminded_at: datetime | None = None
    alerted_at: datetime | None = None
    source_msg_id: str | None = None
    confidential: bool = False  # a category of [privacy] confidential: only the township and the requester see it
    private: bool = False  # registered by a private message: every answer to the requester goes privately
    stint: int = 1  # the number of the current tier stint (1 from registration)
    next_due_at: datetime | None = None  # when the next time-driven job about it falls due (an index)
    masked_text: str | None = None  # the text with personal data masked, by the rules numbered masked_by
    masked_by: int = 0  # routing.privacy.MASK_RULES when masked_text was made (0: not made)
    version: int = 0  # bumped by every stored change: a write of a stale copy is refused
    current: Stint | None = field(default=None, compare=False, repr=False)  # the current stint, when loaded

    @property
    def requester_ref(self) -> PersonRef:
        """The requester as a mentionable person."""
        return PersonRef(self.requester, self.requester_id)

    @property
    def handler_ref(self) -> PersonRef | None:
        """The current handler as a mentionable person, if any."""
        if self.handler is None:
            return None
        return PersonRef(self.handler, self.handler_id)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a request's append-only log."""

    number: int
    kind: EventKind
    at: datetime
    tier: Tier
    actor: str | None
    actor_key: str | None = None
    from_status: Status | None = None
    to_status: Status | None = None
    from_tier: Tier | None = None
    note: str | None = None
    rule: str | None = None
    data: dict = field(default_factory=dict)
    stint: int | None = None  # the stint it happened in (an escalation: the one it ended)

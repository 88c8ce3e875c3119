"""The ports the domain service talks through: the repository and outbound messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from routing.lifecycle import Step
from routing.model import Event, PersonRef, Request, Status, Stint, Tier
from routing.notices import Notice
from routing.rates import Record


@dataclass(frozen=True, slots=True)
class Outbound:
    """Something the bot will say: a template and its context, for one room or privately for one person.

    `key` is the stable id of a time-driven message (a reminder, a digest): a message with a
    key that was already recorded is never recorded or sent again.
    """

    room: str | None  # None: a private message to `to`
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    mentions: tuple[PersonRef, ...] = ()
    key: str | None = None
    to: PersonRef | None = None  # a private message's addressee
    # when `to` cannot be messaged privately: what the village room gets instead (room, template)
    fallback: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """Which requests a listing wants; None means any."""

    statuses: frozenset[Status] | None = None
    tier: Tier | None = None
    township: str | None = None
    village: str | None = None
    requester_key: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


class Repository(Protocol):
    """What the service needs of storage, inside one transaction."""

    def first_delivery(self, msg_id: str, at: datetime) -> bool:
        """Record a processed message id; False when it had been processed before."""

    def note_person(self, who: PersonRef, room: str, at: datetime) -> None:
        """Remember that this person spoke in this room."""

    def pinned_id(self, unit: str, name: str) -> str | None:
        """The contact id a handler's display name is pinned to in a unit, if any."""

    def pin(self, unit: str, name: str, contact_id: str, at: datetime) -> None:
        """Pin a handler's display name in a unit to a contact id."""

    def first_clash(self, unit: str, name: str, contact_id: str, at: datetime) -> bool:
        """Record that another contact used a handler's name; True the first time only."""

    def next_number(self) -> int:
        """The next request number of the county (never reused)."""

    def add(self, request: Request, step: Step) -> None:
        """Store a new request with its first event and its first stint."""

    def get(self, number: int, lock: bool = False) -> Request | None:
        """The request with that number and its current stint, or None; `lock` keeps others from changing it
        until this transaction ends."""

    def update(self, request: Request, step: Step) -> None:
        """Store a request's new state, append the event that changed it and write its stints (a copy changed
        by another transaction since it was read is refused)."""

    def set_timer(self, request: Request) -> None:
        """Store only a request's timer (`next_due_at`)."""

    def due(self, now: datetime) -> list[int]:
        """Numbers of the requests whose timer is at or before `now`, soonest first."""

    def next_timer(self, after: datetime) -> datetime | None:
        """The earliest timer strictly after `after`, of a request or a named job (a digest)."""

    def timer(self, name: str) -> datetime | None:
        """When a named job (a digest) next falls due, if set."""

    def set_timer_at(self, name: str, due: datetime | None) -> None:
        """Set when a named job next falls due."""

    def stints(self, number: int) -> list[Stint]:
        """A request's stints, first to last."""

    def get_many(self, numbers: list[int]) -> dict[int, Request]:
        """Requests by number."""

    def events(self, number: int) -> list[Event]:
        """A request's event log, oldest first."""

    def find(self, flt: RequestFilter) -> list[Request]:
        """Requests matching the filter, by number."""

    def events_between(self, start: datetime, end: datetime) -> list[Event]:
        """Every event in [start, end), oldest first."""

    def records(self, start: datetime, end: datetime) -> list[Record]:
        """What the 三率 over [start, end) need: the records (request, stints, ratings) of the requests with a
        deadline or a rating in it."""

    def record_versions(self, start: datetime, end: datetime) -> dict[int, int]:
        """The requests with a deadline or a rating in [start, end) (those `records` gives): number -> version
        (bumped by every change of the request, its stints or its ratings)."""

    def records_of(self, numbers: Sequence[int]) -> list[Record]:
        """The records of these requests, by number."""

    def get_meta(self, name: str) -> str | None:
        """A stored setting of the deployment (e.g. the clock's high-water mark)."""

    def set_meta(self, name: str, value: str) -> None:
        """Store a setting of the deployment."""

    def delete_meta(self, name: str) -> None:
        """Forget a stored setting."""

    def rooms_of(self, contact_id: str) -> list[str]:
        """The rooms a contact was seen writing in."""

    def next_notice_number(self) -> int:
        """The next notice number of the county (its own sequence, never reused)."""

    def add_notice(self, notice: Notice, source_msg_id: str | None = None) -> None:
        """Store a new notice and the units it goes to."""

    def notice(self, number: int, lock: bool = False) -> Notice | None:
        """The notice with that number and its units, or None."""

    def notices(self, start: datetime | None = None, end: datetime | None = None, by: str = "created") -> list[Notice]:
        """The notices sent (`by` "created") or due to remind (`by` "remind") in [start, end), by number."""

    def notices_awaiting(self, units: Sequence[str]) -> list[Notice]:
        """The notices some of these units (unit keys) have not acknowledged yet."""

    def save_notice(self, notice: Notice) -> None:
        """Store a notice's report time and its units' acknowledgements and reminders."""

    def due_timers(self, prefix: str, now: datetime) -> list[str]:
        """The named timers starting with `prefix` that are due at `now`."""

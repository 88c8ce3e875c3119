"""The ports the domain service talks through: the repository and outbound messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from routing.model import Event, PersonRef, Request, Status, Tier


@dataclass(frozen=True, slots=True)
class Outbound:
    """Something the bot will say: a template and its context, for one room.

    `key` is the stable id of a time-driven message (a reminder, a digest): a message with a
    key that was already recorded is never recorded or sent again.
    """

    room: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    mentions: tuple[PersonRef, ...] = ()
    key: str | None = None


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

    def pinned_id(self, name: str) -> str | None:
        """The contact id first seen under a handler's display name, if any."""

    def pin(self, name: str, contact_id: str, at: datetime) -> None:
        """Pin a handler's display name to the first contact id seen for it."""

    def first_clash(self, name: str, contact_id: str, at: datetime) -> bool:
        """Record that another contact used a pinned name; True the first time only."""

    def next_number(self) -> int:
        """The next request number of the county (never reused)."""

    def add(self, request: Request, event: Event) -> None:
        """Store a new request with its first event."""

    def get(self, number: int) -> Request | None:
        """The request with that number, or None."""

    def update(self, request: Request, event: Event) -> None:
        """Store a request's new state and append the event that changed it."""

    def get_many(self, numbers: list[int]) -> dict[int, Request]:
        """Requests by number."""

    def events(self, number: int) -> list[Event]:
        """A request's event log, oldest first."""

    def find(self, flt: RequestFilter) -> list[Request]:
        """Requests matching the filter, by number."""

    def events_between(self, start: datetime, end: datetime) -> list[Event]:
        """Every event in [start, end), oldest first."""

    def rates_inputs(self, start: datetime, end: datetime) -> tuple[list[Request], list[Event]]:
        """What the 三率 over [start, end) need: requests with a deadline or a rating in it, and those ratings."""

    def get_meta(self, name: str) -> str | None:
        """A stored setting of the deployment (e.g. the clock's high-water mark)."""

    def set_meta(self, name: str, value: str) -> None:
        """Store a setting of the deployment."""


"""Simulated groups: an in-process transport that keeps a transcript (tests, demo and replay)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.messaging.transport import SendError
from routing.model import PersonRef


@dataclass(frozen=True, slots=True)
class Said:
    """Something the bot said in a room, or (room None) privately to someone."""

    ts: datetime
    room: str | None
    text: str
    mentions: tuple[PersonRef, ...] = ()
    to: PersonRef | None = None


class SimulatedTransport:
    """Simulated groups: keeps a transcript of everything the bot said, at the clock's time (or hands each
    message to `on_send` instead)."""

    def __init__(self, clock: Clock, on_send: Callable[[Said], None] | None = None) -> None:
        self.clock = clock
        self.said: list[Said] = []
        self.on_send = on_send
        self.fail_rooms: set[str] = set()  # rooms whose sends fail, to exercise the outbox
        self.strangers: set[str] = set()  # contact ids the bot cannot message privately

    def send(self, room: str | None, text: str, mentions: Sequence[PersonRef], to: PersonRef | None = None) -> None:
        """Record the message as said now."""
        if room in self.fail_rooms:
            raise SendError(f"room {room!r} is unreachable")
        if room is None and (to is None or not self.reachable(to)):
            raise SendError("no private chat with this person")
        said = Said(self.clock.now(), room, text, tuple(mentions), to if room is None else None)
        if self.on_send:  # handed on (replay prints it): not kept, a county-year says half a million messages
            self.on_send(said)
        else:
            self.said.append(said)

    def reachable(self, person: PersonRef) -> bool:
        """Anyone with a contact id can be messaged privately, but for the `strangers` of a test."""
        return person.contact_id is not None and person.contact_id not in self.strangers

    def take(self) -> list[Said]:
        """Everything said since the last take."""
        out, self.said = self.said, []
        return out

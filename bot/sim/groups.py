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
    """Something the bot said in a room."""

    ts: datetime
    room: str
    text: str
    mentions: tuple[PersonRef, ...] = ()


class SimulatedTransport:
    """Simulated groups: keeps a transcript of everything the bot said, at the clock's time."""

    def __init__(self, clock: Clock, on_send: Callable[[Said], None] | None = None) -> None:
        self.clock = clock
        self.said: list[Said] = []
        self.on_send = on_send
        self.fail_rooms: set[str] = set()  # rooms whose sends fail, to exercise the outbox

    def send(self, room: str, text: str, mentions: Sequence[PersonRef]) -> None:
        """Record the message as said now."""
        if room in self.fail_rooms:
            raise SendError(f"room {room!r} is unreachable")
        said = Said(self.clock.now(), room, text, tuple(mentions))
        self.said.append(said)
        if self.on_send:
            self.on_send(said)

    def take(self) -> list[Said]:
        """Everything said since the last take."""
        out, self.said = self.said, []
        return out

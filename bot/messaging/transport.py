"""The chat transport port: where the bot's messages go (Wechaty, or the simulated groups of bot.sim)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from routing.model import PersonRef


class SendError(Exception):
    """A message could not be delivered; the outbox will retry it."""


class Transport(Protocol):
    """Where the bot's messages go."""

    def send(self, room: str | None, text: str, mentions: Sequence[PersonRef], to: PersonRef | None = None) -> None:
        """Deliver one message to a room, mentioning people, or (room None) privately `to` someone
        (raises SendError)."""

    def reachable(self, person: PersonRef) -> bool:
        """True when the bot can message this person privately."""

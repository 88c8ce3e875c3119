"""The chat transport port: where the bot's messages go (Wechaty, or the simulated groups of bot.sim)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from routing.model import PersonRef


class SendError(Exception):
    """A message could not be delivered; the outbox will retry it."""


class Transport(Protocol):
    """Where the bot's messages go."""

    def send(self, room: str, text: str, mentions: Sequence[PersonRef]) -> None:
        """Deliver one message to a room, mentioning people (raises SendError)."""

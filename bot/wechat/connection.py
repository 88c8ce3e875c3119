"""The gateway port: what a live chat gateway connection offers and how it fails, and the
transport port over the event loop that talks to it. Imports no wechaty.

The Wechaty adapter (bot/wechat/adapter.py) implements `Gateway`; bot/wechat/supervisor.py supervises it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from bot.messaging.transport import SendError
from routing.model import Inbound, PersonRef

log = logging.getLogger(__name__)


class GatewayError(Exception):
    """The chat gateway could not be used."""


class GatewayUnavailable(GatewayError):
    """The gateway cannot be reached, or the connection to it broke."""


class GatewayAuthError(GatewayError):
    """The gateway refused the token (gRPC UNAUTHENTICATED)."""


class Listener(Protocol):
    """What a gateway tells the bot."""

    async def on_login(self, user_id: str, name: str) -> None:
        """The bot's account is logged in and the event stream is open."""

    async def on_logout(self, reason: str) -> None:
        """The bot's account logged out of WeChat (the stream may stay open)."""

    async def on_message(self, msg: Inbound) -> None:
        """A message in a room, in the order the gateway delivered them (awaited one at a time)."""


class Gateway(Protocol):
    """One chat gateway the bot connects to (the Wechaty adapter implements it)."""

    @property
    def logged_in(self) -> bool:
        """True while the account is logged in and the event stream is open."""

    async def session(self, stop: asyncio.Event) -> str:
        """Connect and deliver events until the stream ends or `stop` is set; returns why it ended.

        Raises GatewayAuthError when the token is refused, GatewayUnavailable when the gateway
        cannot be reached.
        """

    async def say(self, room: str, text: str, mentions: Sequence[PersonRef]) -> None:
        """Send a text to the room with this topic, @-mentioning people (raises SendError)."""

    async def close(self) -> None:
        """Leave the gateway for good (at shutdown)."""


def message_time(ms: float | int | None, fallback: datetime) -> datetime:
    """A message payload's timestamp (milliseconds since the epoch; some puppets send seconds) as UTC."""
    if not ms or ms <= 0:
        return fallback
    seconds = ms / 1000 if ms > 1e11 else ms
    return datetime.fromtimestamp(seconds, UTC)


def display_name(room_alias: str | None, name: str) -> str:
    """How a sender shows in a group: the room alias (群昵称) when set, else the contact name."""
    alias = (room_alias or "").strip()
    return alias or name


class LoopTransport:
    """The Transport port for a thread: runs the gateway's `say` on its event loop and waits."""

    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop, timeout: float = 15.0) -> None:
        self.gateway = gateway
        self.loop = loop
        self.timeout = timeout

    def send(self, room: str, text: str, mentions: Sequence[PersonRef]) -> None:
        """Deliver one message (raises SendError on any failure, including no answer in time)."""
        coro = self.gateway.say(room, text, mentions)
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as e:  # the loop is closed: the bot is stopping
            coro.close()
            raise SendError(f"not connected: {e}") from None
        try:
            future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SendError(f"the gateway did not confirm the message within {self.timeout:.0f}s") from None
        except SendError:
            raise
        except concurrent.futures.CancelledError:
            raise SendError("sending was cancelled (the bot is stopping)") from None
        except Exception as e:  # the SDK's and gRPC's own errors
            raise SendError(f"{type(e).__name__}: {e}") from e

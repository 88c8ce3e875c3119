"""The bot's side of a live chat gateway connection: errors, reconnect backoff, outages, and
the transport port over the event loop that talks to the gateway. Imports no wechaty.

The Wechaty adapter (bot/wechaty_adapter.py) implements `Gateway`; bot/live.py supervises it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.transport import SendError
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


class Backoff:
    """Waits between reconnect attempts: `first`, doubling up to `limit` seconds."""

    def __init__(self, first: float = 1.0, limit: float = 60.0) -> None:
        self.first = first
        self.limit = limit
        self.failures = 0

    def next(self) -> float:
        """The wait before the next attempt (and count this failure)."""
        delay = min(self.limit, self.first * 2 ** self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A connection succeeded: start again from `first`."""
        self.failures = 0


@dataclass(frozen=True, slots=True)
class Outage:
    """A time the bot could not hear the groups: messages posted then never reached it."""

    start: datetime
    end: datetime
    reason: str

    @property
    def seconds(self) -> float:
        """Its length in seconds."""
        return (self.end - self.start).total_seconds()


class OutageTracker:
    """Tracks when the bot is offline and which outage to announce once it is steadily back.

    Outages that follow each other before the connection has been up for `settle` are merged
    into one, so a flapping gateway gives one notice, not one per reconnect. `offline_since` is
    the last moment a previous run of the bot was known to be online, if any: the time it was
    stopped counts as an outage too.
    """

    def __init__(self, settle: timedelta, offline_since: datetime | None = None) -> None:
        self.settle = settle
        self._since = offline_since
        self._reason = "the bot was not running" if offline_since else ""
        self._online_at: datetime | None = None
        self._pending: Outage | None = None

    @property
    def online(self) -> bool:
        """True while the bot hears the groups."""
        return self._online_at is not None

    @property
    def offline_since(self) -> datetime | None:
        """When the current outage began, if the bot is offline after having been online."""
        return self._since

    def went_offline(self, at: datetime, reason: str) -> bool:
        """The stream dropped or the account logged out; True when this begins an outage."""
        if self._online_at is None:
            return False
        self._online_at = None
        self._since = at
        self._reason = reason
        return True

    def came_online(self, at: datetime) -> Outage | None:
        """The account is logged in again; returns the outage that just ended, if any."""
        was_offline = self._online_at is None
        self._online_at = at
        if not was_offline or self._since is None:
            return None
        ended = Outage(self._since, at, self._reason)
        self._since = None
        start = self._pending.start if self._pending else ended.start
        reason = self._pending.reason if self._pending else ended.reason
        self._pending = Outage(start, at, reason)
        return ended

    def due(self, now: datetime) -> Outage | None:
        """The outage to announce now: once, after the connection has been up for `settle`."""
        if self._pending is None or self._online_at is None or now - self._online_at < self.settle:
            return None
        pending, self._pending = self._pending, None
        return pending


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

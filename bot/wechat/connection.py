"""The gateway port: what a live chat gateway connection offers and how it fails, and the
transport port over the event loop that talks to it. Imports no wechaty.

The Wechaty adapter (bot/wechat/adapter.py) implements `Gateway`; bot/wechat/supervisor.py supervises it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
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

    async def on_messages(self, messages: list[Inbound]) -> None:
        """Messages that arrived together, in the order the gateway delivered them (awaited one burst at a time)."""

    async def on_scan(self, status: str) -> None:
        """The gateway's account is not logged in and shows a QR code to scan."""


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

    async def say(self, room: str | None, text: str, mentions: Sequence[PersonRef], to: PersonRef | None = None) -> None:
        """Send a text to the room with this topic, @-mentioning people, or privately `to` a contact (raises
        SendError)."""

    async def reachable(self, contact_id: str) -> bool:
        """True when the account can message this contact privately."""

    async def room_topics(self) -> list[str]:
        """The names (topics) of every group the logged-in account is in."""

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
    """The Transport port for a thread: runs the gateway's calls on its event loop and waits."""

    REACHABLE_TTL = 600.0  # seconds a contact's reachability is remembered

    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop, timeout: float = 15.0) -> None:
        self.gateway = gateway
        self.loop = loop
        self.timeout = timeout
        self._reachable: dict[str, tuple[float, bool]] = {}

    def _call(self, coro, timeout: float, waiting_for: str = "回应"):
        """Run a coroutine on the gateway's loop and wait for its result (SendError on any failure)."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as e:  # the loop is closed: the bot is stopping
            coro.close()
            raise SendError(f"没有连接：{e}") from None
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SendError(f"网关 {timeout:.0f} 秒内没有{waiting_for}") from None
        except SendError:
            raise
        except concurrent.futures.CancelledError:
            raise SendError("已取消（机器人正在停止）") from None
        except Exception as e:  # the SDK's and gRPC's own errors
            raise SendError(f"{type(e).__name__}: {e}") from e

    def send(self, room: str | None, text: str, mentions: Sequence[PersonRef], to: PersonRef | None = None) -> None:
        """Deliver one message (raises SendError on any failure, including no answer in time)."""
        self._call(self.gateway.say(room, text, mentions, to), self.timeout, "确认消息已发出")

    def reachable(self, person: PersonRef) -> bool:
        """True when the person can be messaged privately; when the gateway cannot tell now, assume so."""
        if not person.contact_id:
            return False
        now = time.monotonic()
        known = self._reachable.get(person.contact_id)
        if known is not None and now - known[0] < self.REACHABLE_TTL:
            return known[1]
        try:
            answer = bool(self._call(self.gateway.reachable(person.contact_id), 5.0))
        except SendError as e:
            log.info("无法向网关确认能否给 %s 发私信（%s）；按能发处理",
                     person.contact_id, e, extra={"event": "reachable_unknown"})
            return True
        self._reachable[person.contact_id] = (now, answer)
        return answer

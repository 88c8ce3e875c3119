"""Outages: when the bot could not hear the groups, and which outage to announce once it is back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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
        self._reason = "机器人没有运行" if offline_since else ""
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

"""Live sending: the outbox's queued messages go out one at a time, paced so a burst of
requests never floods a group (personal WeChat accounts get banned for sending fast).

Messages to one room go out in the order they were recorded: a message waiting for a retry
holds back the later ones of its room. One process at a time sends a county's messages: the
one holding the county's send lock; another stands by and takes over when the holder is gone,
so order and pacing stay whole. Time comes from a Clock and waiting from an injected function,
so tests drive it without sleeping.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.messaging.outbox import Outbox, channel
from bot.messaging.transport import Transport
from storage.locks import SendLock

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)


class RateLimiter:
    """At most one message per room every `room_interval`, and `per_minute` messages a minute in all."""

    def __init__(self, room_interval: timedelta, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.room_interval = room_interval
        self.per_minute = per_minute
        self._last: dict[str, datetime] = {}
        self._recent: list[datetime] = []  # send times within the last minute, sorted

    def next_allowed(self, room: str, now: datetime) -> datetime:
        """The earliest time a message to `room` may go, `now` or later."""
        self._forget(now)
        at = now
        last = self._last.get(room)
        if last is not None:
            at = max(at, last + self.room_interval)
        if len(self._recent) >= self.per_minute:
            at = max(at, self._recent[len(self._recent) - self.per_minute] + WINDOW)
        return at

    def record(self, room: str, at: datetime) -> None:
        """A message to `room` went (or was attempted) at `at`."""
        last = self._last.get(room)
        self._last[room] = at if last is None else max(last, at)
        bisect.insort(self._recent, at)

    def seed(self, sends: Iterable[tuple[str, datetime]]) -> None:
        """Sends of a previous run (room, time): a restart must not reset the pacing."""
        for room, at in sends:
            self.record(room, at)

    def reset(self, sends: Iterable[tuple[str, datetime]]) -> None:
        """Forget what was recorded and start again from these sends (room, time)."""
        self._last.clear()
        self._recent.clear()
        self.seed(sends)

    def _forget(self, now: datetime) -> None:
        cut = bisect.bisect_right(self._recent, now - WINDOW)
        del self._recent[:cut]


class Sender:
    """Sends queued outbox messages through a transport, paced by a RateLimiter.

    `ready` says whether the transport can send now (the gateway is connected and logged in);
    while it cannot, nothing is attempted, so no retries are spent on a known outage. `wake()`
    makes a waiting sender look again at once (a message was queued, the connection came back).

    With a `lock` (the county's send lock), it sends only while it holds the lock: without it,
    it stands by and tries to take it every `standby_seconds`; on taking it, it recovers the
    messages a previous holder left mid-send and takes over that holder's pacing. Without a
    lock (a single process: tests, simulated groups) it always sends.
    """

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        limiter: RateLimiter,
        clock: Clock,
        *,
        ready: Callable[[], bool] = lambda: True,
        idle_seconds: float = 30.0,
        wait: Callable[[float], object] | None = None,
        lock: SendLock | None = None,
        standby_seconds: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.transport = transport
        self.limiter = limiter
        self.clock = clock
        self.ready = ready
        self.idle_seconds = idle_seconds
        self.lock = lock
        self.standby_seconds = standby_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._wait = wait or self._wake.wait
        self._thread: threading.Thread | None = None
        self._holding = False
        self._standing_by = False
        self.sent = 0

    @property
    def holding(self) -> bool:
        """True when this sender last knew itself the holder of the send lock (always, without a lock)."""
        return self.lock is None or self._holding

    def hold(self) -> bool:
        """True when this sender may send now: it holds the send lock, and takes it if it is free.

        One query per call while holding (is the lock's connection alive?), so call it once per
        batch, not per message.
        """
        if self.lock is None:
            return True
        if self._holding:
            if self.lock.held():
                return True
            self._holding = False
            self.lock.release()
            log.error("lost the send lock (its database connection or lock file went away); this process sends "
                      "nothing more unless it takes the lock again", extra={"event": "send_lock_lost"})
        if not self.lock.acquire():
            if not self._standing_by:
                self._standing_by = True
                log.info("another process is sending this county's messages; standing by and taking over when it "
                         "stops", extra={"event": "standing_by"})
            return False
        self._holding, self._standing_by = True, False
        try:
            now = self.clock.now()
            abandoned = self.outbox.recover(now)
            # the previous holder's sends still count against the rooms' and the minute's budget
            self.limiter.reset(self.outbox.recent_sends(now - WINDOW))
        except BaseException:
            self.release()
            raise
        log.info("took the send lock: this process sends the county's messages now (%d left mid-send by the "
                 "previous holder, not sent again)", len(abandoned), extra={"event": "send_lock_acquired"})
        return True

    def release(self) -> None:
        """Let the send lock go, if held."""
        if self.lock is not None and self._holding:
            self._holding = False
            self.lock.release()
            log.info("released the send lock", extra={"event": "send_lock_released"})

    def step(self, now: datetime) -> datetime | None:
        """Send every message that may go at `now`; returns when to look again (None: nothing waits).

        Only the oldest queued message of each room is considered, so a room's messages keep
        their order. Nothing is sent unless this sender holds the send lock (see `hold`).
        """
        if not self.hold():
            return None
        return self._batch(now)

    def _batch(self, now: datetime) -> datetime | None:
        looked: set[str] = set()
        again: datetime | None = None
        sent_any = False
        for row in self.outbox.queued():
            where = channel(row)
            if where in looked:
                continue
            looked.add(where)
            at = self.limiter.next_allowed(where, now)
            if row.not_before is not None and row.not_before > at:
                at = row.not_before
            if at > now:
                again = at if again is None else min(again, at)
                continue
            if not self.ready() or self._stopping.is_set():
                return None
            if self.outbox.send_one(self.transport, row.id, now, self.clock):
                self.sent += 1
            sent_any = True
            now = self.clock.now()
            # paced from when the gateway took it (failed attempts count too: they may have arrived)
            self.limiter.record(where, now)
        # after sending, look again at once: the room's next message, or a retry, is due later
        return now if sent_any else again

    def run(self) -> None:
        """Send until `stop()`: look, send what may go, wait until the next one may (or a wake-up).

        Stands by while another process holds the send lock, and releases it on the way out.
        """
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                now = self.clock.now()
                standing_by = False
                try:
                    # a process whose gateway is down does not take the lock from one that could send
                    if not self.ready():
                        nxt = None
                    elif self.hold():
                        nxt = self._batch(now)
                    else:
                        nxt, standing_by = None, True
                except Exception:  # the database went away, a bug: log, wait, carry on
                    log.exception("sending queued messages failed; trying again shortly")
                    nxt = now + timedelta(seconds=5)
                if self._stopping.is_set():
                    break
                timeout = self.standby_seconds if standing_by else self.idle_seconds
                if nxt is not None:
                    timeout = min(timeout, max(0.0, (nxt - self.clock.now()).total_seconds()))
                if timeout > 0:
                    self._wait(timeout)
        finally:
            self.release()

    def wake(self) -> None:
        """Look at the outbox again now."""
        self._wake.set()

    def start(self) -> None:
        """Run in a background thread."""
        self._thread = threading.Thread(target=self.run, name="minqing-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop after the message being sent, if any (it is marked sent or failed, never left mid-send)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the sender did not stop within %.0fs", timeout)

"""Real-time driver of the time-driven work: an APScheduler 3.x scheduler calls `Relay.tick(now)`.

It wakes at the next due time the service reports, and once a minute in any case (a new
request or a changed config can bring a due time forward; a minute late is harmless).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.app import Relay
from bot.clock import Clock

log = logging.getLogger(__name__)

SAFETY_JOB, NEXT_JOB = "minqing-tick-every-minute", "minqing-tick-next-due"


class JobRunner:
    """Runs `tick` at the right moments; one run at a time."""

    def __init__(self, relay: Relay, clock: Clock, scheduler: BackgroundScheduler | None = None) -> None:
        self.relay = relay
        self.clock = clock
        self.scheduler = scheduler or BackgroundScheduler(timezone=UTC)
        self._lock = threading.Lock()
        self.on_queued = None  # called after a tick queued messages (the live sender wakes up)

    def run_now(self) -> datetime | None:
        """Run every job due now; returns when the next one falls due."""
        with self._lock:
            now = self.clock.now()
            try:
                queued = self.relay.tick(now)
            except Exception:
                log.exception("time-driven jobs at %s failed; they will be tried again", now.isoformat())
                return None
            if queued:
                log.info("time-driven jobs at %s queued %d messages", now.isoformat(), queued)
                if self.on_queued:
                    self.on_queued()
            nxt = self.relay.next_due(now)
        self._schedule(nxt)
        return nxt

    def _schedule(self, when: datetime | None) -> None:
        if when is None or not self.scheduler.running:
            return
        self.scheduler.add_job(self.run_now, "date", run_date=when, id=NEXT_JOB, replace_existing=True,
                               misfire_grace_time=None, coalesce=True)

    def poke(self) -> None:
        """Something changed (a message was handled): reschedule the next wake-up."""
        if self.scheduler.running:
            self._schedule(self.relay.next_due(self.clock.now()))

    def start(self, paused: bool = False) -> None:
        """Start the scheduler: a tick now, at every next due time, and every minute."""
        self.scheduler.add_job(self.run_now, "interval", minutes=1, id=SAFETY_JOB, replace_existing=True,
                               coalesce=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.add_job(self.run_now, "date", run_date=self.clock.now(), id=NEXT_JOB,
                               replace_existing=True, misfire_grace_time=None)
        self.scheduler.start(paused=paused)

    def stop(self) -> None:
        """Stop the scheduler, letting a running tick finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

"""The persistent outbox: every message is recorded before it is sent, and sent at most once."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.clock import Clock
from bot.messaging.backoff import Backoff
from bot.messaging.transport import SendError, Transport
from routing.model import PersonRef
from storage.db import Database
from storage.tables import OutboxRow

log = logging.getLogger(__name__)

QUEUED, SENDING, SENT, FAILED, ABANDONED = "queued", "sending", "sent", "failed", "abandoned"
RETRY = Backoff(5, 600)  # a failed send is tried again after 5 s, 10 s, 20 s ... at most 10 min


def mentions_of(row: OutboxRow) -> list[PersonRef]:
    """The people a stored message mentions."""
    return [PersonRef(m["name"], m.get("id")) for m in row.mentions]


class Outbox:
    """Queued messages in the database, and the bookkeeping of sending them."""

    def __init__(self, db: Database, max_attempts: int = 5) -> None:
        self.db = db
        self.max_attempts = max_attempts

    def recover(self, now: datetime) -> list[OutboxRow]:
        """After a restart: messages caught mid-send are not sent again (at most once); log them."""
        with self.db.transaction() as tx:
            rows = tx.outbox((SENDING,))
            for row in rows:
                row.status = ABANDONED
                row.error = "the process stopped while sending; not sent again"
                tx.save(row)
                log.warning("outbox message %d to %s was being sent when the process stopped; it may or may not "
                            "have arrived and is not sent again: %s", row.id, row.room, row.text[:60])
        return rows

    def queued(self, limit: int = 500) -> list[OutboxRow]:
        """Every queued message, due or waiting for a retry, oldest first."""
        with self.db.transaction() as tx:
            return tx.outbox((QUEUED,), limit=limit)

    def recent_sends(self, since: datetime) -> list[tuple[str, datetime]]:
        """(room, sent at) of the messages sent since `since`: the pacing of a previous run."""
        with self.db.transaction() as tx:
            return [(row.room, row.sent_at) for row in tx.outbox_sent_since(since)]

    def due(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Queued messages whose retry time has come, oldest first."""
        with self.db.transaction() as tx:
            rows = tx.outbox((QUEUED,))
        return [r for r in rows if r.not_before is None or r.not_before <= now][:limit]

    def begin(self, row_id: int, now: datetime) -> OutboxRow | None:
        """Mark a message as being sent (committed before the send); None if it is no longer queued."""
        with self.db.transaction() as tx:
            row = tx.outbox_row(row_id)
            if row is None or row.status != QUEUED:
                return None
            row.status = SENDING
            row.attempts += 1
            tx.save(row)
            return row

    def sent(self, row_id: int, now: datetime) -> None:
        """Mark a message as sent."""
        with self.db.transaction() as tx:
            row = tx.outbox_row(row_id)
            row.status, row.sent_at, row.error = SENT, now, None
            tx.save(row)

    def failed(self, row_id: int, now: datetime, error: str) -> bool:
        """Record a failed send; True when it will be retried, False when given up."""
        with self.db.transaction() as tx:
            row = tx.outbox_row(row_id)
            row.error = error
            retry = row.attempts < self.max_attempts
            row.status = QUEUED if retry else FAILED
            row.not_before = now + RETRY.delay(row.attempts) if retry else None
            tx.save(row)
        if retry:
            log.warning("send of message %d to %s failed (attempt %d), retrying after %s: %s", row_id, row.room,
                        row.attempts, RETRY.delay(row.attempts), error, extra={"event": "send_failed", "room": row.room})
        else:
            # the message's text stays in its outbox row, never in the log
            log.error("send of message %d to %s failed %d times; given up: %s", row_id, row.room, row.attempts,
                      error, extra={"event": "send_abandoned", "room": row.room})
        return retry

    def send_one(self, transport: Transport, row_id: int, now: datetime, clock: Clock | None = None) -> bool:
        """Send one queued message; True when it was delivered.

        With a clock, the outcome is recorded at the time the transport returned (live sending
        paces by when messages arrived); without, at `now`.
        """
        row = self.begin(row_id, now)
        if row is None:
            return False
        try:
            transport.send(row.room, row.text, mentions_of(row))
        except SendError as e:
            self.failed(row_id, clock.now() if clock else now, str(e))
            return False
        self.sent(row_id, clock.now() if clock else now)
        log.info("sent message %d to %s (attempt %d)", row_id, row.room, row.attempts,
                 extra={"event": "sent", "room": row.room})
        return True

    def drain(self, transport: Transport, now: datetime) -> int:
        """Send every queued message that is due now, without pacing (simulated groups)."""
        count = 0
        while rows := self.due(now):
            progressed = False
            for row in rows:
                if self.send_one(transport, row.id, now):
                    count += 1
                    progressed = True
            if not progressed:
                break
        return count

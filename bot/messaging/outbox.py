"""The persistent outbox: every message is recorded before it is sent, and sent at most once."""

from __future__ import annotations

import logging
import os
import secrets
import socket
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


def holder_id() -> str:
    """A name for this process in the outbox's holder column: host, process id and a random tag."""
    # the tag tells apart a process that reuses the pid of a dead one (containers start at pid 1)
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def mentions_of(row: OutboxRow) -> list[PersonRef]:
    """The people a stored message mentions."""
    return [PersonRef(m["name"], m.get("id")) for m in row.mentions]


def recipient(row: OutboxRow) -> PersonRef | None:
    """The addressee of a private message (None for a message to a room)."""
    return PersonRef(row.to_name or "", row.to_id) if row.room is None else None


def channel(row: OutboxRow) -> str:
    """Where a message goes, for pacing and ordering: its room, or a private chat with its addressee."""
    return row.room if row.room is not None else f"私信:{row.to_id}"


class Outbox:
    """Queued messages in the database, and the bookkeeping of sending them.

    A message is taken for sending by one conditional update (queued -> sending, with this
    outbox's `holder`), so two processes never both take it; only its holder records how the
    send ended.
    """

    def __init__(self, db: Database, max_attempts: int = 5, holder: str | None = None) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.holder = holder or holder_id()

    def recover(self, now: datetime) -> list[OutboxRow]:
        """Messages caught mid-send are not sent again (at most once); log them.

        Only for the process that has just taken the county's send lock (or a single process
        at start): then no other process can be sending, whoever left these rows in `sending`.
        """
        with self.db.transaction() as tx:
            rows = tx.outbox((SENDING,))
            for row in rows:
                row.status = ABANDONED
                row.error = "the process stopped while sending; not sent again"
                tx.save(row)
                log.warning("outbox message %d to %s was being sent when the process stopped; it may or may not "
                            "have arrived and is not sent again: %s", row.id, channel(row), row.text[:60])
        return rows

    def queued(self, limit: int = 500) -> list[OutboxRow]:
        """Every queued message, due or waiting for a retry, oldest first."""
        with self.db.transaction() as tx:
            return tx.outbox((QUEUED,), limit=limit)

    def recent_sends(self, since: datetime) -> list[tuple[str, datetime]]:
        """(room, sent at) of the messages sent since `since`: the pacing of a previous run."""
        with self.db.transaction() as tx:
            return [(channel(row), row.sent_at) for row in tx.outbox_sent_since(since)]

    def due(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Queued messages whose retry time has come, oldest first."""
        with self.db.transaction() as tx:
            rows = tx.outbox((QUEUED,))
        return [r for r in rows if r.not_before is None or r.not_before <= now][:limit]

    def begin(self, row_id: int, now: datetime) -> OutboxRow | None:
        """Take a message for sending (committed before the send); None if it is no longer queued."""
        with self.db.transaction() as tx:
            return tx.claim_outbox(row_id, self.holder)

    def sent(self, row_id: int, now: datetime) -> bool:
        """Mark a message this outbox took as sent; False when it was no longer ours."""
        with self.db.transaction() as tx:
            ours = tx.finish_outbox(row_id, self.holder, status=SENT, sent_at=now, error=None)
        if not ours:
            self._not_ours(row_id, "was sent")
        return ours

    def failed(self, row_id: int, now: datetime, error: str) -> bool:
        """Record a failed send; True when it will be retried, False when given up (or no longer ours)."""
        with self.db.transaction() as tx:
            row = tx.outbox_row(row_id)
            retry = row.attempts < self.max_attempts
            ours = tx.finish_outbox(row_id, self.holder, error=error, status=QUEUED if retry else FAILED,
                                    not_before=now + RETRY.delay(row.attempts) if retry else None)
        if not ours:
            self._not_ours(row_id, "failed to send")
            return False
        if retry:
            log.warning("send of message %d to %s failed (attempt %d), retrying after %s: %s", row_id, channel(row),
                        row.attempts, RETRY.delay(row.attempts), error, extra={"event": "send_failed", "room": channel(row)})
        else:
            # the message's text stays in its outbox row, never in the log
            log.error("send of message %d to %s failed %d times; given up: %s", row_id, channel(row), row.attempts,
                      error, extra={"event": "send_abandoned", "room": channel(row)})
        return retry

    def _not_ours(self, row_id: int, outcome: str) -> None:
        # only when this process lost the send lock mid-send and the one that took over recovered the row
        with self.db.transaction() as tx:
            row = tx.outbox_row(row_id)
        room, status = (channel(row), row.status) if row else ("?", "gone")
        log.error("message %d to %s %s, but meanwhile the process that took over sending marked it %s; "
                  "this process had lost the send lock. Left as it is", row_id, room, outcome, status,
                  extra={"event": "send_not_ours", "room": room})

    def send_one(self, transport: Transport, row_id: int, now: datetime, clock: Clock | None = None) -> bool:
        """Send one queued message; True when it was delivered.

        With a clock, the outcome is recorded at the time the transport returned (live sending
        paces by when messages arrived); without, at `now`.
        """
        row = self.begin(row_id, now)
        if row is None:
            return False
        try:
            transport.send(row.room, row.text, mentions_of(row), to=recipient(row))
        except SendError as e:
            self.failed(row_id, clock.now() if clock else now, str(e))
            return False
        if not self.sent(row_id, clock.now() if clock else now):
            return True  # it went out all the same
        log.info("sent message %d to %s (attempt %d)", row_id, channel(row), row.attempts,
                 extra={"event": "sent", "room": channel(row)})
        return True

    def drain(self, transport: Transport, now: datetime) -> int:
        """Send every queued message that is due now, without pacing (simulated groups).

        They are taken for sending in one transaction (at most once, as ever), sent, and recorded as
        sent in one more; a failed one is recorded on its own, to be retried.
        """
        with self.db.transaction() as tx:
            rows = tx.claim_due(now, self.holder)
        sent: list[int] = []
        for row in rows:
            try:
                transport.send(row.room, row.text, mentions_of(row), to=recipient(row))
            except SendError as e:
                self.failed(row.id, now, str(e))
                continue
            sent.append(row.id)
        if sent:
            with self.db.transaction() as tx:
                tx.sent_all(sent, self.holder, now)
        return len(sent)

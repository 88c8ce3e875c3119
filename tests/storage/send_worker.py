"""A sending process for the two-process test: a Sender on the county's send lock, whose transport
appends one line per message (`room<TAB>text<TAB>pid`) to a file.

    python -m tests.storage.send_worker --url URL --county C --out FILE [--pause-after N]

`--pause-after N` holds the (N+1)th send after its line is written, until SIGTERM (which lets it
finish: the message is recorded as sent) or SIGKILL (it stays `sending`, caught mid-send): the
test stops the holder at a known point instead of racing it. SIGTERM stops the worker after the
message being sent, and lets the lock go. Log lines go to stderr as `event<TAB>message`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import timedelta

from bot.clock import SystemClock
from bot.messaging.outbox import Outbox
from bot.messaging.sender import RateLimiter, Sender
from storage.db import Database


class LineTransport:
    """Appends `room<TAB>text<TAB>pid` per send; with O_APPEND a line survives the process being killed."""

    def __init__(self, path: str, pause_after: int, resume: threading.Event) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.pause_after = pause_after
        self.resume = resume
        self.count = 0

    def send(self, room, text, mentions, to=None) -> None:
        os.write(self.fd, f"{room}\t{text}\t{os.getpid()}\n".encode())
        self.count += 1
        if self.pause_after and self.count == self.pause_after + 1:
            self.resume.wait()


class EventLines(logging.Handler):
    """`event<TAB>message` per record, flushed at once (the test reads it while the worker runs)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"{getattr(record, 'event', '-')}\t{record.getMessage()}\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Send the county's queued messages while holding its send lock, until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--county", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pause-after", type=int, default=0)
    parser.add_argument("--standby-seconds", type=float, default=0.05)
    args = parser.parse_args(argv)
    root = logging.getLogger()
    root.addHandler(EventLines())
    root.setLevel(logging.INFO)

    stop, resume = threading.Event(), threading.Event()

    def on_term(signum, frame) -> None:
        stop.set()  # first: the sender starts no further message (it asks `ready` before each one)
        resume.set()

    signal.signal(signal.SIGTERM, on_term)
    db = Database(args.url, args.county)
    outbox = Outbox(db)
    sender = Sender(outbox, LineTransport(args.out, args.pause_after, resume), RateLimiter(timedelta(0), 1_000_000),
                    SystemClock(), ready=lambda: not stop.is_set(), lock=db.send_lock(),
                    standby_seconds=args.standby_seconds)
    logging.getLogger(__name__).info("worker %s started", outbox.holder, extra={"event": "worker_started"})
    sender.start()
    stop.wait()
    sender.stop()
    db.dispose()
    logging.getLogger(__name__).info("worker stopped after %d sends", sender.sent, extra={"event": "worker_stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How many messages each room and each person sent, and when last: not written at every message.

`minqing rooms` and `minqing people` show these counts and last-seen times. Writing them at every
message cost two of the pages each message writes and flushes (benchmarks/intake.py), so once a
room's (or a person's) row is written, a message only adds to a tally kept here. Tallies are
written by the time-driven jobs (`Relay.tick`: every minute in the live bot, at each due job in a
replay) and when the database is closed (`Database.dispose`). A new room, a person's first message
or first message in a room, and a room's changed configuration or id are written at once. This
process reads its own counts whole (the repository adds the tallies to what it reads); another
process reads them as written, at most a minute behind the live bot, and a bot killed outright
loses at most its last minute's counts. Requests, events and the outbox are never deferred.

Every change to a tally is made at once and returns how to undo it: the repository keeps the undos
of its transaction (`SqlRepository.undo`) and the database runs them when the transaction (or the
group commit it is part of) rolls back, so a rolled-back message neither counts nor un-counts, and
counts taken into a write are never taken again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

Undo = Callable[[], None]
Key = str | tuple[str, str]  # a room's topic; a person's (contact key, name)


@dataclass(slots=True)
class Tally:
    """One room's or one person's row as written, and the messages counted since."""

    pending: int = 0  # messages counted, not yet written
    last: datetime | None = None  # the latest of them
    configured: bool = False  # a room: as stored
    room_id: str | None = None  # a room: as stored
    rooms: frozenset[str] = field(default_factory=frozenset)  # a person: the rooms stored


class Tallies:
    """The tallies of one database's county, shared by the transactions of one process."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, Key], Tally] = {}  # by (table, key); table is "rooms" or "people"
        self.waiting: set[tuple[str, Key]] = set()  # the rows with pending counts
        self.lock = threading.Lock()

    def get(self, table: str, key: Key) -> Tally | None:
        """The tally of a row known to be written, or None."""
        return self.rows.get((table, key))

    def count(self, table: str, key: Key, at: datetime) -> Undo:
        """Count a message of a row known to be written."""
        with self.lock:
            t = self.rows[(table, key)]
            t.pending += 1
            t.last = at if t.last is None or at > t.last else t.last
            self.waiting.add((table, key))

        def undo() -> None:
            with self.lock:
                if (t := self.rows.get((table, key))) is not None:
                    t.pending = max(0, t.pending - 1)
                    if not t.pending:
                        t.last = None
                        self.waiting.discard((table, key))
        return undo

    def claim(self, table: str, key: Key) -> tuple[int, datetime | None, Undo]:
        """Take a row's pending count (and the time of its latest message) into a write."""
        with self.lock:
            t = self.rows.get((table, key))
            if t is None or not t.pending:
                return 0, None, _nothing
            n, last = t.pending, t.last
            t.pending, t.last = 0, None
            self.waiting.discard((table, key))

        def undo() -> None:
            with self.lock:
                if (t := self.rows.get((table, key))) is not None:
                    t.pending += n
                    self.waiting.add((table, key))
                    t.last = last if t.last is None or (last is not None and last > t.last) else t.last
        return n, last, undo

    def know(self, table: str, key: Key, **stored) -> Undo:
        """Remember a row as written, with the columns `stored` as written."""
        with self.lock:
            t = self.rows.get((table, key))
            if t is None:
                self.rows[(table, key)] = Tally(**stored)

                def forget() -> None:  # the row's first write rolled back: it is not there
                    with self.lock:
                        self.rows.pop((table, key), None)
                        self.waiting.discard((table, key))
                return forget
            before = {name: getattr(t, name) for name in stored}
            for name, value in stored.items():
                setattr(t, name, value)

        def restore() -> None:
            with self.lock:
                if (t := self.rows.get((table, key))) is not None:
                    for name, value in before.items():
                        setattr(t, name, value)
        return restore

    def unwritten(self, table: str | None = None) -> list[tuple[str, Key, int, datetime]]:
        """(table, key, pending, last) of each tally with pending counts (of one table, or all)."""
        with self.lock:
            return [(tb, key, t.pending, t.last) for tb, key in self.waiting
                    if (t := self.rows[(tb, key)]).pending and t.last is not None and (table is None or tb == table)]

    def pending(self) -> bool:
        """True when some count is not yet written."""
        with self.lock:
            return bool(self.waiting)


def _nothing() -> None:
    pass

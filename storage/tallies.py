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

A tally changes only when the transaction that changed it commits: the repository stages its
changes (`SqlRepository.staged`) and the database applies them after the commit, so a rolled-back
message neither counts nor un-counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Tally:
    """One room's or one person's row as last written, and the messages counted since."""

    pending: int = 0  # messages counted since, not yet written
    last: datetime | None = None  # the latest of those messages
    configured: bool = False  # a room: as stored
    room_id: str | None = None  # a room: as stored
    rooms: frozenset[str] = field(default_factory=frozenset)  # a person: the rooms stored


class Tallies:
    """The tallies of one database's county, shared by the transactions of one process."""

    def __init__(self) -> None:
        self.rooms: dict[str, Tally] = {}
        self.people: dict[tuple[str, str], Tally] = {}
        self.waiting: set[tuple[str, str | tuple[str, str]]] = set()  # (table, key) of the tallies with pending counts
        self.lock = threading.Lock()

    def apply(self, changes: Iterable[Callable[[Tallies], None]]) -> None:
        """Apply the changes a committed transaction staged."""
        with self.lock:
            for change in changes:
                change(self)

    def pending(self) -> bool:
        """True when some count is not yet written."""
        with self.lock:
            return bool(self.waiting)

    def unwritten(self) -> list[tuple[str, str | tuple[str, str], int, datetime]]:
        """(table, key, pending, last) of each tally with pending counts."""
        with self.lock:
            out = []
            for table, key in self.waiting:
                t = getattr(self, table)[key]
                if t.pending and t.last is not None:
                    out.append((table, key, t.pending, t.last))
            return out


def counted(table: str, key: str | tuple[str, str], at: datetime) -> Callable[[Tallies], None]:
    """A message counted in a tally without a write."""
    def change(tallies: Tallies) -> None:
        t = getattr(tallies, table).get(key)
        if t is not None:
            t.pending += 1
            t.last = at if t.last is None or at > t.last else t.last
            tallies.waiting.add((table, key))
    return change


def written(table: str, key: str | tuple[str, str], folded: int, **stored) -> Callable[[Tallies], None]:
    """A row written with `folded` of the tally's pending messages in it (and the columns `stored` as written)."""
    def change(tallies: Tallies) -> None:
        rows = getattr(tallies, table)
        t = rows.get(key)
        if t is None:
            rows[key] = Tally(**stored)
            return
        t.pending = max(0, t.pending - folded)
        if t.pending == 0:
            t.last = None
            tallies.waiting.discard((table, key))
        for name, value in stored.items():
            setattr(t, name, value)
    return change

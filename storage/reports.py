"""Report queries: the records a review covers (requests with their stints and ratings), streamed in batches.

A review over a period needs the requests registered in it and, for the 三率, also requests
registered earlier with a deadline in the period. Both come from one query, streamed (a
server-side cursor on PostgreSQL), with the stints and ratings of each batch read by range of
request numbers, so that a million requests pass through without being held in memory and
without replaying event logs. Ratings given in the period to requests the query does not
return come from `stray_ratings`. The statements go straight to the driver (storage.fastsql):
an export reads every row once, and SQLAlchemy's typing of each value would be most of its cost.

A review can be read in parts (`numbers`: a range of request numbers) by processes of their
own; `record_mark` tells whether two snapshots saw the same record (every change of a request
appends to its event log).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from routing.model import Event, Request, Stint
from routing.rates import Record
from routing.review import Scope
from storage.repository import (
    _EVENT_COLS,
    _REQUEST_COLS,
    _STINT_COLS,
    REQUEST_FIELDS,
    REQUEST_FLAGS,
    REQUEST_TIMES,
    STINT_FIELDS,
    STINT_FLAGS,
    STINT_TIMES,
    SqlRepository,
    _event,
    _read,
    request_from,
    stint_from,
)

BATCH = 2000
_RATED = "kind IN ('satisfied', 'unsatisfied')"


def _where(tx: SqlRepository, scope: Scope) -> tuple[str, dict[str, Any]]:
    """The unit filter of a scope on `requests r`, and its parameters."""
    raw = tx.raw
    where = ["r.county = :c"]
    p: dict[str, Any] = {"c": tx.county, "s": raw.time(scope.start), "e": raw.time(scope.end)}
    for name in ("township", "village", "category"):
        value = getattr(scope, name)
        if value is not None:
            where.append(f"r.{name} = :{name}")
            p[name] = value
    return " AND ".join(where), p


# the request's registration deadline, or a stint's resolve deadline, falls in the period
_DEADLINE_IN = ("((r.first_ack_due_at >= :s AND r.first_ack_due_at < :e) OR r.number IN "
                "(SELECT number FROM stints WHERE county = :c AND resolve_due_at >= :s AND resolve_due_at < :e))")
# a deadline never comes before registration, so everything wanted was registered before the end
_REVIEWED = f"r.created_at < :e AND (r.created_at >= :s OR {_DEADLINE_IN})"


def count_registered(tx: SqlRepository, scope: Scope) -> int:
    """How many requests of the scope were registered in its period."""
    where, p = _where(tx, scope)
    return tx.raw.scalar(f"SELECT count(*) FROM requests r WHERE {where} AND r.created_at >= :s "
                         "AND r.created_at < :e", p)


def categories_used(tx: SqlRepository) -> list[str]:
    """Every category a request of the county has, in name order."""
    return tx.raw.column("SELECT DISTINCT category FROM requests WHERE county = :c ORDER BY 1", {"c": tx.county})


def number_range(tx: SqlRepository, scope: Scope) -> tuple[int, int] | None:
    """The first and last number of the requests `review_requests` returns, or None when there are none."""
    where, p = _where(tx, scope)
    row = tx.raw.one(f"SELECT min(r.number), max(r.number) FROM requests r WHERE {where} AND {_REVIEWED}", p)
    return None if row is None or row[0] is None else (row[0], row[1])


def record_mark(tx: SqlRepository) -> int:
    """What identifies the state of the record a snapshot sees: its last event (0 when there is none).

    Run it first in a snapshot: it is the statement that fixes what the snapshot sees."""
    return tx.raw.scalar("SELECT max(id) FROM events") or 0


def review_requests(tx: SqlRepository, scope: Scope, batch: int = BATCH,
                    numbers: tuple[int | None, int | None] = (None, None)) -> Iterator[Record]:
    """The records of the requests registered in the period or with a deadline in it, by number
    (only those numbered from numbers[0] to numbers[1], when given; None: no bound)."""
    where, p = _where(tx, scope)
    lo, hi = numbers
    if lo is not None:
        where += " AND r.number >= :lo"
        p["lo"] = lo
    if hi is not None:
        where += " AND r.number <= :hi"
        p["hi"] = hi
    raw = tx.raw
    sql = f"SELECT {_REQUEST_COLS} FROM requests r WHERE {where} AND {_REVIEWED} ORDER BY r.number"
    for rows in raw.stream(sql, p, batch):
        requests = [request_from(_read(raw, row, REQUEST_FIELDS, REQUEST_TIMES, REQUEST_FLAGS)) for row in rows]
        yield from _records(tx, requests)


def _records(tx: SqlRepository, requests: Sequence[Request]) -> Iterator[Record]:
    """Records of a batch of requests (in number order): their stints and ratings, each read by one range query."""
    raw = tx.raw
    p = {"c": tx.county, "lo": requests[0].number, "hi": requests[-1].number}
    stints: dict[int, list[Stint]] = {r.number: [] for r in requests}
    for row in raw.run(f"SELECT {_STINT_COLS} FROM stints s WHERE s.county = :c AND s.number >= :lo "
                       "AND s.number <= :hi ORDER BY s.number, s.seq", p).fetchall():
        found = stints.get(row[0])
        if found is not None:  # the range holds requests of other units too
            found.append(stint_from(_read(raw, row, STINT_FIELDS, STINT_TIMES, STINT_FLAGS)))
    ratings: dict[int, list[Event]] = {}
    for row in raw.run(f"SELECT {_EVENT_COLS} FROM events WHERE county = :c AND number >= :lo AND number <= :hi "
                       f"AND {_RATED} ORDER BY number, id", p).fetchall():
        if row[0] in stints:
            ratings.setdefault(row[0], []).append(_event(raw, row))
    for r in requests:
        yield Record(r, tuple(stints[r.number]), tuple(ratings.get(r.number, ())))


def stray_ratings(tx: SqlRepository, scope: Scope) -> Iterator[Record]:
    """The records of requests of the scope that `review_requests` does not return but were rated in the period."""
    where, p = _where(tx, scope)
    numbers = tx.raw.column(
        f"SELECT DISTINCT e.number FROM events e JOIN requests r ON r.county = e.county AND r.number = e.number "
        f"WHERE {where} AND e.county = :c AND e.{_RATED} AND e.at >= :s AND e.at < :e "
        f"AND r.created_at < :s AND NOT ({_REVIEWED}) ORDER BY e.number", p)
    for i in range(0, len(numbers), BATCH):
        yield from tx.records_of(numbers[i:i + BATCH])

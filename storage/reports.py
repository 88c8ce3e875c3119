"""Report queries: the records a review covers (requests with their stints and ratings), streamed in batches.

A review over a period needs the requests registered in it and, for the 三率, also requests
registered earlier with a deadline in the period. Both come from one query, read in batches
with the stints and ratings of each batch fetched by request number, so that a million
requests pass through without being held in memory and without replaying event logs. Ratings
given in the period to requests the query does not return come from `stray_ratings`.
Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, func, or_, select

from routing.model import Event, Request, Stint
from routing.rates import RATING_KINDS, Record
from routing.review import Scope
from storage.repository import REQUEST_FIELDS, STINT_FIELDS, SqlRepository, request_from, stint_from, to_event
from storage.tables import EventRow, RequestRow, StintRow

R = RequestRow.__table__.c
E = EventRow.__table__.c
S = StintRow.__table__.c
_RATINGS = sorted(k.value for k in RATING_KINDS)
BATCH = 2000


def _unit(tx: SqlRepository, scope: Scope) -> list:
    where = [R.county == tx.county]
    if scope.township is not None:
        where.append(R.township == scope.township)
    if scope.village is not None:
        where.append(R.village == scope.village)
    if scope.category is not None:
        where.append(R.category == scope.category)
    return where


def _deadline_in(tx: SqlRepository, scope: Scope):
    """The request's registration deadline, or a stint's resolve deadline, falls in the period."""
    stint_due = select(S.number).where(S.county == tx.county, S.resolve_due_at >= scope.start,
                                       S.resolve_due_at < scope.end)
    return or_(and_(R.first_ack_due_at >= scope.start, R.first_ack_due_at < scope.end), R.number.in_(stint_due))


def count_registered(tx: SqlRepository, scope: Scope) -> int:
    """How many requests of the scope were registered in its period."""
    q = select(func.count()).select_from(RequestRow.__table__).where(
        *_unit(tx, scope), R.created_at >= scope.start, R.created_at < scope.end,
    )
    return tx.session.execute(q).scalar_one()


def review_requests(tx: SqlRepository, scope: Scope, batch: int = BATCH) -> Iterator[Record]:
    """The records of the requests registered in the period or with a deadline in it, by number."""
    # a deadline never comes before registration, so everything wanted was registered before the end
    q = (select(*(R[name] for name in REQUEST_FIELDS))
         .where(*_unit(tx, scope), R.created_at < scope.end,
                or_(R.created_at >= scope.start, _deadline_in(tx, scope)))
         .order_by(R.number)
         .execution_options(yield_per=batch))
    for part in tx.session.execute(q).partitions(batch):
        requests = [request_from(row) for row in part]
        yield from _records(tx, requests)


def _records(tx: SqlRepository, requests: list[Request]) -> Iterator[Record]:
    """Records of a batch of requests: their stints and ratings read in two queries."""
    numbers = [r.number for r in requests]
    stints: dict[int, list[Stint]] = {n: [] for n in numbers}
    for row in tx.session.execute(select(*(S[n] for n in STINT_FIELDS))
                                  .where(S.county == tx.county, S.number.in_(numbers)).order_by(S.number, S.seq)):
        stints[row.number].append(stint_from(row))
    ratings: dict[int, list[Event]] = {n: [] for n in numbers}
    for row in tx.session.execute(select(EventRow.__table__).where(
            E.county == tx.county, E.number.in_(numbers), E.kind.in_(_RATINGS)).order_by(E.number, E.id)):
        ratings[row.number].append(to_event(row))
    for r in requests:
        yield Record(r, tuple(stints[r.number]), tuple(ratings[r.number]))


def stray_ratings(tx: SqlRepository, scope: Scope) -> Iterator[Record]:
    """The records of requests of the scope that `review_requests` does not return but were rated in the period."""
    returned = or_(R.created_at >= scope.start, _deadline_in(tx, scope))
    earlier = select(R.number).where(*_unit(tx, scope), R.created_at < scope.start, ~returned)
    numbers = sorted(set(tx.session.execute(
        select(E.number).where(E.county == tx.county, E.kind.in_(_RATINGS), E.at >= scope.start,
                               E.at < scope.end, E.number.in_(earlier))).scalars()))
    for i in range(0, len(numbers), BATCH):
        yield from _records(tx, list(tx.get_many(numbers[i:i + BATCH]).values()))

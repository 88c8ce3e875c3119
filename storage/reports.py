"""Report queries: the requests a review covers with their event logs, streamed in batches.

A review over a period needs the requests registered in it (its rows and times) and, for the
三率, also requests registered earlier whose deadlines fall in the period. Both come from one
query, read in batches with the events of each batch fetched by request number, so that a
million requests pass through without being held in memory. Ratings given in the period to
requests the query does not return come from `stray_ratings`. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, func, or_, select

from routing.model import Event, EventKind, Request, Status, Tier
from routing.review import RATING_KINDS, TIMING_KINDS, Scope
from storage.repository import REQUEST_FIELDS, SqlRepository, request_from, to_event
from storage.tables import EventRow, RequestRow

R = RequestRow.__table__.c
E = EventRow.__table__.c
_TIMING = sorted(k.value for k in TIMING_KINDS)
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


def _deadline_in(scope: Scope):
    return or_(
        and_(R.first_ack_due_at >= scope.start, R.first_ack_due_at < scope.end),
        and_(R.resolve_due_at >= scope.start, R.resolve_due_at < scope.end),
    )


def count_registered(tx: SqlRepository, scope: Scope) -> int:
    """How many requests of the scope were registered in its period."""
    q = select(func.count()).select_from(RequestRow.__table__).where(
        *_unit(tx, scope), R.created_at >= scope.start, R.created_at < scope.end,
    )
    return tx.session.execute(q).scalar_one()


def review_requests(tx: SqlRepository, scope: Scope, batch: int = BATCH) -> Iterator[tuple[Request, list[Event]]]:
    """Requests registered in the period or with a deadline in it, by number, each with its timing events."""
    # a deadline never comes before registration, so everything wanted was registered before the end
    q = (select(*(R[name] for name in REQUEST_FIELDS))
         .where(*_unit(tx, scope), R.created_at < scope.end, or_(R.created_at >= scope.start, _deadline_in(scope)))
         .order_by(R.number)
         .execution_options(yield_per=batch))
    for part in tx.session.execute(q).partitions(batch):
        requests = [request_from(row) for row in part]
        numbers = [r.number for r in requests]
        events: dict[int, list[Event]] = {n: [] for n in numbers}
        for number, kind, at, tier, from_tier, actor, actor_key, from_status, to_status in tx.session.execute(
            select(E.number, E.kind, E.at, E.tier, E.from_tier, E.actor, E.actor_key, E.from_status, E.to_status)
            .where(E.county == tx.county, E.number.in_(numbers), E.kind.in_(_TIMING))
            .order_by(E.number, E.id)
        ):
            # only what times need: no note, rule or data (a million events' worth add up)
            events[number].append(Event(
                number=number, kind=_KIND[kind], at=at, tier=_TIER[tier], actor=actor, actor_key=actor_key,
                from_status=_STATUS.get(from_status), to_status=_STATUS.get(to_status), from_tier=_TIER.get(from_tier),
            ))
        for r in requests:
            yield r, events[r.number]


_KIND = {k.value: k for k in EventKind}
_TIER = {t.key: t for t in Tier}
_STATUS = {s.value: s for s in Status}


def stray_ratings(tx: SqlRepository, scope: Scope) -> Iterator[tuple[Request, Event]]:
    """Ratings given in the period to requests of the scope that `review_requests` does not return."""
    outside = [or_(c.is_(None), c < scope.start, c >= scope.end) for c in (R.first_ack_due_at, R.resolve_due_at)]
    earlier = select(R.number).where(*_unit(tx, scope), R.created_at < scope.start, *outside)
    ratings = [to_event(row) for row in tx.session.execute(
        select(EventRow.__table__)
        .where(E.county == tx.county, E.kind.in_(_RATINGS), E.at >= scope.start, E.at < scope.end,
               E.number.in_(earlier))
        .order_by(E.id)
    )]
    numbers = sorted({e.number for e in ratings})
    requests: dict[int, Request] = {}
    for i in range(0, len(numbers), BATCH):
        requests.update(tx.get_many(numbers[i:i + BATCH]))
    for e in ratings:
        yield requests[e.number], e

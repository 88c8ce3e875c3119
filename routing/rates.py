"""The 三率 (响应率, 解决率, 满意率): one definition for digests, exports and reports.

- 响应率: requests first responded to within the acknowledge deadline of the tier where they were
  registered / requests whose that deadline fell in the period;
- 解决率: requests resolved (and not since reopened) within the resolve deadline of the tier that
  resolved them / requests whose resolve deadline fell in the period (rejected ones excluded);
- 满意率: 满意 / (满意 + 不满意) over ratings given in the period.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime

from routing.model import Event, EventKind, Request, Status


@dataclass(slots=True)
class Rates:
    """Counts behind the three rates of one unit over one period."""

    due_ack: int = 0
    responded_in_time: int = 0
    due_resolve: int = 0
    resolved_in_time: int = 0
    rated: int = 0
    satisfied: int = 0

    @property
    def response(self) -> float | None:
        """响应率, or None when no acknowledge deadline fell in the period."""
        return self.responded_in_time / self.due_ack if self.due_ack else None

    @property
    def resolution(self) -> float | None:
        """解决率, or None when no resolve deadline fell in the period."""
        return self.resolved_in_time / self.due_resolve if self.due_resolve else None

    @property
    def satisfaction(self) -> float | None:
        """满意率, or None when no rating was given in the period."""
        return self.satisfied / self.rated if self.rated else None

    def add(self, other: Rates) -> None:
        """Add another unit's counts to these."""
        self.due_ack += other.due_ack
        self.responded_in_time += other.responded_in_time
        self.due_resolve += other.due_resolve
        self.resolved_in_time += other.resolved_in_time
        self.rated += other.rated
        self.satisfied += other.satisfied


def in_period(t: datetime | None, start: datetime, end: datetime) -> bool:
    """True when t lies in [start, end)."""
    return t is not None and start <= t < end


def responded_in_time(r: Request) -> bool:
    """True when the first response came by the registering tier's acknowledge deadline."""
    return r.acknowledged_at is not None and r.first_ack_due_at is not None and r.acknowledged_at <= r.first_ack_due_at


def resolved_in_time(r: Request) -> bool:
    """True when the request is resolved (not reopened since) by the resolving tier's deadline."""
    return r.resolved_at is not None and r.resolve_due_at is not None and r.resolved_at <= r.resolve_due_at


def count_request(rates: Rates, r: Request, start: datetime, end: datetime) -> None:
    """Count one request's deadlines that fell in [start, end)."""
    if in_period(r.first_ack_due_at, start, end):
        rates.due_ack += 1
        rates.responded_in_time += responded_in_time(r)
    if r.status is not Status.REJECTED and in_period(r.resolve_due_at, start, end):
        rates.due_resolve += 1
        rates.resolved_in_time += resolved_in_time(r)


def count_rating(rates: Rates, e: Event, start: datetime, end: datetime) -> None:
    """Count one rating event given in [start, end)."""
    if e.kind in (EventKind.SATISFIED, EventKind.UNSATISFIED) and in_period(e.at, start, end):
        rates.rated += 1
        rates.satisfied += e.kind is EventKind.SATISFIED


def tally(rates: Rates, r: Request, ratings: Iterable[Event], start: datetime, end: datetime) -> None:
    """Count one request and its own rating events into one unit's rates (the streaming form of rates_by)."""
    count_request(rates, r, start, end)
    for e in ratings:
        count_rating(rates, e, start, end)


def rates_by(
    requests: Iterable[Request],
    ratings: Iterable[Event],
    start: datetime,
    end: datetime,
    key: Callable[[Request], Hashable],
) -> dict[Hashable, Rates]:
    """The rates per unit (village, township, handler ...), units named by `key(request)`."""
    out: dict[Hashable, Rates] = {}
    by_number: dict[int, Request] = {}
    for r in requests:
        by_number[r.number] = r
        count_request(out.setdefault(key(r), Rates()), r, start, end)
    for e in ratings:
        r = by_number.get(e.number)
        if r is not None:
            count_rating(out.setdefault(key(r), Rates()), e, start, end)
    return out


def total(requests: Iterable[Request], ratings: Iterable[Event], start: datetime, end: datetime) -> Rates:
    """The rates over all the given requests."""
    return rates_by(requests, ratings, start, end, key=lambda r: None).get(None, Rates())

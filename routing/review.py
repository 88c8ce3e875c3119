"""Performance-review figures: how long each request took at each tier, and per-unit aggregates.

The rules that make the figures fair to handlers:
- time is working time of the calendar: nights, weekends and holidays do not count;
- only time a request spends open or acknowledged counts: waiting for the requester's rating
  does not (a request reopened by 不满意 counts again from the reopening);
- a request that moves between tiers has its time counted at each tier separately, from the
  moment it reached that tier.

The 三率 come from `routing.rates`, the one implementation shared with the digests. Everything
here is a pure function of requests, their events, the calendar and a moment `as_of` (the time
the review is made, for requests still being handled). `Review` takes requests one at a time, so
that a million requests can stream through it; per request it keeps only a few numbers.
"""

from __future__ import annotations

import enum
import heapq
import math
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from routing.jobs import overdue_since
from routing.lifecycle import RULES
from routing.model import Event, EventKind, Request, Status, Tier
from routing.rates import (
    Rates,
    count_rating,
    count_request,
    resolved_in_time,
    responded_in_time,
    tally,
)
from routing.workcal import WorkCalendar

# the events that move a request's clocks; reminders, proposals and alerts do not
TIMING_KINDS = frozenset({
    EventKind.REGISTERED, EventKind.CLAIMED, EventKind.ESCALATED, EventKind.SENT_BACK, EventKind.RESOLVED,
    EventKind.REJECTED, EventKind.SATISFIED, EventKind.UNSATISFIED, EventKind.EXPIRED,
})
RATING_KINDS = frozenset({EventKind.SATISFIED, EventKind.UNSATISFIED})
_HANDLED = frozenset({Status.OPEN, Status.ACKNOWLEDGED})  # someone has to act: the handlers' clock runs
OVERDUE_LISTED = 50


class NoResponder(enum.Enum):
    """The 'handler' of a request no person responded to first."""

    BOT = "bot"  # the bot's automatic escalation was the first response
    NONE = "none"  # nobody has responded yet


@dataclass(frozen=True, slots=True)
class Scope:
    """What a review covers: the requests registered in [start, end), optionally of one unit."""

    start: datetime
    end: datetime
    township: str | None = None
    village: str | None = None
    category: str | None = None

    def __post_init__(self) -> None:
        # stored times are UTC: comparing times of one timezone is much faster than across two
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    def created_in(self, r: Request) -> bool:
        """True when the request was registered in the period."""
        return self.start <= r.created_at < self.end


@dataclass(slots=True)
class TierTime:
    """A request's time at one tier."""

    reached_at: datetime  # when it first reached the tier
    response_hours: float | None = None  # working hours from then to the first response at this tier
    handling_seconds: float = 0.0  # working time it spent open or acknowledged at this tier


@dataclass(slots=True)
class RequestFigures:
    """One request's review figures."""

    request: Request
    response_hours: float | None  # working hours from registration to the first response
    resolution_days: float | None  # working days open or acknowledged until resolved; None until resolved
    tiers: dict[Tier, TierTime]  # the tiers it reached
    resolved_tier: Tier | None  # the tier whose handler reported the standing result
    resolver: str | None  # who reported it (None: not resolved)
    response_met: bool | None  # None: the acknowledge deadline has not passed yet
    resolution_met: bool | None  # None: not due yet, or rejected
    ratings: tuple[Event, ...]  # every rating the request was given
    hours_per_day: float

    def handling_days(self, tier: Tier) -> float | None:
        """Working days the request spent being handled at a tier, None if it never got there."""
        t = self.tiers.get(tier)
        return None if t is None else t.handling_seconds / 3600 / self.hours_per_day

    def response_at(self, tier: Tier) -> float | None:
        """Working hours from reaching a tier to the first response there."""
        t = self.tiers.get(tier)
        return None if t is None else t.response_hours

    @property
    def handler_key(self) -> str | NoResponder:
        """Who the request counts for per handler: the first responder (design, section 3)."""
        r = self.request
        if r.responder:
            return r.responder
        return NoResponder.BOT if r.acknowledged_at is not None else NoResponder.NONE


def response_met(r: Request, as_of: datetime) -> bool | None:
    """Whether the first response met the registering tier's acknowledge deadline; None while not due."""
    if r.first_ack_due_at is None:
        return None
    if responded_in_time(r):
        return True
    if r.acknowledged_at is None and as_of < r.first_ack_due_at:
        return None
    return False


def resolution_met(r: Request, as_of: datetime) -> bool | None:
    """Whether the standing result met the resolving tier's deadline; None while not due, or when rejected."""
    if r.status is Status.REJECTED or r.resolve_due_at is None:
        return None
    if resolved_in_time(r):
        return True
    if r.resolved_at is None and as_of < r.resolve_due_at:
        return None
    return False


def request_figures(r: Request, events: Iterable[Event], calendar: WorkCalendar, as_of: datetime) -> RequestFigures:
    """A request's times per tier and overall, from its event log (oldest first)."""
    tiers: dict[Tier, TierTime] = {}
    since, tier, handled = r.created_at, r.tier, True
    resolved_tier: Tier | None = None
    resolver: str | None = None
    ratings: list[Event] = []
    for e in events:
        if e.kind not in TIMING_KINDS:
            continue
        if e.kind is EventKind.REGISTERED:
            tiers.setdefault(e.tier, TierTime(e.at))
            since, tier, handled = e.at, e.tier, True
            continue
        where = e.from_tier or e.tier  # the tier at which it happened (an escalation ends elsewhere)
        if handled and where in tiers:
            tiers[where].handling_seconds += calendar.working_seconds(since, e.at)
        here = tiers.get(where)
        if here is not None and here.response_hours is None and RULES[e.kind].responds:
            here.response_hours = calendar.working_seconds(here.reached_at, e.at) / 3600
        if e.kind is EventKind.RESOLVED:
            resolved_tier, resolver = where, e.actor
        elif e.kind is EventKind.UNSATISFIED:
            resolved_tier, resolver = None, None
        if e.kind in RATING_KINDS:
            ratings.append(e)
        if e.tier not in tiers:
            tiers[e.tier] = TierTime(e.at)
        since, tier = e.at, e.tier
        if e.to_status is not None:
            handled = e.to_status in _HANDLED
    if handled and tier in tiers and as_of > since:
        tiers[tier].handling_seconds += calendar.working_seconds(since, as_of)
    hours_per_day = calendar.hours_per_day
    resolution = None
    if r.resolved_at is not None:
        resolution = sum(t.handling_seconds for t in tiers.values()) / 3600 / hours_per_day
    response = calendar.working_seconds(r.created_at, r.acknowledged_at) / 3600 if r.acknowledged_at else None
    if r.resolved_at is None:
        resolved_tier, resolver = None, None
    return RequestFigures(
        request=r, response_hours=response, resolution_days=resolution, tiers=tiers,
        resolved_tier=resolved_tier, resolver=resolver, response_met=response_met(r, as_of),
        resolution_met=resolution_met(r, as_of), ratings=tuple(ratings), hours_per_day=hours_per_day,
    )


def quantile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile, interpolating between ranks as Excel's PERCENTILE.INC does; None when empty."""
    s = sorted(values)
    if not s:
        return None
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and 90th percentile of a set of times, and how many there are."""

    n: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of the values."""
        s = sorted(values)
        return cls(len(s), quantile(s, 0.5), quantile(s, 0.9))


@dataclass(slots=True)
class _Unit:
    """What a review keeps of one unit: counts, rate counts and the positions of its requests' times."""

    requests: int = 0
    resolved: int = 0
    rejected: int = 0
    active: int = 0
    rates: Rates = field(default_factory=Rates)
    positions: array = field(default_factory=lambda: array("I"))


@dataclass(frozen=True, slots=True)
class UnitSummary:
    """One unit's figures over a review: what exports and reports show."""

    key: Hashable
    requests: int  # registered in the period
    resolved: int  # of those, resolved now (result standing)
    rejected: int
    active: int  # of those, still open or acknowledged
    rates: Rates  # the 三率 of the period (deadlines and ratings that fell in it)
    response: Spread  # working hours to the first response, of requests registered in the period
    resolution: Spread  # working days to resolution, of those resolved


@dataclass(slots=True)
class WeekSummary:
    """One week of the period: requests registered in it and the 三率 of the deadlines and ratings in it."""

    start: date
    requests: int = 0
    resolved: int = 0
    rates: Rates = field(default_factory=Rates)
    resolution_median: float | None = None


@dataclass(frozen=True, slots=True)
class OverdueItem:
    """A request of the period still being handled past a deadline at the time of the review."""

    request: Request
    since: datetime
    by: timedelta
    working_days: float


DIMENSIONS: dict[str, Callable[[RequestFigures], Hashable]] = {
    "township": lambda f: f.request.township,
    "village": lambda f: (f.request.township, f.request.village),
    "category": lambda f: f.request.category,
    "handler": lambda f: f.handler_key,
}


class Review:
    """The figures of a review, accumulated one request at a time."""

    def __init__(self, scope: Scope, calendar: WorkCalendar, as_of: datetime, *,
                 overdue_listed: int = OVERDUE_LISTED) -> None:
        self.scope = scope
        self.calendar = calendar
        self.as_of = as_of
        self.total = _Unit()
        self.units: dict[str, dict[Hashable, _Unit]] = {d: {} for d in DIMENSIONS}
        # times stored once per request registered in the period; units keep positions into these
        self._response = array("d")
        self._resolution = array("d")
        self._tier_response: dict[Tier, array] = {t: array("d") for t in Tier}
        self._tier_handling: dict[Tier, array] = {t: array("d") for t in Tier}
        self._weeks: dict[date, WeekSummary] = {}
        self._week_resolution: dict[date, array] = {}
        self._week_bounds: dict[date, tuple[datetime, datetime]] = {}
        w = self._week_of(scope.start)
        while self._week_start(w) < scope.end:
            self._weeks[w] = WeekSummary(w)
            self._week_resolution[w] = array("d")
            # a week's 三率 count only what falls in the period: the first and last weeks are cut
            self._week_bounds[w] = (max(self._week_start(w), scope.start),
                                    min(self._week_start(w + timedelta(days=7)), scope.end))
            w += timedelta(days=7)
        self._overdue: list[tuple[timedelta, int, OverdueItem]] = []
        self.overdue_count = 0
        self._overdue_listed = overdue_listed

    # --- input -------------------------------------------------------------------
    def add(self, r: Request, events: Iterable[Event]) -> RequestFigures:
        """Count one request of the scope with its event log; returns its figures."""
        f = request_figures(r, events, self.calendar, self.as_of)
        units = [self.units[d].setdefault(key(f), _Unit()) for d, key in DIMENSIONS.items()]
        counted = Rates()
        tally(counted, r, f.ratings, self.scope.start, self.scope.end)
        for u in (self.total, *units):
            u.rates.add(counted)
        self._count_weeks(f)
        if self.scope.created_in(r):
            self._count_registered(f, units)
        return f

    def add_rating(self, r: Request, e: Event) -> None:
        """Count a rating given in the period to a request that `add` does not see (registered earlier)."""
        f = RequestFigures(r, None, None, {}, None, None, None, None, (e,), self.calendar.hours_per_day)
        for u in (self.total, *(self.units[d].setdefault(key(f), _Unit()) for d, key in DIMENSIONS.items())):
            count_rating(u.rates, e, self.scope.start, self.scope.end)
        week = self._week_of(e.at)
        if week in self._weeks:
            count_rating(self._weeks[week].rates, e, *self._week_bounds[week])

    def _count_registered(self, f: RequestFigures, units: list[_Unit]) -> None:
        r = f.request
        pos = len(self._response)
        self._response.append(math.nan if f.response_hours is None else f.response_hours)
        self._resolution.append(math.nan if f.resolution_days is None else f.resolution_days)
        resolved, rejected, active = r.resolved_at is not None, r.status is Status.REJECTED, r.status.active
        for u in (self.total, *units):
            u.requests += 1
            u.resolved += resolved
            u.rejected += rejected
            u.active += active
            u.positions.append(pos)
        week = self._weeks.get(self._week_of(r.created_at))
        if week is not None:
            week.requests += 1
            if f.resolution_days is not None:
                week.resolved += 1
                self._week_resolution[week.start].append(f.resolution_days)
        for tier, t in f.tiers.items():
            if t.response_hours is not None:
                self._tier_response[tier].append(t.response_hours)
            if not r.status.active:  # a tier's part is only complete once the request is no longer handled
                self._tier_handling[tier].append(t.handling_seconds / 3600 / f.hours_per_day)
        since = overdue_since(r)
        if since is not None and since <= self.as_of:
            self.overdue_count += 1
            by = self.as_of - since
            item = OverdueItem(r, since, by, self.calendar.working_days(since, self.as_of))
            entry = (by, -r.number, item)
            if len(self._overdue) < self._overdue_listed:
                heapq.heappush(self._overdue, entry)
            elif self._overdue and entry[:2] > self._overdue[0][:2]:
                heapq.heapreplace(self._overdue, entry)

    def _count_weeks(self, f: RequestFigures) -> None:
        r = f.request
        weeks = {self._week_of(t) for t in (r.first_ack_due_at, r.resolve_due_at) if t is not None}
        for w in weeks:
            if w in self._weeks:
                count_request(self._weeks[w].rates, r, *self._week_bounds[w])
        for e in f.ratings:
            w = self._week_of(e.at)
            if w in self._weeks:
                count_rating(self._weeks[w].rates, e, *self._week_bounds[w])

    # --- weeks: local Monday to Sunday ------------------------------------------------
    def _week_of(self, t: datetime) -> date:
        d = t.astimezone(self.calendar.tz).date()
        return d - timedelta(days=d.weekday())

    def _week_start(self, w: date) -> datetime:
        return datetime.combine(w, datetime.min.time(), self.calendar.tz).astimezone(UTC)

    # --- output ------------------------------------------------------------------------
    def _summary(self, key: Hashable, u: _Unit) -> UnitSummary:
        return UnitSummary(key, u.requests, u.resolved, u.rejected, u.active, u.rates,
                           _spread(self._response, u.positions), _spread(self._resolution, u.positions))

    def overall(self) -> UnitSummary:
        """The figures of the whole scope."""
        return self._summary(None, self.total)

    def by(self, dimension: str) -> list[UnitSummary]:
        """The figures per township, village, category or handler, in the order of their keys."""
        units = self.units[dimension]
        return [self._summary(k, units[k]) for k in sorted(units, key=_sort_key)]

    def resolution_days(self) -> Iterator[float]:
        """Working days to resolution of every resolved request registered in the period."""
        return (v for v in self._resolution if not math.isnan(v))

    def tier_spreads(self) -> dict[Tier, tuple[Spread, Spread]]:
        """Per tier: working hours to the first response there, and working days handled there."""
        return {t: (Spread.of(self._tier_response[t]), Spread.of(self._tier_handling[t])) for t in Tier}

    def weeks(self) -> list[WeekSummary]:
        """The period's weeks, oldest first."""
        out = []
        for w, week in self._weeks.items():
            values = self._week_resolution[w]
            week.resolution_median = quantile(values, 0.5)
            out.append(week)
        return out

    def overdue(self) -> list[OverdueItem]:
        """The longest-overdue requests (at most `overdue_listed`), longest first."""
        return [item for _, _, item in sorted(self._overdue, key=lambda e: e[:2], reverse=True)]


def _spread(values: array, positions: array) -> Spread:
    """The spread of the values at these positions, the missing ones (NaN) left out."""
    # one list at a time: for a million requests each is tens of megabytes
    return Spread.of([v for i in positions if not math.isnan(v := values[i])])


def _sort_key(key: Hashable) -> tuple:
    """Units by name; the no-person handler entries last."""
    if isinstance(key, NoResponder):
        return (1, key.value)
    return (0, key)


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts of values in [edges[0], edges[1]), ..., and a last bin from edges[-1] up."""
    counts = [0] * len(edges)
    for v in values:
        i = len(edges) - 1
        while i > 0 and v < edges[i]:
            i -= 1
        counts[i] += 1
    return counts


def slowest(units: Iterable[UnitSummary], limit: int) -> list[UnitSummary]:
    """The units with the longest median resolution time, slowest first (units with none left out)."""
    timed = [u for u in units if u.resolution.median is not None]
    return sorted(timed, key=lambda u: (-u.resolution.median, -(u.resolution.p90 or 0), str(u.key)))[:limit]

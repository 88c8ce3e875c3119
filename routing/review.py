"""Performance-review figures: how long each request took at each tier, and per-unit aggregates.

The rules that make the figures fair to handlers:
- time is working time of the calendar: nights, weekends and holidays do not count;
- only time a request spends open or acknowledged counts (its tier stints): waiting for the
  requester's rating does not (a request reopened by 不满意 counts again from the reopening);
- a request that moves between tiers has its time counted at each tier separately, from the
  moment it reached that tier;
- everything about a period is computed as of the period's end (or as of the review, while the
  period is not over): what happened later never changes it (routing.rates).

Everything here is a pure function of records (a request, its stints and its ratings), the
calendar and a moment `as_of` (when the review is made). `Review` takes records one at a time,
so that a million requests can stream through it; per request it keeps only a few numbers.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from routing.jobs import overdue_since
from routing.model import Request, Stint, Tier
from routing.rates import AsOf, Credit, Outcome, Person, Rates, Record, Unclaimed, outcome
from routing.workcal import WorkCalendar

OVERDUE_LISTED = 50


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
    """One request's review figures, as of a moment (the period's end, or the review)."""

    record: Record
    as_of: datetime
    state: AsOf
    response_hours: float | None  # working hours from registration to the first response
    resolution_days: float | None  # working days open or acknowledged until the standing result
    tiers: dict[Tier, TierTime]  # the tiers it reached
    resolved_tier: Tier | None  # the tier whose handler reported the standing result
    resolver: Person | None  # who reported it
    first_responder: Person | None
    response_met: bool | None  # None: the acknowledge deadline had not come
    resolution_met: bool | None  # None: not due yet, or rejected
    hours_per_day: float

    @property
    def request(self) -> Request:
        """The request."""
        return self.record.request

    def handling_days(self, tier: Tier) -> float | None:
        """Working days the request spent being handled at a tier, None if it never got there."""
        t = self.tiers.get(tier)
        return None if t is None else t.handling_seconds / 3600 / self.hours_per_day

    def response_at(self, tier: Tier) -> float | None:
        """Working hours from reaching a tier to the first response there."""
        t = self.tiers.get(tier)
        return None if t is None else t.response_hours


def _worked(s: Stint, until: datetime, calendar: WorkCalendar) -> float:
    """The working time of a stint up to `until` (its stored time once it had ended by then)."""
    if s.ended_at is not None and s.ended_at <= until:
        return s.working_seconds if s.working_seconds is not None else calendar.working_seconds(s.started_at, s.ended_at)
    return calendar.working_seconds(s.started_at, until) if until > s.started_at else 0.0


def _person(name: str | None, key: str | None) -> Person | None:
    return Person(name, key or f"name:{name}") if name else None


def request_figures(rec: Record, calendar: WorkCalendar, as_of: datetime) -> RequestFigures:
    """A request's figures as of `as_of`: what had happened by then, its stints' times and deadlines."""
    r = rec.request
    state = AsOf.of(rec, as_of)
    tiers: dict[Tier, TierTime] = {}
    for s in state.started:
        t = tiers.get(s.tier)
        if t is None:
            t = tiers[s.tier] = TierTime(s.started_at)
        t.handling_seconds += _worked(s, as_of, calendar)
        if t.response_hours is None and s.responded_at is not None and s.responded_at < as_of:
            t.response_hours = calendar.working_seconds(t.reached_at, s.responded_at) / 3600
    hours_per_day = calendar.hours_per_day
    standing = state.standing
    resolution = None
    if standing is not None:
        resolution = sum(_worked(s, as_of, calendar) for s in state.started) / 3600 / hours_per_day
    responded = r.acknowledged_at is not None and r.acknowledged_at < as_of
    response = calendar.working_seconds(r.created_at, r.acknowledged_at) / 3600 if responded else None
    first_responder = None
    if responded:
        first = next((s for s in rec.stints if s.responded_at == r.acknowledged_at), None)
        first_responder = (_person(first.responder, first.responder_key) if first else None) or _person(r.responder,
                                                                                                          None)
    return RequestFigures(
        record=rec, as_of=as_of, state=state, response_hours=response, resolution_days=resolution, tiers=tiers,
        resolved_tier=standing.tier if standing else None,
        resolver=_person(standing.ended_by, standing.ended_by_key) if standing else None,
        first_responder=first_responder,
        response_met=_response_met(rec, as_of), resolution_met=_resolution_met(rec, state, as_of),
        hours_per_day=hours_per_day,
    )


def _response_met(rec: Record, as_of: datetime) -> bool | None:
    r = rec.request
    due = rec.stints[0].ack_due_at if rec.stints else r.first_ack_due_at
    if due is None:
        return None
    if r.acknowledged_at is not None and r.acknowledged_at < as_of:
        return r.acknowledged_at <= due
    return False if due < as_of else None


def _resolution_met(rec: Record, state: AsOf, as_of: datetime) -> bool | None:
    """Whether the request's deciding deadline was met: the resolving stint's, else the one running."""
    if state.rejected or not state.started:
        return None
    if state.standing is not None:
        s = state.standing
        return s.resolve_due_at is None or s.ended_at <= s.resolve_due_at
    missed = any(s.resolve_due_at is not None and s.resolve_due_at < as_of and s.started_at <= s.resolve_due_at
                 and not s.ended_by_then(s.resolve_due_at) for s in state.started)
    return False if missed else None


def quantile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile, interpolating between ranks as Excel's PERCENTILE.INC does; None when empty."""
    return sorted_quantile(sorted(values), q)


def sorted_quantile(s: Sequence[float], q: float) -> float | None:
    """`quantile` of numbers sorted already (a list, or an array that indexes like one)."""
    if len(s) == 0:
        return None
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    a, b = float(s[lo]), float(s[hi])
    return a + (b - a) * (pos - lo)


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
    response_positions: array = field(default_factory=lambda: array("I"))
    resolution_positions: array = field(default_factory=lambda: array("I"))

    def merge(self, other: _Unit, offset: int) -> None:
        """Add another part's counts of the same unit; its positions are `offset` further on here."""
        self.requests += other.requests
        self.resolved += other.resolved
        self.rejected += other.rejected
        self.active += other.active
        self.rates.add(other.rates)
        self.response_positions.extend(p + offset for p in other.response_positions)
        self.resolution_positions.extend(p + offset for p in other.resolution_positions)


@dataclass(frozen=True, slots=True)
class UnitSummary:
    """One unit's figures over a review: what exports and reports show."""

    key: Hashable
    requests: int  # registered in the period (per handler: requests it counts for)
    resolved: int  # of those, resolved by the period's end (result standing)
    rejected: int
    active: int  # of those, still open or acknowledged at the period's end
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


UNIT_DIMENSIONS: dict[str, Callable[[Request], Hashable]] = {
    "township": lambda r: r.township,
    "village": lambda r: (r.township, r.village),
    "category": lambda r: r.category,
}
DIMENSIONS = (*UNIT_DIMENSIONS, "handler")


def python_spread(values: array, positions: array | None) -> Spread:
    """The spread of the values at these positions (all of them when None), the missing ones (NaN) left out."""
    # one list at a time: for a million requests each is tens of megabytes (bot.review.numeric does without)
    picked = values if positions is None else (values[i] for i in positions)
    return Spread.of([v for v in picked if not math.isnan(v)])


# the spread (median, 90th percentile) of stored times: of the values at these positions, or of all when None,
# the missing ones (NaN) left out
Spreader = Callable[[array, "array | None"], "Spread"]


class Review:
    """The figures of a review, accumulated one record at a time."""

    def __init__(self, scope: Scope, calendar: WorkCalendar, as_of: datetime, *,
                 overdue_listed: int = OVERDUE_LISTED, weeks: bool = True, spread: Spreader = python_spread) -> None:
        self.scope = scope
        self.spread = spread  # how a unit's median and 90th percentile are taken from the stored times
        self.calendar = calendar
        self.as_of = as_of
        self.until = min(scope.end, as_of)  # the moment the period's figures are computed as of
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
        while weeks and self._week_start(w) < scope.end:  # an export has no weekly figures: weeks=False
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
    def add(self, rec: Record) -> RequestFigures:
        """Count one record of the scope; returns the request's figures as of the period's end."""
        r = rec.request
        f = request_figures(rec, self.calendar, self.until)
        o = outcome(rec, self.scope.start, self.scope.end, self.as_of, f.state)  # f.state: as of self.until
        units = [_unit(self.units[d], key(r)) for d, key in UNIT_DIMENSIONS.items()]
        counted = Rates()
        o.count(counted)
        for u in (self.total, *units):
            u.rates.add(counted)
        handlers = self._credit(o)
        if self._weeks:
            self._count_weeks(rec)
        if self.scope.created_in(r):
            self._count_registered(rec, f, units, handlers)
        return f

    def add_rating(self, rec: Record) -> None:
        """Count the ratings given in the period to a request `add` does not see (registered earlier,
        no deadline in the period)."""
        o = outcome(rec, self.scope.start, self.scope.end, self.as_of)
        counted = Rates()
        o.count(counted)
        for u in (self.total, *(_unit(self.units[d], key(rec.request))
                                for d, key in UNIT_DIMENSIONS.items())):
            u.rates.add(counted)
        self._credit(o)
        if self._weeks:
            self._count_weeks(rec)

    def _credit(self, o: Outcome) -> dict[Credit, _Unit]:
        """Per-handler counts of one outcome; returns the handlers' units."""
        out = {}
        for credit, rates in o.credits().items():
            u = _unit(self.units["handler"], credit)
            u.rates.add(rates)
            u.requests += 1
            out[credit] = u
        return out

    def _count_registered(self, rec: Record, f: RequestFigures, units: list[_Unit],
                          handlers: dict[Credit, _Unit]) -> None:
        r = rec.request
        pos = len(self._response)
        self._response.append(math.nan if f.response_hours is None else f.response_hours)
        self._resolution.append(math.nan if f.resolution_days is None else f.resolution_days)
        state = f.state
        resolved, rejected, active = state.standing is not None, state.rejected, state.active
        for u in (self.total, *units):
            u.requests += 1
            u.resolved += resolved
            u.rejected += rejected
            u.active += active
            u.response_positions.append(pos)
            u.resolution_positions.append(pos)
        if f.first_responder is not None:
            _unit(self.units["handler"], f.first_responder).response_positions.append(pos)
        if f.resolver is not None:
            u = _unit(self.units["handler"], f.resolver)
            u.resolution_positions.append(pos)
            u.resolved += 1
        if active and (holder := state.started[-1].holder_at(self.until)) is not None:
            _unit(self.units["handler"], Person(*holder)).active += 1
        week = self._weeks.get(self._week_of(r.created_at)) if self._weeks else None
        if week is not None:
            week.requests += 1
            if f.resolution_days is not None:
                week.resolved += 1
                self._week_resolution[week.start].append(f.resolution_days)
        for tier, t in f.tiers.items():
            if t.response_hours is not None:
                self._tier_response[tier].append(t.response_hours)
            if not active:  # a tier's part is only complete once the request is no longer handled
                self._tier_handling[tier].append(t.handling_seconds / 3600 / f.hours_per_day)
        since = overdue_since(r)
        if since is not None and since <= self.as_of:
            self.overdue_count += 1
            by = self.as_of - since
            item = OverdueItem(r, since, by, self.calendar.working_days(since, self.as_of))
            self._list_overdue((by, -r.number, item))

    def merge(self, other: Review) -> None:
        """Add the figures of another part of the same review (the same scope, calendar and moment, other
        requests): the review of a scope read in parts is the review of all of it."""
        if (other.scope, other.as_of, bool(other._weeks)) != (self.scope, self.as_of, bool(self._weeks)):
            raise ValueError("only parts of the same review can be merged")
        offset = len(self._response)
        self._response.extend(other._response)
        self._resolution.extend(other._resolution)
        for tier in Tier:
            self._tier_response[tier].extend(other._tier_response[tier])
            self._tier_handling[tier].extend(other._tier_handling[tier])
        self.total.merge(other.total, offset)
        for d, units in other.units.items():
            for key, u in units.items():
                _unit(self.units[d], key).merge(u, offset)
        for w, week in other._weeks.items():
            mine = self._weeks[w]
            mine.requests += week.requests
            mine.resolved += week.resolved
            mine.rates.add(week.rates)
            self._week_resolution[w].extend(other._week_resolution[w])
        self.overdue_count += other.overdue_count
        for entry in other._overdue:
            self._list_overdue(entry)

    def _list_overdue(self, entry: tuple[timedelta, int, OverdueItem]) -> None:
        """Keep the entry among the `overdue_listed` longest overdue."""
        if len(self._overdue) < self._overdue_listed:
            heapq.heappush(self._overdue, entry)
        elif self._overdue and entry[:2] > self._overdue[0][:2]:
            heapq.heapreplace(self._overdue, entry)

    def _count_weeks(self, rec: Record) -> None:
        """Each week's 三率, as of the week's end (or the review), from the deadlines and ratings in it."""
        moments = [s.resolve_due_at for s in rec.stints]
        moments.append(rec.stints[0].ack_due_at if rec.stints else rec.request.first_ack_due_at)
        moments += [e.at for e in rec.ratings]
        for w in {self._week_of(t) for t in moments if t is not None}:
            if w in self._weeks:
                start, end = self._week_bounds[w]
                outcome(rec, start, end, self.as_of).count(self._weeks[w].rates)

    # --- weeks: local Monday to Sunday ------------------------------------------------
    def _week_of(self, t: datetime) -> date:
        d = t.astimezone(self.calendar.tz).date()
        return d - timedelta(days=d.weekday())

    def _week_start(self, w: date) -> datetime:
        return datetime.combine(w, datetime.min.time(), self.calendar.tz).astimezone(UTC)

    # --- output ------------------------------------------------------------------------
    def _summary(self, key: Hashable, u: _Unit) -> UnitSummary:
        return UnitSummary(key, u.requests, u.resolved, u.rejected, u.active, u.rates,
                           self.spread(self._response, u.response_positions),
                           self.spread(self._resolution, u.resolution_positions))

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
        return {t: (self.spread(self._tier_response[t], None), self.spread(self._tier_handling[t], None)) for t in Tier}

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


def _unit(units: dict[Hashable, _Unit], key: Hashable) -> _Unit:
    """A unit's counts, made on first use (not made and dropped on every call, as setdefault would)."""
    u = units.get(key)
    if u is None:
        u = units[key] = _Unit()
    return u


def _sort_key(key: Hashable) -> tuple:
    """Units by name; a handler dimension's people first, then the units' 无人认领 entries."""
    if isinstance(key, Unclaimed):
        return (1, key.tier, key.township, key.village)
    if isinstance(key, Person):
        return (0, key.name, key.key)
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

"""The 三率 (响应率, 解决率, 满意率): one definition for digests, exports and reports (shared/design.md, section 3).

Every figure of a period [start, end) is computed as of the period's end (or as of now, while the
period is not over): only what had happened by then counts, so what happens later (a reopening,
an escalation, a late resolution) never changes a period that has passed. Deadlines belong to
tier stints and are never rewritten.

- 响应率: requests first responded to by a person within the acknowledge deadline of the stint
  they were registered in / requests whose that deadline fell in the period. The bot's automatic
  escalation is not a response.
- 解决率: requests whose standing result (resolved, not reopened since) was reported within the
  resolve deadline of the stint that resolved them / requests with a resolve deadline "at stake"
  in the period: a stint's resolve deadline is at stake when it falls in the period and the stint
  either was still running at it (not escalated, sent back or resolved before) or is the stint
  that resolved the request. A request counts once per period however many of its deadlines fell
  in it; rejected requests do not count.
- 满意率: 满意 / (满意 + 不满意) over the ratings given in the period.

Per handler (the same deadlines, credited to people): 响应 to whoever responded first; 解决 to
whoever reported the standing result; a deadline missed without either goes to whoever held
the stint at the deadline, or, when nobody had claimed it, to the unit's 无人认领 entry.
Ratings go to whoever reported the result that was rated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from routing.model import Event, EventKind, Request, Stint, Tier

RATING_KINDS = frozenset({EventKind.SATISFIED, EventKind.UNSATISFIED})


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
        """解决率, or None when no resolve deadline was at stake in the period."""
        return self.resolved_in_time / self.due_resolve if self.due_resolve else None

    @property
    def satisfaction(self) -> float | None:
        """满意率, or None when no rating was given in the period."""
        return self.satisfied / self.rated if self.rated else None

    @property
    def any(self) -> bool:
        """True when the unit has at least one figure."""
        return bool(self.due_ack or self.due_resolve or self.rated)

    def add(self, other: Rates) -> None:
        """Add another unit's counts to these."""
        self.due_ack += other.due_ack
        self.responded_in_time += other.responded_in_time
        self.due_resolve += other.due_resolve
        self.resolved_in_time += other.resolved_in_time
        self.rated += other.rated
        self.satisfied += other.satisfied


@dataclass(frozen=True, slots=True, order=True)
class Person:
    """A handler a figure is credited to: display name, and the identity that tells namesakes apart."""

    name: str
    key: str


@dataclass(frozen=True, slots=True, order=True)
class Unclaimed:
    """The 无人认领 entry of a unit: deadlines missed while nobody held the request there."""

    tier: Tier
    township: str = ""
    village: str = ""


Credit = Person | Unclaimed


def unit_of(r: Request, tier: Tier) -> Unclaimed:
    """The unit that handles a request at a tier (its 无人认领 entry)."""
    if tier is Tier.VILLAGE:
        return Unclaimed(tier, r.township, r.village)
    if tier is Tier.TOWNSHIP:
        return Unclaimed(tier, r.township)
    return Unclaimed(tier)


@dataclass(frozen=True, slots=True)
class Record:
    """A request with its tier stints (first to last) and its ratings: what every figure is computed from."""

    request: Request
    stints: tuple[Stint, ...]
    ratings: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Due:
    """One deadline that fell in a period: whether it was met, and whom it counts for per handler."""

    met: bool
    credit: Credit


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request counts for in one period, as of the period's end (or now)."""

    response: Due | None = None  # its registration deadline fell in the period
    resolution: Due | None = None  # it had a resolve deadline at stake in the period (credit: the resolver)
    stints: tuple[Due, ...] = ()  # each at-stake stint, for per-handler credit
    ratings: tuple[tuple[Event, Credit | None], ...] = ()  # ratings given in the period, and whose result

    def count(self, rates: Rates) -> None:
        """Add this request's counts to a unit's rates."""
        if self.response is not None:
            rates.due_ack += 1
            rates.responded_in_time += self.response.met
        if self.resolution is not None:
            rates.due_resolve += 1
            rates.resolved_in_time += self.resolution.met
        for e, _ in self.ratings:
            rates.rated += 1
            rates.satisfied += e.kind is EventKind.SATISFIED

    def credits(self) -> dict[Credit, Rates]:
        """This request's counts per handler."""
        out: dict[Credit, Rates] = {}
        if self.response is not None:
            r = _rates(out, self.response.credit)
            r.due_ack += 1
            r.responded_in_time += self.response.met
        for due in self.stints:
            r = _rates(out, due.credit)
            r.due_resolve += 1
            r.resolved_in_time += due.met
        for e, credit in self.ratings:
            if credit is not None:
                r = _rates(out, credit)
                r.rated += 1
                r.satisfied += e.kind is EventKind.SATISFIED
        return out


def _rates(units: dict, key: object) -> Rates:
    """A unit's counts, made on first use."""
    r = units.get(key)
    if r is None:
        r = units[key] = Rates()
    return r


def in_period(t: datetime | None, start: datetime, end: datetime) -> bool:
    """True when t lies in [start, end)."""
    return t is not None and start <= t < end


@dataclass(frozen=True, slots=True)
class AsOf:
    """A request's state at a moment, from its stints: what had happened by then."""

    started: tuple[Stint, ...]  # the stints begun before the moment
    rejected: bool
    standing: Stint | None  # the stint whose resolution stood at the moment (resolved, not reopened)
    active: bool  # someone still had to act on it

    @classmethod
    def of(cls, rec: Record, t: datetime) -> AsOf:
        """The request's state at t (exclusive: what happened at t itself belongs to the next period)."""
        stints = rec.stints
        if stints and stints[-1].started_at < t:
            started = stints  # all begun already (stints are in order of their start): the common case
        else:
            started = tuple(s for s in stints if s.started_at < t)
        if not started:
            return cls((), False, None, False)
        last = started[-1]
        ended = last.ended_at is not None and last.ended_at < t
        return cls(
            started=started,
            rejected=ended and last.end is EventKind.REJECTED,
            standing=last if ended and last.end is EventKind.RESOLVED else None,
            active=not ended,
        )


def _person(name: str | None, key: str | None) -> Person | None:
    return Person(name, key or f"name:{name}") if name else None


def _responder(rec: Record, t: datetime) -> tuple[Person, Stint] | None:
    """Who responded first, before t, and in which stint."""
    r = rec.request
    if r.acknowledged_at is None or r.acknowledged_at >= t:
        return None
    for s in rec.stints:
        if s.responded_at is not None and s.responded_at == r.acknowledged_at:
            return Person(s.responder or r.responder or "", s.responder_key or f"name:{s.responder}"), s
    return Person(r.responder or "", f"name:{r.responder}"), rec.stints[0]


def response_due(rec: Record, start: datetime, end: datetime, as_of: datetime) -> Due | None:
    """The request's 响应 in [start, end) as of min(end, as_of): None when its deadline is not in the period
    or has not come yet."""
    t = min(end, as_of)
    r = rec.request
    first = rec.stints[0] if rec.stints else None
    due = first.ack_due_at if first is not None else r.first_ack_due_at
    if not in_period(due, start, end):
        return None
    responded = _responder(rec, t)
    if responded is not None:
        person, _ = responded
        return Due(r.acknowledged_at <= due, person)
    if t <= due:
        return None  # not due yet
    holder = first.holder_at(due) if first is not None else None
    return Due(False, Person(*holder) if holder else unit_of(r, first.tier if first else r.tier))


def resolution_dues(rec: Record, start: datetime, end: datetime, as_of: datetime,
                    state: AsOf | None = None) -> tuple[Due | None, tuple[Due, ...]]:
    """The request's 解决 in [start, end) as of min(end, as_of), and each at-stake stint's, per handler
    (`state`: the request's state at min(end, as_of), when the caller has it already)."""
    t = min(end, as_of)
    if state is None:
        state = AsOf.of(rec, t)
    if state.rejected or not state.started:
        return None, ()
    r = rec.request
    dues: list[Due] = []
    met = False
    for s in state.started:
        due = s.resolve_due_at
        if not in_period(due, start, end):
            continue
        if s is state.standing:
            in_time = s.ended_at <= due
            met = met or in_time
            dues.append(Due(in_time, _person(s.ended_by, s.ended_by_key) or unit_of(r, s.tier)))
        elif due < t and s.started_at <= due and not s.ended_by_then(due):
            holder = s.holder_at(due)
            dues.append(Due(False, Person(*holder) if holder else unit_of(r, s.tier)))
    if not dues:
        return None, ()
    resolver = _person(state.standing.ended_by, state.standing.ended_by_key) if state.standing else None
    return Due(met, resolver or dues[0].credit), tuple(dues)


def rated_result(rec: Record, e: Event) -> Credit | None:
    """Whose result a rating judged: the stint resolved last before it."""
    resolved = [s for s in rec.stints if s.end is EventKind.RESOLVED and s.ended_at is not None and s.ended_at <= e.at]
    if not resolved:
        return None
    s = resolved[-1]
    return _person(s.ended_by, s.ended_by_key) or unit_of(rec.request, s.tier)


def outcome(rec: Record, start: datetime, end: datetime, as_of: datetime, state: AsOf | None = None) -> Outcome:
    """What a request counts for in [start, end), as of the period's end (or `as_of`, if earlier; `state`:
    the request's state then, when the caller has it already)."""
    resolution, stints = resolution_dues(rec, start, end, as_of, state)
    t = min(end, as_of)
    ratings = tuple((e, rated_result(rec, e)) for e in rec.ratings
                    if e.kind in RATING_KINDS and start <= e.at < end and e.at < t) if rec.ratings else ()
    return Outcome(response_due(rec, start, end, as_of), resolution, stints, ratings)


def rates_of(records: Iterable[Record], start: datetime, end: datetime, as_of: datetime) -> Rates:
    """The rates over all the given requests."""
    rates = Rates()
    for rec in records:
        outcome(rec, start, end, as_of).count(rates)
    return rates


RATE_NAMES = ("response", "resolution", "satisfaction")  # the order of weights and thresholds


@dataclass(frozen=True, slots=True)
class Scoring:
    """How units are ranked and flagged: the composite score's weights of 响应率, 解决率 and 满意率 (their
    sum need not be 1: a missing rate's weight goes to the others anyway), and the rates below which a
    unit is named (None: not checked)."""

    weights: tuple[float, float, float] = (0.3, 0.4, 0.3)
    thresholds: tuple[float | None, float | None, float | None] = (0.9, 0.8, 0.85)

    def score(self, rates: Rates) -> float | None:
        """The unit's composite score in [0, 1], or None when it has no figure."""
        return composite(rates, self.weights)

    def below(self, rates: Rates) -> list[tuple[str, float, float]]:
        """The rates of a unit below their thresholds: (name in RATE_NAMES, rate, threshold)."""
        out = []
        for name, threshold in zip(RATE_NAMES, self.thresholds, strict=True):
            value = getattr(rates, name)
            if threshold is not None and value is not None and value < threshold:
                out.append((name, value, threshold))
        return out


DEFAULT_SCORING = Scoring()


def rank_key(name: str, rates: Rates, weights: Sequence[float] = DEFAULT_SCORING.weights) -> tuple:
    """The ranking rule of digests and reports: by composite score, best first; units without any figure
    last; ties by name. The score weighs 响应率, 解决率 and 满意率 (30/40/30 by default); a missing rate's
    weight goes to the others."""
    s = composite(rates, weights)
    return (s is None, -(s or 0.0), name)


def composite(rates: Rates, weights: Sequence[float] = DEFAULT_SCORING.weights) -> float | None:
    """The composite score in [0, 1] of a unit's rates, or None when it has none of them (or only rates
    weighted 0)."""
    parts = [(w, v) for w, v in zip(weights, (rates.response, rates.resolution, rates.satisfaction), strict=True)
             if v is not None]
    total = sum(w for w, _ in parts)
    return sum(w * v for w, v in parts) / total if parts and total else None


@dataclass(slots=True)
class Tally:
    """Rates of several units at once, from one pass over the records (digests)."""

    units: dict[object, Rates] = field(default_factory=dict)

    def add(self, keys: Iterable[object], o: Outcome) -> None:
        """Count one request's outcome for each of the units it belongs to."""
        for k in keys:
            o.count(_rates(self.units, k))

    def get(self, key: object) -> Rates:
        """A unit's rates (empty when it had none)."""
        return self.units.get(key, Rates())


def _settled_by(rec: Record, t: datetime) -> bool:
    """True when every moment a request's outcome compares with its as-of moment lies before t: its
    outcome as of any later moment is the same (as long as the record does not change)."""
    r = rec.request
    for m in (r.acknowledged_at, r.first_ack_due_at):
        if m is not None and m >= t:
            return False
    for s in rec.stints:
        for m in (s.started_at, s.ended_at, s.responded_at, s.held_since, s.ack_due_at, s.resolve_due_at):
            if m is not None and m >= t:
                return False
    return all(e.at < t for e in rec.ratings)


@dataclass(slots=True)
class _Counted:
    version: int
    record: Record
    counts: Rates | None = None  # its counts as of `as_of`
    settled: bool = False  # whether those counts hold for every later moment too


class RunningTally:
    """The 三率 per unit of the month so far, kept from one digest to the next: a request is read again only
    when it changed (its version) and counted again only when it changed or had a moment still to come.
    Every figure is what `outcome` gives as of the moment asked (a test holds it to a fresh count)."""

    def __init__(self) -> None:
        self._start: datetime | None = None
        self._known: dict[int, _Counted] = {}

    def tally(self, tx: Any, start: datetime, now: datetime, unit: Callable[[Record], object]) -> Tally:
        """The rates over [start, now) as of now, per unit (`unit` of a record); `tx` a Repository."""
        if start != self._start:
            self._start, self._known = start, {}
        known = self._known
        versions = tx.record_versions(start, now)
        changed = [n for n, v in versions.items() if (k := known.get(n)) is None or k.version != v]
        for rec in tx.records_of(sorted(changed)):
            known[rec.request.number] = _Counted(versions[rec.request.number], rec)
        out = Tally()
        for n in versions:
            k = known.get(n)
            if k is None:  # gone between the two reads (never: a request is not deleted)
                continue
            if k.counts is None or not k.settled:
                k.counts = Rates()
                outcome(k.record, start, now, now).count(k.counts)
                k.settled = _settled_by(k.record, now)
            _rates(out.units, unit(k.record)).add(k.counts)
        return out

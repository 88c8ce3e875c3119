"""What a 通报 says about its units: their ranking by composite score, the change against the previous
period, the units below the thresholds, and the hottest categories. Pure functions of review summaries."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from routing.rates import RATE_NAMES, Rates, Scoring, rank_key
from routing.review import UnitSummary

HOTTEST_LISTED = 5


def previous_period(start: datetime, end: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period a period is compared with: the previous calendar month when it is one whole calendar
    month (local dates), otherwise the same number of days just before it."""
    first, after = start.astimezone(tz), end.astimezone(tz)
    midnight = first.time() == after.time() == datetime.min.time()
    if midnight and first.day == 1 and after.day == 1 and (after.year * 12 + after.month) - (
            first.year * 12 + first.month) == 1:
        year, month = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
        return first.replace(year=year, month=month), first
    days = (after.date() - first.date()).days
    before = datetime.combine(first.date() - timedelta(days=days), first.timetz())
    return before, first


def whole_month(start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """True when the period is one calendar month."""
    first, after = start.astimezone(tz), end.astimezone(tz)
    last_day = calendar.monthrange(first.year, first.month)[1]
    return first.day == 1 and after - timedelta(days=1) == first.replace(day=last_day)


def points(now: float | None, before: float | None) -> float | None:
    """A rate's change in percentage points, or None when either is missing."""
    return None if now is None or before is None else (now - before) * 100


@dataclass(frozen=True, slots=True)
class Standing:
    """One unit in the ranking: its place (None: no figure this period, listed last), score, figures, the
    previous period's figures, and the rates below their thresholds."""

    place: int | None
    name: str
    unit: UnitSummary
    score: float | None
    previous: Rates | None
    previous_score: float | None
    below: tuple[tuple[str, float, float], ...] = ()

    @property
    def rates(self) -> Rates:
        """This period's 三率 counts."""
        return self.unit.rates

    def change(self, rate: str) -> float | None:
        """The change of one rate (response, resolution, satisfaction) against the previous period, in points."""
        return points(getattr(self.rates, rate), getattr(self.previous, rate) if self.previous else None)

    @property
    def score_change(self) -> float | None:
        """The change of the composite score, in points."""
        return points(self.score, self.previous_score)


def standings(units: Sequence[UnitSummary], previous: Sequence[UnitSummary], scoring: Scoring,
              name: Callable[[Hashable], str]) -> list[Standing]:
    """The units ranked best first by the composite score (ties by name); units without any figure last,
    without a place."""
    before = {u.key: u.rates for u in previous}
    out = []
    ranked = sorted(units, key=lambda u: rank_key(name(u.key), u.rates, scoring.weights))
    place = 0
    for u in ranked:
        score = scoring.score(u.rates)
        place += score is not None
        prev = before.get(u.key)
        out.append(Standing(
            place=place if score is not None else None, name=name(u.key), unit=u, score=score, previous=prev,
            previous_score=scoring.score(prev) if prev is not None else None, below=tuple(scoring.below(u.rates))))
    return out


@dataclass(frozen=True, slots=True)
class Flag:
    """The units below one rate's threshold, worst first."""

    rate: str
    threshold: float
    units: list[tuple[str, float]] = field(default_factory=list)


def flags(ranked: Sequence[Standing], scoring: Scoring) -> list[Flag]:
    """Per rate with a threshold, the units below it (rates without such units left out)."""
    out = []
    for rate, threshold in zip(RATE_NAMES, scoring.thresholds, strict=True):
        if threshold is None:
            continue
        below = sorted(((s.name, v) for s in ranked for r, v, _ in s.below if r == rate), key=lambda x: (x[1], x[0]))
        if below:
            out.append(Flag(rate, threshold, below))
    return out


@dataclass(frozen=True, slots=True)
class Hot:
    """A category among the period's most frequent, with the previous period's count."""

    name: str
    count: int
    before: int

    @property
    def change(self) -> int:
        """More (+) or fewer (−) requests than in the previous period."""
        return self.count - self.before


def hottest(categories: Sequence[UnitSummary], previous: Sequence[UnitSummary],
            limit: int = HOTTEST_LISTED) -> list[Hot]:
    """The categories with the most requests registered in the period, most first (ties by name)."""
    before = {u.key: u.requests for u in previous}
    top = sorted((u for u in categories if u.requests), key=lambda u: (-u.requests, str(u.key)))[:limit]
    return [Hot(str(u.key), u.requests, before.get(u.key, 0)) for u in top]

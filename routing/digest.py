"""Digest contents: what happened since the previous digest, what is overdue, and the 三率."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing.jobs import overdue_since
from routing.model import Event, EventKind, Request, Status
from routing.org import Township
from routing.rates import DEFAULT_SCORING, Rates, Scoring, rank_key

MAX_OVERDUE_LISTED = 5  # a township digest lists this many overdue requests, then "等N件"
RANKED_IN_FULL = 3  # the county weekly shows this many townships in full at the top and at the bottom


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One more line of a township digest, kept apart from the fixed ones: a template (in templates/) and
    what it needs. A digest with any such line is not quiet."""

    template: str
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Overdue:
    """A request past a deadline: which one, and by how long."""

    request: Request
    missed: str  # "ack" or "resolve"
    by: timedelta


@dataclass(slots=True)
class Activity:
    """Counts of what happened in a period."""

    new: int = 0
    claimed: int = 0
    escalated: int = 0
    resolved: int = 0
    rejected: int = 0

    @property
    def any(self) -> bool:
        """True when anything happened at all."""
        return bool(self.new or self.claimed or self.escalated or self.resolved or self.rejected)

    def add(self, other: Activity) -> None:
        """Add another unit's counts to these."""
        self.new += other.new
        self.claimed += other.claimed
        self.escalated += other.escalated
        self.resolved += other.resolved
        self.rejected += other.rejected


@dataclass(slots=True)
class VillageLine:
    """One village's line in a township digest."""

    name: str
    new: int = 0
    active: int = 0
    overdue: int = 0
    activity: Activity = field(default_factory=Activity)


@dataclass(slots=True)
class TownshipDigest:
    """A township's digest for its leaders, or its line in the county's weekly digest."""

    township: str
    start: datetime
    end: datetime
    activity: Activity
    overdue: list[Overdue]
    villages: list[VillageLine]
    active: int
    month: Rates
    late_slot: datetime | None = None
    extra: list[DigestLine] = field(default_factory=list)  # more lines, shown after the fixed ones

    @property
    def quiet(self) -> bool:
        """True when nothing happened, nothing is overdue and there is nothing more to say: one line."""
        return not self.activity.any and not self.overdue and not self.extra

    @property
    def listed_overdue(self) -> list[Overdue]:
        """The overdue requests the digest lists: the longest overdue, at most MAX_OVERDUE_LISTED."""
        return self.overdue[:MAX_OVERDUE_LISTED]

    @property
    def more_overdue(self) -> int:
        """How many overdue requests are not listed."""
        return max(0, len(self.overdue) - MAX_OVERDUE_LISTED)

    @property
    def busy_villages(self) -> list[VillageLine]:
        """The villages a leader needs to see: something happened there, or something is overdue."""
        return [v for v in self.villages if v.activity.any or v.overdue]


@dataclass(slots=True)
class CountyDigest:
    """The county's weekly digest: totals and the townships ranked."""

    county: str
    start: datetime
    end: datetime
    activity: Activity
    overdue: int
    townships: list[TownshipDigest] = field(default_factory=list)
    late_slot: datetime | None = None
    month: Rates = field(default_factory=Rates)  # the county's 三率 this month: the townships' added up
    ranking: str = ""  # what the townships are ranked by, in words
    scoring: Scoring = DEFAULT_SCORING

    @property
    def quiet(self) -> bool:
        """True when nothing happened in the county and nothing is overdue."""
        return not self.activity.any and not self.overdue

    @property
    def ranked(self) -> list[TownshipDigest]:
        """The townships with a figure this month, best first (`townships` is ranked already)."""
        return [t for t in self.townships if t.month.any]

    @property
    def unranked(self) -> list[TownshipDigest]:
        """The townships without any figure this month (they rank last)."""
        return [t for t in self.townships if not t.month.any]

    @property
    def top(self) -> list[TownshipDigest]:
        """The best townships shown in full: all of them when there are few."""
        ranked = self.ranked
        return ranked if len(ranked) <= 2 * RANKED_IN_FULL + 1 else ranked[:RANKED_IN_FULL]

    @property
    def middle(self) -> list[TownshipDigest]:
        """The townships between the top and the bottom ones, named on one line."""
        ranked = self.ranked
        return [] if len(ranked) <= 2 * RANKED_IN_FULL + 1 else ranked[RANKED_IN_FULL:-RANKED_IN_FULL]

    @property
    def bottom(self) -> list[TownshipDigest]:
        """The last townships with a figure, shown in full (none when `top` holds them all)."""
        ranked = self.ranked
        return [] if len(ranked) <= 2 * RANKED_IN_FULL + 1 else ranked[-RANKED_IN_FULL:]

    def place(self, t: TownshipDigest) -> int:
        """A township's place in the ranking, from 1."""
        return self.townships.index(t) + 1

    def score(self, t: TownshipDigest) -> float | None:
        """A township's composite score this month."""
        return self.scoring.score(t.month)


def activity(events: Iterable[Event], new: int) -> Activity:
    """Distinct requests claimed, escalated, resolved and rejected among events (a request resolved twice
    counts once), and `new` registered."""
    numbers: dict[EventKind, set[int]] = {}
    for e in events:
        numbers.setdefault(e.kind, set()).add(e.number)
    return Activity(
        new=new,
        claimed=len(numbers.get(EventKind.CLAIMED, ())),
        escalated=len(numbers.get(EventKind.ESCALATED, ())),
        resolved=len(numbers.get(EventKind.RESOLVED, ())),
        rejected=len(numbers.get(EventKind.REJECTED, ())),
    )


def overdue_now(active: Iterable[Request], now: datetime) -> list[Overdue]:
    """Active requests past a deadline, longest overdue first."""
    out = []
    for r in active:
        since = overdue_since(r)
        if since is not None and since <= now:
            missed = "ack" if r.status is Status.OPEN and r.ack_due_at == since else "resolve"
            out.append(Overdue(r, missed, now - since))
    return sorted(out, key=lambda o: o.by, reverse=True)


def township_digest(
    township: Township,
    start: datetime,
    end: datetime,
    created: Sequence[Request],
    events: Sequence[Event],
    owners: Mapping[int, Request],
    active: Sequence[Request],
    month: Rates,
) -> TownshipDigest:
    """Build a township's digest from its requests and events (all already of this township).

    Every count is of distinct requests, counted per village first: the villages add up to the
    township (and the townships to the county).
    """
    overdue = overdue_now(active, end)
    lines = {v.name: VillageLine(v.name) for v in township.villages}
    by_village: dict[str, list[Event]] = {}
    for e in events:
        by_village.setdefault(owners[e.number].village, []).append(e)
    for r in created:
        lines[r.village].new += 1
    for r in active:
        lines[r.village].active += 1
    for o in overdue:
        lines[o.request.village].overdue += 1
    total = Activity()
    for name, line in lines.items():
        line.activity = activity(by_village.get(name, ()), line.new)
        total.add(line.activity)
    return TownshipDigest(
        township=township.name, start=start, end=end, activity=total,
        overdue=overdue, villages=list(lines.values()), active=len(active), month=month,
    )


def ranking_words(scoring: Scoring = DEFAULT_SCORING) -> str:
    """What townships are ranked by, in words (one short line on a phone)."""
    w = scoring.weights
    total = sum(w) or 1
    parts = "、".join(f"{name}{round(x * 100 / total)}%" for name, x in zip(("响应", "解决", "满意"), w, strict=True))
    return f"按本月综合得分排名（{parts}，缺项按其余折算）"


RANKING = ranking_words()


def rank(townships: Iterable[TownshipDigest], scoring: Scoring = DEFAULT_SCORING) -> list[TownshipDigest]:
    """Townships best first, by the one ranking rule (routing.rates.rank_key; its wording: ranking_words)."""
    return sorted(townships, key=lambda t: rank_key(t.township, t.month, scoring.weights))

"""Digest contents: what happened since the previous digest, what is overdue, and the 三率."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing.jobs import overdue_since
from routing.model import Event, EventKind, Request, Status
from routing.org import Township
from routing.rates import Rates, rank_key

MAX_OVERDUE_LISTED = 8


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

    @property
    def quiet(self) -> bool:
        """True when nothing happened and nothing is overdue: a one-line digest."""
        return not self.activity.any and not self.overdue

    @property
    def more_overdue(self) -> int:
        """How many overdue requests are not listed."""
        return max(0, len(self.overdue) - MAX_OVERDUE_LISTED)


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


RANKING = "按本月综合得分排名：响应率30%、解决率40%、满意率30%，缺少的一项按其余两项折算；本月无数据的排在最后，同分按名称"


def rank(townships: Iterable[TownshipDigest]) -> list[TownshipDigest]:
    """Townships best first, by the one ranking rule (routing.rates.rank_key; its wording: RANKING)."""
    return sorted(townships, key=lambda t: rank_key(t.township, t.month))

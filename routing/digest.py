"""Digest contents: what happened since the previous digest, what is overdue, and the 三率."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing.jobs import overdue_since
from routing.model import Event, EventKind, Request, Status
from routing.org import Township
from routing.rates import Rates, rates_by

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


def activity(events: Iterable[Event], new: int) -> Activity:
    """Count claims, escalations, resolutions and rejections among events."""
    kinds = Counter(e.kind for e in events)
    return Activity(
        new=new,
        claimed=kinds[EventKind.CLAIMED],
        escalated=kinds[EventKind.ESCALATED],
        resolved=kinds[EventKind.RESOLVED],
        rejected=kinds[EventKind.REJECTED],
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
    month_start: datetime,
    created: Sequence[Request],
    events: Sequence[Event],
    active: Sequence[Request],
    rate_requests: Sequence[Request],
    ratings: Sequence[Event],
) -> TownshipDigest:
    """Build a township's digest from its requests and events (all already of this township)."""
    overdue = overdue_now(active, end)
    lines = {v.name: VillageLine(v.name) for v in township.villages}
    for r in created:
        lines[r.village].new += 1
    for r in active:
        lines[r.village].active += 1
    for o in overdue:
        lines[o.request.village].overdue += 1
    month = rates_by(rate_requests, ratings, month_start, end, key=lambda r: r.township).get(township.name, Rates())
    return TownshipDigest(
        township=township.name, start=start, end=end, activity=activity(events, len(created)),
        overdue=overdue, villages=list(lines.values()), active=len(active), month=month,
    )


def rank(townships: Iterable[TownshipDigest]) -> list[TownshipDigest]:
    """Townships best first: by 解决率, then 响应率, then 满意率 (no figure ranks last)."""
    def key(t: TownshipDigest):
        m = t.month
        return tuple(-1 if v is None else v for v in (m.resolution, m.response, m.satisfaction))
    return sorted(townships, key=key, reverse=True)

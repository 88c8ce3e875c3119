"""What is due at time t: escalation proposals and automatic escalation, overdue reminders,
rating windows, and the digest schedule. Pure functions of a request (or a schedule) and the policy.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from routing.model import Request, Status, Tier
from routing.policy import Policy
from routing.workcal import WorkCalendar


class Job(enum.IntEnum):
    """Kinds of request jobs, in the order they run when several fall due at one instant."""

    AUTO_ESCALATE = 0
    PROPOSE = 1
    REMIND = 2
    EXPIRE = 3


def auto_escalate_at(r: Request, p: Policy) -> datetime | None:
    """When the bot escalates an unanswered proposal itself."""
    auto = p.escalation.auto_after
    if auto is None or r.tier is not Tier.VILLAGE or r.status is not Status.OPEN or r.proposed_at is None:
        return None
    return p.calendar.add(r.proposed_at, auto)


def propose_at(r: Request, p: Policy) -> datetime | None:
    """When the bot asks the village cadres to confirm escalating an unclaimed request."""
    if r.tier is not Tier.VILLAGE or r.status is not Status.OPEN or r.proposed_at is not None:
        return None
    return p.calendar.add(r.tier_since, p.escalation.propose_after)


def overdue_since(r: Request) -> datetime | None:
    """The deadline the request missed first (acknowledge while open, else resolve), if any."""
    if not r.status.active:
        return None
    deadlines = [r.resolve_due_at]
    if r.status is Status.OPEN:
        deadlines.append(r.ack_due_at)
    present = [d for d in deadlines if d is not None]
    return min(present) if present else None


def remind_at(r: Request, p: Policy) -> datetime | None:
    """When the next overdue reminder is due: at the deadline, then at most once per remind_every."""
    since = overdue_since(r)
    if since is None:
        return None
    if r.last_reminded_at is None:
        return since
    return max(since, p.calendar.add(r.last_reminded_at, p.sla.remind_every))


def expire_at(r: Request, p: Policy) -> datetime | None:
    """When a resolution nobody rated closes as unrated."""
    if r.status is not Status.RESOLVED or r.resolved_at is None:
        return None
    return p.calendar.add(r.resolved_at, p.sla.rating_window)


DUE = {Job.AUTO_ESCALATE: auto_escalate_at, Job.PROPOSE: propose_at, Job.REMIND: remind_at, Job.EXPIRE: expire_at}


def due_jobs(r: Request, p: Policy, now: datetime) -> list[Job]:
    """The request's jobs due at `now`, in order; escalation or a proposal pre-empts a reminder."""
    due = [job for job in Job if (t := DUE[job](r, p)) is not None and t <= now]
    if Job.AUTO_ESCALATE in due or Job.PROPOSE in due:
        due = [j for j in due if j is not Job.REMIND]
    if Job.AUTO_ESCALATE in due:
        due = [j for j in due if j is not Job.PROPOSE]
    return due


def due_at(r: Request, p: Policy) -> datetime | None:
    """The earliest time at which one of the request's jobs falls due: its timer, kept in an indexed column."""
    times = [t for job in Job if (t := DUE[job](r, p)) is not None]
    return min(times) if times else None


def next_request_due(r: Request, p: Policy, after: datetime) -> datetime | None:
    """The earliest time after `after` at which one of the request's jobs falls due."""
    times = [t for job in Job if (t := DUE[job](r, p)) is not None and t > after]
    return min(times) if times else None


# --- digests -------------------------------------------------------------------------
class Digest(str, enum.Enum):
    """The scheduled digests."""

    TOWNSHIP_DAILY = "township_daily"
    COUNTY_WEEKLY = "county_weekly"


@dataclass(frozen=True, slots=True)
class Slot:
    """One scheduled sending of a digest."""

    digest: Digest
    at: datetime


def _daily(cal: WorkCalendar, at: time, day: date) -> datetime | None:
    return datetime.combine(day, at, cal.tz) if cal.is_workday(day) else None


def _weekly_lands_on(cal: WorkCalendar, weekday: int, day: date) -> bool:
    """True when a week's slot lands on `day`: its planned day, or the next working day after it."""
    monday = day - timedelta(days=day.weekday())
    for back in (0, 7, 14):  # a long holiday can push a slot into a later week
        planned = monday - timedelta(days=back) + timedelta(days=weekday)
        if planned > day:
            continue
        if (planned if cal.is_workday(planned) else cal.next_workday(planned)) == day:
            return True
    return False


def slots_on(p: Policy, day: date) -> Iterator[Slot]:
    """The digest slots on one local day."""
    cal, sched = p.calendar, p.digest
    if sched.township_daily is not None and (t := _daily(cal, sched.township_daily, day)):
        yield Slot(Digest.TOWNSHIP_DAILY, t)
    if sched.county_time is not None and _weekly_lands_on(cal, sched.county_weekday, day):
        yield Slot(Digest.COUNTY_WEEKLY, datetime.combine(day, sched.county_time, cal.tz))


def next_slot(p: Policy, digest: Digest, after: datetime) -> datetime | None:
    """The first slot of a digest strictly after `after` (None when it is switched off)."""
    day = after.astimezone(p.calendar.tz).date()
    for i in range(400):
        for slot in slots_on(p, day + timedelta(days=i)):
            if slot.digest is digest and slot.at > after:
                return slot.at
    return None


def last_slot(p: Policy, digest: Digest, until: datetime) -> datetime | None:
    """The latest slot of a digest at or before `until`, within the past year."""
    day = until.astimezone(p.calendar.tz).date()
    for i in range(400):
        for slot in sorted(slots_on(p, day - timedelta(days=i)), key=lambda s: s.at, reverse=True):
            if slot.digest is digest and slot.at <= until:
                return slot.at
    return None

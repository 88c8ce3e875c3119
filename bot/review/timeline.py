"""`minqing report --request N`: one request's timeline as an HTML page, what a reviewer checks when a unit
contests a figure: every event with its time, tier, person and the deadlines of the stint it belongs to;
each stint with its deadlines, whether they were met and the working time it took; the working time of
each tier. Names of villagers and numbers in texts are masked, as in the report."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.config import Config
from bot.review.text import renderer
from routing.model import Event, EventKind, Stint, Tier
from routing.privacy import mask, mask_name
from routing.rates import Record
from routing.review import RequestFigures, request_figures

STINT_STARTS = {EventKind.REGISTERED: "登记", EventKind.ESCALATED: "上报", EventKind.SENT_BACK: "退回",
                EventKind.UNSATISFIED: "不满意，重新办理"}
STINT_ENDS = {EventKind.ESCALATED: "上报", EventKind.SENT_BACK: "退回", EventKind.RESOLVED: "办结",
              EventKind.REJECTED: "不予受理"}


@dataclass(frozen=True, slots=True)
class StintLine:
    """One stint of the timeline: its deadlines, whether they were met (None: not yet due), its working time."""

    stint: Stint
    start: str
    end: str | None
    ack_met: bool | None
    resolve_met: bool | None
    working_hours: float


def _met(done: datetime | None, due: datetime | None, as_of: datetime) -> bool | None:
    if due is None:
        return None
    if done is not None:
        return done <= due
    return False if due < as_of else None


def stint_lines(rec: Record, cfg: Config, as_of: datetime) -> list[StintLine]:
    """The request's stints, first to last."""
    calendar = cfg.policy.calendar
    out = []
    for s in rec.stints:
        until = s.ended_at if s.ended_at is not None else as_of
        seconds = s.working_seconds if s.working_seconds is not None and s.ended_at is not None else (
            calendar.working_seconds(s.started_at, until) if until > s.started_at else 0.0)
        resolved = s.ended_at if s.end is EventKind.RESOLVED else None
        out.append(StintLine(
            stint=s, start=STINT_STARTS.get(s.start, s.start.value), end=STINT_ENDS.get(s.end) if s.end else None,
            ack_met=_met(s.responded_at, s.ack_due_at, as_of),
            resolve_met=None if s.end in (EventKind.ESCALATED, EventKind.SENT_BACK, EventKind.REJECTED)
            else _met(resolved, s.resolve_due_at, as_of),
            working_hours=seconds / 3600))
    return out


def _masked_event(e: Event, requester: str) -> Event:
    """The event as a reviewer may read it: the requester's name and the numbers in its note masked."""
    actor = mask_name(e.actor) if e.actor and e.actor == requester else e.actor
    return replace(e, actor=actor, note=mask(e.note) if e.note else e.note)


def render_timeline(rec: Record, events: list[Event], cfg: Config, as_of: datetime) -> str:
    """The page of one request."""
    r = rec.request
    figures: RequestFigures = request_figures(rec, cfg.policy.calendar, as_of)
    stints = {s.seq: s for s in rec.stints}
    hours = cfg.policy.calendar.hours_per_day
    return renderer(cfg).page(
        "report_request.html.j2",
        county=cfg.county.name,
        issuer=cfg.issuer,
        r=r,
        requester=mask_name(r.requester) or "",
        events=[(_masked_event(e, r.requester), stints.get(e.stint) if e.stint else None) for e in events],
        stints=stint_lines(rec, cfg, as_of),
        tiers=[(t, figures.tiers[t]) for t in Tier if t in figures.tiers],
        figures=figures,
        hours_per_day=hours,
        generated=as_of,
    )

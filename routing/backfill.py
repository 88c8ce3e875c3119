"""Tier stints rebuilt from a request's event log, for a database written before stints were kept.

Deadlines a stint still shows on the request (the first stint's acknowledge deadline, the current
stint's deadlines) are taken as stored; the others, which version 0.1.0 overwrote, are computed
again with the policy of the day of the upgrade. Every stint made here is marked `backfilled`.
The first response is the first event by a person that responds (version 0.1.0 also counted the
bot's automatic escalation, which is not a response).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from routing.lifecycle import RULES
from routing.model import Event, EventKind, Request, Stint
from routing.policy import Policy

_STARTS = frozenset({EventKind.ESCALATED, EventKind.SENT_BACK, EventKind.UNSATISFIED})
_ENDS = frozenset({EventKind.ESCALATED, EventKind.SENT_BACK, EventKind.RESOLVED, EventKind.REJECTED})


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """A request's stints, first response and the stint each event happened in, as its log implies."""

    stints: list[Stint]
    acknowledged_at: datetime | None
    responder: str | None
    event_stints: list[int]  # one per event, in log order


def rebuild(r: Request, events: Sequence[Event], policy: Policy) -> Rebuilt:
    """The stints of a request stored without them (its events oldest first, the first one its registration)."""
    cal = policy.calendar
    starts = [i for i, e in enumerate(events) if e.kind in _STARTS]
    count = 1 + len(starts)

    def deadlines(seq: int, at: datetime, start: EventKind) -> tuple[datetime | None, datetime | None]:
        last = seq == count
        ack, resolve = policy.deadlines(at, r.category, r.urgent)
        if start is EventKind.UNSATISFIED:  # a reopened stint is held already: no acknowledge deadline
            return None, r.resolve_due_at if last else resolve
        if seq == 1:
            return r.first_ack_due_at, r.resolve_due_at if last else resolve
        return (r.ack_due_at, r.resolve_due_at) if last else (ack, resolve)

    def provisional(ds: tuple[datetime | None, datetime | None]) -> bool:
        return any(d is not None and cal.uses_fallback(cal.local(d).year) for d in ds)

    first = events[0]
    ds = deadlines(1, first.at, EventKind.REGISTERED)
    current = Stint(r.number, 1, first.tier, first.at, EventKind.REGISTERED, *ds, provisional=provisional(ds),
                    backfilled=True)
    stints = [current]
    acknowledged_at = responder = None
    holder: tuple[str | None, str | None] = (None, None)
    event_stints = [1]
    for e in events[1:]:
        event_stints.append(current.seq)
        rule = RULES[e.kind]
        if rule.responds and e.actor is not None:
            if acknowledged_at is None:
                acknowledged_at, responder = e.at, e.actor
            if current.responded_at is None:
                current.responded_at, current.responder, current.responder_key = e.at, e.actor, e.actor_key
        if e.kind is EventKind.CLAIMED:
            current.handler, current.handler_key, current.held_since = e.actor, e.actor_key or e.actor, e.at
            holder = (e.actor, e.actor_key or e.actor)
        if e.kind is EventKind.RESOLVED and e.actor is not None:
            holder = (e.actor, e.actor_key or e.actor)
        if e.kind in _ENDS:
            current.ended_at, current.end, current.ended_by, current.ended_by_key = e.at, e.kind, e.actor, e.actor_key
            current.working_seconds = cal.working_seconds(current.started_at, e.at)
        if e.kind in _STARTS:
            seq = current.seq + 1
            ds = deadlines(seq, e.at, e.kind)
            reopened = e.kind is EventKind.UNSATISFIED
            current = Stint(
                r.number, seq, e.tier, e.at, e.kind, *ds,
                handler=holder[0] if reopened else None, handler_key=holder[1] if reopened else None,
                held_since=e.at if reopened and holder[0] else None, provisional=provisional(ds), backfilled=True,
            )
            stints.append(current)
            if not reopened:
                holder = (None, None)
    return Rebuilt(stints, acknowledged_at, responder, event_stints)

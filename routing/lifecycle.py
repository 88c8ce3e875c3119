"""The request lifecycle: the one function through which every change goes, writing an event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from routing.model import Event, EventKind, PersonRef, Rating, Request, Status, Tier

A, O, R = Status.ACKNOWLEDGED, Status.OPEN, Status.RESOLVED


@dataclass(frozen=True, slots=True)
class Rule:
    """From which statuses a kind of event may happen, and the status it leads to."""

    allowed: frozenset[Status]
    to: Status | None  # None: the status stays as it is
    responds: bool = False  # counts as the first response to an open request


RULES: dict[EventKind, Rule] = {
    EventKind.REGISTERED: Rule(frozenset(), O),
    EventKind.CLAIMED: Rule(frozenset({O}), A, responds=True),
    EventKind.ESCALATED: Rule(frozenset({O, A}), O, responds=True),
    EventKind.SENT_BACK: Rule(frozenset({O, A}), O, responds=True),
    EventKind.RESOLVED: Rule(frozenset({O, A}), R, responds=True),
    EventKind.REJECTED: Rule(frozenset({O, A}), Status.REJECTED, responds=True),
    EventKind.SATISFIED: Rule(frozenset({R}), Status.CLOSED),
    EventKind.UNSATISFIED: Rule(frozenset({R}), A),
    EventKind.EXPIRED: Rule(frozenset({R}), Status.CLOSED),
    EventKind.URGED: Rule(frozenset({O, A}), None),
    EventKind.REMINDED: Rule(frozenset({O, A}), None),
    EventKind.PROPOSED: Rule(frozenset({O}), None),
    EventKind.ALERTED: Rule(frozenset({O, A}), None),
}


class TransitionError(Exception):
    """The request is not in a status that allows this."""

    def __init__(self, request: Request, kind: EventKind) -> None:
        super().__init__(f"#{request.number} is {request.status.value}; cannot {kind.value}")
        self.request = request
        self.kind = kind


def can(request: Request, kind: EventKind) -> bool:
    """True when the request's status allows this kind of event."""
    return request.status in RULES[kind].allowed


def transition(
    request: Request,
    kind: EventKind,
    at: datetime,
    actor: PersonRef | None,
    *,
    note: str | None = None,
    rule: str | None = None,
    to_tier: Tier | None = None,
    deadlines: tuple[datetime | None, datetime | None] | None = None,
    data: dict | None = None,
) -> Event:
    """Apply one event to the request in place and return the event to append to its log.

    `to_tier` is the tier an escalation or a send-back moves to; `deadlines` are the new
    (acknowledge, resolve) deadlines when the request's clock restarts.
    """
    r = RULES[kind]
    if request.status not in r.allowed:
        raise TransitionError(request, kind)
    from_status, from_tier = request.status, request.tier
    if r.responds and request.acknowledged_at is None:
        request.acknowledged_at = at
        request.responder = actor.name if actor else None

    if kind is EventKind.CLAIMED:
        _set_handler(request, actor)
    elif kind in (EventKind.ESCALATED, EventKind.SENT_BACK):
        if to_tier is None:
            raise ValueError(f"{kind.value} needs the tier it moves to")
        request.tier = to_tier
        request.tier_since = at
        _set_handler(request, None)
        request.proposed_at = None
        request.last_reminded_at = None
        if kind is EventKind.ESCALATED and request.escalated_at is None:
            request.escalated_at = at
    elif kind is EventKind.RESOLVED:
        if request.handler is None or actor is not None:
            _set_handler(request, actor)
        request.resolved_at = at
        request.result = note
    elif kind is EventKind.REJECTED:
        request.closed_at = at
        request.result = note
    elif kind is EventKind.SATISFIED:
        request.rating = Rating.SATISFIED
        request.closed_at = at
    elif kind is EventKind.UNSATISFIED:
        request.rating = Rating.UNSATISFIED
        request.reopened += 1
        request.resolved_at = None
        request.tier_since = at
        request.last_reminded_at = None
    elif kind is EventKind.EXPIRED:
        request.closed_at = at
    elif kind in (EventKind.URGED, EventKind.REMINDED):
        request.last_reminded_at = at
    elif kind is EventKind.PROPOSED:
        # a proposal reminds the cadres too: no separate reminder before remind_every has passed
        request.proposed_at = at
        request.last_reminded_at = at
    elif kind is EventKind.ALERTED:
        request.alerted_at = at

    if deadlines is not None:
        request.ack_due_at, request.resolve_due_at = deadlines
    if r.to is not None:
        request.status = r.to
    return Event(
        number=request.number,
        kind=kind,
        at=at,
        tier=request.tier,
        actor=actor.name if actor else None,
        actor_key=actor.key if actor else None,
        from_status=from_status,
        to_status=request.status,
        from_tier=from_tier if from_tier != request.tier else None,
        note=note,
        rule=rule,
        data=data or {},
    )


def _set_handler(request: Request, who: PersonRef | None) -> None:
    request.handler = who.name if who else None
    request.handler_key = who.key if who else None
    request.handler_id = who.contact_id if who else None


def registered_event(request: Request, actor: PersonRef, rule: str | None = None) -> Event:
    """The first event of a new request's log."""
    return Event(
        number=request.number,
        kind=EventKind.REGISTERED,
        at=request.created_at,
        tier=request.tier,
        actor=actor.name,
        actor_key=actor.key,
        to_status=request.status,
        note=request.text,
        rule=rule,
        data={"category": request.category, "urgent": request.urgent},
    )

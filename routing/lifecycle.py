"""The request lifecycle: the one function through which every change goes, writing an event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from routing.model import Event, EventKind, PersonRef, Rating, Request, Status, Tier

A, O, R = Status.ACKNOWLEDGED, Status.OPEN, Status.RESOLVED


@dataclass(frozen=True, slots=True)
class Change:
    """What an event brings besides its kind: when, who, the note, and where it moves the request."""

    at: datetime
    actor: PersonRef | None
    note: str | None
    to_tier: Tier | None


def _set_handler(request: Request, who: PersonRef | None) -> None:
    request.handler = who.name if who else None
    request.handler_key = who.key if who else None
    request.handler_id = who.contact_id if who else None


# --- what each kind of event does to a request, besides its status -------------------------
def _nothing(request: Request, c: Change) -> None:
    pass


def _claim(request: Request, c: Change) -> None:
    _set_handler(request, c.actor)


def _move(request: Request, c: Change) -> None:
    """Escalation or send-back: to another tier, open there, without a handler, its clocks fresh."""
    if c.to_tier is None:
        raise ValueError("moving a request needs the tier it moves to")
    request.tier = c.to_tier
    request.tier_since = c.at
    _set_handler(request, None)
    request.proposed_at = None
    request.last_reminded_at = None


def _escalate(request: Request, c: Change) -> None:
    _move(request, c)
    if request.escalated_at is None:
        request.escalated_at = c.at


def _resolve(request: Request, c: Change) -> None:
    if request.handler is None or c.actor is not None:
        _set_handler(request, c.actor)


def _reopen(request: Request, c: Change) -> None:
    """不满意 reopens the request at the tier and with the handler that resolved it."""
    request.reopened += 1
    request.resolved_at = None
    request.tier_since = c.at
    request.last_reminded_at = None


@dataclass(frozen=True, slots=True)
class Rule:
    """What a kind of event does: from which statuses it may happen, the status it leads to, and the
    rest as data (the fields it stamps with its time, the rating it gives, whether its note is the
    result) plus, where more is needed, one small function."""

    allowed: frozenset[Status]
    to: Status | None  # None: the status stays as it is
    stamps: tuple[str, ...] = ()
    rating: Rating | None = None
    result: bool = False  # the event's note becomes the request's result
    effect: Callable[[Request, Change], None] = _nothing
    responds: bool = False  # counts as the first response to an open request


_REMINDED = ("last_reminded_at",)
RULES: dict[EventKind, Rule] = {
    EventKind.REGISTERED: Rule(frozenset(), O),
    EventKind.CLAIMED: Rule(frozenset({O}), A, effect=_claim, responds=True),
    EventKind.ESCALATED: Rule(frozenset({O, A}), O, effect=_escalate, responds=True),
    EventKind.SENT_BACK: Rule(frozenset({O, A}), O, effect=_move, responds=True),
    EventKind.RESOLVED: Rule(frozenset({O, A}), R, ("resolved_at",), result=True, effect=_resolve, responds=True),
    EventKind.REJECTED: Rule(frozenset({O, A}), Status.REJECTED, ("closed_at",), result=True, responds=True),
    EventKind.SATISFIED: Rule(frozenset({R}), Status.CLOSED, ("closed_at",), Rating.SATISFIED),
    EventKind.UNSATISFIED: Rule(frozenset({R}), A, rating=Rating.UNSATISFIED, effect=_reopen),
    EventKind.EXPIRED: Rule(frozenset({R}), Status.CLOSED, ("closed_at",)),
    EventKind.URGED: Rule(frozenset({O, A}), None, _REMINDED),
    EventKind.REMINDED: Rule(frozenset({O, A}), None, _REMINDED),
    # a proposal reminds the cadres too: no separate reminder before remind_every has passed
    EventKind.PROPOSED: Rule(frozenset({O}), None, ("proposed_at", *_REMINDED)),
    EventKind.ALERTED: Rule(frozenset({O, A}), None, ("alerted_at",)),
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
    """Apply one event to the request in place, by its rule, and return the event to append to its log.

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
    for name in r.stamps:
        setattr(request, name, at)
    if r.rating is not None:
        request.rating = r.rating
    if r.result:
        request.result = note
    r.effect(request, Change(at, actor, note, to_tier))
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

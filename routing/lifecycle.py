"""The request lifecycle: the one function through which every change goes, writing an event.

A request's time is cut into tier stints (shared/design.md, section 3): registration starts the
first; an escalation or a send-back ends the current one and starts one at the new tier; a
resolution or a rejection ends it; a reopening (不满意) starts a new one at the same tier with the
same handler. A stint's deadlines are set once, when it starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from routing.model import Event, EventKind, PersonRef, Rating, Request, Status, Stint, Tier

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


def _relabel(request: Request, c: Change) -> None:
    """分类 #N: the category only; the stint's deadlines were set when it started and stay as they are."""
    if not c.note:
        raise ValueError("a category correction needs the new category")
    request.category = c.note


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
    responds: bool = False  # a person doing this responds to the request (the bot's doing never does)
    ends: bool = False  # ends the current tier stint
    starts: bool = False  # starts a new tier stint


_REMINDED = ("last_reminded_at",)
RULES: dict[EventKind, Rule] = {
    EventKind.REGISTERED: Rule(frozenset(), O),
    EventKind.CLAIMED: Rule(frozenset({O}), A, effect=_claim, responds=True),
    EventKind.ESCALATED: Rule(frozenset({O, A}), O, effect=_escalate, responds=True, ends=True, starts=True),
    EventKind.SENT_BACK: Rule(frozenset({O, A}), O, effect=_move, responds=True, ends=True, starts=True),
    EventKind.RESOLVED: Rule(frozenset({O, A}), R, ("resolved_at",), result=True, effect=_resolve, responds=True,
                             ends=True),
    EventKind.REJECTED: Rule(frozenset({O, A}), Status.REJECTED, ("closed_at",), result=True, responds=True,
                             ends=True),
    EventKind.SATISFIED: Rule(frozenset({R}), Status.CLOSED, ("closed_at",), Rating.SATISFIED),
    EventKind.UNSATISFIED: Rule(frozenset({R}), A, rating=Rating.UNSATISFIED, effect=_reopen, starts=True),
    EventKind.EXPIRED: Rule(frozenset({R}), Status.CLOSED, ("closed_at",)),
    EventKind.URGED: Rule(frozenset({O, A}), None, _REMINDED),
    EventKind.REMINDED: Rule(frozenset({O, A}), None, _REMINDED),
    # a proposal reminds the cadres too: no separate reminder before remind_every has passed
    EventKind.PROPOSED: Rule(frozenset({O}), None, ("proposed_at", *_REMINDED)),
    EventKind.ALERTED: Rule(frozenset({O, A}), None, ("alerted_at",)),
    # the only change of a stint's deadlines: those of a guessed year, when the year's real calendar arrives
    EventKind.RESCHEDULED: Rule(frozenset({O, A}), None),
    # any status: a closed request's category counts in reports and trains the classifier
    EventKind.RECATEGORIZED: Rule(frozenset(Status), None, effect=_relabel),
}


class TransitionError(Exception):
    """The request is not in a status that allows this."""

    def __init__(self, request: Request, kind: EventKind) -> None:
        super().__init__(f"#{request.number} is {request.status.value}; cannot {kind.value}")
        self.request = request
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Step:
    """What one transition wrote: the event, the stint it ended (if any), and the current stint."""

    event: Event
    current: Stint
    ended: Stint | None = None
    started: bool = False  # `current` is new (insert it); else it was changed in place (update it)


WorkTime = Callable[[datetime, datetime], float]  # working seconds between two moments


def can(request: Request, kind: EventKind) -> bool:
    """True when the request's status allows this kind of event."""
    return request.status in RULES[kind].allowed


def current_stint(request: Request) -> Stint:
    """The request's current stint (made from its fields when it was not loaded with it)."""
    if request.current is None:
        request.current = Stint(
            number=request.number, seq=request.stint, tier=request.tier, started_at=request.tier_since,
            start=EventKind.REGISTERED if request.stint == 1 else EventKind.ESCALATED,
            ack_due_at=request.ack_due_at, resolve_due_at=request.resolve_due_at,
            handler=request.handler, handler_key=request.handler_key,
            held_since=request.tier_since if request.handler else None,
        )
    return request.current


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
    work: WorkTime | None = None,
    provisional: bool = False,
) -> Step:
    """Apply one event to the request in place, by its rule; return what to store.

    `to_tier` is the tier an escalation or a send-back moves to; `deadlines` are the (acknowledge,
    resolve) deadlines of the stint the event starts; `work` measures the working time of the stint
    it ends; `provisional` marks the new stint's deadlines as falling in a guessed calendar year.
    """
    r = RULES[kind]
    if request.status not in r.allowed:
        raise TransitionError(request, kind)
    stint = current_stint(request)
    from_status, from_tier, from_seq = request.status, request.tier, request.stint
    if r.responds and actor is not None:
        if request.acknowledged_at is None:
            request.acknowledged_at = at
            request.responder = actor.name
        if stint.responded_at is None:
            stint.responded_at, stint.responder, stint.responder_key = at, actor.name, actor.key
    if kind is EventKind.CLAIMED and actor is not None:
        stint.handler, stint.handler_key, stint.held_since = actor.name, actor.key, at
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
    ended = None
    if r.ends:
        stint.ended_at, stint.end = at, kind
        stint.ended_by, stint.ended_by_key = (actor.name, actor.key) if actor else (None, None)
        stint.working_seconds = work(stint.started_at, at) if work else None
        ended = stint
    if r.starts:
        request.stint += 1
        request.current = Stint(
            number=request.number, seq=request.stint, tier=request.tier, started_at=at, start=kind,
            ack_due_at=request.ack_due_at, resolve_due_at=request.resolve_due_at,
            handler=request.handler, handler_key=request.handler_key,
            held_since=at if request.handler else None, provisional=provisional,
        )
    event = Event(
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
        stint=from_seq,
    )
    return Step(event, request.current, ended if r.starts else None, started=r.starts)


def register(request: Request, actor: PersonRef, rule: str | None = None, provisional: bool = False,
             data: dict | None = None) -> Step:
    """The first event of a new request's log, and its first stint (`data`: more of what the tagger found)."""
    request.stint = 1
    request.current = Stint(
        number=request.number, seq=1, tier=request.tier, started_at=request.created_at, start=EventKind.REGISTERED,
        ack_due_at=request.ack_due_at, resolve_due_at=request.resolve_due_at, provisional=provisional,
    )
    event = Event(
        number=request.number,
        kind=EventKind.REGISTERED,
        at=request.created_at,
        tier=request.tier,
        actor=actor.name,
        actor_key=actor.key,
        to_status=request.status,
        note=request.text,
        rule=rule,
        data={"category": request.category, "urgent": request.urgent, **(data or {})},
        stint=1,
    )
    return Step(event, request.current, started=True)

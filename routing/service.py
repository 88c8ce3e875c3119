"""The relay service: what happens when someone writes in a room, or when time passes.

Handlers are rows of one command table; each row names the command's verbs, what it needs,
who may use it and the function that carries it out. Every change to a request goes through
`routing.lifecycle.transition`, which writes the event.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from routing import grammar
from routing.grammar import Malformed, Need, Parsed, Shape, normalize, strip_leading_mentions
from routing.digest import Activity, CountyDigest, TownshipDigest, overdue_now, rank, ranking_words, township_digest
from routing.intake import asks_for_something, request_text
from routing.jobs import Digest, Job, due_at, due_jobs, last_slot, next_slot, remind_at
from routing.lifecycle import TransitionError, can, current_stint, register, transition
from routing.model import EventKind, Inbound, PersonRef, Request, Role, Status, Tier
from routing.notices import Sender, below
from routing.noticing import NOTICES_IN_DIGEST, URGENT_VERB, NoticeDesk, notices_line
from routing.org import County, Member, Place, RoomKind
from routing.policy import Policy
from routing.privacy import MASK_RULES, mask
from routing.rates import Rates, RunningTally
from routing.ports import Outbound, Repository, RequestFilter
from routing.tagging import Tagger

log = logging.getLogger(__name__)

MAX_LISTED = 20  # a 待办 list longer than this is cut, with a count of the rest
REQUESTER_URGE_GAP = timedelta(minutes=30)
LATE_AFTER = timedelta(minutes=10)  # a digest sent later than this after its slot says it is late
STARTED = "jobs_started"  # meta: when time-driven jobs first ran; digest slots before it are not owed
PENDING = frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.RESOLVED})


class Who(enum.Enum):
    """Who may use a command (checked against the request it names, if any)."""

    ANYONE = "anyone"
    HANDLER = "handler"  # a handler of the request's branch at or above its tier
    UPPER_HANDLER = "upper_handler"  # such a handler at township or county tier
    URGER = "urger"  # the requester, or a handler above the request's tier
    VIEWER = "viewer"  # anyone in a room of the request's village, township or county
    REQUESTER = "requester"
    ROOM_HANDLER = "room_handler"  # a handler of this room's branch and tier


class Refusal(str, enum.Enum):
    """Why a command was refused (each has a sentence in templates/refused.j2)."""

    NOT_HANDLER = "not_handler"
    VILLAGE_CADRE = "village_cadre"
    NOT_REQUESTER = "not_requester"
    NOT_IN_BRANCH = "not_in_branch"
    NOT_HIGHER = "not_higher"
    NOT_ROOM_HANDLER = "not_room_handler"
    CONFIDENTIAL = "confidential"  # 进度 of a confidential request: the requester and township or county handlers only
    IN_A_GROUP = "in_a_group"  # a handler's command written privately: handlers act in their work groups


@dataclass(slots=True)
class Turn:
    """One incoming message being handled: who, where, when, and what the bot will say."""

    tx: Repository
    msg: Inbound
    place: Place | None  # None: a private message
    roles: tuple[Member, ...]
    out: list[Outbound] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        """When the message was written."""
        return self.msg.ts

    @property
    def sender(self) -> PersonRef:
        """Who wrote it."""
        return self.msg.sender_ref

    def say(self, room: str, template: str, mentions: tuple[PersonRef, ...] = (), **context) -> None:
        """Queue a message to a room."""
        self.out.append(Outbound(room, template, context, mentions))

    def reply(self, template: str, *also: PersonRef | None, **context) -> None:
        """Answer in the room where the message was written, mentioning its sender (privately, to a private one)."""
        if self.msg.room is None:
            self.out.append(Outbound(None, template, context, to=self.sender))
            return
        mentions = _unique((self.sender, *also))
        self.say(self.msg.room, template, mentions, **context)

    def tell(self, who: PersonRef, template: str, fallback: str | None = None, **context) -> None:
        """A private message to someone; when it cannot reach them, `fallback` (a room) gets private_fallback.j2."""
        self.out.append(Outbound(None, template, context, to=who,
                                 fallback=(fallback, "private_fallback.j2") if fallback else None))


@dataclass(frozen=True, slots=True)
class Command:
    """One row of the command table."""

    name: str
    verbs: tuple[str, ...]
    number: Need
    arg: Need
    who: Who
    run: Callable[[RelayService, Turn, Parsed, Request | None], None]
    shape: Shape = Shape()
    # when the command is only chat unless this holds (通知 from a villager, 收到 from someone with no notice)
    applies: Callable[[RelayService, Turn, Parsed | Malformed], bool] | None = None
    notice: bool = False  # its number is a notice's (通知#3), not a request's


def _unique(refs) -> tuple[PersonRef, ...]:
    seen, out = set(), []
    for r in refs:
        if r is not None and r.key not in seen:
            seen.add(r.key)
            out.append(r)
    return tuple(out)


def say_malformed(turn: Turn, parsed: Malformed) -> None:
    """Tell the sender how the command they meant is written."""
    turn.reply("malformed.j2", verb=parsed.verb, problem=parsed.problem.value, notice=parsed.spec.notice)


class RelayService(NoticeDesk):
    """Registers requests, carries out commands and runs time-driven work (and, as a NoticeDesk, notices)."""

    def __init__(self, county: County, policy: Policy, tagger: Tagger) -> None:
        self.county = county
        self.policy = policy
        self.tagger = tagger
        self._timers_checked: set[Digest] = set()  # digests whose timer this process has checked against the config
        self._month = RunningTally()  # the month-to-date 三率 of the township digests, kept between digests
        self._by_id: dict[str, list[Member]] = {}
        self._by_name: dict[str, list[Member]] = {}
        for m in county.members():
            if m.wechat_id:
                self._by_id.setdefault(m.wechat_id, []).append(m)
            else:
                self._by_name.setdefault(m.name, []).append(m)

    # --- entry point ---------------------------------------------------------
    def handle(self, tx: Repository, msg: Inbound) -> list[Outbound]:
        """Handle one chat message; returns what the bot says in reply."""
        if msg.private:
            return self._private(tx, msg)
        place = self.county.place(msg.room)
        if place is None:
            return []
        if not tx.first_delivery(msg.msg_id, msg.ts):
            log.info("duplicate delivery of message %s ignored", msg.msg_id)
            return []
        tx.note_person(msg.sender_ref, msg.room, msg.ts)
        turn = Turn(tx, msg, place, ())
        turn.roles = self._identify(turn)
        if not msg.is_text:
            if msg.mentions_bot and place.kind is RoomKind.VILLAGE:
                turn.reply("ask_text.j2", non_text=True)
            return turn.out
        parsed = self._command(turn)
        if isinstance(parsed, Malformed):
            say_malformed(turn, parsed)
        elif isinstance(parsed, Parsed):
            self._run(turn, parsed)
        elif place.kind is RoomKind.VILLAGE:
            self._maybe_register(turn)
        elif msg.mentions_bot:
            turn.reply("hint.j2", place=place)
        return turn.out

    # --- identity --------------------------------------------------------------
    def _identify(self, turn: Turn) -> tuple[Member, ...]:
        """The sender's handler roles (shared/design.md, sections 3 and 8).

        By WeChat id when the config gives one. Otherwise by display name, pinned per unit to the
        first contact id seen under that name in a room of that handler's own unit (announced in the
        township work room with the id); the same name in another unit is another person. A message
        that carries no contact id (only replay input can lack one) is matched by name alone.
        """
        msg = turn.msg
        roles = list(self._by_id.get(msg.sender_id, ())) if msg.sender_id else []
        if not roles:
            configured = [m for ms in self._by_id.values() for m in ms if m.name == msg.sender]
            if configured and msg.sender_id:
                self._report_clash(turn, configured[0])
        clashes = []
        for m in self._by_name.get(msg.sender, ()):
            if msg.sender_id is None:
                roles.append(m)
                continue
            pinned = turn.tx.pinned_id(m.unit, m.name)
            if pinned is None:
                if turn.place is not None and turn.place.unit == m.unit:  # only the handler's own unit's room pins
                    turn.tx.pin(m.unit, m.name, msg.sender_id, msg.ts)
                    self._announce_pin(turn, m)
                    roles.append(m)
            elif pinned == msg.sender_id:
                roles.append(m)
            else:
                clashes.append(m)
        for m in clashes:
            # a namesake of another unit is not an impostor: report only a name nobody holds, or one used in
            # a room of that handler's own unit
            if not roles or (turn.place is not None and turn.place.unit == m.unit):
                self._report_clash(turn, m)
        return tuple(roles)

    def _unit_room(self, member: Member) -> str:
        """Where a unit's identity matters are reported: its township's work room (the county's for county staff)."""
        return self.county.township(member.township).room if member.township else self.county.room

    def _announce_pin(self, turn: Turn, member: Member) -> None:
        log.info("handler name %s of %s pinned to contact %s", member.name, member.unit or "the county",
                 turn.msg.sender_id, extra={"event": "identity_pinned"})
        turn.say(self._unit_room(member), "identity_pinned.j2", member=member, sender_id=turn.msg.sender_id,
                 seen_in=turn.msg.room)

    def _report_clash(self, turn: Turn, member: Member) -> None:
        msg = turn.msg
        if msg.sender_id is None or not turn.tx.first_clash(member.unit, msg.sender, msg.sender_id, msg.ts):
            return
        log.warning("contact %s uses the name of handler %s; no handler rights", msg.sender_id, msg.sender,
                    extra={"event": "identity_clash"})
        turn.say(self._unit_room(member), "identity_clash.j2", member=member, sender_id=msg.sender_id,
                 seen_in=msg.room)

    # --- permissions -------------------------------------------------------------
    @staticmethod
    def handles(member: Member, tier: Tier, township: str | None, village: str | None) -> bool:
        """True when the member handles that branch (township, village) at that tier or above."""
        if member.role.tier < tier:
            return False
        if member.role is Role.COUNTY_STAFF:
            return True
        if member.township != township:
            return False
        return member.role is not Role.VILLAGE_CADRE or member.village == village

    @classmethod
    def covers(cls, member: Member, req: Request) -> bool:
        """True when the member handles the request's branch at or above its current tier."""
        return cls.handles(member, req.tier, req.township, req.village)

    def _refusal(self, turn: Turn, who: Who, req: Request | None) -> Refusal | None:
        roles, place = turn.roles, turn.place
        if who is Who.ANYONE:
            return None
        if place is None and who in (Who.ROOM_HANDLER, Who.HANDLER, Who.UPPER_HANDLER):
            return Refusal.IN_A_GROUP
        if who is Who.ROOM_HANDLER:
            ok = any(self.handles(m, place.tier, place.township, place.village) for m in roles)
            return None if ok else Refusal.NOT_ROOM_HANDLER
        assert req is not None
        is_requester = turn.sender.key == req.requester_key
        if who is Who.REQUESTER:
            return None if is_requester else Refusal.NOT_REQUESTER
        covering = [m for m in roles if self.covers(m, req)]
        if who is Who.VIEWER:
            if is_requester:
                return None
            if req.confidential and not any(m.role.tier >= Tier.TOWNSHIP for m in covering):
                return Refusal.CONFIDENTIAL
            if place is None:
                return None if covering else Refusal.NOT_IN_BRANCH
            return None if self._in_branch(place, req) else Refusal.NOT_IN_BRANCH
        if who is Who.HANDLER:
            return None if covering else Refusal.NOT_HANDLER
        if who is Who.UPPER_HANDLER:
            if any(m.role.tier >= Tier.TOWNSHIP for m in covering):
                return None
            return Refusal.VILLAGE_CADRE if covering else Refusal.NOT_HANDLER
        if who is Who.URGER:
            if is_requester or any(m.role.tier > req.tier for m in covering):
                return None
            return Refusal.NOT_HIGHER
        raise AssertionError(who)  # pragma: no cover

    @staticmethod
    def _in_branch(place: Place, req: Request) -> bool:
        if place.kind is RoomKind.COUNTY:
            return True
        if place.kind is RoomKind.VILLAGE:
            return place.township == req.township and place.village == req.village
        return place.township == req.township

    # --- commands ------------------------------------------------------------
    def _command(self, turn: Turn) -> Parsed | Malformed | None:
        """The command the message is, or None when it is chat (also a command word its sender cannot mean)."""
        parsed = grammar.parse(turn.msg.text, COMMANDS, self.policy.bot_name)
        if parsed is not None and parsed.spec.applies is not None and not parsed.spec.applies(self, turn, parsed):
            return None
        return parsed

    def _run(self, turn: Turn, parsed: Parsed) -> None:
        cmd: Command = parsed.spec
        if cmd.notice:  # a notice's number: the command checks who may use it
            cmd.run(self, turn, parsed, None)
            return
        req = None
        if parsed.number is not None:
            req = turn.tx.get(parsed.number, lock=True)  # decide on a fresh copy no one else changes meanwhile
            if req is None:
                turn.reply("not_found.j2", number=parsed.number)
                return
        elif cmd.number is Need.REQUIRED:  # pragma: no cover - the parser reports this
            return
        if req is not None or cmd.number is not Need.OPTIONAL:
            refusal = self._refusal(turn, cmd.who, req)
            if refusal is not None:
                log.info("refused %s from %s: %s", cmd.name, turn.msg.sender, refusal.value)
                turn.reply("refused.j2", reason=refusal.value, command=parsed.verb, r=req)
                return
        try:
            cmd.run(self, turn, parsed, req)
        except TransitionError as e:
            turn.reply("bad_state.j2", r=e.request, command=parsed.verb)

    def apply(self, tx: Repository, req: Request, kind: EventKind, at: datetime, actor: PersonRef | None,
              **kw) -> None:
        """The one way a request changes: its transition, the stint it ends measured, its timer reset, stored."""
        if "deadlines" in kw:
            kw["provisional"] = self._provisional(kw["deadlines"])
        step = transition(req, kind, at, actor, work=self.policy.calendar.working_seconds, **kw)
        req.next_due_at = due_at(req, self.policy)
        tx.update(req, step)

    def _provisional(self, deadlines: tuple[datetime | None, datetime | None]) -> bool:
        """True when a deadline falls in a calendar year the calendar only guesses."""
        cal = self.policy.calendar
        return any(d is not None and cal.uses_fallback(cal.local(d).year) for d in deadlines)

    def _iso(self, t: datetime | None) -> str | None:
        return self.policy.calendar.local(t).isoformat() if t is not None else None

    def reschedule_provisional(self, tx: Repository, now: datetime) -> list[Request]:
        """Work out again the deadlines not yet passed of the active requests whose stint's deadlines were guessed,
        once the calendar knows their years (imported since), each change an event; returns the requests changed.

        Deadlines still in a year the calendar only guesses are left for later: calling this again changes
        nothing (the bot calls it at every start, `minqing calendar import` after each import).
        """
        cal = self.policy.calendar
        changed = []
        for number in [r.number for r in tx.find(RequestFilter(statuses=frozenset({Status.OPEN, Status.ACKNOWLEDGED})))]:
            req = tx.get(number, lock=True)
            if req is None or not current_stint(req).provisional:
                continue
            stint = current_stint(req)
            old = (stint.ack_due_at, stint.resolve_due_at)
            pending = [d for d in old if d is not None and d > now]
            if not pending:
                continue  # passed: the figures already counted them as they were
            if any(cal.uses_fallback(cal.local(d).year) for d in pending):
                continue  # still a guess: until that year is imported
            fresh = self.policy.deadlines(stint.started_at, req.category, req.urgent)
            new = tuple(f if d is not None and d > now else d for d, f in zip(old, fresh, strict=True))
            year = min(cal.local(d).year for d in pending)
            step = transition(req, EventKind.RESCHEDULED, now, None, rule="calendar_import", data={
                "year": year, "ack_due_at": [self._iso(old[0]), self._iso(new[0])],
                "resolve_due_at": [self._iso(old[1]), self._iso(new[1])]})
            req.ack_due_at, req.resolve_due_at = new
            if stint.seq == 1:
                req.first_ack_due_at = new[0]
            stint.ack_due_at, stint.resolve_due_at = new
            stint.provisional = self._provisional(new)
            req.next_due_at = due_at(req, self.policy)
            tx.update(req, step)
            changed.append(req)
            log.info("request #%d: deadlines worked out again now that %d is known: %s -> %s", req.number, year,
                     [self._iso(d) for d in old], [self._iso(d) for d in new], extra={"event": "rescheduled"})
        return changed

    def _change(self, turn: Turn, req: Request, kind: EventKind, **kw) -> None:
        self.apply(turn.tx, req, kind, turn.now, turn.sender, **kw)
        log.info("request #%d %s by %s at %s", req.number, kind.value, turn.msg.sender, turn.msg.room)

    def _village_room(self, req: Request) -> str:
        return self.county.village(req.township, req.village).room

    def _tier_room(self, req: Request, tier: Tier | None = None) -> str:
        return self.county.room_for(tier or req.tier, req.township, req.village)

    def _tier_handlers(self, req: Request, tier: Tier | None = None) -> tuple[PersonRef, ...]:
        return tuple(m.ref for m in self.county.handlers_at(tier or req.tier, req.township, req.village))

    def _unit(self, turn: Turn, req: Request) -> str:
        """The unit the sender acts for on this request: its most local role that covers it."""
        covering = sorted((m for m in turn.roles if self.covers(m, req)), key=lambda m: m.role.tier)
        if not covering:
            return ""
        m = covering[0]
        return m.village or m.township or self.county.name

    @staticmethod
    def _secret(req: Request) -> bool:
        """True when what concerns the requester goes to them privately (a confidential or private request)."""
        return req.confidential or req.private

    def _tell_requester(self, turn: Turn, req: Request, template: str, **context) -> None:
        """Notify the requester: privately for a confidential or private request, else in their village room
        (unless the reply there already did)."""
        room = self._village_room(req)
        if self._secret(req):
            if turn.sender.key != req.requester_key:
                turn.tell(req.requester_ref, template, fallback=room, r=req, unit=self._unit(turn, req), **context)
        elif turn.msg.room != room:
            turn.say(room, template, (req.requester_ref,), r=req, unit=self._unit(turn, req), **context)

    def _answer_requester(self, turn: Turn, req: Request, template: str, **context) -> None:
        """Answer the requester's own command: privately for a confidential or private request."""
        if self._secret(req) and turn.msg.room is not None:
            turn.tell(req.requester_ref, template, fallback=self._village_room(req), **context)
        else:
            turn.reply(template, **context)

    def _requester_also(self, turn: Turn, req: Request) -> PersonRef | None:
        """The requester, when the reply goes to their own village room (one message for both)."""
        if self._secret(req):
            return None
        return req.requester_ref if turn.msg.room == self._village_room(req) else None

    def _announce(self, turn: Turn, req: Request, name: str) -> None:
        """Answer the sender with `name`.j2 and tell the requester with `name`_notice.j2."""
        turn.reply(f"{name}.j2", self._requester_also(turn, req), r=req)
        self._tell_requester(turn, req, f"{name}_notice.j2")

    def cmd_claim(self, turn: Turn, p: Parsed, req: Request) -> None:
        """认领 #N: the sender becomes the handler."""
        self._change(turn, req, EventKind.CLAIMED)
        self._announce(turn, req, "claimed")

    def cmd_escalate(self, turn: Turn, p: Parsed, req: Request) -> None:
        """上报 #N [理由]: move the request to the next tier and post it there."""
        target = req.tier.next()
        if target is None:
            turn.reply("top_tier.j2", r=req)
            return
        if not can(req, EventKind.ESCALATED):
            raise TransitionError(req, EventKind.ESCALATED)
        self.escalate(turn.tx, req, target, turn.now, turn.sender, note=p.arg or None, out=turn.out)
        self._announce(turn, req, "escalated")

    def escalate(
        self,
        tx: Repository,
        req: Request,
        target: Tier,
        at: datetime,
        actor: PersonRef | None,
        *,
        note: str | None,
        out: list[Outbound],
        rule: str | None = None,
    ) -> None:
        """Move a request up to `target` and post it in that tier's room."""
        waited = at - req.created_at
        self.apply(tx, req, EventKind.ESCALATED, at, actor, note=note, rule=rule, to_tier=target,
                   deadlines=self.policy.deadlines(at, req.category, req.urgent))
        log.info("request #%d escalated to %s (%s)", req.number, target.key, rule or "by hand")
        out.append(Outbound(
            self._tier_room(req), "escalated_post.j2",
            {"r": req, "by": actor, "reason": note, "waited": waited, "rule": rule},
            self._tier_handlers(req),
        ))

    def cmd_resolve(self, turn: Turn, p: Parsed, req: Request) -> None:
        """办结 #N 结果: report the result and ask the requester for a rating."""
        self._change(turn, req, EventKind.RESOLVED, note=p.arg)
        self._announce(turn, req, "resolved")

    def cmd_send_back(self, turn: Turn, p: Parsed, req: Request) -> None:
        """退回 #N 理由: down one tier, open again there."""
        target = req.tier.previous()
        if target is None:
            turn.reply("bottom_tier.j2", r=req)
            return
        if req.confidential and target is Tier.VILLAGE:
            turn.reply("confidential_stays.j2", r=req)  # the village's cadres may be whom it is about
            return
        self._change(
            turn, req, EventKind.SENT_BACK, note=p.arg, to_tier=target,
            deadlines=self.policy.deadlines(turn.now, req.category, req.urgent),
        )
        turn.reply("sent_back.j2", r=req)
        room = self._tier_room(req)
        if room != turn.msg.room:
            turn.say(room, "sent_back_post.j2", self._tier_handlers(req), r=req, by=turn.sender, reason=p.arg)

    def cmd_reject(self, turn: Turn, p: Parsed, req: Request) -> None:
        """无效 #N 理由: not a request (or a duplicate); tell the requester why."""
        self._change(turn, req, EventKind.REJECTED, note=p.arg)
        self._announce(turn, req, "rejected")

    def cmd_urge(self, turn: Turn, p: Parsed, req: Request) -> None:
        """催办 #N: remind the current tier's handlers now."""
        if not can(req, EventKind.URGED):
            raise TransitionError(req, EventKind.URGED)
        by_requester = turn.sender.key == req.requester_key
        last = req.last_reminded_at
        if by_requester and last is not None and turn.now - last < REQUESTER_URGE_GAP:
            self._answer_requester(turn, req, "urged_recently.j2", r=req, last=last)
            return
        self._change(turn, req, EventKind.URGED)
        room = self._tier_room(req)
        mentions = (req.handler_ref,) if req.handler_ref else self._tier_handlers(req)
        turn.say(room, "urged_post.j2", mentions, r=req, by=turn.sender, now=turn.now)
        if room != turn.msg.room:
            if by_requester:
                self._answer_requester(turn, req, "urged.j2", r=req)
            else:
                turn.reply("urged.j2", r=req)

    def cmd_progress(self, turn: Turn, p: Parsed, req: Request) -> None:
        """进度 #N: status and history (to the requester of a confidential or private request, privately)."""
        context = {"r": req, "events": turn.tx.events(req.number), "now": turn.now}
        if turn.sender.key == req.requester_key:
            self._answer_requester(turn, req, "progress.j2", **context)
        else:
            turn.reply("progress.j2", **context)

    def cmd_todo(self, turn: Turn, p: Parsed, req: None) -> None:
        """待办: open and acknowledged requests at this room's tier and branch."""
        place = turn.place
        flt = RequestFilter(
            statuses=frozenset({Status.OPEN, Status.ACKNOWLEDGED}),
            tier=place.tier,
            township=place.township,
            village=place.village,
        )
        items = turn.tx.find(flt)
        if place.kind in (RoomKind.TOWNSHIP, RoomKind.LEADERS):
            # urgent village requests are shown to the township at once, so they are its business too
            urgent = turn.tx.find(RequestFilter(
                statuses=flt.statuses, tier=Tier.VILLAGE, township=place.township,
            ))
            items += [r for r in urgent if r.urgent]
        items.sort(key=lambda r: (not r.urgent, r.number))
        turn.reply("todo.j2", items=items[:MAX_LISTED], more=max(0, len(items) - MAX_LISTED), now=turn.now,
                   place=place)

    def cmd_rate(self, turn: Turn, p: Parsed, req: Request | None) -> None:
        """满意 / 不满意 [#N] [原因]: close, or reopen at the tier that resolved it."""
        satisfied = p.verb in SATISFIED_VERBS
        if req is None:
            waiting = turn.tx.find(RequestFilter(
                statuses=frozenset({Status.RESOLVED}), requester_key=turn.sender.key,
            ))
            if not waiting:
                return  # "满意" with nothing to rate is just chat
            if len(waiting) > 1:
                if any(self._secret(r) for r in waiting) and turn.msg.room is not None:
                    turn.tell(turn.sender, "rate_which.j2", fallback=turn.msg.room, items=waiting, verb=p.verb)
                else:
                    turn.reply("rate_which.j2", items=waiting, verb=p.verb)
                return
            req = turn.tx.get(waiting[0].number, lock=True)
        if satisfied:
            self._change(turn, req, EventKind.SATISFIED, note=p.arg or None)
            self._answer_requester(turn, req, "rated_satisfied.j2", r=req)
            return
        # the reopened stint is held by the handler who resolved it: it has only a resolve deadline
        _, resolve_due = self.policy.deadlines(turn.now, req.category, req.urgent)
        self._change(turn, req, EventKind.UNSATISFIED, note=p.arg or None, deadlines=(None, resolve_due))
        self._answer_requester(turn, req, "rated_unsatisfied.j2", r=req)
        room = self._tier_room(req)
        mentions = (req.handler_ref,) if req.handler_ref else self._tier_handlers(req)
        turn.say(room, "reopened_post.j2", mentions, r=req, reason=p.arg or None)

    def cmd_recategorize(self, turn: Turn, p: Parsed, req: Request) -> None:
        """分类 #N 类别: correct the category (an event); a relabel only, the stint's deadlines stay as they are."""
        names = self.tagger.category_names
        name = category_name(p.arg, names)
        if name is None:
            turn.reply("recategorize_unknown.j2", r=req, given=p.arg, names=names)
            return
        if name == req.category:
            turn.reply("recategorized.j2", r=req, old=None)
            return
        confidential = self.policy.escalation.confidential
        if name in confidential or req.category in confidential:
            # who may see a confidential request is decided at registration; a relabel cannot undo or redo that
            turn.reply("recategorize_confidential.j2", r=req, name=name if name in confidential else req.category)
            return
        old = req.category
        self._change(turn, req, EventKind.RECATEGORIZED, note=name, data={"from": old, "to": name})
        turn.reply("recategorized.j2", r=req, old=old)

    def cmd_help(self, turn: Turn, p: Parsed, req: None) -> None:
        """帮助: the commands this sender can use here."""
        turn.reply("help.j2", handler=bool(turn.roles), place=turn.place, bot=self.policy.bot_name,
                   triggers=self.policy.intake.triggers)

    # --- time ------------------------------------------------------------------
    def tick(self, tx: Repository, now: datetime) -> list[Outbound]:
        """Run every time-driven job due at `now`: escalations, proposals, reminders, rating windows, digests.

        The timer index says which requests may be due; each is then read again, locked, and its jobs
        are decided on that fresh copy, so a claim that came in meanwhile is never overwritten.
        """
        out: list[Outbound] = []
        if tx.get_meta(STARTED) is None:
            tx.set_meta(STARTED, now.isoformat())
        reminders: dict[str, list[tuple[Request, datetime]]] = {}
        for number in tx.due(now):
            req = tx.get(number, lock=True)
            if req is None:
                continue
            jobs = due_jobs(req, self.policy, now)
            for job in jobs:
                if job is Job.AUTO_ESCALATE:
                    self._auto_escalate(tx, req, now, out)
                elif job is Job.PROPOSE:
                    self._propose(tx, req, now, out)
                elif job is Job.REMIND:
                    reminders.setdefault(self._tier_room(req), []).append((req, remind_at(req, self.policy)))
                elif job is Job.EXPIRE:
                    self.apply(tx, req, EventKind.EXPIRED, now, None, rule="rating_window")
            if not jobs:  # nothing was due after all (it changed since the index was written): reset the timer
                req.next_due_at = due_at(req, self.policy)
                tx.set_timer(req)
        for room, items in reminders.items():
            self._remind(tx, room, items, now, out)
        self.notice_jobs(tx, now, out)
        out += self._digests(tx, now)
        return out

    def next_due(self, tx: Repository, after: datetime) -> datetime | None:
        """When the next time-driven job falls due strictly after `after` (one indexed query).

        Before the first tick the digests' timers are not set yet: the tick that sets them is due now.
        """
        if len(self._timers_checked) < len(Digest):
            return after + timedelta(microseconds=1)
        return tx.next_timer(after)

    def _auto_escalate(self, tx: Repository, req: Request, now: datetime, out: list[Outbound]) -> None:
        key = f"auto:{req.number}:{req.stint}"  # one automatic escalation per stint
        self.escalate(tx, req, Tier.TOWNSHIP, now, None, note=None, out=out, rule="auto_after")
        cadres = self._tier_handlers(req, Tier.VILLAGE)
        if self._secret(req):  # the requester hears of it privately; the room only mentions its cadres
            out.append(Outbound(self._village_room(req), "auto_escalated.j2", {"r": req}, cadres, key=key))
            out.append(Outbound(None, "auto_escalated.j2", {"r": req}, to=req.requester_ref, key=key + ":requester",
                                fallback=(self._village_room(req), "private_fallback.j2")))
            return
        out.append(Outbound(self._village_room(req), "auto_escalated.j2", {"r": req},
                            _unique((req.requester_ref, *cadres)), key=key))

    def _propose(self, tx: Repository, req: Request, now: datetime, out: list[Outbound]) -> None:
        self.apply(tx, req, EventKind.PROPOSED, now, None, rule="propose_after")
        log.info("request #%d: escalation proposed to the cadres of %s", req.number, req.village)
        auto = self.policy.escalation.auto_after
        out.append(Outbound(
            self._village_room(req), "proposal.j2",
            {"r": req, "waited": now - req.tier_since, "auto_at": self.policy.calendar.add(now, auto) if auto else None},
            self._tier_handlers(req, Tier.VILLAGE), key=f"propose:{req.number}:{req.stint}",
        ))

    def _remind(self, tx: Repository, room: str, items: list[tuple[Request, datetime]], now: datetime,
                out: list[Outbound]) -> None:
        """One reminder per room per tick, listing its overdue requests and mentioning their handlers.

        Its key names each request, stint and the moment its reminder fell due: the same reminder
        can never be queued twice, whatever ticks or processes run.
        """
        overdue = overdue_now([req for req, _ in items], now)
        mentions: list[PersonRef] = []
        for req, _ in items:
            self.apply(tx, req, EventKind.REMINDED, now, None, rule="remind_every")
            mentions += [req.handler_ref] if req.handler_ref else self._tier_handlers(req)
        log.info("overdue reminder in %s for %s", room, ", ".join(f"#{r.number}" for r, _ in items))
        key = "remind:" + ",".join(f"{r.number}.{r.stint}@{due.isoformat()}" for r, due in items)
        out.append(Outbound(room, "reminder.j2", {"items": overdue}, _unique(mentions), key=key))

    def _digests(self, tx: Repository, now: datetime) -> list[Outbound]:
        """The digests whose timer has come: their latest slot's (once, late if it was missed)."""
        out: list[Outbound] = []
        started = datetime.fromisoformat(tx.get_meta(STARTED) or now.isoformat())
        for digest in Digest:
            timer = f"digest:{digest.value}"
            last = tx.get_meta(timer)
            last_at = datetime.fromisoformat(last) if last else None
            due = tx.timer(timer)
            if digest not in self._timers_checked:
                # once per process: the config may have moved the schedule since the timer was set
                expected = next_slot(self.policy, digest, last_at or started - timedelta(seconds=1))
                if due != expected:
                    tx.set_timer_at(timer, expected)
                    due = expected
                self._timers_checked.add(digest)
            if due is None or due > now:
                continue
            slot = last_slot(self.policy, digest, now)
            tx.set_timer_at(timer, next_slot(self.policy, digest, now))
            if slot is None or slot < started or (last_at is not None and slot <= last_at):
                continue
            previous = last_slot(self.policy, digest, slot - timedelta(seconds=1)) or started
            start = min(last_at, previous) if last_at else previous
            late = slot if now - slot > LATE_AFTER else None
            if digest is Digest.TOWNSHIP_DAILY:
                for d in self._township_digests(tx, start, now):
                    d.late_slot = late
                    out.append(Outbound(self.county.leaders_room(d.township), "digest_township.j2", {"d": d},
                                        key=f"digest:township:{d.township}:{slot.isoformat()}"))
            else:
                out.append(Outbound(self.county.room, "digest_county.j2", {"d": self._county_digest(tx, start, now, late)},
                                    key=f"digest:county:{slot.isoformat()}"))
            tx.set_meta(timer, slot.isoformat())
            log.info("%s digest for %s sent%s", digest.value, slot.isoformat(), " late" if late else "")
        return out

    def _month_start(self, now: datetime) -> datetime:
        local = now.astimezone(self.policy.calendar.tz)
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def _township_digests(self, tx: Repository, start: datetime, now: datetime) -> list[TownshipDigest]:
        """Every township's digest over [start, now), from one read of the county's data."""
        created = tx.find(RequestFilter(created_from=start, created_to=now))
        events = tx.events_between(start, now)
        owners = tx.get_many(sorted({e.number for e in events}))
        active = tx.find(RequestFilter(statuses=frozenset({Status.OPEN, Status.ACKNOWLEDGED})))
        month_start = self._month_start(now)
        month = self._month.tally(tx, month_start, now, lambda rec: rec.request.township)
        awaiting = [n for n in tx.notices_awaiting([t.unit for t in below(self.county, Sender(None))]) if now - n.created_at <= NOTICES_IN_DIGEST]
        digests = []
        for township in self.county.townships:
            name = township.name

            def mine(requests: list[Request]) -> list[Request]:
                return [r for r in requests if r.township == name]

            own_events = [e for e in events if owners[e.number].township == name]
            digest = township_digest(township, start, now, mine(created), own_events, owners, mine(active),
                                     month.get(name))
            line = notices_line(awaiting, name)
            if line is not None:
                digest.extra.append(line)
            digests.append(digest)
        return digests

    def _county_digest(self, tx: Repository, start: datetime, now: datetime, late: datetime | None) -> CountyDigest:
        townships = self._township_digests(tx, start, now)
        scoring = self.policy.scoring
        total, month = Activity(), Rates()
        for t in townships:
            total.add(t.activity)
            month.add(t.month)
        return CountyDigest(self.county.name, start, now, total, sum(len(t.overdue) for t in townships),
                            rank(townships, scoring), late, month=month, ranking=ranking_words(scoring),
                            scoring=scoring)

    # --- registration ----------------------------------------------------------
    def _maybe_register(self, turn: Turn) -> None:
        msg = turn.msg
        text = request_text(msg.text, self.policy.intake, self.policy.bot_name, msg.mentions_bot)
        if text is None:
            return
        if not text:  # addressed to the bot, but asking for nothing: say how to ask, register nothing
            turn.reply("ask_text.j2", non_text=False)
            return
        self.register(turn, text, turn.place)

    def register(self, turn: Turn, text: str, place: Place) -> Request:
        """Create a request of a village (`place`, its room) and announce it.

        A request of a confidential category goes straight to the township: the village room learns
        only its number, the requester gets the rest privately. A request sent privately gets every
        answer privately; its village's cadres see it (masked) in their room.
        """
        now = turn.now
        tags = self.tagger.tag(text)
        confidential = tags.category in self.policy.escalation.confidential
        direct = confidential or tags.category in self.policy.escalation.direct_to_township
        tier = Tier.TOWNSHIP if direct else Tier.VILLAGE
        ack_due, resolve_due = self.policy.deadlines(now, tags.category, tags.urgent)
        req = Request(
            number=turn.tx.next_number(),
            requester=turn.sender.name,
            requester_key=turn.sender.key,
            requester_id=turn.sender.contact_id,
            village=place.village,
            township=place.township,
            tier=tier,
            category=tags.category,
            urgent=tags.urgent,
            urgency_reason=tags.urgency_reason,
            text=text,
            masked_text=mask(text),
            masked_by=MASK_RULES,
            created_at=now,
            tier_since=now,
            ack_due_at=ack_due,
            resolve_due_at=resolve_due,
            first_ack_due_at=ack_due,
            source_msg_id=turn.msg.msg_id,
            confidential=confidential,
            private=turn.msg.private,
        )
        rule = "confidential" if confidential else "direct_to_township" if direct else None
        found = {"guess": True} if tags.guess else {}
        if tags.probability is not None:
            found["probability"] = round(tags.probability, 3)
        step = register(req, turn.sender, rule=rule, provisional=self._provisional((ack_due, resolve_due)), data=found)
        req.next_due_at = due_at(req, self.policy)
        turn.tx.add(req, step)
        log.info("request #%d registered in %s (%s%s)", req.number, place.room, req.category,
                 ", urgent" if req.urgent else "")
        # a guessed category: the village's cadres are asked to confirm or correct it (分类 #N)
        guess = tags.guess and not confidential
        cadres = self._tier_handlers(req, Tier.VILLAGE) if guess and not direct else ()
        if turn.msg.private:
            turn.reply("registered.j2", r=req, direct=direct, guess=guess)
            if not direct:  # the village's cadres handle it: they see it in their room, masked
                turn.say(place.room, "private_post.j2", self._tier_handlers(req), r=req, guess=guess)
        elif confidential:
            turn.reply("registered_confidential.j2", r=req)
            turn.tell(req.requester_ref, "registered.j2", r=req, direct=direct, guess=False)
        else:
            turn.reply("registered.j2", *cadres, r=req, direct=direct, guess=guess)
        if direct:
            turn.say(self._tier_room(req), "escalated_post.j2", self._tier_handlers(req),
                     r=req, by=None, reason=None, waited=timedelta(0), rule=rule)
        elif req.urgent:
            self.alert_township(turn.tx, req, now, turn.out)
        return req

    # --- private messages ------------------------------------------------------------
    def _private(self, tx: Repository, msg: Inbound) -> list[Outbound]:
        """A message to the bot alone: a command of a requester (进度, 催办, 满意 …), or a request of the village
        whose group the sender is in (asked which when several)."""
        if msg.sender_id is None or not tx.first_delivery(msg.msg_id, msg.ts):
            return []
        turn = Turn(tx, msg, None, ())
        turn.roles = self._identify(turn)
        if not msg.is_text:
            turn.reply("ask_text.j2", non_text=True)
            return turn.out
        parsed = self._command(turn)
        if parsed is None and self.notice_in_private(turn):
            turn.reply("notice_refused.j2", reason="private", names=(), verb="通知", township=None)
            return turn.out
        if isinstance(parsed, Malformed):
            say_malformed(turn, parsed)
            return turn.out
        if isinstance(parsed, Parsed):
            self._run(turn, parsed)
            return turn.out
        villages = self._villages_of(tx, msg)
        draft = tx.get_meta(_draft_key(msg.sender_id))
        if draft is not None:
            chosen = _chosen(msg.text, villages)
            if chosen is not None:
                tx.delete_meta(_draft_key(msg.sender_id))
                self.register(turn, json.loads(draft)["text"], chosen)
                return turn.out
        text = strip_leading_mentions(msg.text.strip(), self.policy.bot_name)
        if not asks_for_something(text):
            turn.reply("ask_text.j2", non_text=False, private=True)
        elif not villages:
            turn.reply("private_no_village.j2")
        elif len(villages) == 1:
            self.register(turn, text, villages[0])
        else:
            tx.set_meta(_draft_key(msg.sender_id), json.dumps({"text": text, "at": msg.ts.isoformat()},
                                                              ensure_ascii=False))
            turn.reply("private_which_village.j2", villages=villages)
        return turn.out

    def _villages_of(self, tx: Repository, msg: Inbound) -> list[Place]:
        """The village rooms the sender is in: as the transport knows, or as the bot saw them speak."""
        rooms = list(msg.member_of) + tx.rooms_of(msg.sender_id)
        out: list[Place] = []
        for room in rooms:
            place = self.county.place(room)
            if place is not None and place.kind is RoomKind.VILLAGE and place not in out:
                out.append(place)
        return out

    def alert_township(self, tx: Repository, req: Request, at: datetime, out: list[Outbound]) -> None:
        """Show an urgent request to the township at once; it stays at its tier."""
        self.apply(tx, req, EventKind.ALERTED, at, None, rule="urgent")
        township = self.county.township(req.township)
        out.append(Outbound(township.room, "urgent_post.j2", {"r": req},
                            tuple(m.ref for m in township.staff + township.leaders)))


_CATEGORY_LEADS = ("改成", "改为", "改到", "应为", "应该是", "应是", "为", "是")
_CATEGORY_NOISE = " \t\n\"'“”‘’「」【】[]<>《》:：,，、.。;；!！?？"


def category_name(text: str, names: list[str]) -> str | None:
    """The category a 分类 command names (`交通运输`, `“交通运输”`, `交通运输类`), or None when it names none."""
    given = normalize(text).strip(_CATEGORY_NOISE)
    for lead in _CATEGORY_LEADS:  # 分类 #3 改成交通运输
        if given.startswith(lead):
            given = given[len(lead):].strip(_CATEGORY_NOISE)
            break
    for candidate in (given, given.removesuffix("类")):
        if candidate in names:
            return candidate
    return None


def _draft_key(contact_id: str) -> str:
    """Where a private request waits while its sender says which village it is for."""
    return f"draft:{contact_id}"


def _chosen(text: str, villages: list[Place]) -> Place | None:
    """The village a private answer picks: its number in the list, or its name."""
    answer = normalize(text).strip("。.！! ")
    if answer.isdigit() and 1 <= int(answer) <= len(villages):
        return villages[int(answer) - 1]
    named = [v for v in villages if answer in (v.village, f"{v.township}{v.village}", v.room)]
    return named[0] if len(named) == 1 else None


SATISFIED_VERBS = ("满意",)
# A rating may come with who is speaking and a degree word in front (我很满意, 非常不满意) and a particle
# after it (满意了, 满意啦); 不太满意 and the like are 不满意.
RATING = Shape(
    before=(("我们", "我", "本人", "对结果", "对处理结果"), ("非常", "十分", "特别", "比较", "还算", "基本", "还是",
                                                      "很", "挺", "真", "太", "蛮", "都")),
    after=("了", "啦", "的", "哈", "哦", "呀", "啊"),
)

# 收到, 已收到, 好的，收到, 收到收到, 收到了👍, 收到 通知#3
ACKNOWLEDGE = Shape(before=(("好的,", "好的", "好,", "好", "嗯嗯", "嗯,", "嗯", "ok,", "ok", "OK,", "OK"), ("已经", "已")),
                    after=("收到", "了", "啦", "啊", "哈", "的"), number_word="通知")

COMMANDS: tuple[Command, ...] = (
    Command("claim", ("认领", "接单"), Need.REQUIRED, Need.NONE, Who.HANDLER, RelayService.cmd_claim),
    Command("escalate", ("上报", "确认上报"), Need.REQUIRED, Need.OPTIONAL, Who.HANDLER, RelayService.cmd_escalate),
    Command("resolve", ("办结",), Need.REQUIRED, Need.REQUIRED, Who.HANDLER, RelayService.cmd_resolve),
    Command("send_back", ("退回",), Need.REQUIRED, Need.REQUIRED, Who.UPPER_HANDLER, RelayService.cmd_send_back),
    Command("reject", ("无效",), Need.REQUIRED, Need.REQUIRED, Who.UPPER_HANDLER, RelayService.cmd_reject),
    Command("urge", ("催办",), Need.REQUIRED, Need.NONE, Who.URGER, RelayService.cmd_urge),
    Command("progress", ("进度", "查询"), Need.REQUIRED, Need.NONE, Who.VIEWER, RelayService.cmd_progress),
    Command("todo", ("待办",), Need.NONE, Need.NONE, Who.ROOM_HANDLER, RelayService.cmd_todo),
    Command("rate", ("满意", "不满意", "不太满意", "不大满意", "不是很满意", "不怎么满意"), Need.OPTIONAL,
            Need.OPTIONAL, Who.REQUESTER, RelayService.cmd_rate, RATING),
    Command("recategorize", ("分类",), Need.REQUIRED, Need.REQUIRED, Who.HANDLER, RelayService.cmd_recategorize),
    Command("help", ("帮助", "菜单"), Need.NONE, Need.NONE, Who.ANYONE, RelayService.cmd_help),
    # notices down the tiers (shared/design.md, section 8)
    Command("notice", ("通知", URGENT_VERB), Need.NONE, Need.REQUIRED, Who.ANYONE, RelayService.cmd_notice,
            applies=RelayService.may_notify, notice=True),
    Command("notice_ack", ("收到",), Need.OPTIONAL, Need.NONE, Who.ANYONE, RelayService.cmd_notice_ack,
            ACKNOWLEDGE, applies=RelayService.may_acknowledge,
            notice=True),
    Command("notice_progress", ("进度", "查询"), Need.REQUIRED, Need.NONE, Who.ANYONE,
            RelayService.cmd_notice_progress, Shape(number_word="通知"), notice=True),
)

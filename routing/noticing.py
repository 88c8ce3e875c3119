"""The relay's notice desk: `通知`, `收到 通知#N`, `进度 通知#N`, and the reminders and reports that fall due.

Mixed into `routing.service.RelayService`; every message goes through the same outbox with a stable
key (`notice:N:post:<unit>`, `notice:N:remind:<unit>`, `notice:N:report`), so a restart or a second
tick never says anything twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from routing.digest import DigestLine
from routing import grammar
from routing.grammar import Malformed, Need, Parsed, Shape
from routing.model import PersonRef, Role
from routing.notices import (
    MAX_TEXT,
    Notice,
    NoticeUnit,
    Refusal,
    ScopeProblem,
    handles_unit,
    resolve_scope,
    sender_office,
)
from routing.org import County, Member, RoomKind
from routing.ports import Outbound, Repository

if TYPE_CHECKING:
    from routing.policy import Policy
    from routing.service import Turn

log = logging.getLogger(__name__)

URGENT_VERB = "紧急通知"
# the notices one 收到 names: 收到 通知#1、通知#2, 收到 通知#1、#2, 收到 通知#1和3 (a 通知 and the numbers chained to it)
# A chained number longer than nine digits counts only when marked (#, 通知): 收到 通知#3，13812345678 names #3 alone.
NOTICE_NUMBERS = re.compile(r"通知\s*[#＃]?\s*(\d+)(?![\d号])"
                            r"((?:(?:\s*[、,，和及]\s*|\s+(?=[#＃]))(?:(?:通知\s*[#＃]?|[#＃])\s*\d+|\d{1,%d})(?![\d号]))*)"
                            % grammar.MAX_NUMBER_DIGITS)
CHAINED = re.compile(r"\d+")
SHOWN_DIGITS = 20  # a longer number is shortened where the bot repeats it
TIMER = "notice:"  # a notice's timer: notice:<number>
MAX_MENTIONS = 40  # a report mentions at most this many handlers of units that have not acknowledged
UNIT_ROLES = (Role.VILLAGE_CADRE, Role.TOWNSHIP_STAFF, Role.TOWNSHIP_LEADER)
NOTICES_IN_DIGEST = timedelta(days=30)  # a township digest counts the notices of the last 30 days still unanswered


def notices_line(awaiting: list[Notice], township: str) -> DigestLine | None:
    """A township digest's line of the notices some of its units have not acknowledged, or None."""
    items = []
    for n in awaiting:
        names = [u.village or u.township for u in n.waiting() if u.township == township]
        if names:
            items.append({"n": n, "units": names})
    return DigestLine("_digest_notices.j2", {"items": items}) if items else None


@dataclass(frozen=True, slots=True)
class _Word:
    """A grammar row of only the notice words (to recognise a notice written where it cannot be sent)."""

    verbs: tuple[str, ...] = ("通知", URGENT_VERB)
    number: Need = Need.NONE
    arg: Need = Need.REQUIRED
    shape: Shape = Shape()


NOTICE_ROW = (_Word(),)


def named_notices(text: str) -> list[str]:
    """Every notice number a message names as 通知#N, with the numbers chained to one (通知#1、#2、3), as written
    (digits: one too long for a notice is never turned into a number)."""
    out: list[str] = []
    for m in NOTICE_NUMBERS.finditer(text):
        out.append(m.group(1))
        out += CHAINED.findall(m.group(2))
    return out


def notice_number(digits: str) -> int | str:
    """A notice's number, or, for more digits than any notice has, the digits as the bot repeats them."""
    if len(digits) <= grammar.MAX_NUMBER_DIGITS:  # a longer one (leading zeros too) names no notice
        return int(digits)
    return digits if len(digits) <= SHOWN_DIGITS else digits[:SHOWN_DIGITS] + "…"


def timer_name(number: int) -> str:
    """The named timer of a notice."""
    return f"{TIMER}{number}"


class NoticeDesk:
    """Sends notices down the tiers and tracks each unit's acknowledgement (shared/design.md, section 8)."""

    county: County
    policy: Policy

    # --- who the commands are for -------------------------------------------------
    def may_notify(self, turn: Turn, parsed: Parsed | Malformed) -> bool:
        """True when `通知` here is a notice: county staff in the county room, a township's staff or leaders in
        its rooms. From anyone else, or elsewhere, it is chat (village cadres post notices to villagers)."""
        return sender_office(turn.roles, turn.place) is not None

    def notice_in_private(self, turn: Turn) -> bool:
        """True for a `通知` written privately by someone who sends notices in a work room (they are told where)."""
        found = grammar.parse(turn.msg.text, NOTICE_ROW, None)
        offices = (Role.COUNTY_STAFF, Role.TOWNSHIP_STAFF, Role.TOWNSHIP_LEADER)
        return found is not None and any(m.role in offices for m in turn.roles)

    def may_acknowledge(self, turn: Turn, parsed: Parsed | Malformed) -> bool:
        """True when `收到` here is about notices: from a handler of a unit, naming a notice (or a number too long
        for one), or bare while a notice of the last 30 days awaits that handler's unit. Otherwise 收到 is chat."""
        if not self._answering_units(turn):
            return False
        if isinstance(parsed, Malformed) or parsed.number is not None:
            return True
        return bool(self._awaiting(turn))

    def _answering_units(self, turn: Turn) -> list[Member]:
        """The handler roles a 收到 answers for: the unit of the room it is written in when the sender handles that
        unit (a cadre of two villages answers in each village's room for that village), else all of theirs."""
        mine = [m for m in turn.roles if m.role in UNIT_ROLES]
        if turn.place is not None:
            here = [m for m in mine if m.unit == turn.place.unit]
            if here:
                return here
        return mine

    def _awaiting(self, turn: Turn) -> list[Notice]:
        """The notices of the last 30 days that await a unit the sender answers for here."""
        units = sorted({m.unit for m in self._answering_units(turn)})  # the query finds those not acknowledged
        return [n for n in turn.tx.notices_awaiting(units) if turn.now - n.created_at <= NOTICES_IN_DIGEST]

    # --- 通知 [范围] 内容 ---------------------------------------------------------------
    def cmd_notice(self, turn: Turn, p: Parsed, req: None) -> None:
        """通知 / 紧急通知 [范围] 内容: number the notice, post it in every target room, confirm to the sender."""
        office = sender_office(turn.roles, turn.place)
        assert office is not None  # may_notify let it through
        urgent = p.verb == URGENT_VERB
        scoped = resolve_scope(self.county, office, p.arg)
        if isinstance(scoped, ScopeProblem):
            turn.reply("notice_refused.j2", reason=scoped.reason.value, names=scoped.names, verb=p.verb,
                       township=office.township)
            return
        if len(scoped.text) > MAX_TEXT:
            turn.reply("notice_refused.j2", reason=Refusal.TOO_LONG.value, names=(), verb=p.verb, limit=MAX_TEXT,
                       township=office.township)
            return
        tx, now = turn.tx, turn.now
        remind_at, report_at = self.policy.notices.times(self.policy.calendar, now, urgent)
        notice = Notice(
            number=tx.next_notice_number(),
            sender=turn.sender.name,
            sender_key=turn.sender.key,
            sender_id=turn.sender.contact_id,
            sender_room=turn.msg.room,
            sender_unit=office.township or self.county.name,
            scope=scoped.scope,
            text=scoped.text,
            urgent=urgent,
            created_at=now,
            remind_at=remind_at,
            report_at=report_at,
            units=[NoticeUnit(t.unit, t.tier, t.township, t.village, t.room) for t in scoped.targets],
        )
        tx.add_notice(notice, turn.msg.msg_id)
        tx.set_timer_at(timer_name(notice.number), notice.next_due())
        log.info("notice #%d from %s to %d units%s", notice.number, notice.sender_unit, len(notice.units),
                 " (urgent)" if urgent else "", extra={"event": "notice_sent"})
        for target, unit in zip(scoped.targets, notice.units, strict=True):
            turn.out.append(Outbound(unit.room, "notice_post.j2", {"n": notice, "u": unit},
                                     tuple(m.ref for m in target.handlers),
                                     key=f"notice:{notice.number}:post:{unit.unit}"))
        turn.reply("notice_sent.j2", n=notice)

    # --- 收到 [通知#N] ------------------------------------------------------------------
    def cmd_notice_ack(self, turn: Turn, p: Parsed, req: None) -> None:
        """收到 通知#N (several: 收到 通知#1、通知#2), or a bare 收到: the units the sender answers for acknowledge.

        A bare 收到 counts when exactly one notice awaits; with several, the sender is told their numbers (nothing
        is recorded: which one was meant cannot be known)."""
        if p.number is None:
            waiting = self._awaiting(turn)
            if len(waiting) != 1:
                turn.reply("notice_which.j2", notices=waiting)
                return
            numbers = [waiting[0].number]
        else:
            numbers = [p.number] + [notice_number(d) for d in named_notices(turn.msg.text)]
        done: list[tuple[Notice, list[NoticeUnit], bool]] = []
        for number in dict.fromkeys(numbers):
            notice = turn.tx.notice(number, lock=True) if isinstance(number, int) else None
            if notice is None:
                turn.reply("notice_unknown.j2", number=number)
                continue
            answering = self._answering_units(turn)
            mine = [u for u in notice.units if any(handles_unit(m, u) for m in answering)]
            if not mine:
                turn.reply("notice_not_yours.j2", n=notice)
                continue
            fresh = [u for u in mine if not u.acknowledged]
            for u in fresh:
                u.acknowledged_at = turn.now
                u.acknowledged_by = turn.sender.name
                u.acknowledged_by_key = turn.sender.key
            if fresh:
                turn.tx.save_notice(notice)
                turn.tx.set_timer_at(timer_name(notice.number), notice.next_due())
                log.info("notice #%d acknowledged by %s for %s", notice.number, turn.sender.name,
                         ", ".join(u.name for u in fresh), extra={"event": "notice_acknowledged"})
            done.append((notice, fresh or mine, not fresh))  # a second 收到 changes nothing
        if done:
            turn.reply("notice_acked.j2", done=done)

    # --- 进度 通知#N ----------------------------------------------------------------------
    def cmd_notice_progress(self, turn: Turn, p: Parsed, req: None) -> None:
        """进度 通知#N: who acknowledged, when, and who has not (in work rooms, to handlers and the sender)."""
        notice = turn.tx.notice(p.number)
        if notice is None:
            turn.reply("notice_unknown.j2", number=p.number)
            return
        in_work_room = turn.place is not None and turn.place.kind is not RoomKind.VILLAGE
        if not (turn.roles or in_work_room or turn.sender.key == notice.sender_key):
            turn.reply("notice_refused.j2", reason="progress", names=(), verb=p.verb, township=None)
            return
        turn.reply("notice_report.j2", n=notice, now=turn.now, final=False)

    # --- time ---------------------------------------------------------------------------
    def notice_jobs(self, tx: Repository, now: datetime, out: list[Outbound]) -> None:
        """The notices whose timer has come: remind the silent units once, then report to the sender's room."""
        for name in tx.due_timers(TIMER, now):
            number = int(name[len(TIMER):])
            notice = tx.notice(number, lock=True)
            if notice is None or notice.reported_at is not None:
                tx.set_timer_at(name, None)
                continue
            if now >= notice.remind_at and not notice.reminded:
                self._remind_units(notice, now, out)
            if now >= notice.report_at:
                notice.reported_at = now
                out.append(Outbound(notice.sender_room, "notice_report.j2", {"n": notice, "now": now, "final": True},
                                    self._stragglers(notice), key=f"notice:{notice.number}:report"))
                log.info("notice #%d reported: %d of %d units acknowledged", notice.number,
                         len(notice.acknowledged()), len(notice.units), extra={"event": "notice_reported"})
            tx.save_notice(notice)
            tx.set_timer_at(name, notice.next_due())

    def _remind_units(self, notice: Notice, now: datetime, out: list[Outbound]) -> None:
        waiting = notice.waiting()
        for u in waiting:
            u.reminded_at = now
            out.append(Outbound(u.room, "notice_reminder.j2", {"n": notice, "u": u}, self._unit_handlers(u),
                                key=f"notice:{notice.number}:remind:{u.unit}"))
        if waiting:
            log.info("notice #%d: %d units reminded", notice.number, len(waiting), extra={"event": "notice_reminded"})

    def _unit_handlers(self, unit: NoticeUnit) -> tuple[PersonRef, ...]:
        """Whom a unit's notice mentions: a village's cadres, a township's staff."""
        members: tuple[Member, ...]
        try:
            if unit.village is not None:
                members = self.county.village(unit.township, unit.village).cadres
            else:
                members = self.county.township(unit.township).staff
        except KeyError:  # a unit no longer in the config: its room still gets the message
            return ()
        return tuple(m.ref for m in members)

    def _stragglers(self, notice: Notice) -> tuple[PersonRef, ...]:
        """The handlers of the units that have not acknowledged (at most MAX_MENTIONS)."""
        seen: dict[str, PersonRef] = {}
        for u in notice.waiting():
            for ref in self._unit_handlers(u):
                seen.setdefault(ref.key, ref)
        return tuple(seen.values())[:MAX_MENTIONS]

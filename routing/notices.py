"""Notices down the tiers (上令下达): who may send one, to which units, and when they are reminded and reported.

A county or township office writes `通知 [范围] 内容` in its work room; every unit the notice goes to
answers `收到 通知#N`. The units that have not answered by `remind_after` are reminded once, and at
`report_after` the sender's room learns who acknowledged and when (shared/design.md, section 8).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

from routing.durations import Duration
from routing.model import Role, Tier
from routing.org import County, Member, Place, RoomKind, unit_key
from routing.workcal import WorkCalendar

WHOLE_COUNTY = "全县"
WHOLE_TOWNSHIP = "全镇"


@dataclass(frozen=True, slots=True)
class NoticeRules:
    """When units are reminded and the sender gets the report: working time, or calendar time when urgent."""

    remind_after: Duration = Duration.parse("4 workhours")
    report_after: Duration = Duration.parse("1 workdays")
    urgent_remind_after: Duration = Duration.parse("1 hours")
    urgent_report_after: Duration = Duration.parse("3 hours")

    def times(self, calendar: WorkCalendar, sent: datetime, urgent: bool) -> tuple[datetime, datetime]:
        """When a notice sent at `sent` reminds its silent units, and when its report goes out."""
        if urgent:
            return calendar.add(sent, self.urgent_remind_after), calendar.add(sent, self.urgent_report_after)
        return calendar.add(sent, self.remind_after), calendar.add(sent, self.report_after)


@dataclass(slots=True)
class NoticeUnit:
    """One unit a notice went to, and whether (when, by whom) it acknowledged."""

    unit: str  # the unit's key: "盘信镇/楼台村" or "盘信镇"
    tier: Tier
    township: str
    village: str | None
    room: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_by_key: str | None = None
    reminded_at: datetime | None = None

    @property
    def name(self) -> str:
        """The unit as people write it: 盘信镇楼台村 or 盘信镇."""
        return f"{self.township}{self.village or ''}"

    @property
    def acknowledged(self) -> bool:
        """True once any of the unit's handlers answered 收到."""
        return self.acknowledged_at is not None


@dataclass(slots=True)
class Notice:
    """A numbered notice and the units it went to."""

    number: int
    sender: str
    sender_key: str
    sender_id: str | None
    sender_room: str
    sender_unit: str  # the sending office: the county's or a township's name
    scope: str  # as written (全县, 全镇, a list of names), or "" for every unit below the sender
    text: str
    urgent: bool
    created_at: datetime
    remind_at: datetime
    report_at: datetime
    reported_at: datetime | None = None
    units: list[NoticeUnit] = field(default_factory=list)

    def waiting(self) -> list[NoticeUnit]:
        """The units that have not acknowledged yet."""
        return [u for u in self.units if not u.acknowledged]

    def acknowledged(self) -> list[NoticeUnit]:
        """The units that acknowledged, first to answer first."""
        return sorted((u for u in self.units if u.acknowledged), key=lambda u: (u.acknowledged_at, u.unit))

    def next_due(self) -> datetime | None:
        """When the notice's next job falls due: the reminder (while one is owed), then the report, then nothing."""
        if self.reported_at is not None:
            return None
        if any(u.reminded_at is None for u in self.waiting()) and not self.reminded:
            return self.remind_at
        return self.report_at

    @property
    def reminded(self) -> bool:
        """True once the reminder round ran (the units silent then were reminded)."""
        return any(u.reminded_at is not None for u in self.units)

    def on_time(self, unit: NoticeUnit) -> bool:
        """True when the unit acknowledged before its reminder was due: what 通知响应率 counts."""
        return unit.acknowledged_at is not None and unit.acknowledged_at <= self.remind_at


class Refusal(str, enum.Enum):
    """Why a notice cannot be sent as written (each has a sentence in templates/notice_refused.j2)."""

    COUNTY_ONLY = "county_only"  # 全县 from a township
    OTHER_TOWNSHIP = "other_township"  # a township naming another township's units
    NOT_BELOW = "not_below"  # a township naming itself (or a county naming the county)
    UNKNOWN = "unknown"  # names that are no unit of the county
    AMBIGUOUS = "ambiguous"  # a village name that several townships have
    NO_UNITS = "no_units"  # the sender has no unit below it
    NO_TEXT = "no_text"  # a scope and nothing to say (or only emoji)
    TOWNSHIP_ONLY = "township_only"  # 全镇 from the county: which township?
    NUMBER = "number"  # 通知#3: a notice's number, not a new notice
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class Target:
    """A unit a notice goes to: where it is posted and whom it mentions."""

    unit: str
    tier: Tier
    township: str
    village: str | None
    room: str
    handlers: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class Sender:
    """The office a notice comes from: the county (township None) or one township."""

    township: str | None

    @property
    def county(self) -> bool:
        """True for the county office."""
        return self.township is None


@dataclass(frozen=True, slots=True)
class Scoped:
    """A notice's scope read from its text: the units, the scope as written, and the text that remains."""

    targets: tuple[Target, ...]
    scope: str
    text: str


@dataclass(frozen=True, slots=True)
class ScopeProblem:
    """A scope that cannot be used, with the names concerned."""

    reason: Refusal
    names: tuple[str, ...] = ()


MAX_TEXT = 2000  # a notice longer than this is refused (WeChat cuts long messages; attach a document instead)


def sender_office(roles: tuple[Member, ...], place: Place | None) -> Sender | None:
    """The office a notice written here by someone with these roles comes from, or None (then 通知 is chat).

    County staff in the county's work room; township staff and leaders in their own township's work or
    leaders' room. Village cadres post notices to villagers all the time: theirs are chat.
    """
    if place is None:
        return None
    if place.kind is RoomKind.COUNTY and any(m.role is Role.COUNTY_STAFF for m in roles):
        return Sender(None)
    if place.kind in (RoomKind.TOWNSHIP, RoomKind.LEADERS) and any(
            m.role in (Role.TOWNSHIP_STAFF, Role.TOWNSHIP_LEADER) and m.township == place.township for m in roles):
        return Sender(place.township)
    return None


def _township_target(county: County, name: str) -> Target:
    t = county.township(name)
    return Target(unit_key(name, None), Tier.TOWNSHIP, name, None, t.room, tuple(t.staff))


def _village_target(county: County, township: str, village: str) -> Target:
    v = county.village(township, village)
    return Target(unit_key(township, village), Tier.VILLAGE, township, village, v.room, tuple(v.cadres))


def below(county: County, sender: Sender) -> list[Target]:
    """Every unit below the sender: for the county every township and every village, for a township its villages."""
    out: list[Target] = []
    for t in county.townships:
        if sender.county:
            out.append(_township_target(county, t.name))
        if sender.county or t.name == sender.township:
            out += [_village_target(county, t.name, v.name) for v in t.villages]
    return out


def resolve_scope(county: County, sender: Sender, text: str) -> Scoped | ScopeProblem:
    """Read `[范围] 内容` (shared/design.md, section 8).

    范围 is what the text starts with when it is 全县, 全镇, or a list of unit names separated by 、 , ；
    / 和 or spaces: a village by its name when that is unique in the county (a township's own village
    before a namesake elsewhere), else township and village together (盘信镇楼台村), a township by its
    name. A word that looks like a unit's name (…村, …镇, …乡, …社区) but is none is refused with the
    names the county has, never sent to everyone; when the text starts with no such word (各村支书…,
    明天上午…), it is all text, and the notice goes to every unit below the sender.
    """
    text = text.strip()
    if not _has_words(text):
        return ScopeProblem(Refusal.NO_TEXT)
    if text[:1] in ("#", "＃"):  # 通知#3, 通知 #3 开会: about notice 3, not a new one
        return ScopeProblem(Refusal.NUMBER, (text.split()[0],))
    names, scope, rest = _scope_words(county, text)
    if not names:
        targets = below(county, sender)
        return Scoped(tuple(targets), "", text) if targets else ScopeProblem(Refusal.NO_UNITS)
    if not _has_words(rest):
        return ScopeProblem(Refusal.NO_TEXT)
    whole = [n for n in names if n in (WHOLE_COUNTY, WHOLE_TOWNSHIP, county.name)]
    if whole:
        if len(names) > 1:
            return ScopeProblem(Refusal.UNKNOWN, tuple(n for n in names if n not in whole) or tuple(names))
        if whole[0] == WHOLE_TOWNSHIP and sender.county:
            return ScopeProblem(Refusal.TOWNSHIP_ONLY)
        if whole[0] != WHOLE_TOWNSHIP and not sender.county:
            return ScopeProblem(Refusal.COUNTY_ONLY)
        targets = below(county, sender)
        return Scoped(tuple(targets), scope, rest) if targets else ScopeProblem(Refusal.NO_UNITS)
    found: list[Target] = []
    unknown: list[str] = []
    ambiguous: list[str] = []
    for name in names:
        targets = _named(county, name)
        if len(targets) > 1 and not sender.county:  # a township's own village before a namesake elsewhere
            targets = [t for t in targets if t.township == sender.township] or targets
        if not targets:
            unknown.append(name)
        elif len(targets) > 1:
            ambiguous.append(name)
        else:
            found.append(targets[0])
    if unknown:
        return ScopeProblem(Refusal.UNKNOWN, tuple(unknown))
    if ambiguous:
        return ScopeProblem(Refusal.AMBIGUOUS, tuple(ambiguous))
    if not sender.county:
        foreign = [t.township + (t.village or "") for t in found if t.township != sender.township]
        if foreign:
            return ScopeProblem(Refusal.OTHER_TOWNSHIP, tuple(foreign))
        own = [t.township for t in found if t.village is None]
        if own:
            return ScopeProblem(Refusal.NOT_BELOW, tuple(own))
    unique: dict[str, Target] = {}
    for t in found:
        unique.setdefault(t.unit, t)
    return Scoped(tuple(unique.values()), scope, rest)


_WORD = re.compile(r"[^\s、,，;；/:：]+")
_BETWEEN = re.compile(r"[\s、,，;；/]*")
_UNIT_ENDINGS = ("村", "镇", "乡", "社区", "街道", "县", "居委会", "村委会")
# words that end like a unit's name but speak to every unit below (各村支书…, 全村…): the text, not a scope
COLLECTIVE = ("各村", "各镇", "各乡", "各乡镇", "全村", "各社区", "各村委会", "各村居")


def _has_words(text: str) -> bool:
    """True when the text says something (not only emoji, punctuation or spaces)."""
    return any(ch.isalnum() for ch in text)


def _scope_words(county: County, text: str) -> tuple[list[str], str, str]:
    """The unit names the text starts with, the scope as written, and the text after it (no names: [], "", text)."""
    names: list[str] = []
    pos = 0
    end = 0
    while True:
        m = _WORD.match(text, pos)
        if m is None:
            break
        parts = _parts(county, m.group())
        if parts is None:
            break
        names += parts
        end = m.end()
        if text[end:end + 1] in (":", "："):  # 楼台村、民主村：明天开会
            break
        pos = _BETWEEN.match(text, end).end()
    if not names:
        return [], "", text
    rest = text[end:].strip(" \t\n:：、,，;；/")
    return names, text[:end].strip(), rest


def _parts(county: County, word: str) -> list[str] | None:
    """The unit names one word of a scope holds (楼台村和民主村: two), or None when it is no scope word."""
    if word in (WHOLE_COUNTY, WHOLE_TOWNSHIP, county.name) or _named(county, word):
        return [word]
    if any(word.startswith(c) for c in COLLECTIVE):
        return None
    pieces = [p for p in word.split("和") if p]
    if len(pieces) > 1 and all(_named(county, p) or p.endswith(_UNIT_ENDINGS) for p in pieces):
        return pieces
    return [word] if word.endswith(_UNIT_ENDINGS) else None


def _named(county: County, name: str) -> list[Target]:
    """The units a name can mean: a township, a village unique in the county, or township+village."""
    out: list[Target] = []
    for t in county.townships:
        if name == t.name:
            out.append(_township_target(county, t.name))
        for v in t.villages:
            if name in (v.name, f"{t.name}{v.name}"):
                out.append(_village_target(county, t.name, v.name))
    exact = [t for t in out if t.township + (t.village or "") == name]
    return exact if exact else out


def handles_unit(member: Member, unit: NoticeUnit) -> bool:
    """True when the member answers for that unit: a village's cadres, a township's staff and leaders."""
    if unit.village is not None:
        return member.role is Role.VILLAGE_CADRE and (member.township, member.village) == (unit.township, unit.village)
    return member.role in (Role.TOWNSHIP_STAFF, Role.TOWNSHIP_LEADER) and member.township == unit.township



# --- the record: each unit's acknowledgement, and 通知响应率 per unit -----------------------------------------
@dataclass(frozen=True, slots=True)
class NoticeLine:
    """One unit of one notice in a review: how long it took to acknowledge, and whether that was on time."""

    notice: Notice
    unit: NoticeUnit
    working_hours: float | None  # from the notice to the acknowledgement, in working hours; None: not yet
    on_time: bool | None  # acknowledged before the reminder was due; None while that moment has not come


@dataclass(slots=True)
class UnitRate:
    """A unit's 通知响应率 over the notices of a period: on time / due."""

    unit: str  # 盘信镇楼台村 or 盘信镇
    tier: Tier
    notices: int = 0
    acknowledged: int = 0
    due: int = 0  # notices whose reminder moment has come: they count in the rate
    on_time: int = 0
    hours: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """通知响应率, or None when no notice is due yet."""
        return self.on_time / self.due if self.due else None

    @property
    def median_hours(self) -> float | None:
        """The median working hours to acknowledge, of the acknowledged ones."""
        if not self.hours:
            return None
        values = sorted(self.hours)
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def notice_record(notices: list[Notice], as_of: datetime, calendar: WorkCalendar, county: County,
                  keep=lambda unit: True) -> tuple[list[NoticeLine], list[UnitRate]]:
    """Each unit of each notice (those `keep` admits), and each unit's 通知响应率, as of `as_of`.

    Only what had happened by `as_of` counts (an acknowledgement after it is not one yet). A unit counts in the rate once its notice's reminder moment has passed: acknowledged by then is on
    time, later or never is not. Units come in the config's order (a township before its villages).
    """
    lines: list[NoticeLine] = []
    rates: dict[str, UnitRate] = {}
    for n in notices:
        due = n.remind_at <= as_of
        for u in n.units:
            if not keep(u):
                continue
            # what had happened by `as_of`: a later 收到 changes no figure of a past period
            acked = u.acknowledged_at is not None and u.acknowledged_at <= as_of
            hours = calendar.working_seconds(n.created_at, u.acknowledged_at) / 3600 if acked else None
            on_time = n.on_time(u) if due or (acked and n.on_time(u)) else None
            lines.append(NoticeLine(n, u, hours, on_time))
            r = rates.setdefault(u.unit, UnitRate(u.name, u.tier))
            r.notices += 1
            r.acknowledged += acked
            if hours is not None:
                r.hours.append(hours)
            if due:
                r.due += 1
                r.on_time += n.on_time(u)
    order = {t.unit: i for i, t in enumerate(below(county, Sender(None)))}
    ranked = sorted(rates.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    return lines, [r for _, r in ranked]

"""A small county history around the 2026 National Day holiday, with its figures worked out by hand.

Working hours are 08:30-12:00 and 14:30-17:30 (6.5 hours a day). Days off: 25-27 Sept (Mid-Autumn
and a Sunday), 1-7 Oct (National Day), weekends; Saturday 10 Oct is a make-up working day. The
review period is 29 Sept - 31 Oct 2026 (it starts on a Tuesday); the review is made 30 Oct 12:00.

#1 楼台村 城乡建设, registered 30 Sept 16:00 (in the period), across National Day:
   claimed 8 Oct 09:00 by 石支书: 1.5 h on 30 Sept + 0.5 h on 8 Oct = 2.0 working hours;
   resolved 9 Oct 10:00: 1.5 + 6.5 + 1.5 = 9.5 h = 1.4615 working days; satisfied 12 Oct 09:00.
   deadlines: acknowledge 8 Oct 16:00, resolve (10 workdays) 20 Oct 16:00.
#2 民主村 民政, registered 9 Oct 09:00, escalated 11:00 by 滕主任 (village: 2.0 h response and
   handling), claimed at the township 12 Oct 09:30 by 杨主任 (1 + 3 + 6.5 on Sat 10 Oct + 1 = 11.5 h),
   resolved 13 Oct 10:00 (township 18.5 h), 不满意 14 Oct 09:00 (the wait for the rating does not
   count), resolved again 11:00 (+2 h: township 20.5 h), satisfied 15 Oct 09:00.
   Resolution 2 + 20.5 = 22.5 h = 3.4615 working days. Deadlines: acknowledge 10 Oct 09:00 (the
   make-up Saturday); resolve after the reopening 21 Oct 09:00.
#3 普觉镇茶园村 城乡建设, registered 12 Oct 10:00, claimed 14 Oct 10:00 by 代驻村: 2 + 3 + 6.5 +
   1.5 = 13.0 h, late (due 13 Oct 10:00); never resolved: overdue since 26 Oct 10:00, by 4 days
   2 hours, 5 + 19.5 + 3.5 = 28 working hours = 4.3077 working days; an overdue reminder in its log.
   Handled so far: 5 + 13 x 6.5 + 3.5 = 93 h = 14.3077 working days.
#4 楼台村 其他, registered 13 Oct 09:00, rejected 10:00 by 杨主任: response 1.0 h, in time.
#5 楼台村 城乡建设, registered 24 Sept 10:00 (before the period), claimed 11:00 by 石支书,
   resolve deadline 15 Oct 10:00 (in the period), resolved 14 Oct 15:00, closed unrated.
#6 民主村 民政, registered 14 Sept 09:00, deadlines 15 and 20 Sept, resolved 28 Sept 10:00 by
   滕主任, satisfied 29 Sept 09:00: a rating in the period of a request the period does not list.

The 三率 of the period: 响应率 3/4 (#1, #2, #4 in time; #3 late), 解决率 3/4 (#1, #2, #5; #3 not
resolved; #4 rejected is not counted), 满意率 3/4 (#6, #1, #2 twice: one 不满意).
"""

from __future__ import annotations

from datetime import datetime

from routing.lifecycle import Step, register, transition
from routing.model import EventKind, PersonRef, Request, Stint, Tier
from routing.policy import Policy
from routing.rates import RATING_KINDS, Record
from routing.review import Scope
from storage.repository import stint_values
from storage.tables import StintRow
from tests.fakes import local

PERIOD = Scope(local("2026-09-29 00:00"), local("2026-11-01 00:00"))
AS_OF = local("2026-10-30 12:00")
DAY = 6.5  # working hours a day


def person(name: str) -> PersonRef:
    """A person with a contact id made from the name."""
    return PersonRef(name, f"wxid_{name}")


class Story:
    """One request's history, written through the lifecycle as the bot would."""

    def __init__(self, policy: Policy, number: int, requester: str, township: str, village: str, category: str,
                 created: str, text: str = "路灯坏了") -> None:
        self.policy = policy
        at = local(created)
        ack, resolve = policy.deadlines(at, category, False)
        self.r = Request(
            number=number, requester=requester, requester_key=person(requester).key,
            requester_id=person(requester).contact_id, village=village, township=township, tier=Tier.VILLAGE,
            category=category, urgent=False, text=text, created_at=at, tier_since=at, ack_due_at=ack,
            resolve_due_at=resolve, first_ack_due_at=ack,
        )
        self.steps: list[Step] = [register(self.r, person(requester))]
        self.stints: list[Stint] = [self.r.current]

    def do(self, kind: EventKind, when: str, who: str | None, **kw) -> Story:
        at = local(when)
        if kind in (EventKind.ESCALATED, EventKind.SENT_BACK):
            kw.setdefault("deadlines", self.policy.deadlines(at, self.r.category, False))
        if kind is EventKind.UNSATISFIED:
            kw["deadlines"] = (None, self.policy.deadlines(at, self.r.category, False)[1])
        step = transition(self.r, kind, at, person(who) if who else None, work=self.policy.calendar.working_seconds,
                          **kw)
        self.steps.append(step)
        if step.started:
            self.stints.append(step.current)
        return self

    @property
    def record(self) -> Record:
        """The request with its stints and ratings, as storage gives them."""
        ratings = tuple(s.event for s in self.steps if s.event.kind in RATING_KINDS)
        return Record(self.r, tuple(self.stints), ratings)

    @property
    def events(self):
        """Its event log."""
        return [s.event for s in self.steps]


def history(policy: Policy) -> list[Story]:
    """The six requests, by number."""
    E = EventKind
    s1 = (Story(policy, 1, "唐命学", "盘信镇", "楼台村", "城乡建设", "2026-09-30 16:00",
                "二组路灯坏了，电话13812345678")
          .do(E.CLAIMED, "2026-10-08 09:00", "石支书")
          .do(E.RESOLVED, "2026-10-09 10:00", "石支书", note="换了灯泡")
          .do(E.SATISFIED, "2026-10-12 09:00", "唐命学"))
    s2 = (Story(policy, 2, "龙婆婆", "盘信镇", "民主村", "民政", "2026-10-09 09:00", "低保申请没有回音")
          .do(E.ESCALATED, "2026-10-09 11:00", "滕主任", to_tier=Tier.TOWNSHIP)
          .do(E.CLAIMED, "2026-10-12 09:30", "杨主任")
          .do(E.RESOLVED, "2026-10-13 10:00", "杨主任", note="已受理")
          .do(E.UNSATISFIED, "2026-10-14 09:00", "龙婆婆")
          .do(E.RESOLVED, "2026-10-14 11:00", "杨主任", note="已发放")
          .do(E.SATISFIED, "2026-10-15 09:00", "龙婆婆"))
    s3 = (Story(policy, 3, "麻大姐", "普觉镇", "茶园村", "城乡建设", "2026-10-12 10:00", "产业路被冲坏")
          .do(E.CLAIMED, "2026-10-14 10:00", "代驻村")
          .do(E.REMINDED, "2026-10-26 10:00", None, rule="remind_every"))
    s4 = (Story(policy, 4, "吴二", "盘信镇", "楼台村", "其他", "2026-10-13 09:00", "你好")
          .do(E.REJECTED, "2026-10-13 10:00", "杨主任", note="不是诉求"))
    s5 = (Story(policy, 5, "石三", "盘信镇", "楼台村", "城乡建设", "2026-09-24 10:00", "水沟堵了")
          .do(E.CLAIMED, "2026-09-24 11:00", "石支书")
          .do(E.RESOLVED, "2026-10-14 15:00", "石支书", note="疏通了")
          .do(E.EXPIRED, "2026-10-17 15:00", None, rule="rating_window"))
    s6 = (Story(policy, 6, "田四", "盘信镇", "民主村", "民政", "2026-09-14 09:00", "残疾证办理")
          .do(E.CLAIMED, "2026-09-14 10:00", "滕主任")
          .do(E.RESOLVED, "2026-09-28 10:00", "滕主任", note="已办")
          .do(E.SATISFIED, "2026-09-29 09:00", "田四"))
    return [s1, s2, s3, s4, s5, s6]


def store(database, stories: list[Story]) -> None:
    """Write the requests (in their final state) with their event logs and stints."""
    with database.transaction() as tx:
        for story in stories:
            tx.add(story.r, story.steps[0])  # the request in its final state, its registration, its first stint
            for st in story.stints[1:]:
                tx.session.execute(StintRow.__table__.insert().values(county=tx.county, **stint_values(st)))
            for step in story.steps[1:]:
                tx._append(step.event)
            tx.next_number()


def stored_history(any_db, policy: Policy):
    """A database of its own county on a backend `any_db` gives, holding the history; disposed afterwards."""
    from storage.db import Database

    url, county = any_db
    db = Database(url, county)
    store(db, history(policy))
    yield db
    db.dispose()


def hours(h: float) -> float:
    """Working hours as working days."""
    return h / DAY


def t(text: str) -> datetime:
    """A local time."""
    return local(text)

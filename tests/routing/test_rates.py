"""The 三率 as of a period's end, per unit and per handler, on small hand-made histories."""

from __future__ import annotations

from datetime import timedelta

from routing.lifecycle import register, transition
from routing.model import EventKind, PersonRef, Request, Stint, Tier
from routing.rates import (
    Person,
    Rates,
    Record,
    Unclaimed,
    composite,
    outcome,
    rank_key,
    rates_of,
)
from tests.fakes import local

OCT, NOV = (local("2026-10-01 00:00"), local("2026-11-01 00:00")), (local("2026-11-01 00:00"),
                                                                    local("2026-12-01 00:00"))
LATER = local("2026-12-15 00:00")  # when the reviews below are made: both months are over
CADRE, OFFICER, REQUESTER = PersonRef("石支书", "wxid_s"), PersonRef("杨主任", "wxid_y"), PersonRef("唐命学", "wxid_a")


def p(ref: PersonRef) -> Person:
    return Person(ref.name, ref.key)


class History:
    """One request written through the lifecycle with explicit deadlines: every stint has an acknowledge
    deadline 1 day and a resolve deadline 10 days after it starts (calendar days, to keep the sums easy)."""

    def __init__(self, number: int, created: str, village: str = "楼台村") -> None:
        at = local(created)
        self.r = Request(number=number, requester=REQUESTER.name, requester_key=REQUESTER.key, requester_id=None,
                         village=village, township="盘信镇", tier=Tier.VILLAGE, category="其他", urgent=False,
                         text="路灯坏了", created_at=at, tier_since=at, ack_due_at=at + timedelta(days=1),
                         resolve_due_at=at + timedelta(days=10), first_ack_due_at=at + timedelta(days=1))
        self.stints: list[Stint] = [register(self.r, REQUESTER).current]
        self.ratings = []

    def do(self, kind: EventKind, when: str, who: PersonRef | None, **kw) -> History:
        at = local(when)
        if kind in (EventKind.ESCALATED, EventKind.SENT_BACK):
            kw["deadlines"] = (at + timedelta(days=1), at + timedelta(days=10))
        if kind is EventKind.UNSATISFIED:
            kw["deadlines"] = (None, at + timedelta(days=10))
        step = transition(self.r, kind, at, who, work=lambda a, b: (b - a).total_seconds(), **kw)
        if step.started:
            self.stints.append(step.current)
        if kind in (EventKind.SATISFIED, EventKind.UNSATISFIED):
            self.ratings.append(step.event)
        return self

    def record(self) -> Record:
        return Record(self.r, tuple(self.stints), tuple(self.ratings))


def counts(rates: Rates) -> tuple[int, int, int, int, int, int]:
    return (rates.responded_in_time, rates.due_ack, rates.resolved_in_time, rates.due_resolve, rates.satisfied,
            rates.rated)


def month(records, period=OCT, as_of=LATER) -> Rates:
    return rates_of(records, *period, as_of)


def test_no_requests_means_no_figures():
    rates = month([])
    assert rates == Rates() and rates.response is None and rates.resolution is None and rates.satisfaction is None


def test_response_counts_a_persons_first_response_by_the_registration_deadline():
    ok = History(1, "2026-10-12 09:00").do(EventKind.CLAIMED, "2026-10-13 09:00", CADRE)  # exactly on time counts
    late = History(2, "2026-10-12 09:00").do(EventKind.CLAIMED, "2026-10-13 09:01", CADRE)
    never = History(3, "2026-10-12 09:00")
    by_bot = History(4, "2026-10-12 09:00").do(EventKind.ESCALATED, "2026-10-12 10:00", None, to_tier=Tier.TOWNSHIP)
    rates = month([h.record() for h in (ok, late, never, by_bot)])
    assert (rates.responded_in_time, rates.due_ack) == (1, 4)  # the bot's escalation is not a response


def test_a_deadline_not_yet_come_does_not_count_while_the_period_runs():
    h = History(1, "2026-10-30 09:00")  # acknowledge deadline 31 Oct 09:00
    assert month([h.record()], as_of=local("2026-10-30 12:00")).due_ack == 0
    assert month([h.record()], as_of=local("2026-10-31 12:00")).due_ack == 1


def test_octobers_resolution_rate_does_not_change_after_october():
    """The record issue's case: 3/4 on 2 November must stay 3/4 whatever happens in November."""
    done = [History(n, "2026-10-05 09:00").do(EventKind.CLAIMED, "2026-10-05 10:00", CADRE)
            .do(EventKind.RESOLVED, "2026-10-06 10:00", CADRE) for n in (1, 2, 3)]
    overdue = History(4, "2026-10-05 09:00").do(EventKind.CLAIMED, "2026-10-05 10:00", CADRE)  # due 15 Oct
    before = [h.record() for h in (*done, overdue)]
    assert counts(month(before, as_of=local("2026-11-02 12:00")))[2:4] == (3, 4)
    # November: the overdue one is escalated, sent back and resolved late; a resolved one is reopened
    overdue.do(EventKind.ESCALATED, "2026-11-03 09:00", CADRE, to_tier=Tier.TOWNSHIP)
    overdue.do(EventKind.SENT_BACK, "2026-11-04 09:00", OFFICER, to_tier=Tier.VILLAGE)
    overdue.do(EventKind.RESOLVED, "2026-11-20 09:00", CADRE)
    done[0].do(EventKind.UNSATISFIED, "2026-11-05 09:00", REQUESTER)
    after = [h.record() for h in (*done, overdue)]
    assert month(after) == month(before, as_of=local("2026-11-02 12:00"))


def test_escalating_an_overdue_request_within_the_period_keeps_its_miss():
    h = (History(1, "2026-10-05 09:00").do(EventKind.CLAIMED, "2026-10-05 10:00", CADRE)
         .do(EventKind.ESCALATED, "2026-10-20 09:00", CADRE, to_tier=Tier.TOWNSHIP))  # village due 15 Oct: missed
    o = outcome(h.record(), *OCT, LATER)
    assert o.resolution is not None and not o.resolution.met
    # the holder at the village deadline; and the township's own deadline (30 Oct) passed unclaimed too
    assert [(d.met, d.credit) for d in o.stints] == [(False, p(CADRE)), (False, Unclaimed(Tier.TOWNSHIP, "盘信镇"))]
    assert month([h.record()]).due_resolve == 1  # one request, however many of its deadlines fell in the month


def test_a_request_escalated_in_time_counts_at_the_stint_that_resolves_it():
    h = (History(1, "2026-10-05 09:00").do(EventKind.CLAIMED, "2026-10-05 10:00", CADRE)
         .do(EventKind.ESCALATED, "2026-10-06 09:00", CADRE, to_tier=Tier.TOWNSHIP)  # before the village deadline
         .do(EventKind.CLAIMED, "2026-10-06 10:00", OFFICER)
         .do(EventKind.RESOLVED, "2026-10-10 10:00", OFFICER))  # township due 16 Oct: in time
    o = outcome(h.record(), *OCT, LATER)
    assert o.resolution.met and [(d.met, d.credit) for d in o.stints] == [(True, p(OFFICER))]
    credits = o.credits()
    # the cadre who only escalated is credited with the response, not with a resolution
    assert (credits[p(CADRE)].due_ack, credits[p(CADRE)].due_resolve) == (1, 0)
    assert (credits[p(OFFICER)].due_resolve, credits[p(OFFICER)].resolved_in_time) == (1, 1)


def test_a_resolution_reopened_before_the_periods_end_does_not_stand():
    h = (History(1, "2026-10-05 09:00").do(EventKind.CLAIMED, "2026-10-05 10:00", CADRE)
         .do(EventKind.RESOLVED, "2026-10-06 10:00", CADRE)
         .do(EventKind.UNSATISFIED, "2026-10-07 10:00", REQUESTER))  # reopened stint due 17 Oct: still open
    o = outcome(h.record(), *OCT, LATER)
    assert not o.resolution.met and [(d.met, d.credit) for d in o.stints] == [(False, p(CADRE))]
    assert [(e.kind, credit) for e, credit in o.ratings] == [(EventKind.UNSATISFIED, p(CADRE))]


def test_a_miss_nobody_held_goes_to_the_units_unclaimed_entry():
    h = History(1, "2026-10-05 09:00", village="民主村")  # never answered
    o = outcome(h.record(), *OCT, LATER)
    unclaimed = Unclaimed(Tier.VILLAGE, "盘信镇", "民主村")
    assert o.response.credit == unclaimed and [d.credit for d in o.stints] == [unclaimed]
    assert counts(o.credits()[unclaimed]) == (0, 1, 0, 1, 0, 0)


def test_rejected_requests_count_for_their_response_only():
    h = History(1, "2026-10-05 09:00").do(EventKind.ESCALATED, "2026-10-05 10:00", CADRE, to_tier=Tier.TOWNSHIP)
    h.do(EventKind.REJECTED, "2026-10-20 09:00", OFFICER, note="重复")  # after the township deadline
    assert counts(month([h.record()])) == (1, 1, 0, 0, 0, 0)


def test_satisfaction_counts_ratings_given_in_the_period():
    a = (History(1, "2026-10-05 09:00").do(EventKind.RESOLVED, "2026-10-06 09:00", CADRE)
         .do(EventKind.UNSATISFIED, "2026-10-07 09:00", REQUESTER)
         .do(EventKind.RESOLVED, "2026-10-08 09:00", OFFICER)
         .do(EventKind.SATISFIED, "2026-11-01 00:00", REQUESTER))  # November
    rates = month([a.record()])
    assert (rates.satisfied, rates.rated) == (0, 1)
    assert (month([a.record()], NOV).satisfied, month([a.record()], NOV).rated) == (1, 1)
    o = outcome(a.record(), *NOV, LATER)
    assert [credit for _, credit in o.ratings] == [p(OFFICER)]  # the result that was rated


def test_units_add_up_and_the_ranking_rule_is_one_key():
    good, bad, none = Rates(1, 1, 1, 1, 1, 1), Rates(2, 1, 2, 0, 0, 0), Rates()
    assert composite(good) == 1.0
    assert composite(bad) == 0.5 * 0.3 / 0.7  # 满意率 missing: its weight goes to the other two
    assert composite(none) is None
    ranked = sorted([("乙镇", none), ("甲镇", bad), ("丙镇", good), ("丁镇", bad)], key=lambda u: rank_key(*u))
    assert [name for name, _ in ranked] == ["丙镇", "丁镇", "甲镇", "乙镇"]  # ties by name, no figures last




def test_scoring_ranks_by_the_configured_weights_and_names_rates_below_thresholds():
    import pytest

    from routing.digest import ranking_words
    from routing.rates import Scoring

    fast = Rates(due_ack=10, responded_in_time=10, due_resolve=10, resolved_in_time=5)  # 100 %, 50 %
    thorough = Rates(due_ack=10, responded_in_time=5, due_resolve=10, resolved_in_time=9)  # 50 %, 90 %
    by_response = Scoring(weights=(0.8, 0.2, 0.0), thresholds=(0.9, None, 0.85))
    assert by_response.score(fast) == pytest.approx(0.9) and by_response.score(thorough) == pytest.approx(0.58)
    assert Scoring().score(thorough) > Scoring().score(fast)  # 30/40/30: resolution weighs more
    assert by_response.below(thorough) == [("response", 0.5, 0.9)]  # no threshold for 解决率; no 满意率 at all
    assert by_response.below(fast) == []
    assert ranking_words(by_response) == "按本月综合得分排名（响应80%、解决20%、满意0%，缺项按其余折算）"

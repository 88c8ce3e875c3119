"""Review figures against the hand-worked history in tests/review_fixture.py."""

from dataclasses import replace
from datetime import timedelta

import pytest

from routing.model import EventKind, Tier
from routing.rates import Person, Record, Unclaimed
from routing.review import (
    Review,
    Scope,
    Spread,
    histogram,
    quantile,
    request_figures,
    slowest,
)
from tests.review_fixture import AS_OF, PERIOD, history, hours, t

approx = pytest.approx


@pytest.fixture(scope="module")
def stories(example_config):
    return history(example_config.policy)


@pytest.fixture(scope="module")
def cal(example_config):
    return example_config.policy.calendar


@pytest.fixture(scope="module")
def review(stories, cal):
    rv = Review(PERIOD, cal, AS_OF)
    for story in stories:
        if story.r.number != 6:  # what the storage query returns: #6 has nothing in the period but a rating
            rv.add(story.record)
    rv.add_rating(stories[5].record)
    return rv


def figures(stories, cal, number):
    return request_figures(stories[number - 1].record, cal, AS_OF)


def p(name):
    return Person(name, f"wxid_{name}")


def test_the_fixture_deadlines_are_the_hand_worked_ones(stories):
    r = {x.r.number: x.r for x in stories}
    assert (r[1].first_ack_due_at, r[1].resolve_due_at) == (t("2026-10-08 16:00"), t("2026-10-20 16:00"))
    assert (r[2].first_ack_due_at, r[2].resolve_due_at) == (t("2026-10-10 09:00"), t("2026-10-21 09:00"))
    assert (r[3].first_ack_due_at, r[3].resolve_due_at) == (t("2026-10-13 10:00"), t("2026-10-26 10:00"))
    assert r[4].first_ack_due_at == t("2026-10-14 09:00")
    assert (r[5].first_ack_due_at, r[5].resolve_due_at) == (t("2026-09-28 10:00"), t("2026-10-15 10:00"))
    assert (r[6].first_ack_due_at, r[6].resolve_due_at) == (t("2026-09-15 09:00"), t("2026-09-20 09:00"))


def test_time_across_national_day_counts_working_hours_only(stories, cal):
    f = figures(stories, cal, 1)
    assert f.response_hours == approx(2.0)
    assert f.resolution_days == approx(hours(9.5))  # the three days waiting for the rating do not count
    assert f.response_at(Tier.VILLAGE) == approx(2.0)
    assert f.handling_days(Tier.VILLAGE) == approx(hours(9.5))
    assert f.handling_days(Tier.TOWNSHIP) is None and f.response_at(Tier.TOWNSHIP) is None
    assert (f.resolved_tier, f.resolver, f.first_responder) == (Tier.VILLAGE, p("石支书"), p("石支书"))
    assert (f.response_met, f.resolution_met) == (True, True)
    assert [e.kind for e in f.record.ratings] == [EventKind.SATISFIED]


def test_each_tier_is_measured_on_its_own_part_and_rating_waits_do_not_count(stories, cal):
    f = figures(stories, cal, 2)
    assert f.response_hours == approx(2.0)  # the escalation was the first response
    assert f.response_at(Tier.VILLAGE) == approx(2.0)
    assert f.handling_days(Tier.VILLAGE) == approx(hours(2.0))
    assert f.response_at(Tier.TOWNSHIP) == approx(11.5)  # the make-up Saturday counts
    assert f.handling_days(Tier.TOWNSHIP) == approx(hours(20.5))
    assert f.resolution_days == approx(hours(22.5))
    assert (f.resolved_tier, f.resolver, f.first_responder) == (Tier.TOWNSHIP, p("杨主任"), p("滕主任"))
    assert (f.response_met, f.resolution_met) == (True, True)
    assert [e.kind for e in f.record.ratings] == [EventKind.UNSATISFIED, EventKind.SATISFIED]


def test_a_request_still_handled_runs_to_the_review_and_misses_its_deadlines(stories, cal):
    f = figures(stories, cal, 3)
    assert f.response_hours == approx(13.0)
    assert f.handling_days(Tier.VILLAGE) == approx(hours(93.0))
    assert f.resolution_days is None and f.resolved_tier is None and f.resolver is None
    assert (f.response_met, f.resolution_met) == (False, False)
    early = request_figures(stories[2].record, cal, t("2026-10-20 12:00"))
    assert early.resolution_met is None  # not due yet


def test_rejected_requests_have_no_resolution(stories, cal):
    f = figures(stories, cal, 4)
    assert f.response_hours == approx(1.0) and f.response_at(Tier.VILLAGE) == approx(1.0)
    assert (f.resolution_days, f.resolution_met, f.response_met) == (None, None, True)
    assert f.first_responder == p("杨主任")


def test_the_first_responder_is_a_person_or_nobody(stories, cal):
    assert figures(stories, cal, 3).first_responder == p("代驻村")
    rec = stories[2].record
    nobody = Record(replace(rec.request, responder=None, acknowledged_at=None), rec.stints[:1], ())
    assert request_figures(nobody, cal, AS_OF).first_responder is None


def test_overall_rates_and_counts(review):
    o = review.overall()
    assert (o.requests, o.resolved, o.rejected, o.active) == (4, 2, 1, 1)
    rates = o.rates
    assert (rates.responded_in_time, rates.due_ack) == (3, 4)
    assert (rates.resolved_in_time, rates.due_resolve) == (3, 4)
    assert (rates.satisfied, rates.rated) == (3, 4)
    assert o.response == Spread(4, approx(2.0), approx(2 + 11 * 0.7))  # 1, 2, 2, 13
    assert o.resolution.n == 2
    assert o.resolution.median == approx(hours(16.0))  # between 9.5 h and 22.5 h
    assert o.resolution.p90 == approx(hours(9.5 + 13 * 0.9))


def test_per_township_and_village(review):
    townships = {u.key: u for u in review.by("township")}
    px, pj = townships["盘信镇"], townships["普觉镇"]
    assert (px.requests, px.resolved, px.rejected, px.active) == (3, 2, 1, 0)
    rates = px.rates
    assert (rates.responded_in_time, rates.due_ack, rates.resolved_in_time, rates.due_resolve) == (3, 3, 3, 3)
    assert (px.rates.satisfied, px.rates.rated) == (3, 4)
    assert (px.response.median, px.response.p90) == (approx(2.0), approx(2.0))
    assert (pj.requests, pj.active) == (1, 1)
    assert (pj.rates.response, pj.rates.resolution, pj.rates.satisfaction) == (0.0, 0.0, None)
    assert pj.response.median == approx(13.0) and pj.resolution.median is None
    v = {u.key: u for u in review.by("village")}
    assert set(v) == {("盘信镇", "楼台村"), ("盘信镇", "民主村"), ("普觉镇", "茶园村")}
    lt = v[("盘信镇", "楼台村")]
    assert (lt.requests, lt.rates.due_ack, lt.rates.due_resolve, lt.rates.rated) == (2, 2, 2, 1)
    assert (lt.response.median, lt.response.p90) == (approx(1.5), approx(1.9))
    mz = v[("盘信镇", "民主村")]
    assert (mz.requests, mz.rates.satisfied, mz.rates.rated) == (1, 2, 3)  # #6's rating counts here


def test_per_category_and_handler(review):
    c = {u.key: u for u in review.by("category")}
    assert (c["城乡建设"].requests, c["城乡建设"].rates.resolved_in_time, c["城乡建设"].rates.due_resolve) == (2, 2, 3)
    assert (c["民政"].rates.satisfied, c["民政"].rates.rated) == (2, 3)
    assert c["其他"].rates.due_resolve == 0 and c["其他"].rates.resolution is None
    h = {u.key: u for u in review.by("handler")}
    assert set(h) == {p("石支书"), p("滕主任"), p("代驻村"), p("杨主任")}
    # 响应 to the first responder, 解决 to whoever reported the standing result, a miss to the holder
    shi = h[p("石支书")].rates  # #1 responded and resolved in time; #5 resolved in time
    assert (shi.due_ack, shi.responded_in_time, shi.due_resolve, shi.resolved_in_time) == (1, 1, 2, 2)
    assert (shi.rated, shi.satisfied) == (1, 1)  # #1's rating judged his result
    teng = h[p("滕主任")].rates  # #2: responded (escalated) in time, resolved nothing in the period
    assert (teng.due_ack, teng.responded_in_time, teng.due_resolve, teng.rated) == (1, 1, 0, 1)  # #6's rating
    yang = h[p("杨主任")].rates  # #4 rejected in time; #2 resolved at the township in time, rated twice
    assert (yang.due_ack, yang.responded_in_time, yang.due_resolve, yang.resolved_in_time) == (1, 1, 1, 1)
    assert (yang.rated, yang.satisfied) == (2, 1)
    dai = h[p("代驻村")].rates  # #3: responded late, held it at its resolve deadline and missed it
    assert (dai.due_ack, dai.responded_in_time, dai.due_resolve, dai.resolved_in_time) == (1, 0, 1, 0)
    assert not any(isinstance(k, Unclaimed) for k in h)


def test_per_tier_spreads(review):
    spreads = review.tier_spreads()
    village_response, village_handling = spreads[Tier.VILLAGE]
    assert village_response == Spread(4, approx(2.0), approx(9.7))
    assert village_handling.n == 3  # #3 is still being handled: its part is not complete
    assert village_handling.median == approx(hours(2.0))
    township_response, township_handling = spreads[Tier.TOWNSHIP]
    assert township_response == Spread(1, approx(11.5), approx(11.5))
    assert township_handling == Spread(1, approx(hours(20.5)), approx(hours(20.5)))
    assert spreads[Tier.COUNTY] == (Spread(0, None, None), Spread(0, None, None))


def test_weeks_cut_to_the_period_add_up_to_it(review):
    weeks = review.weeks()
    assert [str(w.start) for w in weeks] == ["2026-09-28", "2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    assert [w.requests for w in weeks] == [1, 1, 2, 0, 0]
    assert [w.resolved for w in weeks] == [1, 1, 0, 0, 0]
    assert [(w.rates.responded_in_time, w.rates.due_ack) for w in weeks] == [(0, 0), (2, 2), (1, 2), (0, 0), (0, 0)]
    assert [(w.rates.resolved_in_time, w.rates.due_resolve) for w in weeks] == [(0, 0), (0, 0), (1, 1), (2, 2), (0, 1)]
    assert [(w.rates.satisfied, w.rates.rated) for w in weeks] == [(1, 1), (0, 0), (2, 3), (0, 0), (0, 0)]
    assert weeks[0].resolution_median == approx(hours(9.5)) and weeks[3].resolution_median is None


def test_overdue_list(review):
    assert review.overdue_count == 1
    (o,) = review.overdue()
    assert (o.request.number, o.since, o.by) == (3, t("2026-10-26 10:00"), timedelta(days=4, hours=2))
    assert o.working_days == approx(hours(28.0))


def test_overdue_list_keeps_the_longest(stories, cal):
    rec = stories[2].record
    rv = Review(PERIOD, cal, AS_OF, overdue_listed=1)
    rv.add(rec)
    older = replace(rec.request, number=7, resolve_due_at=t("2026-10-23 10:00"))
    rv.add(Record(older, tuple(replace(s, number=7) for s in rec.stints), ()))
    assert rv.overdue_count == 2
    assert [o.request.number for o in rv.overdue()] == [7]


def test_no_requests_means_no_figures(cal):
    rv = Review(PERIOD, cal, AS_OF)
    o = rv.overall()
    assert (o.requests, o.rates.response, o.rates.resolution, o.rates.satisfaction) == (0, None, None, None)
    assert o.response == Spread(0, None, None) and rv.by("township") == [] and rv.overdue() == []
    assert len(rv.weeks()) == 5 and all(w.requests == 0 for w in rv.weeks())


def test_no_deadline_in_the_period_means_no_rates(stories, cal):
    one_day = Scope(t("2026-10-12 00:00"), t("2026-10-13 00:00"))  # #3 registered; its deadlines come later
    rv = Review(one_day, cal, AS_OF)
    rv.add(stories[2].record)
    o = rv.overall()
    assert o.requests == 1 and o.rates.due_ack == 0 and o.rates.response is None and o.rates.resolution is None
    assert o.response.n == 0  # as of the period's end nobody had responded yet (the claim came on 14 Oct)
    assert o.active == 1


def test_a_holiday_period_has_nothing_due(stories, cal):
    holiday = Scope(t("2026-10-01 00:00"), t("2026-10-08 00:00"))
    rv = Review(holiday, cal, AS_OF)
    for story in stories:
        rv.add(story.record)
    assert rv.overall().rates.due_ack == 0 and rv.overall().rates.due_resolve == 0


def test_quantile_interpolates_like_excel():
    assert quantile([], 0.5) is None
    assert quantile([7], 0.9) == 7
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantile([4, 1, 3, 2, 5, 6, 7, 8, 9, 10], 0.9) == approx(9.1)  # PERCENTILE.INC(1..10, 0.9)


def test_histogram_and_slowest(review):
    assert histogram([0, 0.5, 1, 2.9, 3, 41, 100], (0, 1, 3, 40)) == [2, 2, 1, 2]
    slow = slowest(review.by("category"), 5)
    assert [u.key for u in slow] == ["民政", "城乡建设"]  # 其他 has no resolved request


def test_the_spread_of_a_units_times_is_the_same_with_numpy():
    """The export and the report pick a unit's times out of the review's arrays with numpy: the same figures as
    the domain's own way (a list of Python floats), to the last bit, the missing times (NaN) left out."""
    import math
    import random
    from array import array

    from bot.review.numeric import numpy_spread
    from routing.review import python_spread

    rng = random.Random(20240611)
    values = array("d", (math.nan if rng.random() < 0.2 else rng.lognormvariate(1, 1) for _ in range(5000)))
    for size in (0, 1, 2, 7, 100, 4000):
        positions = array("I", sorted(rng.sample(range(len(values)), size)))
        assert numpy_spread(values, positions) == python_spread(values, positions)
    assert numpy_spread(values, None) == python_spread(values, None)
    assert numpy_spread(array("d"), None) == python_spread(array("d"), None)

"""The 三率, hand-computed on small sets, including the edge cases."""

from datetime import timedelta

from routing.model import Event, EventKind, Status, Tier
from routing.rates import Rates, rates_by, total
from tests.fakes import local
from tests.storage.test_repository import make_request

START, END = local("2026-10-01 00:00"), local("2026-11-01 00:00")


def r(n, **kw):
    return make_request(n, **kw)


def rating(n, kind, at):
    return Event(number=n, kind=kind, at=at, tier=Tier.VILLAGE, actor="x")


def test_no_requests_means_no_figures():
    rates = total([], [], START, END)
    assert rates == Rates() and rates.response is None and rates.resolution is None and rates.satisfaction is None


def test_requests_whose_deadlines_are_outside_the_period_do_not_count():
    later = r(1, first_ack_due_at=local("2026-11-02 09:00"), resolve_due_at=local("2026-11-09 09:00"),
              acknowledged_at=local("2026-10-31 10:00"))
    assert total([later], [], START, END) == Rates()


def test_response_rate_counts_first_responses_by_the_registering_deadline():
    due = local("2026-10-13 09:00")
    ok = r(1, first_ack_due_at=due, acknowledged_at=due)  # exactly on time counts
    late = r(2, first_ack_due_at=due, acknowledged_at=due + timedelta(minutes=1))
    never = r(3, first_ack_due_at=due)
    rates = total([ok, late, never], [], START, END)
    assert (rates.responded_in_time, rates.due_ack) == (1, 3)
    assert abs(rates.response - 1 / 3) < 1e-9


def test_resolution_rate_excludes_reopened_and_rejected():
    due = local("2026-10-20 09:00")
    resolved = r(1, resolve_due_at=due, resolved_at=due - timedelta(days=1), status=Status.CLOSED)
    reopened = r(2, resolve_due_at=due, resolved_at=None, reopened=1, status=Status.ACKNOWLEDGED)
    late = r(3, resolve_due_at=due, resolved_at=due + timedelta(hours=1), status=Status.RESOLVED)
    rejected = r(4, resolve_due_at=due, status=Status.REJECTED)
    rates = total([resolved, reopened, late, rejected], [], START, END)
    assert (rates.resolved_in_time, rates.due_resolve) == (1, 3)


def test_satisfaction_over_ratings_given_in_the_period():
    a, b = r(1), r(2)
    ratings = [rating(1, EventKind.SATISFIED, local("2026-10-05 10:00")),
               rating(2, EventKind.UNSATISFIED, local("2026-10-06 10:00")),
               rating(2, EventKind.SATISFIED, local("2026-10-09 10:00")),
               rating(1, EventKind.SATISFIED, local("2026-11-01 00:00"))]  # outside the period
    rates = total([a, b], ratings, START, END)
    assert (rates.satisfied, rates.rated) == (2, 3)


def test_per_unit_attribution():
    due = local("2026-10-13 09:00")
    reqs = [r(1, village="楼台村", first_ack_due_at=due, acknowledged_at=due),
            r(2, village="民主村", first_ack_due_at=due)]
    by = rates_by(reqs, [], START, END, key=lambda x: x.village)
    assert by["楼台村"].response == 1.0 and by["民主村"].response == 0.0

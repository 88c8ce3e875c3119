"""The one transition function: allowed moves, the fields it sets, and the event it writes."""

from datetime import timedelta

import pytest

from routing.lifecycle import RULES, TransitionError, transition
from routing.model import EventKind, PersonRef, Status, Tier
from tests.fakes import local
from tests.storage.test_repository import make_request

T = local("2026-10-12 10:00")
ME = PersonRef("杨主任", "wxid_y")


def test_first_response_is_kept_and_escalation_time_too():
    r = make_request(1)
    transition(r, EventKind.ESCALATED, T, ME, to_tier=Tier.TOWNSHIP)
    transition(r, EventKind.CLAIMED, T + timedelta(hours=1), ME)
    transition(r, EventKind.ESCALATED, T + timedelta(hours=2), ME, to_tier=Tier.COUNTY)
    assert r.acknowledged_at == T and r.escalated_at == T
    assert r.tier is Tier.COUNTY and r.status is Status.OPEN and r.handler is None
    assert r.tier_since == T + timedelta(hours=2)


def test_unsatisfied_reopens_at_the_resolving_tier_with_the_same_handler():
    r = make_request(1, tier=Tier.TOWNSHIP)
    transition(r, EventKind.CLAIMED, T, ME)
    transition(r, EventKind.RESOLVED, T + timedelta(hours=1), ME, note="好了")
    e = transition(r, EventKind.UNSATISFIED, T + timedelta(hours=2), PersonRef("唐命学", "wxid_a"), note="没好")
    assert r.status is Status.ACKNOWLEDGED and r.handler == "杨主任" and r.tier is Tier.TOWNSHIP
    assert r.reopened == 1 and r.resolved_at is None and r.rating.value == "unsatisfied"
    assert (e.from_status, e.to_status, e.note) == (Status.RESOLVED, Status.ACKNOWLEDGED, "没好")


def test_rejection_closes_and_counts_as_a_response():
    r = make_request(1, tier=Tier.TOWNSHIP)
    transition(r, EventKind.REJECTED, T, ME, note="重复")
    assert r.status is Status.REJECTED and r.closed_at == T and r.acknowledged_at == T


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("kind", [k for k in EventKind if k is not EventKind.REGISTERED])
def test_every_kind_is_refused_outside_its_statuses(status, kind):
    r = make_request(1, status=status)
    if status in RULES[kind].allowed:
        to_tier = Tier.TOWNSHIP if kind in (EventKind.ESCALATED, EventKind.SENT_BACK) else None
        event = transition(r, kind, T, ME, to_tier=to_tier)
        assert event.kind is kind and event.from_status is status
    else:
        with pytest.raises(TransitionError):
            transition(r, kind, T, ME)
        assert r.status is status

"""The one transition function: allowed moves, the fields it sets, the event it writes, and tier stints."""

from datetime import timedelta

import pytest

from routing.lifecycle import RULES, TransitionError, register, transition
from routing.model import EventKind, PersonRef, Status, Tier
from tests.fakes import local
from tests.storage.test_repository import make_request

T = local("2026-10-12 10:00")
H = timedelta(hours=1)
ME = PersonRef("杨主任", "wxid_y")
CADRE = PersonRef("石支书", "wxid_s")
REQUESTER = PersonRef("唐命学", "wxid_a")


def hours(seconds_from, seconds_to):
    return (seconds_to - seconds_from).total_seconds()


def test_first_response_is_kept_and_escalation_time_too():
    r = make_request(1)
    transition(r, EventKind.ESCALATED, T, ME, to_tier=Tier.TOWNSHIP)
    transition(r, EventKind.CLAIMED, T + H, ME)
    transition(r, EventKind.ESCALATED, T + 2 * H, ME, to_tier=Tier.COUNTY)
    assert r.acknowledged_at == T and r.escalated_at == T and r.responder == "杨主任"
    assert r.tier is Tier.COUNTY and r.status is Status.OPEN and r.handler is None
    assert r.tier_since == T + 2 * H


def test_the_bots_automatic_escalation_is_not_a_response():
    r = make_request(1)
    transition(r, EventKind.ESCALATED, T, None, to_tier=Tier.TOWNSHIP, rule="auto_after")
    assert r.acknowledged_at is None and r.responder is None and r.escalated_at == T
    transition(r, EventKind.CLAIMED, T + H, ME)
    assert r.acknowledged_at == T + H and r.responder == "杨主任"


def test_unsatisfied_reopens_at_the_resolving_tier_with_the_same_handler():
    r = make_request(1, tier=Tier.TOWNSHIP)
    transition(r, EventKind.CLAIMED, T, ME)
    transition(r, EventKind.RESOLVED, T + H, ME, note="好了")
    step = transition(r, EventKind.UNSATISFIED, T + 2 * H, REQUESTER, note="没好")
    e = step.event
    assert r.status is Status.ACKNOWLEDGED and r.handler == "杨主任" and r.tier is Tier.TOWNSHIP
    assert r.reopened == 1 and r.resolved_at is None and r.rating.value == "unsatisfied"
    assert (e.from_status, e.to_status, e.note) == (Status.RESOLVED, Status.ACKNOWLEDGED, "没好")
    reopened = step.current
    assert step.started and reopened.seq == 2 and reopened.start is EventKind.UNSATISFIED
    assert (reopened.handler, reopened.held_since, reopened.tier) == ("杨主任", T + 2 * H, Tier.TOWNSHIP)


def test_rejection_closes_and_counts_as_a_response():
    r = make_request(1, tier=Tier.TOWNSHIP)
    transition(r, EventKind.REJECTED, T, ME, note="重复")
    assert r.status is Status.REJECTED and r.closed_at == T and r.acknowledged_at == T


def test_stints_start_at_registration_escalation_send_back_and_reopening_and_end_at_leaving_or_resolving():
    r = make_request(1, created_at=T, tier_since=T)
    first = register(r, REQUESTER)
    assert first.started and first.current.seq == 1 and first.current.start is EventKind.REGISTERED
    assert (first.current.ack_due_at, first.current.resolve_due_at) == (r.ack_due_at, r.resolve_due_at)
    village = first.current

    claim = transition(r, EventKind.CLAIMED, T + H, CADRE)
    assert claim.current is village and not claim.started
    assert (village.handler, village.held_since, village.responded_at, village.responder) == (
        "石支书", T + H, T + H, "石支书")

    deadlines = (T + 5 * H, T + 50 * H)
    up = transition(r, EventKind.ESCALATED, T + 2 * H, CADRE, to_tier=Tier.TOWNSHIP, deadlines=deadlines,
                    work=hours)
    assert up.ended is village and up.started and up.event.stint == 1
    assert (village.ended_at, village.end, village.ended_by, village.working_seconds) == (
        T + 2 * H, EventKind.ESCALATED, "石支书", 3600 * 2)
    township = up.current
    assert (township.seq, township.tier, township.start, township.handler) == (2, Tier.TOWNSHIP, EventKind.ESCALATED,
                                                                                None)
    assert (township.ack_due_at, township.resolve_due_at) == deadlines

    down = transition(r, EventKind.SENT_BACK, T + 3 * H, ME, to_tier=Tier.VILLAGE, deadlines=(T + 9 * H, T + 90 * H))
    assert down.ended is township and township.end is EventKind.SENT_BACK and township.responded_at == T + 3 * H
    assert down.current.seq == 3 and down.current.tier is Tier.VILLAGE

    done = transition(r, EventKind.RESOLVED, T + 4 * H, CADRE, note="好了")
    assert done.current is down.current and done.current.end is EventKind.RESOLVED and not done.started
    # the earlier stints' deadlines are where they were: nothing rewrites them
    assert (township.ack_due_at, township.resolve_due_at) == deadlines
    assert r.stint == 3 and (r.ack_due_at, r.resolve_due_at) == (T + 9 * H, T + 90 * H)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("kind", [k for k in EventKind if k is not EventKind.REGISTERED])
def test_every_kind_is_refused_outside_its_statuses(status, kind):
    r = make_request(1, status=status)
    if status in RULES[kind].allowed:
        to_tier = Tier.TOWNSHIP if kind in (EventKind.ESCALATED, EventKind.SENT_BACK) else None
        note = "交通运输" if kind is EventKind.RECATEGORIZED else None  # a relabel names the new category
        event = transition(r, kind, T, ME, to_tier=to_tier, note=note).event
        assert event.kind is kind and event.from_status is status
    else:
        with pytest.raises(TransitionError):
            transition(r, kind, T, ME)
        assert r.status is status


def test_a_category_correction_is_a_relabel_only():
    r = make_request(1)
    before = (r.ack_due_at, r.resolve_due_at, r.status, r.tier, r.stint, r.handler, r.acknowledged_at)
    step = transition(r, EventKind.RECATEGORIZED, T + H, ME, note="交通运输", data={"from": r.category, "to": "交通运输"})
    assert r.category == "交通运输"
    # the deadlines of the stint, its status, tier and handler stay as they were; it is no response either
    assert (r.ack_due_at, r.resolve_due_at, r.status, r.tier, r.stint, r.handler, r.acknowledged_at) == before
    assert not step.started and step.ended is None
    assert (step.current.ack_due_at, step.current.resolve_due_at) == before[:2]
    with pytest.raises(ValueError):
        transition(r, EventKind.RECATEGORIZED, T + H, ME)

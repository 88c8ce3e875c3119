"""Report queries on SQLite, and on PostgreSQL when MINQING_TEST_DATABASE_URL is set."""

import pytest

from routing.lifecycle import register as registered_event
from routing.model import EventKind, PersonRef, Tier
from routing.review import Review, Scope
from storage.db import Database
from storage.reports import count_registered, review_requests, stray_ratings
from tests.review_fixture import AS_OF, PERIOD, history, store, stored_history, t
from tests.storage.test_repository import make_request


@pytest.fixture
def database(any_db, example_config):
    yield from stored_history(any_db, example_config.policy)


def test_the_period_brings_its_requests_and_those_with_a_deadline_in_it(database):
    with database.snapshot() as tx:
        got = list(review_requests(tx, PERIOD, batch=2))  # several batches
    assert [rec.request.number for rec in got] == [1, 2, 3, 4, 5]  # #5: registered before, resolve deadline in it
    two = got[1]
    assert [(s.seq, s.tier, s.start, s.end) for s in two.stints] == [
        (1, Tier.VILLAGE, EventKind.REGISTERED, EventKind.ESCALATED),
        (2, Tier.TOWNSHIP, EventKind.ESCALATED, EventKind.RESOLVED),
        (3, Tier.TOWNSHIP, EventKind.UNSATISFIED, EventKind.RESOLVED)]
    assert two.stints[0].ended_by == "滕主任" and two.stints[1].handler == "杨主任"
    assert [e.kind for e in two.ratings] == [EventKind.UNSATISFIED, EventKind.SATISFIED]


def test_ratings_of_requests_the_period_does_not_list(database):
    with database.snapshot() as tx:
        strays = list(stray_ratings(tx, PERIOD))
    assert [(rec.request.number, [(e.kind, e.at) for e in rec.ratings]) for rec in strays] == [
        (6, [(EventKind.SATISFIED, t("2026-09-29 09:00"))])]


def test_units_filter_the_queries(database):
    with database.snapshot() as tx:
        assert [rec.request.number for rec in review_requests(tx, Scope(PERIOD.start, PERIOD.end, township="普觉镇"))] == [3]
        assert [rec.request.number for rec in review_requests(tx, Scope(PERIOD.start, PERIOD.end, village="民主村"))] == [2]
        assert [rec.request.number for rec in review_requests(tx, Scope(PERIOD.start, PERIOD.end, category="民政"))] == [2]
        assert list(stray_ratings(tx, Scope(PERIOD.start, PERIOD.end, township="普觉镇"))) == []
        assert count_registered(tx, PERIOD) == 4
        assert count_registered(tx, Scope(PERIOD.start, PERIOD.end, township="盘信镇")) == 3


def test_the_review_from_the_database_has_the_hand_worked_figures(database, example_config):
    rv = Review(PERIOD, example_config.policy.calendar, AS_OF)
    with database.snapshot() as tx:
        for rec in review_requests(tx, PERIOD):
            rv.add(rec)
        for rec in stray_ratings(tx, PERIOD):
            rv.add_rating(rec)
    rates = rv.overall().rates
    assert (rates.responded_in_time, rates.due_ack, rates.resolved_in_time, rates.due_resolve,
            rates.satisfied, rates.rated) == (3, 4, 3, 4, 3, 4)
    assert rv.overall().requests == 4


def test_a_snapshot_does_not_block_the_bot(database):
    with database.snapshot() as reader:
        before = reader.count()
        with database.transaction() as writer:  # would wait for the lock if the report held it
            r = make_request(writer.next_number())
            writer.add(r, registered_event(r, PersonRef("唐命学", "wxid_a")))
        assert reader.count() == before  # one consistent snapshot while the report runs
    with database.snapshot() as later:
        assert later.count() == before + 1
    with database.transaction() as writer:  # the pooled connection is writable again
        writer.audit(AS_OF, "tester", "after a report", {})


def test_counties_sharing_a_database_stay_apart(any_db, example_config):
    url, county = any_db
    a, b = Database(url, county), Database(url, county + "-b")
    try:
        store(a, history(example_config.policy))
        with b.snapshot() as tx:
            assert list(review_requests(tx, PERIOD)) == [] and count_registered(tx, PERIOD) == 0
    finally:
        a.dispose()
        b.dispose()

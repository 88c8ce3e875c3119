"""Report queries on SQLite, and on PostgreSQL when MINQING_TEST_DATABASE_URL is set."""

import pytest

from routing.lifecycle import registered_event
from routing.model import EventKind, PersonRef
from routing.review import Review, Scope
from storage.db import Database
from storage.reports import count_registered, review_requests, stray_ratings
from tests.review_fixture import AS_OF, PERIOD, history, store, t
from tests.storage.test_repository import make_request


@pytest.fixture
def database(any_db, example_config):
    url, county = any_db
    db = Database(url, county)
    store(db, history(example_config.policy))
    yield db
    db.dispose()


def test_the_period_brings_its_requests_and_those_with_a_deadline_in_it(database):
    with database.snapshot() as tx:
        got = list(review_requests(tx, PERIOD, batch=2))  # several batches
    assert [r.number for r, _ in got] == [1, 2, 3, 4, 5]  # #5: registered before, resolve deadline in the period
    events = dict((r.number, e) for r, e in got)
    assert [e.kind for e in events[2]] == [EventKind.REGISTERED, EventKind.ESCALATED, EventKind.CLAIMED,
                                          EventKind.RESOLVED, EventKind.UNSATISFIED, EventKind.RESOLVED,
                                          EventKind.SATISFIED]
    assert EventKind.REMINDED not in [e.kind for e in events[3]]  # reminders move no clock
    assert events[2][1].from_tier is not None and events[2][1].actor == "滕主任"


def test_ratings_of_requests_the_period_does_not_list(database):
    with database.snapshot() as tx:
        strays = list(stray_ratings(tx, PERIOD))
    assert [(r.number, e.kind, e.at) for r, e in strays] == [(6, EventKind.SATISFIED, t("2026-09-29 09:00"))]


def test_units_filter_the_queries(database):
    with database.snapshot() as tx:
        assert [r.number for r, _ in review_requests(tx, Scope(PERIOD.start, PERIOD.end, township="普觉镇"))] == [3]
        assert [r.number for r, _ in review_requests(tx, Scope(PERIOD.start, PERIOD.end, village="民主村"))] == [2]
        assert [r.number for r, _ in review_requests(tx, Scope(PERIOD.start, PERIOD.end, category="民政"))] == [2]
        assert list(stray_ratings(tx, Scope(PERIOD.start, PERIOD.end, township="普觉镇"))) == []
        assert count_registered(tx, PERIOD) == 4
        assert count_registered(tx, Scope(PERIOD.start, PERIOD.end, township="盘信镇")) == 3


def test_the_review_from_the_database_has_the_hand_worked_figures(database, example_config):
    rv = Review(PERIOD, example_config.policy.calendar, AS_OF)
    with database.snapshot() as tx:
        for r, events in review_requests(tx, PERIOD):
            rv.add(r, events)
        for r, e in stray_ratings(tx, PERIOD):
            rv.add_rating(r, e)
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

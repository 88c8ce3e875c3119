"""The repository on SQLite, and on PostgreSQL when MINQING_TEST_DATABASE_URL is set."""

from datetime import UTC, datetime, timedelta

import pytest

from routing.lifecycle import register as registered_event, transition
from routing.model import EventKind, PersonRef, Request, Status, Tier
from routing.ports import RequestFilter
from storage.db import Database, DatabaseError, database_url
from tests.fakes import local

T0 = local("2026-10-12 09:00")


def make_request(number, **kw):
    values = dict(
        number=number, requester="唐命学", requester_key="wxid_a", requester_id="wxid_a", village="楼台村",
        township="盘信镇", tier=Tier.VILLAGE, category="城乡建设", urgent=False, text="路灯坏了 🙏",
        created_at=T0, tier_since=T0, ack_due_at=T0 + timedelta(days=1), resolve_due_at=T0 + timedelta(days=5),
        first_ack_due_at=T0 + timedelta(days=1),
    )
    values.update(kw)
    return Request(**values)




def test_request_round_trip_keeps_every_field_and_utc(database):
    req = make_request(1)
    with database.transaction() as tx:
        assert tx.next_number() == 1
        tx.add(req, registered_event(req, PersonRef("唐命学", "wxid_a")))
    with database.transaction() as tx:
        got = tx.get(1)
    assert got == req
    assert got.created_at.utcoffset() == timedelta(0)  # stored and returned as UTC
    assert got.created_at == T0


def test_numbers_are_never_reused_even_after_a_rollback(database):
    with database.transaction() as tx:
        assert [tx.next_number() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(RuntimeError):
        with database.transaction() as tx:
            tx.next_number()
            raise RuntimeError("registration failed")
    with database.transaction() as tx:
        assert tx.next_number() == 4


def test_events_are_appended_in_order(database):
    req = make_request(1)
    who = PersonRef("石支书", "wxid_s")
    with database.transaction() as tx:
        tx.add(req, registered_event(req, PersonRef("唐命学", "wxid_a")))
        tx.update(req, transition(req, EventKind.CLAIMED, T0 + timedelta(hours=1), who))
        tx.update(req, transition(req, EventKind.RESOLVED, T0 + timedelta(hours=2), who, note="修好了"))
    with database.transaction() as tx:
        events = tx.events(1)
        got = tx.get(1)
    assert [e.kind for e in events] == [EventKind.REGISTERED, EventKind.CLAIMED, EventKind.RESOLVED]
    assert events[2].note == "修好了" and events[2].from_status is Status.ACKNOWLEDGED
    assert got.status is Status.RESOLVED and got.handler == "石支书"


def test_message_ids_are_processed_once(database):
    with database.transaction() as tx:
        assert tx.first_delivery("m1", T0)
        assert not tx.first_delivery("m1", T0)
    with database.transaction() as tx:
        assert not tx.first_delivery("m1", T0)
        assert tx.first_delivery("m2", T0)


def test_find_filters(database):
    with database.transaction() as tx:
        for n, (status, tier, village) in enumerate([
            (Status.OPEN, Tier.VILLAGE, "楼台村"), (Status.ACKNOWLEDGED, Tier.TOWNSHIP, "楼台村"),
            (Status.CLOSED, Tier.VILLAGE, "民主村"),
        ], 1):
            req = make_request(n, status=status, tier=tier, village=village)
            tx.add(req, registered_event(req, PersonRef("x")))
    with database.transaction() as tx:
        assert [r.number for r in tx.find(RequestFilter(statuses=frozenset({Status.OPEN, Status.ACKNOWLEDGED})))] == [1, 2]
        assert [r.number for r in tx.find(RequestFilter(tier=Tier.VILLAGE, village="民主村"))] == [3]
        assert [r.number for r in tx.stream(RequestFilter(), batch=1)] == [1, 2, 3]
        assert tx.count() == 3


def test_counties_sharing_one_database_do_not_see_each_other(any_db):
    url, county = any_db
    a, b = Database(url, county + "-a"), Database(url, county + "-b")
    try:
        for db in (a, b):
            with db.transaction() as tx:
                n = tx.next_number()
                tx.add(make_request(n), registered_event(make_request(n), PersonRef("x")))
        with a.transaction() as tx:
            assert tx.count() == 1 and tx.get(1) is not None
        with b.transaction() as tx:
            assert tx.count() == 1
    finally:
        a.dispose()
        b.dispose()


def test_pins_clashes_people_and_meta(database):
    with database.transaction() as tx:
        assert tx.pinned_id("盘信镇/楼台村", "石支书") is None
        tx.pin("盘信镇/楼台村", "石支书", "wxid_s", T0)
        assert tx.pinned_id("盘信镇/楼台村", "石支书") == "wxid_s"
        assert tx.pinned_id("盘信镇/民主村", "石支书") is None  # a namesake elsewhere is someone else
        tx.pin("盘信镇/楼台村", "石支书", "wxid_t", T0)  # the operator's correction replaces it
        assert tx.pinned_id("盘信镇/楼台村", "石支书") == "wxid_t"
        assert tx.first_clash("盘信镇/楼台村", "石支书", "wxid_x", T0)
        assert not tx.first_clash("盘信镇/楼台村", "石支书", "wxid_x", T0)
        tx.note_person(PersonRef("石支书", "wxid_s"), "楼台村干群连心群", T0)
        tx.note_person(PersonRef("石支书", "wxid_s"), "盘信镇二级工作群", T0 + timedelta(hours=1))
        tx.set_meta("clock_mark", "x")
        tx.set_meta("clock_mark", "y")
    with database.transaction() as tx:
        people = tx.people()
        assert len(people) == 1 and people[0].rooms == ["楼台村干群连心群", "盘信镇二级工作群"]
        assert people[0].messages == 2
        assert tx.get_meta("clock_mark") == "y"


def test_outbox_keys_are_recorded_once(database):
    with database.transaction() as tx:
        assert tx.enqueue("room", "text", [{"name": "a", "id": None}], T0, key="digest:1")
        assert not tx.enqueue("room", "text again", [], T0, key="digest:1")
        assert tx.enqueue("room", "plain", [], T0)
        assert tx.enqueue("room", "plain", [], T0)
    with database.transaction() as tx:
        assert [r.text for r in tx.outbox()] == ["text", "plain", "plain"]


def test_naive_datetimes_are_refused(database):
    with pytest.raises(Exception, match="naive datetime"):
        with database.transaction() as tx:
            tx.first_delivery("m", datetime(2026, 1, 1))


def test_aware_times_in_any_zone_are_stored_as_the_same_instant(database):
    with database.transaction() as tx:
        req = make_request(1, created_at=datetime(2026, 10, 12, 1, 0, tzinfo=UTC))
        tx.add(req, registered_event(req, PersonRef("x")))
    with database.transaction() as tx:
        assert tx.get(1).created_at == local("2026-10-12 09:00")


def test_database_urls(tmp_path):
    assert database_url("minqing.db", tmp_path) == f"sqlite:///{tmp_path}/minqing.db"
    assert database_url("sqlite:///minqing.db", tmp_path) == f"sqlite:///{tmp_path}/minqing.db"
    assert database_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    with pytest.raises(DatabaseError):
        Database(f"sqlite:///{tmp_path}/missing/dir/x.db", "c")
    with pytest.raises(DatabaseError):
        Database("nonsense://", "c")


def test_sqlite_commits_are_durable_before_anything_is_announced(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'd.db'}", "c")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.dispose()

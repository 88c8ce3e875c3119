"""Upgrading databases written by version 0.1.0 (a SQLite file and a PostgreSQL dump, both made by running
its code: tests/storage/fixtures/v0_1_0/README.md), on SQLite and PostgreSQL.

After `minqing migrate`: every request is what 0.1.0 stored (but for the first responses 0.1.0 wrongly took
from the bot's automatic escalation, each correction audited), its tier stints are what its event log
implies, and the schema is the one a new database gets.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel, select

from routing.model import EventKind, Tier
from storage import migrate
from storage.db import Database, SchemaOutdated
from storage.tables import AuditRow
from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE, PG_URL, _pg_url, config_with

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1_0"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
COUNTY = EXPECTED["county"]
RESPONDS = {"claimed", "escalated", "sent_back", "resolved", "rejected"}
STARTS = {"escalated", "sent_back", "unsatisfied"}
ENDS = {"escalated", "sent_back", "resolved", "rejected"}


def restore_pg_dump(schema: str) -> None:
    """The 0.1.0 dump restored into a new schema (the dump names its schema only as a qualifier)."""
    sql = re.sub(r"\bminqing_v010\b", schema, (FIXTURES / "v0_1_0_pg.sql").read_text(encoding="utf-8"))
    libpq = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq) as conn, conn.cursor() as cur:
        lines = iter(sql.splitlines(keepends=True))
        buf: list[str] = []
        for line in lines:
            if not buf and (line.startswith("--") or line.startswith("\\") or not line.strip()):
                continue
            buf.append(line)
            if line.rstrip().endswith(";"):
                stmt, buf = "".join(buf).strip(), []
                if stmt.startswith("COPY ") and stmt.endswith("FROM stdin;"):
                    with cur.copy(stmt[:-1]) as copy:
                        for row in lines:
                            if row.rstrip("\n") == "\\.":
                                break
                            copy.write(row.encode("utf-8"))
                else:
                    cur.execute(stmt)
        conn.commit()


@pytest.fixture(params=["sqlite", "postgresql"])
def old_db(request, tmp_path):
    """A database written by 0.1.0: its URL."""
    if request.param == "sqlite":
        path = tmp_path / "v0_1_0.sqlite"
        shutil.copy(FIXTURES / "v0_1_0.sqlite", path)
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        import os
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL tests: set MINQING_TEST_DATABASE_URL (.ci/run does)")
        pytest.skip("PostgreSQL tests need MINQING_TEST_DATABASE_URL (the CI script sets it)")
    schema = f"v010_{uuid.uuid4().hex[:10]}"
    restore_pg_dump(schema)
    yield _pg_url(schema)
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def bring_to(engine, revision: str) -> None:
    """Bring a database written by 0.1.0 to an earlier revision, as an earlier version left it."""
    from alembic import command

    with engine.begin() as conn:
        cfg = migrate.alembic_config(conn, {COUNTY: config_with().policy})
        command.stamp(cfg, migrate.BASELINE)
        command.upgrade(cfg, revision)


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def test_nothing_runs_on_a_database_of_0_1_0_until_it_is_migrated(old_db):
    with pytest.raises(SchemaOutdated, match="minqing migrate"):
        Database(old_db, COUNTY)
    r = run("list", "-c", str(EXAMPLE), "--db", old_db)
    assert r.code == 1 and "minqing migrate" in r.err


def test_migrating_keeps_every_request_and_makes_its_stints_from_its_log(old_db, example_config):
    r = run("migrate", "-c", str(EXAMPLE), "--db", old_db)
    assert r.code == 0, r.err
    assert f"已从版本 {migrate.BASELINE} 升级到 {migrate.head()}" in r.out
    again = run("migrate", "-c", str(EXAMPLE), "--db", old_db)
    assert again.code == 0 and "已是最新版本" in again.out

    db = Database(old_db, COUNTY)
    try:
        with db.snapshot() as tx:
            audits = {a.detail["request"]: a.detail for a in tx.session.exec(
                select(AuditRow).where(AuditRow.county == COUNTY, AuditRow.action == "first_response_corrected"))}
            corrected = set()
            for want in EXPECTED["requests"]:
                n = want["number"]
                got = tx.get(n)
                events = EXPECTED["events"][str(n)]
                for name, value in want.items():
                    have = getattr(got, name)
                    have = getattr(have, "key" if name == "tier" else "value", have) if have is not None else None
                    if isinstance(have, datetime):
                        have = have.astimezone(example_config.tz).isoformat()
                    if name in ("acknowledged_at", "responder") and have != value:
                        corrected.add(n)
                        continue
                    assert have == value, (n, name)
                check_stints(n, got, tx.stints(n), events, example_config.policy)
                # the first response is the first event by a person that responds
                first = next((e for e in events if e["kind"] in RESPONDS and e["actor"]), None)
                assert got.acknowledged_at == when(first["at"] if first else None), n
                assert got.responder == (first["actor"] if first else None), n
                assert [e.stint for e in tx.events(n)][0] == 1
            # 0.1.0's county-wide pins keep applying to every unit of that name
            pins = {(p.name, p.unit): p.contact_id for p in tx.pins()}
            assert pins == {(p["name"], "*"): p["contact_id"] for p in EXPECTED["name_pins"]}
            first = EXPECTED["name_pins"][0]
            assert tx.pinned_id("盘信镇/楼台村", first["name"]) == first["contact_id"]
            # only the requests whose stored first response was the bot's escalation were corrected, each audited
            assert corrected == set(audits) and corrected
            for n in corrected:
                bot_first = next(e for e in EXPECTED["events"][str(n)] if e["kind"] in RESPONDS)
                assert bot_first["actor"] is None and bot_first["rule"] == "auto_after"
    finally:
        db.dispose()


def check_stints(n, req, stints, events, policy):
    """The stints are what the event log says: one from registration and one per escalation, send-back and
    reopening, ended by the events that end them, deadlines stored where 0.1.0 kept them, else computed."""
    starts = [events[0]] + [e for e in events if e["kind"] in STARTS]
    assert [s.seq for s in stints] == list(range(1, len(starts) + 1)) and req.stint == len(starts)
    for s, e in zip(stints, starts, strict=True):
        assert s.backfilled and s.started_at == when(e["at"]) and s.tier is Tier.from_key(e["tier"])
        assert s.start is EventKind(e["kind"])
    ends = [e for e in events if e["kind"] in ENDS]
    ended = [s for s in stints if s.ended_at is not None]
    assert [(s.ended_at, s.end, s.ended_by) for s in ended] == [
        (when(e["at"]), EventKind(e["kind"]), e["actor"]) for e in ends], n
    assert all(s.working_seconds is not None for s in ended)
    assert stints[0].ack_due_at == req.first_ack_due_at
    last = stints[-1]
    assert last.resolve_due_at == req.resolve_due_at
    for s in stints:
        ack, resolve = policy.deadlines(s.started_at, req.category, req.urgent)
        if s.start is EventKind.UNSATISFIED:
            assert s.ack_due_at is None
        elif s is not stints[0] and s is not last:
            assert s.ack_due_at == ack
        if s is not last:
            assert s.resolve_due_at == resolve


def test_a_migrated_database_has_the_schema_of_a_new_one(old_db, tmp_path):
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    engine = create_engine(old_db)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diffs == []
    finally:
        engine.dispose()


def test_a_new_database_is_created_at_the_newest_revision(database):
    with database.engine.connect() as conn:
        assert migrate.state(conn).current
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def test_migrate_refuses_a_database_written_by_a_newer_version_and_leaves_it(tmp_path):
    # SQLite only: the version table of a shared PostgreSQL test database must not be touched
    database = Database(f"sqlite:///{tmp_path / 'newer.db'}", "松桃县")
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    r = run("migrate", "-c", str(EXAMPLE), "--db", database.url)
    assert r.code == 1 and "更新版本的民情直通车" in r.err and "9999_future" in r.err and "Can't locate" not in r.err
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9999_future"


def test_counties_sharing_a_database_upgrade_together_and_each_fills_in_its_own(old_db, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text(EXAMPLE.read_text(encoding="utf-8").replace(f'name = "{COUNTY}"', 'name = "别的县"', 1),
                     encoding="utf-8")
    assert config_with().county.name == COUNTY
    r = run("migrate", "-c", str(other), "--db", old_db)  # another county's operator upgrades first
    assert r.code == 0, r.err
    with pytest.raises(SchemaOutdated, match="历史数据还没有补全"):
        Database(old_db, COUNTY)
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    db = Database(old_db, COUNTY)
    try:
        with db.snapshot() as tx:
            assert len(tx.stints(1)) >= 1
    finally:
        db.dispose()


def test_revision_0006_masks_the_texts_a_database_at_0005_holds(old_db):
    """A database at revision 0005 (0.1.0's data brought to 0005, as the previous version left it) upgraded
    to 0006: every stored text gets its masked form by today's rules, and an export reads it."""
    from routing.privacy import MASK_RULES, mask
    from storage.tables import RequestRow

    engine = create_engine(old_db)
    try:
        bring_to(engine, "0005")
        with engine.connect() as conn:
            assert migrate.state(conn).revision == "0005"
            assert "masked_text" not in {c["name"] for c in inspect(conn).get_columns("requests")}
            texts = dict(conn.execute(text("SELECT number, text FROM requests WHERE county = :c"), {"c": COUNTY}).all())
        assert any(mask(t) != t for t in texts.values()), "the fixture holds texts with numbers to mask"
    finally:
        engine.dispose()
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    db = Database(old_db, COUNTY)
    try:
        with db.snapshot() as tx:
            rows = tx.session.exec(select(RequestRow).where(RequestRow.county == COUNTY)).all()
        assert {r.number: r.text for r in rows} == texts  # the texts themselves are unchanged
        for r in rows:
            assert (r.masked_text, r.masked_by) == (mask(r.text), MASK_RULES)
    finally:
        db.dispose()


def test_a_days_events_and_requests_are_found_by_index_not_by_reading_the_county(old_db):
    """After the upgrade, what digests and reviews ask for by time is found through the county-and-time indexes
    (SQLite's planner would otherwise take the county's index and read all its history)."""
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    if not old_db.startswith("sqlite"):
        return  # PostgreSQL plans by its statistics; the indexes are there (the schema test compares them)
    engine = create_engine(old_db)
    p = {"c": COUNTY, "s": "2026-10-01", "e": "2026-10-02"}
    queries = {
        "ix_events_county_at": "SELECT number FROM events WHERE county = :c AND at >= :s AND at < :e",
        "ix_requests_county_created": "SELECT number FROM requests WHERE county = :c AND created_at >= :s "
                                      "AND created_at < :e",
        "ix_requests_county_first_ack_due": "SELECT number FROM requests WHERE county = :c "
                                            "AND first_ack_due_at >= :s AND first_ack_due_at < :e",
    }
    try:
        with engine.connect() as conn:
            for index, sql in queries.items():
                plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql), p))
                assert index in plan, plan
    finally:
        engine.dispose()


def test_revision_0007_adds_notices_to_a_database_at_0006(old_db, tmp_path):
    """A database at revision 0006 (0.1.0's data brought to 0006) upgraded to 0007: its request counter is kept,
    notices start at 通知#1, and a notice is sent, acknowledged and reported on the upgraded database."""

    from bot.app import Relay
    from bot.sim.groups import SimulatedTransport
    from tests.conftest import LT, PX
    from tests.fakes import Chat, FakeClock, local

    config = config_with()  # the fixture is of the example county
    engine = create_engine(old_db)
    try:
        bring_to(engine, "0006")
        with engine.connect() as conn:
            assert "notices" not in inspect(conn).get_table_names()
            last_request = conn.execute(text("SELECT last_number FROM counters WHERE county = :c"),
                                        {"c": COUNTY}).scalar()
        assert last_request
    finally:
        engine.dispose()
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    db = Database(old_db, COUNTY)
    try:
        clock = FakeClock(local("2026-11-02 09:00"))
        transport = SimulatedTransport(clock)
        chat = Chat(Relay(config, db, transport), clock, transport)
        said = chat.say(PX, "杨主任", "通知 全镇 明天开会", sender_id=None)
        assert any("通知#1 已发到 2 个群" in s.text for s in said), said
        chat.say(LT, "唐驻村", "收到", sender_id=None)
        chat.at("2026-11-03 09:00")
        assert any("【通知#1 确认情况】" in s.text and "已收到 1/2" in s.text for s in chat.take())
        with db.transaction() as tx:
            assert tx.next_number() == last_request + 1  # the request counter went on where it was
    finally:
        db.dispose()


def test_revisions_0007_and_0008_add_the_imported_holiday_years_to_a_database_at_0006(old_db, tmp_path):
    """A database at revision 0006 (as the previous version left it) upgraded: it gets the table of imported
    holiday years, keeps its requests, and `minqing calendar import` stores a year in it."""

    engine = create_engine(old_db)
    try:
        bring_to(engine, "0006")
        with engine.connect() as conn:
            assert migrate.state(conn).revision == "0006"
            assert not inspect(conn).has_table("calendar_days")
            before = conn.execute(text("SELECT count(*) FROM requests WHERE county = :c"), {"c": COUNTY}).scalar()
    finally:
        engine.dispose()
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    notice = tmp_path / "2099.txt"
    notice.write_text("国务院办公厅关于2099年部分节假日安排的通知\n一、元旦：1月1日放假1天。\n"
                      "二、春节：1月19日至27日放假调休，共9天。1月17日（星期六）上班。\n", encoding="utf-8")
    r = run("calendar", "import", str(notice), "-c", str(EXAMPLE), "--db", old_db)
    assert r.code == 0, r.err
    db = Database(old_db, COUNTY)
    try:
        with db.snapshot() as tx:
            (year,) = tx.calendar_years()
            assert tx.count() == before
        assert year.year == 2099 and len(year.off) == 10 and len(year.work) == 1
    finally:
        db.dispose()


def test_revision_0009_finds_a_periods_ratings_by_index(old_db):
    """After the upgrade from the previous version's 0006, the ratings of a period (满意率 of reviews and digests)
    are found through the county-kind-time index, not by reading every event of the period."""

    engine = create_engine(old_db)
    try:
        bring_to(engine, "0006")
        with engine.connect() as conn:
            assert "ix_events_county_rated_at" not in {i["name"] for i in inspect(conn).get_indexes("events")}
            ratings = conn.execute(text("SELECT count(*) FROM events WHERE county = :c AND kind IN "
                                        "('satisfied', 'unsatisfied')"), {"c": COUNTY}).scalar()
    finally:
        engine.dispose()
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    engine = create_engine(old_db)
    sql = ("SELECT number FROM events WHERE county = :c AND kind IN ('satisfied', 'unsatisfied') "
           "AND at >= :s AND at < :e")
    p = {"c": COUNTY, "s": "2026-01-01", "e": "2027-01-01"}
    try:
        with engine.connect() as conn:
            assert "ix_events_county_rated_at" in {i["name"] for i in inspect(conn).get_indexes("events")}
            assert len(conn.execute(text(sql), p).all()) == ratings > 0  # the fixture's ratings are all found
            if old_db.startswith("sqlite"):  # PostgreSQL plans by its statistics
                plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql), p))
                assert "ix_events_county_rated_at" in plan, plan
    finally:
        engine.dispose()


def test_revision_0010_keeps_message_ids_and_outbox_keys_and_writes_fewer_pages(old_db):
    """A database at the previous version's revision (0009) upgraded to 0010: every processed message id is kept
    and a redelivered message is still handled once, outbox keys stay unique while unkeyed replies no longer go
    into the key's index, the requests' status and timer share one index that the timer queries seek in, the
    indexes the queries do without are gone, and the requests due before the upgrade are still found."""

    from bot.app import Relay
    from bot.sim.groups import SimulatedTransport
    from tests.conftest import LT
    from tests.fakes import Chat, FakeClock, local

    engine = create_engine(old_db)
    try:
        bring_to(engine, "0009")
        with engine.begin() as conn:
            assert "ix_requests_resolve_due_at" in {i["name"] for i in inspect(conn).get_indexes("requests")}
            seen = set(conn.execute(text("SELECT county, msg_id FROM messages_seen")).all())
            outbox = conn.execute(text("SELECT count(*) FROM outbox")).scalar()
            keyed = conn.execute(text("SELECT count(*) FROM outbox WHERE key IS NOT NULL")).scalar()
            due = [n for (n,) in conn.execute(text(
                "SELECT number FROM requests WHERE county = :c AND next_due_at <= '2099-01-01' "
                "ORDER BY next_due_at, number"), {"c": COUNTY})]
            first = conn.execute(text("SELECT min(next_due_at) FROM requests WHERE county = :c"), {"c": COUNTY}).scalar()
    finally:
        engine.dispose()
    assert seen and outbox > keyed > 0 and due  # the fixture holds both kinds, and requests with timers
    assert run("migrate", "-c", str(EXAMPLE), "--db", old_db).code == 0
    engine = create_engine(old_db)
    try:
        with engine.connect() as conn:
            assert set(conn.execute(text("SELECT county, msg_id FROM messages_seen")).all()) == seen
            assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == outbox
            indexes = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("requests")}
            assert "ix_requests_resolve_due_at" not in indexes and "ix_requests_requester_key" not in indexes
            assert "ix_requests_county_status" not in indexes and "ix_requests_county_next_due" not in indexes
            assert indexes["ix_requests_county_status_due"] == ["county", "status", "next_due_at"]
            assert "id" not in {c["name"] for c in inspect(conn).get_columns("messages_seen")}
            assert inspect(conn).get_pk_constraint("messages_seen")["constrained_columns"] == ["county", "msg_id"]
            if old_db.startswith("sqlite"):
                tables = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
                assert "WITHOUT ROWID" in tables["messages_seen"]
                assert "UNIQUE" not in tables["outbox"]  # the key's uniqueness is the partial index's now
                index = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'uq_outbox_key'")).scalar()
                assert "WHERE key IS NOT NULL" in index
                from storage.repository import _DUE, _NEXT_TIMER  # the timers: seeks on the one index, no scan
                for sql in (_DUE, _NEXT_TIMER):
                    plan = " ".join(str(row[-1]) for row in conn.execute(
                        text("EXPLAIN QUERY PLAN " + sql), {"c": COUNTY, "t": "2026-10-01"}))
                    assert "ix_requests_county_status_due" in plan and "SCAN requests" not in plan, plan
                waiting = "SELECT number FROM requests WHERE county = :c AND status IN ('resolved') AND requester_key = :k"
                plan = " ".join(str(row[-1]) for row in conn.execute(  # a rating without a number
                    text("EXPLAIN QUERY PLAN " + waiting), {"c": COUNTY, "k": "wxid_x"}))
                assert "ix_requests_county_status_due" in plan, plan
            else:
                index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_outbox_key' "
                                          "AND schemaname = current_schema()")).scalar()
                assert "UNIQUE" in index and "WHERE (key IS NOT NULL)" in index
    finally:
        engine.dispose()

    db = Database(old_db, COUNTY)
    try:
        with db.snapshot() as tx:  # the same requests due, and the same first timer, on the new index
            assert tx.due(local("2099-01-01 08:00")) == due
            first_due = tx.next_timer(local("2000-01-01 08:00"))
            assert first_due is not None and first_due.replace(tzinfo=None) == (
                first if isinstance(first, datetime) else datetime.fromisoformat(first))
        with db.transaction() as tx:  # an id processed before the upgrade is still known
            assert not tx.first_delivery(sorted(seen)[0][1], local("2026-11-02 09:00"))
        with db.transaction() as tx:  # a key recorded before the upgrade still refuses a second message
            key = tx.raw.scalar("SELECT key FROM outbox WHERE key IS NOT NULL")
            assert key
            assert not tx.enqueue("某群", "第二次", [], local("2026-11-02 09:00"), key)
            assert tx.enqueue("某群", "没有键的回复", [], local("2026-11-02 09:00"), None)
            assert tx.enqueue("某群", "没有键的回复", [], local("2026-11-02 09:00"), None)  # unkeyed: any number
        clock = FakeClock(local("2026-11-02 09:00"))
        transport = SimulatedTransport(clock)
        chat = Chat(Relay(config_with(), db, transport), clock, transport)
        first = chat.say(LT, "王大爷", "@民情直通车 村口路灯坏了", msg_id="after-0010")
        assert any("已登记" in s.text for s in first), first
        assert chat.say(LT, "王大爷", "@民情直通车 村口路灯坏了", msg_id="after-0010") == []  # delivered twice
    finally:
        db.dispose()

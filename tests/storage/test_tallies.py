"""Rooms' and people's message counts are not written at every message (storage.tallies), and never wrong: exact
in the process that counts them, exact for any reader once the minute's tick or closing has written them, and a
rolled-back message does not count."""

from __future__ import annotations

import pytest

from storage.db import Database
from tests.conftest import LT, PX
from tests.fakes import make_chat


@pytest.fixture
def counting(database, example_config, monkeypatch):
    """A chat on each backend, and the statements its repository runs on the driver."""
    from storage import fastsql

    chat = make_chat(example_config, database)
    statements: list[str] = []
    run = fastsql.Raw.run

    def recording(self, sql, params=None):
        statements.append(sql)
        return run(self, sql, params)

    monkeypatch.setattr(fastsql.Raw, "run", recording)
    return chat, statements


def writes(statements: list[str], table: str) -> int:
    return sum(1 for s in statements if s.startswith((f"UPDATE {table} ", f"INSERT INTO {table} ")))


def other_reader(database: Database) -> dict[str, int]:
    """What another process (`minqing rooms`) reads: the rows as written."""
    other = Database(database.url, database.county)
    try:
        with other.snapshot() as tx:
            return {r.topic: r.messages for r in tx.rooms()}
    finally:
        other.dispose()


def test_messages_in_a_known_room_from_a_known_person_write_neither_until_the_tick(counting):
    chat, statements = counting
    chat.at("2026-10-12 09:00")
    chat.say(LT, "王大妈", "今天天气不错")
    rooms, people = writes(statements, "rooms"), writes(statements, "people")
    assert rooms and people
    for k in range(4):
        chat.say(LT, "王大妈", f"今天天气不错{k}")
    assert (writes(statements, "rooms"), writes(statements, "people")) == (rooms, people)  # no write at all
    with chat.relay.db.snapshot() as tx:  # this process sees every message at once
        assert {r.topic: r.messages for r in tx.rooms()}[LT] == 5
        assert {p.name: p.messages for p in tx.people()}["王大妈"] == 5
    assert other_reader(chat.relay.db)[LT] == 1  # another process: as written

    chat.relay.tick(chat.clock.now())  # the live bot's tick, every minute: one statement for each room and person
    assert (writes(statements, "rooms"), writes(statements, "people")) == (rooms + 1, people + 1)
    assert other_reader(chat.relay.db)[LT] == 5


def test_the_minutes_tick_and_closing_write_what_was_counted(counting, example_config):
    chat, _ = counting
    chat.at("2026-10-12 09:00")
    for k in range(3):
        chat.say(PX, "杨主任", f"大家辛苦了{k}")
    assert other_reader(chat.relay.db)[PX] == 1
    chat.relay.tick(chat.clock.now().replace(minute=1))
    assert other_reader(chat.relay.db)[PX] == 3

    chat.say(PX, "杨主任", "再说一句")  # counted, not written
    chat.say(PX, "杨主任", "最后一句")
    before = other_reader(chat.relay.db)[PX]
    db = chat.relay.db
    db.dispose()  # closing writes the rest
    assert other_reader(db)[PX] == 5 > before
    with Database(db.url, db.county).snapshot() as tx:
        person = {p.name: p for p in tx.people()}["杨主任"]
    assert person.messages == 5 and person.last_seen == chat.clock.now()


def test_a_message_rolled_back_is_not_counted(chat, monkeypatch):
    chat.at("2026-10-12 09:00")
    chat.say(LT, "王大妈", "第一条")
    chat.say(LT, "王大妈", "第二条")

    def boom(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(chat.relay.service, "handle", boom)
    chat.say(LT, "王大妈", "这条出错")  # kept as a failure, apologised for; its transaction rolled back
    monkeypatch.undo()
    with chat.relay.db.snapshot() as tx:
        assert {r.topic: r.messages for r in tx.rooms()}[LT] == 2
        assert len(tx.failures()) == 1
    chat.relay.db.dispose()
    assert other_reader(chat.relay.db)[LT] == 2


def test_a_new_room_or_a_person_in_a_new_room_is_written_at_once(counting):
    chat, statements = counting
    chat.at("2026-10-12 09:00")
    chat.say(LT, "王大妈", "你好")
    chat.say("别的群", "王大妈", "你好")  # a room not in the config: remembered at once
    chat.say(PX, "杨主任", "你好")
    chat.say(LT, "杨主任", "你好")  # a room new to this person: their rooms are written at once
    with Database(chat.relay.db.url, chat.relay.db.county).snapshot() as tx:
        rooms = {r.topic for r in tx.rooms()}
        people = {p.name: p.rooms for p in tx.people()}
    assert {LT, PX, "别的群"} <= rooms
    assert set(people["杨主任"]) == {PX, LT}


def test_counts_written_by_a_second_relay_add_up(database, example_config):
    """Two relays (two processes' worth of tallies) on one database: counts add, never overwrite."""
    first = make_chat(example_config, database)
    second_db = Database(database.url, database.county)
    try:
        second = make_chat(example_config, second_db)
        for c in (first, second):
            c.at("2026-10-12 09:00")
        for k in range(3):
            first.say(LT, "王大妈", f"甲{k}")
            second.say(LT, "王大妈", f"乙{k}")
        second_db.dispose()
        database.dispose()
        assert other_reader(database)[LT] == 6
    finally:
        second_db.dispose()


def test_a_tick_with_nothing_counted_writes_no_room_or_person(counting):
    chat, statements = counting
    chat.at("2026-10-12 09:00")
    chat.say(LT, "王大妈", "你好")
    before = writes(statements, "rooms") + writes(statements, "people")
    chat.at("2026-10-13 09:00")  # every job of a day, each its own tick
    assert writes(statements, "rooms") + writes(statements, "people") == before
    assert not chat.relay.db.tallies.pending()


def test_a_group_commit_writes_each_count_once_and_undoes_them_all_if_it_rolls_back(database):
    from datetime import UTC, datetime

    at = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)

    def counts() -> int:
        return other_reader(database).get("某群", 0)

    with database.transaction() as tx:
        tx.note_room("某群", True, at)  # written at once: a new room
    with database.batch():  # as a replay's or the live bot's group commit, with the minute's tick inside it
        for _ in range(3):
            with database.transaction() as tx:
                tx.note_room("某群", True, at)
        with database.transaction() as tx:
            assert tx.write_tallies() == 1
        with database.transaction() as tx:
            assert tx.write_tallies() == 0  # taken into the group's write already: never written twice
    assert counts() == 4 and not database.tallies.pending()

    with pytest.raises(ValueError):
        with database.batch():
            with database.transaction() as tx:
                tx.note_room("某群", True, at)
            with database.transaction() as tx:
                tx.write_tallies()
            raise ValueError("the group commit fails")
    assert counts() == 4 and not database.tallies.pending()  # neither the count nor its write happened
    with database.transaction() as tx:  # and the room is still known: counted, then written by a tick
        tx.note_room("某群", True, at)
        tx.write_tallies()
    assert counts() == 5

"""SQLite's write transactions share one connection kept open (storage.db `_sqlite_write`): threads take turns on
it, a failed transaction leaves it usable, and a transaction opened inside another on the same thread is refused
at once rather than waiting on itself."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from storage.db import Database

AT = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'w.db'}", "松桃县")
    yield db
    db.dispose()


def test_two_threads_writing_at_once_take_turns_and_lose_nothing(sqlite_db):
    start = threading.Barrier(2)
    taken: dict[str, list[int]] = {"a": [], "b": []}

    def write(name: str) -> None:
        start.wait()
        for _ in range(100):
            with sqlite_db.transaction() as tx:
                taken[name].append(tx.next_number())
                assert tx.first_delivery(f"{name}-{len(taken[name])}", AT)

    threads = [threading.Thread(target=write, args=(n,)) for n in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = taken["a"] + taken["b"]
    assert sorted(numbers) == list(range(1, 201))  # every number given once, none lost
    with sqlite_db.snapshot() as tx:
        assert tx.raw.scalar("SELECT count(*) FROM messages_seen") == 200


def test_a_failed_transaction_is_rolled_back_and_the_next_one_works(sqlite_db):
    with pytest.raises(ValueError):
        with sqlite_db.transaction() as tx:
            tx.next_number()
            raise ValueError("a bug")
    with sqlite_db.transaction() as tx:
        assert tx.next_number() == 1  # the failed one's number was rolled back
    with sqlite_db.transaction() as tx:  # and the ORM session joins the writer's transaction, committed with it
        tx.record_failure(type("M", (), {"msg_id": "m1", "ts": AT, "room": "某群", "sender": "某人",
                                         "sender_id": None, "text": "文本"})(), "ValueError: x", AT)
    with sqlite_db.snapshot() as tx:
        assert [f.msg_id for f in tx.failures()] == ["m1"]
        assert tx.raw.scalar("SELECT last_number FROM counters") == 1


def test_a_write_transaction_inside_another_on_the_same_thread_is_refused_at_once(sqlite_db):
    with sqlite_db.transaction():
        with pytest.raises(RuntimeError, match="inside another"):
            with sqlite_db.transaction():
                pass
    with sqlite_db.transaction() as tx:  # the outer one ended normally; writing goes on
        assert tx.next_number() == 1

"""The county's send lock and the outbox's conditional claim, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from storage.db import Database
from storage.locks import AdvisorySendLock, FileSendLock, LocalSendLock, advisory_key
from tests.conftest import lose
from tests.fakes import local

T0 = local("2026-10-12 09:00")
ROOM = "楼台村干群连心群"


def twin(database: Database, county: str | None = None) -> Database:
    """The same database opened again, as another process would."""
    return Database(database.url, county or database.county)


def queue(database: Database, *texts: str) -> list[int]:
    with database.transaction() as tx:
        for t in texts:
            tx.enqueue(ROOM, t, [], T0)
        return [r.id for r in tx.outbox(("queued",))]


# --- the lock -----------------------------------------------------------------------------------
def test_one_holder_at_a_time_and_the_next_one_takes_over(database):
    other = twin(database)
    try:
        mine, theirs = database.send_lock(), other.send_lock()
        assert isinstance(mine, FileSendLock if database.is_sqlite else AdvisorySendLock)
        assert mine.acquire() and mine.held()
        assert mine.acquire()  # taking it again is a no-op
        assert not theirs.acquire() and not theirs.held()
        assert not database.send_lock().acquire()  # another handle in the same process waits its turn too
        mine.release()
        assert not mine.held()
        assert theirs.acquire() and theirs.held()
        assert not mine.acquire()
        theirs.release()
        mine.release()  # releasing what is not held does nothing
    finally:
        other.dispose()


def test_each_county_has_its_own_lock_and_the_jobs_lock_is_another(database):
    other = twin(database, county=database.county + "-邻县")
    try:
        mine, theirs = database.send_lock(), other.send_lock()
        assert mine.acquire() and theirs.acquire()
        with database.transaction() as tx:
            assert tx.try_lock_jobs()  # the time-driven jobs are not held up by sending
        mine.release()
        theirs.release()
    finally:
        other.dispose()
    assert advisory_key("send", "松桃县") != advisory_key("jobs", "松桃县")


def test_a_holder_notices_when_its_lock_is_gone(database):
    mine = database.send_lock()
    assert mine.acquire()
    lose(database, mine)
    assert not mine.held()
    theirs = database.send_lock()
    assert theirs.acquire()  # freed by the server (connection gone), or a new lock file
    theirs.release()


def test_the_lock_of_a_process_that_died_is_free(tmp_path):
    path = tmp_path / "minqing.db"
    database = Database(f"sqlite:///{path}", "松桃县")
    lock = database.send_lock()
    assert isinstance(lock, FileSendLock) and lock.path.parent == tmp_path
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(lock.path)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        assert not lock.acquire()
        holder.kill()
        holder.wait(10)
        assert lock.acquire()
    finally:
        holder.kill()
        lock.release()
        database.dispose()


def test_an_in_memory_database_has_a_lock_within_the_process():
    database = Database("sqlite://", "松桃县")
    mine, theirs = database.send_lock(), database.send_lock()
    assert isinstance(mine, LocalSendLock)
    assert mine.acquire() and not theirs.acquire()
    mine.release()
    assert theirs.acquire() and theirs.held()
    theirs.release()
    database.dispose()


# --- claiming a message ----------------------------------------------------------------------------
def test_a_message_is_claimed_once(database):
    [row_id] = queue(database, "一")
    with database.transaction() as tx:
        row = tx.claim_outbox(row_id, "host:1:aa")
    assert (row.id, row.status, row.holder, row.attempts, row.text) == (row_id, "sending", "host:1:aa", 1, "一")
    with database.transaction() as tx:
        assert tx.claim_outbox(row_id, "host:2:bb") is None  # a second claim gets nothing
        assert tx.claim_outbox(row_id + 1000, "host:2:bb") is None
    with database.transaction() as tx:
        assert not tx.finish_outbox(row_id, "host:2:bb", status="sent", sent_at=T0)  # only its holder finishes it
        assert tx.finish_outbox(row_id, "host:1:aa", status="sent", sent_at=T0)
    with database.transaction() as tx:
        row = tx.outbox_row(row_id)
        assert (row.status, row.holder, row.attempts, row.sent_at) == ("sent", "host:1:aa", 1, T0)
        assert not tx.finish_outbox(row_id, "host:1:aa", status="failed")  # not sending any more


def test_another_county_cannot_claim_a_message(database):
    [row_id] = queue(database, "一")
    other = twin(database, county=database.county + "-邻县")
    try:
        with other.transaction() as tx:
            assert tx.claim_outbox(row_id, "host:1:aa") is None
    finally:
        other.dispose()


def test_sqlite_is_new_enough_for_returning():
    assert sqlite3.sqlite_version_info >= (3, 35)  # UPDATE ... RETURNING

"""No log line carries what people wrote, at any level, in either format, even when the database fails."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import sys

import pytest
from sqlalchemy import create_engine, text

from bot.logs import database_error, setup_logging
from tests.conftest import LT, MZ, PG_URL, PX
from tests.fakes import make_chat

SECRET = "秘密内容甲乙丙"
PHONE = "13812345678"
# what a refusing trigger puts in its error: PostgreSQL quotes the row (SQLite's RAISE takes a literal only)
REFUSE = {
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'refused'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused: %%', NEW.text; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON requests FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
ALLOW = {"sqlite": ["DROP TRIGGER refuse"], "postgresql": ["DROP TRIGGER refuse ON requests", "DROP FUNCTION refuse()"]}


@pytest.fixture(params=["text", "json"])
def logged(request):
    """The bot's logging as `minqing --log-level debug` sets it up, into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    buffer, stderr = io.StringIO(), sys.stderr
    sys.stderr = buffer
    try:
        setup_logging(logging.DEBUG, request.param)
    finally:
        sys.stderr = stderr
    yield buffer
    root.handlers[:], root.level = saved


def test_a_whole_dialog_and_a_failing_database_log_no_text(database, example_config, logged):
    chat = make_chat(example_config, database)
    backend = "sqlite" if database.is_sqlite else "postgresql"
    chat.say(LT, "王大妈", f"@民情直通车 {SECRET}，路灯坏了，电话{PHONE}")
    chat.say(LT, "唐驻村", "认领 #1")
    chat.say(LT, "唐驻村", f"办结 #1 {SECRET}已修好，有事打{PHONE}")
    chat.say(LT, "王大妈", f"不满意 #1 {SECRET}还是不亮")
    chat.say(MZ, "滕主任", "进度 #1")
    chat.say(LT, "王大妈", f"报修 3组着火了 {SECRET} {PHONE}")
    chat.say(PX, "杨主任", f"退回 #2 {SECRET}")
    chat.say("不在配置里的群", "某人", f"{SECRET}")
    chat.later(days=3)
    with database.engine.begin() as conn:
        for sql in REFUSE[backend]:
            conn.exec_driver_sql(sql)
    try:
        said = chat.say(LT, "王大妈", f"@民情直通车 {SECRET}，水管爆了，电话{PHONE}")
    finally:
        with database.engine.begin() as conn:
            for sql in ALLOW[backend]:
                conn.exec_driver_sql(sql)
    assert any("抱歉" in s.text for s in said)  # the bot failed on it, kept it and said so
    if backend == "postgresql":
        with database.transaction() as tx:
            (kept,) = tx.failures()
        assert SECRET in kept.error  # the error quoted the text: kept in the database, never logged

    for handler in logging.getLogger().handlers:
        handler.flush()
    out = logged.getvalue()
    assert "failed to handle message" in out and "request #1 registered" in out  # the log tells what happened
    assert SECRET not in out and PHONE not in out


def test_database_errors_are_described_without_the_values_they_quote():
    engine = create_engine("sqlite://", hide_parameters=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a TEXT, b INTEGER NOT NULL)")
    with pytest.raises(Exception) as caught:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:a, NULL)"), {"a": SECRET})
    told = database_error(caught.value)
    assert told.startswith("(sqlite3.IntegrityError) SQLITE_CONSTRAINT_NOTNULL NOT NULL constraint failed: t.b")
    assert "[SQL: INSERT INTO t VALUES (?, NULL)]" in told and SECRET not in told
    assert database_error(sqlite3.OperationalError("database is locked")).endswith("database is locked")
    assert database_error(ValueError(SECRET)) is None  # not a database error: left to the caller


@pytest.mark.skipif(not PG_URL, reason="needs MINQING_TEST_DATABASE_URL")
def test_postgresql_errors_are_described_by_their_sqlstate_and_names(logged):
    engine = create_engine(PG_URL, hide_parameters=True)
    try:
        with pytest.raises(Exception) as caught:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TEMP TABLE t (a TEXT, b INTEGER NOT NULL)")
                conn.execute(text("INSERT INTO t VALUES (:a, NULL)"), {"a": SECRET})
        assert SECRET in str(caught.value)  # PostgreSQL quotes the failing row...
        told = database_error(caught.value)
        assert told.startswith("(psycopg.errors.NotNullViolation) SQLSTATE 23502, table t, column b")
        log = logging.getLogger("minqing.test")
        log.warning("conflict: %s", caught.value.orig)
        try:
            raise RuntimeError("while storing") from caught.value
        except RuntimeError:
            log.exception("failed to handle message m1")
        out = logged.getvalue()
        assert SECRET not in out and "SQLSTATE 23502" in out  # ...the log does not
        if out.lstrip().startswith("{"):
            assert all(json.loads(line) for line in out.splitlines())
    finally:
        engine.dispose()

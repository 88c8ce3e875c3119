"""No input crashes: arbitrary chat text in the dispatcher; bad replay lines, command-line arguments, config
values and database files at the command line (a clear message and the documented exit status, no traceback)."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.model import Status
from routing.ports import RequestFilter
from tests.bot.cli_helpers import run
from tests.conftest import CTY, CY, EXAMPLE, LT, PJ, PX
from tests.fakes import make_chat

ROOMS = [LT, CY, PX, PJ, CTY, "陌生群", ""]
SENDERS = ["唐命学", "石支书", "杨主任", "吴科长", "张书记", "", "路人🙂", "x" * 300]
VERBS = ["认领", "上报", "确认上报", "办结", "退回", "无效", "催办", "进度", "待办", "满意", "不满意", "帮助",
         "@民情直通车", "求助", "反映", "＃", "#", "１", "99999999999"]

commandish = st.builds(
    lambda verb, sep, num, arg: f"{verb}{sep}{num}{arg}",
    st.sampled_from(VERBS), st.sampled_from(["", " ", "#", "＃", "\u2005", "\n"]),
    st.one_of(st.just(""), st.integers(-5, 10**12).map(str)), st.text(max_size=40),
)
texts = st.one_of(st.text(max_size=200), commandish, st.text(alphabet="🙏😀👍🔥💧", max_size=30),
                  st.just("路" * 10_000), st.text(alphabet="报修路灯\x00\ud800\udfff坏了 ", max_size=20))


def assert_nothing_failed(chat) -> None:
    """No message was recorded as failed (`minqing failed` would list it): the bot handled every one."""
    with chat.relay.db.transaction() as tx:
        failures = [(f.text[:40], f.error) for f in tx.failures()]
    assert failures == [] and chat.relay.failed == 0, failures


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(ROOMS), st.sampled_from(SENDERS), texts), min_size=1, max_size=8))
def test_arbitrary_messages_never_crash_and_keep_the_database_consistent(example_config, tmp_path_factory, steps):
    from storage.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}", example_config.county.name)
    chat = make_chat(example_config, db)
    try:
        for room, sender, text in steps:
            said = chat.say(room, sender, text)
            for s in said:
                assert s.text.strip(), "the bot never says an empty message"
                assert s.room in example_config.county.rooms
            chat.later(minutes=7)
        assert_nothing_failed(chat)
        with db.transaction() as tx:
            requests = tx.find(RequestFilter())
            numbers = [r.number for r in requests]
            assert numbers == list(range(1, len(numbers) + 1))
            for r in requests:
                events = tx.events(r.number)
                assert events and events[0].kind.value == "registered"
                assert events[-1].to_status is r.status  # the log ends where the request is
                if r.status is Status.ACKNOWLEDGED:
                    assert r.handler is not None
                if r.status in (Status.CLOSED, Status.REJECTED):
                    assert r.closed_at is not None
    finally:
        db.dispose()


def test_the_fuzz_check_fails_when_the_service_raises(example_config, db, monkeypatch):
    chat = make_chat(example_config, db)

    def broken(tx, msg):
        raise ValueError("a bug")

    monkeypatch.setattr(chat.relay.service, "handle", broken)
    chat.say(LT, "王大妈", "@民情直通车 路灯坏了")
    with pytest.raises(AssertionError):
        assert_nothing_failed(chat)


@pytest.mark.parametrize("text, name", [
    ("报修 水管坏了\x00漏水", "唐命学"),  # NUL: PostgreSQL refuses it in text
    ("报修 路灯坏了 \ud83d", "唐命学"),  # a lone surrogate: no UTF-8 for it
    ("报修 路灯坏了", "名" * 3000),  # longer than an index entry may be
])
def test_text_a_database_cannot_store_is_stored_in_a_form_it_can(database, example_config, text, name):
    chat = make_chat(example_config, database)
    said = chat.say(LT, name, text, sender_id=name[:20] + "x" * 200)
    assert any("已登记为 #1" in s.text for s in said), said
    assert_nothing_failed(chat)
    with database.transaction() as tx:
        req = tx.get(1)
    assert "\x00" not in req.text and not any("\ud800" <= ch <= "\udfff" for ch in req.text)
    assert ("\u2400" in req.text) == ("\x00" in text) and ("\ufffd" in req.text) == ("\ud83d" in text)
    assert len(req.requester) <= 128 and req.requester_id.startswith("sha256:")


# --- the command line -------------------------------------------------------------------------

CFG = str(EXAMPLE)


def message(ts, text, **kw):
    return json.dumps({"ts": ts, "room": LT, "sender": "王大妈", "text": text, **kw}, ensure_ascii=False).encode()


FIRST = message("2026-10-12T09:00:00+08:00", "报修 路灯坏了")
AFTER = message("2026-10-12T09:30:00+08:00", "报修 水管爆了")


def clean(r, code: int, *fragments: str) -> None:
    """The command exited with `code`, said every fragment on standard error and printed no traceback."""
    assert r.code == code, (r.code, r.err)
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    for fragment in fragments:
        assert fragment in r.err, r.err


def listing(db: str) -> list[dict]:
    r = run("list", "-c", CFG, "--db", db, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.mark.parametrize("bad, reason", [
    (message("9999-12-31T23:59:59-08:00", "报修 路灯坏了"), "不在 2000 年到 2099 年之间"),
    (message("0001-01-01T00:00:00+08:00", "报修 路灯坏了"), "不在 2000 年到 2099 年之间"),
    (b"[" * 100_000, "嵌套层数太多"),
    (b'{"ts": "2026-10-12T09:10:00+08:00", "room": "' + "楼台村".encode()[:-1] + b'", "sender": "a", "text": "x"}',
     "不是 UTF-8 文本"),
    (b'{"ts": "2026-10-12T09:10:00+08:00", "n": ' + b"9" * 5000 + b"}", "无法读取的值"),
    (b"{not json", "不是 JSON"),
    (message("2026-10-12T09:10:00+08:00", "报修 水管爆了", tick=True), "不能同时带消息（room、sender、text）"),
    (b'{"ts": "2026-10-12T09:10:00+08:00", "tick": "yes"}', "'tick' 只能写 true"),
], ids=["year-9999", "year-1", "nested-json", "invalid-utf8", "huge-integer", "not-json", "tick-with-message",
        "tick-not-true"])
def test_a_bad_replay_line_exits_3_with_its_number_keeping_the_lines_before(tmp_path, bad, reason):
    db = str(tmp_path / "r.db")
    f = tmp_path / "in.jsonl"
    f.write_bytes(b"\n".join([FIRST, bad, AFTER]) + b"\n")
    r = run("replay", "-c", CFG, "--db", db, str(f))
    clean(r, 3, "第 2 行", reason)
    assert ["已登记为 #1" in s["text"] for s in r.json_lines()] == [True]  # the line before: replayed
    assert [x["text"] for x in listing(db)] == ["报修 路灯坏了"]  # ...and kept; nothing after the bad line


def test_invalid_utf8_on_standard_input_is_named_by_its_line(tmp_path):
    r = run("replay", "-c", CFG, "-", stdin=FIRST + b"\n" + AFTER + b"\n\xff\xfe\n")
    clean(r, 3, "- 第 3 行", "不是 UTF-8 文本")
    assert len(r.json_lines()) == 2


def test_a_byte_order_mark_and_a_lone_surrogate_are_no_bad_input(tmp_path):
    f = tmp_path / "in.jsonl"
    surrogate = json.dumps({"ts": "2026-10-12T09:30:00+08:00", "room": LT, "sender": "王大妈", "text": "报修 水管\ud800爆了"})
    f.write_bytes(b"\xef\xbb\xbf" + FIRST + b"\r\n" + surrogate.encode() + b"\r\n")  # no id: one is derived
    r = run("replay", "-c", CFG, str(f))
    clean(r, 0)
    assert sum("已登记为" in s["text"] for s in r.json_lines()) == 2


def test_until_outside_the_years_of_a_chat_log_exits_2(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(FIRST + b"\n")
    r = run("replay", "-c", CFG, str(f), "--until", "9999-12-31T23:59:59-10:00")
    clean(r, 2, "--until", "不在 2000 年到 2099 年之间")


@pytest.mark.parametrize("command, period", [
    ("export", ["--from", "0001-01-01", "--to", "2026-10-31", "--out", "out.csv"]),
    ("report", ["--from", "2026-10-01", "--to", "9999-12-31", "--out", "out.html"]),
])
def test_a_review_period_outside_the_years_of_a_chat_log_exits_2(tmp_path, command, period):
    *period, out = period
    r = run(command, "-c", CFG, "--db", str(tmp_path / "r.db"), *period, str(tmp_path / out))
    clean(r, 2, "不在 2000 年到 2099 年之间")


@pytest.mark.parametrize("number", ["-1", "0", "9223372036854775808", "2147483648", "abc", "#"])
def test_show_refuses_what_is_no_request_number_before_opening_the_database(tmp_path, number):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")  # opening it would fail with status 1: status 2 shows it was never opened
    r = run("show", number, "-c", CFG, "--db", str(empty))
    clean(r, 2, "不是诉求编号", "1 到 2147483647")


def test_show_takes_the_largest_number_an_integer_column_holds(any_db):
    from storage.db import Database

    url, county = any_db
    Database(url, county).dispose()  # a database with the tables, no request
    clean(run("show", "2147483647", "-c", CFG, "--db", url), 1, "没有诉求 #2147483647")
    clean(run("show", "2147483648", "-c", CFG, "--db", url), 2, "不是诉求编号")


def test_backup_into_a_missing_folder_exits_2(tmp_path):
    db = str(tmp_path / "r.db")
    f = tmp_path / "in.jsonl"
    f.write_bytes(FIRST + b"\n")
    assert run("replay", "-c", CFG, "--db", db, str(f)).code == 0
    r = run("backup", str(tmp_path / "no" / "copy.db"), "-c", CFG, "--db", db)
    clean(r, 2, "文件夹", "不存在")
    assert not (tmp_path / "no").exists()


def _replayed(tmp_path) -> str:
    db = str(tmp_path / "r.db")
    f = tmp_path / "in.jsonl"
    f.write_bytes(FIRST + b"\n")
    assert run("replay", "-c", CFG, "--db", db, str(f)).code == 0
    return db


_OUTPUTS = {
    "csv": ("export", "--from", "2026-10-01", "--to", "2026-10-31", "--out"),
    "xlsx": ("export", "--from", "2026-10-01", "--to", "2026-10-31", "--format", "xlsx", "--out"),
    "report": ("report", "--from", "2026-10-01", "--to", "2026-10-31", "--out"),
    "corrections": ("tagger", "corrections", "--out"),
    "backup": ("backup",),
}


@pytest.mark.parametrize("kind, command", [
    pytest.param(kind, command, id=f"{name}-{kind}")
    for name, command in _OUTPUTS.items() for kind in ("symlink", "fifo", "folder")
    if (name, kind) != ("backup", "folder")  # a folder is where backup writes its series of files
])
def test_an_output_path_that_is_no_regular_file_is_never_replaced(tmp_path, kind, command):
    import os

    db = _replayed(tmp_path)
    target = tmp_path / "out.csv"
    kept = tmp_path / "kept.txt"
    kept.write_text("keep me", encoding="utf-8")
    if kind == "symlink":
        target.symlink_to(kept)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    r = run(*command, str(target), "-c", CFG, "--db", db)
    clean(r, 2, "不是普通文件", "不会覆盖")
    assert target.is_symlink() if kind == "symlink" else target.is_fifo() if kind == "fifo" else target.is_dir()
    assert kept.read_text(encoding="utf-8") == "keep me"


def test_an_output_folder_that_cannot_be_written_is_said_before_any_work(tmp_path, monkeypatch):
    import os

    import bot.cli.common as common

    db = _replayed(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(common.os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    for command in (("export", "--from", "2026-10-01", "--to", "2026-10-31", "--out", str(locked / "x.xlsx"),
                     "-c", CFG, "--db", db),
                    ("tagger", "train", str(tmp_path / "none.csv"), "--out", str(locked / "m.npz")),
                    ("backup", str(locked / "b.db"), "-c", CFG, "--db", db)):
        clean(run(*command), 2, "没有权限在文件夹", str(locked))
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("content, reason", [
    (b"", "是空文件（0 字节）"),
    (b"name,room\n\xe7\x8e\x8b,\xe6\xa5\xbc\n", "不是 SQLite 数据库文件"),
    (bytes(range(256)) * 20, "不是 SQLite 数据库文件"),
], ids=["empty", "csv", "random-bytes"])
@pytest.mark.parametrize("command", ["list", "replay", "migrate", "backup"])
def test_a_file_that_is_no_database_is_refused_in_one_line_and_left_alone(tmp_path, content, reason, command):
    bad = tmp_path / "data.db"
    bad.write_bytes(content)
    replay_input = tmp_path / "in.jsonl"
    replay_input.write_bytes(FIRST + b"\n")
    extra = {"replay": [str(replay_input)], "backup": [str(tmp_path / "copy.db")]}.get(command, [])
    r = run(command, *extra, "-c", CFG, "--db", str(bad))
    clean(r, 1, reason, str(bad))
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert bad.read_bytes() == content  # never turned into a new database
    assert not (tmp_path / "copy.db").exists()


def test_a_corrupt_sqlite_database_is_reported_in_one_line(tmp_path):
    db = tmp_path / "r.db"
    f = tmp_path / "in.jsonl"
    f.write_bytes(FIRST + b"\n")
    assert run("replay", "-c", CFG, "--db", str(db), str(f)).code == 0
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the header is intact, the schema page is not
    db.write_bytes(bytes(data))
    r = run("list", "-c", CFG, "--db", str(db))
    clean(r, 1, "无法打开数据库", "malformed")
    assert len(r.err.strip().splitlines()) == 1, r.err


def test_a_folder_given_as_the_database_is_refused(tmp_path):
    clean(run("list", "-c", CFG, "--db", str(tmp_path)), 1, "是文件夹")


def test_a_duration_beyond_its_cap_fails_check_config_not_the_registrations(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('resolve = "5 workdays"', 'resolve = "99999999 days"'),
                   encoding="utf-8")
    clean(run("check-config", str(bad)), 2, "sla.resolve：时长 '99999999 days' 太长：days 最多 365")
    f = tmp_path / "in.jsonl"
    f.write_bytes(FIRST + b"\n")
    clean(run("replay", "-c", str(bad), str(f)), 2, "sla.resolve")


def test_check_config_reports_problems_of_every_kind_at_once(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8")
                   .replace('acknowledge = "1 workdays"', 'acknowledge = "1 weeks"', 1)  # a value the model refuses
                   .replace('room = "民主村干群连心群"', 'room = "楼台村干群连心群"')  # a cross-check
                   .replace('rating_window = "3 days"', 'rating_window = "400 days"'),  # a cap
                   encoding="utf-8")
    r = run("check-config", str(bad))
    clean(r, 2, "配置有 3 处问题", "sla.acknowledge：'1 weeks' 里的单位 'weeks' 不认识",
          "townships[0].villages[1].room：群 '楼台村干群连心群' 已在", "sla.rating_window：时长 '400 days' 太长")


def test_an_unexpected_error_is_one_line_and_its_traceback_only_at_debug_level(tmp_path, monkeypatch):
    import bot.cli.requests

    def broken(*args):
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(bot.cli.requests, "open_all", broken)
    r = run("show", "1", "-c", CFG)
    clean(r, 1, "出错了（RuntimeError）：a bug", "--log-level debug")
    assert len(r.err.strip().splitlines()) == 1 and "second line" not in r.err, r.err
    r = run("--log-level", "debug", "show", "1", "-c", CFG)
    assert r.code == 1 and "Traceback" in r.err and "second line" in r.err


def test_an_unsupported_database_or_a_folder_that_cannot_hold_one_is_said_in_chinese(tmp_path, monkeypatch):
    import storage.db

    clean(run("list", "-c", CFG, "--db", "mysql://u@h/db"), 1, "不支持的数据库 'mysql'")
    locked = tmp_path / "locked"
    locked.mkdir()
    real = storage.db.os.access
    monkeypatch.setattr(storage.db.os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    clean(run("list", "-c", CFG, "--db", str(locked / "new.db")), 1, "没有权限在文件夹", "建数据库文件")
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("command", ["list", "replay", "migrate"])
def test_a_sqlite_file_of_another_program_gets_none_of_our_tables(tmp_path, command):
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE foo (x INTEGER)")
        con.execute("CREATE TABLE requests (id INTEGER, body TEXT)")  # a table of the same name, not ours
    replay_input = tmp_path / "in.jsonl"
    replay_input.write_bytes(FIRST + b"\n")
    args = {"list": ("list",), "replay": ("replay", str(replay_input)), "migrate": ("migrate",)}[command]
    clean(run(*args, "-c", CFG, "--db", str(other)), 1, "已有别的程序的表（foo、requests）", "不是民情直通车的数据库")
    with sqlite3.connect(other) as con:
        assert sorted(r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")) == [
            "foo", "requests"]

"""The other commands: list --json (a contract), check-config, people, show, demo; the help of the commands."""

import getpass
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from storage.db import Database
from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE, LT, PX

CFG = str(EXAMPLE)
KEYS = {"id", "status", "tier", "village", "township", "handler", "category", "urgent", "requester", "text",
        "created_at", "acknowledged_at", "escalated_at", "resolved_at", "closed_at", "rating", "reopened"}


def replay(tmp_path, *msgs):
    lines = [json.dumps({"ts": ts, "room": room, "sender": who, "sender_id": f"wxid_{who}", "text": text},
                        ensure_ascii=False) for ts, room, who, text in msgs]
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = str(tmp_path / "r.db")
    r = run("replay", "-c", CFG, "--db", db, str(f))
    assert r.code == 0, r.err
    return db


def test_list_json_follows_the_contract(tmp_path):
    db = replay(
        tmp_path,
        ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"),
        ("2026-10-12T09:30:00+08:00", LT, "唐驻村", "上报 #1"),
        ("2026-10-12T10:00:00+08:00", PX, "杨主任", "认领 #1"),
        ("2026-10-12T11:00:00+08:00", PX, "杨主任", "办结 #1 修好了"),
        ("2026-10-12T12:00:00+08:00", LT, "唐命学", "不满意 #1 还是不亮"),
        ("2026-10-12T13:00:00+08:00", LT, "王大妈", "报修 水管爆了"),
        ("2026-10-12T13:30:00+08:00", PX, "杨主任", "无效 #2 重复"),
    )
    r = run("list", "-c", CFG, "--db", db, "--json")
    assert r.code == 0, r.err
    items = json.loads(r.out)
    assert all(KEYS <= set(x) for x in items)
    a, b = items
    assert a["id"] == 1 and a["status"] == "acknowledged" and a["tier"] == "township"
    assert a["handler"] == "杨主任" and a["rating"] == "unsatisfied" and a["reopened"] == 1
    assert a["resolved_at"] is None  # reopened
    assert a["created_at"] == "2026-10-12T09:00:00+08:00"
    assert a["acknowledged_at"] == a["escalated_at"] == "2026-10-12T09:30:00+08:00"
    assert a["closed_at"] is None and a["urgent"] is False and a["requester"] == "唐**"  # masked: see below
    assert b["status"] == "rejected" and b["closed_at"] == "2026-10-12T13:30:00+08:00"
    assert b["category"] == "城乡建设" and b["handler"] is None and b["rating"] is None


def audits(db):
    from sqlmodel import select

    from storage.db import Database
    from storage.tables import AuditRow

    database = Database(f"sqlite:///{db}", load_config(EXAMPLE).county.name)
    try:
        with database.transaction() as tx:
            return [(a.who, a.action, a.detail) for a in tx.session.exec(select(AuditRow))]
    finally:
        database.dispose()


def test_list_and_show_mask_people_and_numbers_unless_unmasked_which_is_audited(tmp_path):
    db = replay(
        tmp_path,
        ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了，电话138 1234 5678，身份证522228199001010019"),
        ("2026-10-12T09:30:00+08:00", LT, "唐驻村", "办结 #1 已修好，有事打13987654321"),
        ("2026-10-12T10:00:00+08:00", LT, "唐命学", "不满意 #1 还是不亮，打139.8765.4321"),
    )
    secrets = ("1234", "19900101", "8765", "唐命学")
    (item,) = json.loads(run("list", "-c", CFG, "--db", db, "--json").out)
    assert item["requester"] == "唐**" and "138 **** 5678" in item["text"] and "522228********0019" in item["text"]
    for args in (("list",), ("list", "--json"), ("show", "1")):
        out = run(*args, "-c", CFG, "--db", db).out
        assert not [s for s in secrets if s in out], (args, out)
    assert audits(db) == []

    for args in (("list", "--json", "--status", "acknowledged"), ("show", "1")):
        out = run(*args, "-c", CFG, "--db", db, "--unmask").out
        assert "138 1234 5678" in out and "唐命学" in out
    assert audits(db) == [
        (getpass.getuser(), "list_unmasked", {"status": ["acknowledged"], "township": None, "village": None,
                                              "tier": None}),
        (getpass.getuser(), "show_unmasked", {"request": 1}),
    ]


def test_list_table_and_filters(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"))
    r = run("list", "-c", CFG, "--db", db)
    assert r.code == 0 and "路灯坏了" in r.out and "共 1 条诉求" in r.out
    assert json.loads(run("list", "-c", CFG, "--db", db, "--json", "--status", "closed").out) == []
    assert run("list", "-c", CFG, "--db", db, "--status", "bogus").code == 2


def test_show_and_people(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"),
                ("2026-10-12T09:10:00+08:00", LT, "石支书", "认领 #1"))
    r = run("show", "1", "-c", CFG, "--db", db)
    assert r.code == 0 and "认领" in r.out and "待认领→办理中" in r.out and "claimed" not in r.out
    assert "村        楼台村" in r.out and "状态      办理中" in r.out  # the fields, labelled in Chinese
    assert run("show", "9", "-c", CFG, "--db", db).code == 1
    r = run("people", "-c", CFG, "--db", db)
    assert r.code == 0 and "wxid_石支书" in r.out and "楼台村村干部" in r.out


def test_check_config(tmp_path):
    r = run("check-config", CFG)
    assert r.code == 0 and "盘信镇" in r.out and "楼台村" in r.out
    # the handlers configured without wechat_id are listed; 张书记 has one
    listed = r.out[r.out.index("按名字认定的经办人"):]
    assert "盘信镇楼台村 石支书" in listed and "县级 吴科长" in listed and "张书记" not in listed
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('resolve = "5 workdays"', 'resolve = "5 weeks"'),
                   encoding="utf-8")
    r = run("check-config", str(bad))
    assert r.code == 2 and "sla.resolve：'5 weeks' 里的单位 'weeks' 不认识" in r.err


def test_usage_errors_exit_2():
    assert run("replay").code == 2
    assert run("no-such-command").code == 2


@pytest.mark.parametrize("args, said", [
    (("restore",), "错误：没有 'restore' 这个命令（是不是想写 report？）"),
    (("tagger", "bogus"), "错误：没有 'bogus' 这个命令"),
    (("check-config", "-c", "x.toml"), "错误：没有 -c 这个选项"),
    (("list", "--statu", "open"), "错误：没有 --statu 这个选项（是不是想写 --status？）"),
    (("list", "--status"), "错误：选项 --status 后面要写一个值"),
    (("show",), "错误：缺少参数 N"),
    (("report", "--from", "2026-10-01"), "错误：缺少选项 --out"),
    (("tagger", "train", "a.csv"), "错误：缺少选项 --out / -o"),
    (("export", "--from", "2026-10-01", "--to", "2026-10-31", "--out", "x.csv", "--jobs", "0"),
     "错误：--jobs 的值不对：不能小于 1"),
    (("export", "--from", "2026-10-01", "--to", "2026-10-31", "--out", "x.csv", "--jobs", "65"),
     "错误：--jobs 的值不对：不能大于 64"),
    (("export", "--from", "2026-10-01", "--to", "2026-10-31", "--out", "x.csv", "--jobs", "two"),
     "错误：--jobs 的值不对：要写整数"),
    (("tagger", "train", "a.csv", "--out", "m.npz", "--c", "abc"), "错误：--c 的值不对：要写数字"),
    (("replay", "a.jsonl", "b", "c"), "错误：多出了参数：b c"),
    (("list", ""), "错误：多出了参数：''"),
    (("list", "--json=1"), "错误：选项 --json 不带值：只写 --json，不要写 --json=…"),
    (("report", "--request", "99999999999999999999", "--out", "r.html"), "错误：--request 的值不对：不能大于 2147483647"),
])
def test_usage_errors_are_said_in_chinese_with_the_usage_line(args, said):
    r = run(*args)
    assert r.code == 2
    assert said in r.err.splitlines(), r.err
    assert "Error" not in r.err and "Try '" not in r.err and "Traceback" not in r.err
    # the usage line and where help is, in Chinese (click gives no usage line for an option's value it parses)
    if args not in (("list", "--status"), ("list", "--json=1")):
        assert r.err.startswith("用法：minqing") and "查看帮助" in r.err


@pytest.mark.parametrize("args", [(), ("tagger",), ("calendar",)])
def test_a_command_group_alone_prints_its_help_and_nothing_else(args):
    r = run(*args)
    assert r.code == 2 and " ".join(("minqing", *args)) in r.out and r.err.strip() == ""


def test_demo_runs_the_scripted_week():
    r = run("demo")
    assert r.code == 0, r.err
    for fragment in ("楼台村干群连心群", "盘信镇二级工作群", "已登记为 #1", "【上报】", "【紧急】", "抱歉",
                     "感谢评价", "已重新交", "诉求汇总", "【通知#1】", "已记录：盘信镇楼台村收到通知#1", "【提醒】通知#1",
                     "【通知#1 确认情况】"):
        assert fragment in r.out, fragment


def test_backup_copies_the_sqlite_database(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"))
    copy = tmp_path / "backup.db"
    r = run("backup", str(copy), "-c", CFG, "--db", db)
    assert r.code == 0, r.err
    assert json.loads(run("list", "-c", CFG, "--db", str(copy), "--json").out)[0]["text"] == "路灯坏了"
    assert run("backup", str(copy), "-c", CFG, "--db", db).code == 2  # never overwrites


def test_people_pin_and_unpin(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "石支书", "大家好"))
    r = run("people", "-c", CFG, "--db", db)
    assert r.code == 0 and "wxid_石支书" in r.out and "已认定" in r.out
    r = run("people", "pin", "石支书", "wxid_new", "-c", CFG, "--db", db)
    assert r.code == 0 and "wxid_new" in r.out and "wxid_石支书" in r.out
    r = run("people", "unpin", "石支书", "-c", CFG, "--db", db)
    assert r.code == 0 and "已解除" in r.out
    assert run("people", "unpin", "石支书", "-c", CFG, "--db", db).code == 2  # nothing to unpin
    r = run("people", "pin", "楼台村", "wxid_x", "-c", CFG, "--db", db)
    assert r.code == 2 and "没有名为" in r.err
    r = run("people", "pin", "张书记", "wxid_x", "-c", CFG, "--db", db)
    assert r.code == 2 and "wechat_id" in r.err


def test_backup_names_use_the_countys_time_whatever_the_machines_zone(tmp_path, monkeypatch, example_config):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"))
    monkeypatch.setenv("TZ", "America/New_York")  # a server left on another zone
    time.tzset()
    try:
        before = datetime.now(UTC)
        assert run("backup", str(tmp_path / "b"), "--keep", "2", "-c", CFG, "--db", db).code == 0
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    (made,) = (tmp_path / "b").iterdir()
    stamp = datetime.strptime(made.name, "minqing-%Y%m%d-%H%M%S.sqlite").replace(tzinfo=example_config.tz)
    assert before.replace(microsecond=0) <= stamp <= after

    # a backup named by a clock ahead of this one (another zone, before): the new one is kept all the same
    later = (after + timedelta(hours=9)).astimezone(example_config.tz)
    ahead = tmp_path / "b" / later.strftime("minqing-%Y%m%d-%H%M%S.sqlite")
    ahead.write_bytes(b"old")
    r = run("backup", str(tmp_path / "b"), "--keep", "1", "-c", CFG, "--db", db)
    assert r.code == 0, r.err
    (kept,) = (tmp_path / "b").iterdir()
    assert kept != ahead and json.loads(run("list", "-c", CFG, "--db", str(kept), "--json").out)[0]["text"] == "路灯坏了"


def test_backup_into_a_folder_keeps_the_newest_n(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"))
    folder = tmp_path / "backups"
    folder.mkdir()
    for old in ("minqing-20250101-020000.sqlite", "minqing-20250102-020000.sqlite"):
        (folder / old).write_bytes(b"old")
    (folder / "notes.txt").write_text("not a backup", encoding="utf-8")
    r = run("backup", str(folder), "--keep", "2", "-c", CFG, "--db", db)
    assert r.code == 0, r.err
    assert "删除了 1 份旧备份（minqing-20250101-020000.sqlite）" in r.out
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == "minqing-20250102-020000.sqlite" and names[-1] == "notes.txt" and len(names) == 3
    newest = folder / names[1]
    assert json.loads(run("list", "-c", CFG, "--db", str(newest), "--json").out)[0]["text"] == "路灯坏了"
    again = run("backup", str(folder), "--keep", "1", "-c", CFG, "--db", db)  # the same second: a name of its own
    assert again.code == 0, again.err
    kept = sorted(p.name for p in folder.iterdir() if p.name.startswith("minqing-"))
    assert len(kept) == 1 and kept[0] != newest.name
    assert run("backup", str(tmp_path / "one.db"), "-c", CFG, "--db", db).code == 0
    assert run("backup", str(tmp_path / "one.db"), "--keep", "3", "-c", CFG, "--db", db).code == 2  # a file
    first = run("backup", str(tmp_path / "new"), "--keep", "3", "-c", CFG, "--db", db)  # the folder is made
    assert first.code == 0 and len(list((tmp_path / "new").iterdir())) == 1


def test_backup_of_postgresql_with_pg_dump(tmp_path, pg_only):
    import shutil
    import subprocess

    if shutil.which("pg_restore") is None:
        pytest.skip("pg_restore is not installed")
    url, county = pg_only
    Database(url, county).dispose()  # the tables, as the bot makes them (the schema may be new: this test alone)
    folder = tmp_path / "b"
    folder.mkdir()
    r = run("backup", str(folder), "--keep", "3", "-c", CFG, "--db", url)
    assert r.code == 0, r.err
    (dump,) = folder.iterdir()
    assert dump.suffix == ".dump"
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True).stdout
    assert " requests " in listing and " calendar_days " in listing


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    r = run("--version")
    assert r.code == 0 and r.out.strip() == f"minqing-relay（民情直通车）{version('minqing-relay')}"


# the commands whose help is written here; export, report and tagger have their own modules
CHINESE_HELP = ("check-config", "replay", "list", "show", "rooms", "failed", "backup", "migrate", "run", "demo",
                "notices", "people", "people pin", "people unpin")


def test_help_is_chinese_and_nothing_is_cut_at_80_columns():
    import re

    import typer

    from bot.cli import app

    han = re.compile(r"[\u4e00-\u9fff]")
    root = typer.main.get_command(app)
    assert han.search(root.help)
    for name in CHINESE_HELP:
        command = root
        for part in name.split():
            command = command.commands[part]
        assert han.search(command.help or ""), name
        for param in command.params:
            if param.name != "help":
                assert han.search(getattr(param, "help", None) or ""), (name, param.name)
        r = run(*name.split(), "--help")  # rendered 80 columns wide, as an ordinary terminal
        assert r.code == 0 and "…" not in r.out, (name, r.out)
    assert all(han.search(p.help) for p in root.params if p.name != "help")  # --log-level, --log-format


def test_show_names_every_kind_of_event():
    from bot.cli.requests import EVENT_NAMES
    from routing.model import EventKind

    assert set(EVENT_NAMES) == set(EventKind)


def test_reading_commands_on_a_database_that_is_not_there_say_so_and_make_none(tmp_path):
    missing = tmp_path / "typo.db"
    for args in (("list",), ("backup", str(tmp_path / "copy.db")), ("people",), ("rooms",), ("failed",)):
        r = run(*args, "-c", CFG, "--db", str(missing))
        assert r.code == 1 and "里还没有民情直通车的数据" in r.err, (args, r.err)
        assert not missing.exists() and not (tmp_path / "copy.db").exists()


def test_an_empty_wechat_id_is_not_pinned(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "石支书", "大家好"))
    for contact in ("", "   ", "wxid a"):
        r = run("people", "pin", "石支书", contact, "-c", CFG, "--db", db)
        assert r.code == 2 and "微信号不能是空的" in r.err


def test_check_config_refuses_a_database_it_cannot_use(tmp_path):
    bad = tmp_path / "my.toml"
    bad.write_text(Path(CFG).read_text(encoding="utf-8").replace('database = "sqlite:///minqing.db"',
                                                                  'database = "mysql://x/y"'), encoding="utf-8")
    r = run("check-config", str(bad))
    assert r.code == 2 and "bot.database" in r.err and "不支持的数据库" in r.err


def _damage(path: Path, pages: slice) -> None:
    """Overwrite the start of some pages, as a failing disk or a half-copied file does."""
    data = bytearray(path.read_bytes())
    for offset in list(range(0, len(data), 4096))[pages]:
        data[offset:offset + 200] = bytes([0xA5]) * 200
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("pages", [slice(-2, None), slice(2, None)], ids=["data pages", "schema too"])
def test_a_damaged_database_is_never_backed_up_and_old_backups_stay(tmp_path, pages):
    import sqlite3

    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"),
                ("2026-10-12T09:05:00+08:00", LT, "石支书", "办结 #1 已修好"))
    _damage(Path(db), pages)
    with sqlite3.connect(db) as con:  # the file is damaged indeed
        try:
            found = con.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as e:
            found = [(str(e),)]
    assert found != [("ok",)]
    folder = tmp_path / "backups"
    folder.mkdir()
    old = ["minqing-20250101-020000.sqlite", "minqing-20250102-020000.sqlite"]
    for name in old:
        (folder / name).write_bytes(b"a good old backup")
    r = run("backup", str(folder), "--keep", "1", "-c", CFG, "--db", db)
    assert r.code == 1 and "已损坏" in r.err and "恢复" in r.err
    assert sorted(p.name for p in folder.iterdir()) == old  # nothing written, nothing pruned
    r = run("backup", str(tmp_path / "one.db"), "-c", CFG, "--db", db)
    assert r.code == 1 and "已损坏" in r.err and not (tmp_path / "one.db").exists()
    r = run("list", "-c", CFG, "--db", db)
    assert r.code == 1 and "已损坏" in r.err and "Traceback" not in r.err


def test_a_damaged_database_is_said_to_be_damaged():
    from storage.oserrors import damaged

    import sqlite3
    from sqlalchemy.exc import OperationalError

    wrapped = OperationalError("SELECT", {}, sqlite3.OperationalError("Could not decode to UTF-8 column 'result'"))
    assert damaged(wrapped) and damaged(sqlite3.DatabaseError("database disk image is malformed"))
    assert not damaged(sqlite3.OperationalError("database is locked"))


def test_list_names_an_unknown_township_or_village_instead_of_listing_nothing(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"))
    for option, name in (("--township", "火星镇"), ("--township", "盘信"), ("--village", "楼台")):
        r = run("list", option, name, "-c", CFG, "--db", db)
        assert r.code == 2 and "不是配置里" in r.err, r.err
    r = run("list", "--township", "普觉镇", "-c", CFG, "--db", db)  # a unit with no request: an empty list
    assert r.code == 0 and "共 0 条" in r.out
    assert json.loads(run("list", "--village", "楼台村", "-c", CFG, "--db", db, "--json").out)[0]["text"] == "路灯坏了"


def test_a_renamed_county_is_warned_that_its_history_is_under_the_old_name(tmp_path):
    db = replay(tmp_path, ("2026-10-12T09:00:00+08:00", LT, "唐命学", "@民情直通车 路灯坏了"))
    text = Path(CFG).read_text(encoding="utf-8")
    assert 'name = "松桃县"' in text
    renamed = tmp_path / "renamed.toml"
    renamed.write_text(text.replace('name = "松桃县"', 'name = "松桃苗族自治县"', 1)
                       .replace('database = "sqlite:///minqing.db"', f'database = "sqlite:///{db}"'), encoding="utf-8")
    for args in (("list", "-c", str(renamed)), ("check-config", str(renamed))):
        r = run(*args)
        assert "没有“松桃苗族自治县”（配置里的县名）的诉求，却有“松桃县”的。" in r.err, r.err
        assert "请把 [county] name 改回" in r.err
    r = run("list", "-c", CFG, "--db", db)  # the county's own name: no warning
    assert r.code == 0 and "警告" not in r.err

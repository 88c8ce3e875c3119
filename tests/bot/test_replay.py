"""`minqing replay`: the JSON Lines contract, idempotency, resumption and exit codes."""

import json

import pytest

from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE, LT, PX

CFG = str(EXAMPLE)


def line(ts, room, sender, text, **kw):
    return json.dumps({"ts": ts, "room": room, "sender": sender, "text": text, **kw}, ensure_ascii=False)


def write(path, *lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


REGISTER = line("2026-10-09T09:15:00+08:00", LT, "唐命学", "@民情直通车 产业路不通，希望修一条",
                sender_id="wxid_a", id="m1", mentions=["民情直通车"])


def test_output_is_what_the_bot_said_as_json_lines(tmp_path):
    f = write(tmp_path / "in.jsonl", REGISTER,
              line("2026-10-09T09:20:00+08:00", LT, "唐驻村", "上报 #1 需要镇里协调"))
    r = run("replay", "--config", CFG, f)
    assert r.code == 0, r.err
    said = r.json_lines()
    assert [set(s) for s in said] == [{"ts", "room", "text", "mentions"}] * len(said)
    assert said[0] == {"ts": "2026-10-09T09:15:00+08:00", "room": LT, "mentions": ["唐命学"],
                       "text": said[0]["text"]}
    assert "已登记为 #1" in said[0]["text"]
    assert [s["room"] for s in said[1:]] == [PX, LT]
    assert all(s["ts"] == "2026-10-09T09:20:00+08:00" for s in said[1:])


def test_repeated_id_and_repeated_line_without_id_register_once(tmp_path):
    no_id = line("2026-10-09T10:00:00+08:00", LT, "王大妈", "报修 水管爆了")
    f = write(tmp_path / "in.jsonl", REGISTER, REGISTER, no_id, no_id)
    db = str(tmp_path / "r.db")
    r = run("replay", "--config", CFG, "--db", db, f)
    assert r.code == 0, r.err
    assert sum("已登记为" in s["text"] for s in r.json_lines()) == 2
    listing = json.loads(run("list", "--config", CFG, "--db", db, "--json").out)
    assert [x["id"] for x in listing] == [1, 2]


def test_two_replays_in_a_row_behave_like_one(tmp_path):
    first = write(tmp_path / "a.jsonl", REGISTER)
    second = write(tmp_path / "b.jsonl", REGISTER,  # delivered again: ignored
                   line("2026-10-09T11:00:00+08:00", LT, "石支书", "认领 #1"))
    db = str(tmp_path / "r.db")
    assert len(run("replay", "-c", CFG, "--db", db, first).json_lines()) == 1
    r = run("replay", "-c", CFG, "--db", db, second)
    assert r.code == 0, r.err
    assert [("已由石支书认领" in s["text"]) for s in r.json_lines()] == [True]


def test_a_line_older_than_the_clock_stops_the_replay_with_exit_3(tmp_path):
    db = str(tmp_path / "r.db")
    run("replay", "-c", CFG, "--db", db, write(tmp_path / "a.jsonl", REGISTER))
    older = write(tmp_path / "b.jsonl", line("2026-10-09T09:00:00+08:00", LT, "王大妈", "报修 路灯坏了"))
    r = run("replay", "-c", CFG, "--db", db, older)
    assert r.code == 3 and "时间倒退了" in r.err and r.out == ""
    listing = json.loads(run("list", "-c", CFG, "--db", db, "--json").out)
    assert len(listing) == 1


def test_time_going_backwards_inside_one_file(tmp_path):
    f = write(tmp_path / "in.jsonl", REGISTER, line("2026-10-09T08:00:00+08:00", LT, "王大妈", "报修 路灯坏了"))
    r = run("replay", "-c", CFG, f)
    assert r.code == 3 and "第 2 行" in r.err
    assert len(r.json_lines()) == 1  # the first line was processed


@pytest.mark.parametrize("bad, reason", [
    ("{not json", "不是 JSON"),
    ('["a list"]', "应是一个 JSON 对象"),
    ('{"ts": "yesterday", "room": "r", "sender": "s", "text": "t"}', "ISO 8601"),
    ('{"ts": "2026-10-09T10:00:00+08:00", "room": "r", "text": "t"}', "'sender' 应是字符串"),
    ('{"ts": "2026-10-09T10:00:00+08:00", "room": "r", "sender": "s", "text": "t", "mentions": "x"}',
     "'mentions' 应是名字的列表"),
])
def test_malformed_lines_exit_3_and_name_the_line(tmp_path, bad, reason):
    r = run("replay", "-c", CFG, write(tmp_path / "in.jsonl", REGISTER, bad))
    assert r.code == 3 and "第 2 行" in r.err and reason in r.err, r.err


def test_tick_lines_and_until_only_move_time(tmp_path):
    f = write(tmp_path / "in.jsonl", REGISTER, '{"ts": "2026-10-09T12:00:00+08:00", "tick": true}')
    r = run("replay", "-c", CFG, f, "--until", "2026-10-09T13:00:00+08:00")
    assert r.code == 0, r.err
    r = run("replay", "-c", CFG, f, "--until", "2026-10-09T11:00:00+08:00")
    assert r.code == 3 and "--until" in r.err


def test_standard_input_blank_lines_and_unknown_rooms(tmp_path):
    stdin = "\n".join([REGISTER, "", line("2026-10-09T10:00:00+08:00", "别的群", "路人", "@民情直通车 求助")])
    r = run("replay", "-c", CFG, "-", stdin=stdin)
    assert r.code == 0 and len(r.json_lines()) == 1


def test_bad_config_exits_2_and_missing_input_exits_3(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot]\nname = 1\n", encoding="utf-8")
    r = run("replay", "-c", str(bad), write(tmp_path / "in.jsonl", REGISTER))
    assert r.code == 2 and "county" in r.err
    r = run("replay", "-c", CFG, str(tmp_path / "missing.jsonl"))
    assert r.code == 3 and f"找不到文件 {tmp_path / 'missing.jsonl'}" in r.err
    r = run("replay", "-c", CFG, str(tmp_path))  # a folder: why, in Chinese (the system's words are English)
    assert r.code == 3 and f"无法读取 {tmp_path}：这是一个文件夹，不是文件" in r.err


def test_ten_thousand_characters_and_emoji_only(tmp_path):
    long_text = "@民情直通车 " + "路" * 10_000
    f = write(tmp_path / "in.jsonl", line("2026-10-09T09:15:00+08:00", LT, "王大妈", long_text),
              line("2026-10-09T09:16:00+08:00", LT, "王大妈", "🙏🙏🙏"),
              line("2026-10-09T09:17:00+08:00", LT, "王大妈", "@民情直通车 🙏🙏🙏"))
    r = run("replay", "-c", CFG, "--db", str(tmp_path / "r.db"), f)
    assert r.code == 0
    said = r.json_lines()
    assert "已登记为 #1" in said[0]["text"] and len(said[0]["text"]) < 500
    assert "请@我并写下" in said[1]["text"] and len(said) == 2
    listing = json.loads(run("list", "-c", CFG, "--db", str(tmp_path / "r.db"), "--json").out)
    assert len(listing[0]["text"]) == 10_000  # kept whole, never lost


def test_progress_bar_on_a_terminal_passes_every_line_through(tmp_path):
    import io

    from rich.console import Console

    from bot.cli.simulate import PROGRESS_EVERY, shown_progress

    lines = [f'{{"n": {i}}}\n'.encode() for i in range(PROGRESS_EVERY * 2 + 7)]
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    with shown_progress(iter(lines), sum(map(len, lines)), terminal) as shown:
        assert list(shown) == lines
    assert "重放" in screen.getvalue() and f"{len(lines):,} 行" in screen.getvalue()
    with shown_progress(iter(lines), None, terminal) as shown:  # standard input: no size, a count of lines
        assert list(shown) == lines
    piped = io.StringIO()
    with shown_progress(iter(lines), 100, Console(file=piped, force_terminal=False)) as shown:
        assert list(shown) == lines
    assert piped.getvalue() == ""  # not a terminal: nothing but what the bot said

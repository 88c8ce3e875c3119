"""Digests that fit a phone, measured on a county of 20 townships × 15 villages with 20 requests open."""

from __future__ import annotations

import re

import pytest

from jinja2 import ChoiceLoader, DictLoader

from bot.config import parse_config
from bot.messaging.render import Renderer
from routing.digest import DigestLine
from storage.db import Database
from tests.conftest import EXAMPLE, ROOT
from tests.fakes import local, make_chat

TOWNSHIPS = ["盘信", "普觉", "孟溪", "寨英", "乌罗", "甘龙", "长兴", "大路", "迓驾", "蓼皋", "世昌", "黄板",
             "石梁", "瓦溪", "永安", "牛郎", "太平", "正大", "冷水", "平头"]
VILLAGES = ["楼台", "民主", "茶园", "新寨", "坪地", "河坝", "高峰", "龙井", "岩门", "水田", "大坪", "新华",
            "团结", "红星", "长坡"]


def big_county():
    """The example's rules over a county of 20 townships with 15 villages each (300 villages)."""
    example = EXAMPLE.read_text(encoding="utf-8")
    lines = [example[:example.index("[county]")], "[county]", 'name = "松桃县"', 'room = "松桃县网络问政工作群"',
             'staff = [{ name = "吴科长" }]', ""]
    for t in TOWNSHIPS:
        lines += ["[[townships]]", f'name = "{t}镇"', f'room = "{t}镇二级工作群"', f'leaders_room = "{t}镇党政班子群"',
                  f'staff = [{{ name = "{t}杨主任" }}]', f'leaders = [{{ name = "{t}张书记" }}]', ""]
        for v in VILLAGES:
            lines += ["[[townships.villages]]", f'name = "{v}村"', f'room = "{t}镇{v}村群"',
                      f'cadres = [{{ name = "{t}{v}支书" }}]', ""]
    return parse_config("\n".join(lines), base_dir=ROOT)


@pytest.fixture(scope="module")
def county():
    return big_county()


@pytest.fixture
def big_chat(county, tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'big.db'}", county.county.name)
    yield make_chat(county, database, "2026-10-12 08:00")
    database.dispose()


def register(chat, township, village, text):
    said = chat.say(f"{township}镇{village}村群", "村民甲", f"@民情直通车 {text}")
    return int([s for s in said if "已登记为 #" in s.text][0].text.split("已登记为 #")[1].split("。")[0])


def twenty_open(chat):
    """20 open requests: 14 in 盘信镇 (spread over 9 villages, most left unanswered to go overdue), the rest
    in six other townships; a few claimed and resolved so that the month has figures."""
    chat.at("2026-10-12 09:00")
    numbers = []
    for i in range(14):
        numbers.append(register(chat, "盘信", VILLAGES[i % 9], f"第{i}件：路灯坏了"))
    for i, t in enumerate(["普觉", "孟溪", "寨英", "乌罗", "甘龙", "长兴"]):
        numbers.append(register(chat, t, VILLAGES[i], "低保的事想咨询"))
    chat.at("2026-10-12 10:00")
    for n, v in zip(numbers[:3], VILLAGES, strict=False):
        chat.say(f"盘信镇{v}村群", f"盘信{v}支书", f"认领 #{n}")
    for i, t in enumerate(["普觉", "孟溪", "寨英"]):
        chat.say(f"{t}镇{VILLAGES[i]}村群", f"{t}{VILLAGES[i]}支书", f"认领 #{numbers[14 + i]}")
    # two more, resolved and rated: they are not open, but give the month a 满意率
    done = [register(chat, "石梁", "楼台", "水管漏了"), register(chat, "瓦溪", "民主", "水管漏了")]
    for n, (t, v) in zip(done, [("石梁", "楼台"), ("瓦溪", "民主")], strict=True):
        chat.say(f"{t}镇{v}村群", f"{t}{v}支书", f"办结 #{n} 修好了")
        chat.say(f"{t}镇{v}村群", "村民甲", f"满意 #{n}")
    return numbers


def test_township_digest_fits_a_phone(big_chat):
    twenty_open(big_chat)
    big_chat.at("2026-10-27 08:31")  # two weeks on: every open request is overdue
    said = [s for s in big_chat.take() if s.ts.day == 27 and "每日简报" in s.text]
    digests = {s.room: s.text for s in said}
    assert len(digests) == 20
    px = digests["盘信镇党政班子群"].splitlines()
    assert len(px) <= 12, "\n".join(px)
    assert px[1] == "逾期14件（最久的在前）："
    overdue = [line for line in px if line.startswith("#")]
    assert len(overdue) == 5 and px[7] == "等9件"
    assert all("超时" in line and "经办：" in line for line in overdue)
    assert "经办：无人认领" in "\n".join(overdue)
    assert px[-1].startswith("各村：") and px[-1].count("；") == 8  # the 9 villages with something overdue
    assert any(line.startswith("本月三率：响应") for line in px)
    # a township where nothing happened and nothing is open: one short line
    quiet = digests["平头镇党政班子群"]
    assert len(quiet.splitlines()) == 1 and len(quiet) <= 50 and "无新诉求，无逾期" in quiet


def test_county_weekly_fits_a_phone(big_chat):
    twenty_open(big_chat)
    big_chat.at("2026-10-19 09:01")
    weekly = [s.text for s in big_chat.take() if "每周简报" in s.text and s.ts.day == 19]
    assert len(weekly) == 1
    lines = weekly[0].splitlines()
    assert len(lines) <= 15, "\n".join(lines)
    assert "新登记22件，办结2件" in lines[1]
    ranked = [line for line in lines if re.match(r"\d+\. ", line)]
    assert len(ranked) == 6  # the top three and the bottom three in full
    assert ranked[0].startswith("1. 孟溪镇 响应100% 解决— 满意—｜得分100.0")  # ties by name
    middle = [line for line in lines if line.startswith("第4–")]
    assert len(middle) == 1
    assert lines[-1].startswith("本月无数据（排在最后）：") and "平头镇" in lines[-1]
    # every township appears exactly once
    text = "\n".join(lines)
    assert all(text.count(f"{t}镇") == 1 for t in TOWNSHIPS), text


def test_a_township_digest_takes_one_more_line(county, big_chat):
    """Another part of the bot can add a line to a township digest (e.g. notices awaiting acknowledgement):
    the digest is no longer quiet, and the line is shown after the fixed ones."""
    twenty_open(big_chat)
    service = big_chat.relay.service
    with big_chat.relay.db.transaction() as tx:
        digests = service._township_digests(tx, local("2026-10-13 08:30"), local("2026-10-14 08:30"))
    d = next(x for x in digests if x.township == "平头镇")
    assert d.quiet
    d.extra.append(DigestLine("_test_line.j2", {"count": 2}))
    assert not d.quiet
    renderer = Renderer(county.tz)
    renderer.env.loader = ChoiceLoader([DictLoader({"_test_line.j2": "待回执通知{{ x.context.count }}件"}),
                                        renderer.env.loader])
    text = renderer.text("digest_township.j2", d=d)
    assert text.splitlines()[-1] == "待回执通知2件" and len(text.splitlines()) == 4


def test_text_is_never_cut_inside_a_number():
    from bot.messaging.render import clip

    assert clip("路灯坏了 电话138****5678 请修", 12) == "路灯坏了 电话…"  # the cut would fall inside the number
    assert clip("13812345678 路灯坏了", 6) == "13812345678…"  # a text that starts with one keeps it whole
    assert clip("路灯坏了三盏，晚上看不见", 8) == "路灯坏了三盏，…"

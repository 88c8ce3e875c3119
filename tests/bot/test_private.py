"""Confidential requests and private messages (shared/design.md, section 8): what each room and the requester see."""

from __future__ import annotations

import json

from routing.model import Status, Tier
from tests.bot.cli_helpers import run
from tests.conftest import CY, EXAMPLE, LT, MZ, PX, config_with
from tests.fakes import make_chat

COMPLAINT = "投诉 村里低保评定优亲厚友，村干部亲戚都评上了"


def private(chat, sender, text, sender_id=None):
    """A private message to the bot; what the bot said (anywhere)."""
    return chat.say(None, sender, text, sender_id=sender_id or f"wxid_{sender}")


def to(said, name):
    return [s for s in said if s.room is None and s.to == name]


def request(chat, number):
    with chat.relay.db.transaction() as tx:
        return tx.get(number)


def test_a_confidential_complaint_tells_the_village_room_only_its_number(chat):
    said = chat.say(MZ, "田大哥", COMPLAINT)
    village = [s for s in said if s.room == MZ]
    assert len(village) == 1 and "#1" in village[0].text
    assert "纪检监察" not in village[0].text and "优亲厚友" not in village[0].text
    mine = to(said, "田大哥")
    assert len(mine) == 1 and "纪检监察" in mine[0].text and "#1" in mine[0].text
    assert any(s.room == PX and "优亲厚友" in s.text for s in said)
    req = request(chat, 1)
    assert req.confidential and req.tier is Tier.TOWNSHIP and req.category == "纪检监察"


def test_nobody_but_the_requester_and_the_township_sees_a_confidential_request(chat):
    chat.say(MZ, "田大哥", COMPLAINT)
    said = chat.say(MZ, "滕主任", "进度 #1")  # the village's own cadre
    assert len(said) == 1 and "保密诉求" in said[0].text and "优亲厚友" not in said[0].text
    said = chat.say(MZ, "田大哥", "进度 #1")  # the requester, in the village room: answered privately
    assert [s.room for s in said] == [None] and "优亲厚友" in said[0].text
    assert any("优亲厚友" in s.text for s in chat.say(PX, "杨主任", "进度 #1"))
    said = chat.say(PX, "杨主任", "认领 #1")
    assert not any(s.room == MZ for s in said) and any("杨主任" in s.text for s in to(said, "田大哥"))
    said = chat.say(PX, "杨主任", "退回 #1 村里先核实")
    assert any("不能退回村级" in s.text for s in said) and request(chat, 1).tier is Tier.TOWNSHIP
    said = chat.say(PX, "杨主任", "办结 #1 已查实，责令整改")
    assert not any(s.room == MZ for s in said) and any("责令整改" in s.text for s in to(said, "田大哥"))
    said = chat.say(MZ, "田大哥", "满意")
    assert [s.room for s in said] == [None] and request(chat, 1).status is Status.CLOSED


def test_without_a_private_chat_the_village_room_learns_only_that_there_is_news(chat):
    chat.transport.strangers.add("wxid_田大哥")
    said = chat.say(MZ, "田大哥", COMPLAINT)
    assert not to(said, "田大哥")
    said = chat.say(PX, "杨主任", "无效 #1 经核查不属实")
    village = [s for s in said if s.room == MZ]
    assert len(village) == 1 and "#1 有新进展，请私信我查询" in village[0].text
    assert "不属实" not in village[0].text and village[0].mentions == ("田大哥",)


def test_a_request_sent_privately_is_registered_for_the_senders_village(chat):
    chat.say(LT, "唐命学", "大家好")  # seen in 楼台村's room
    said = private(chat, "唐命学", "二组的路灯坏了三盏，我的电话13812345678")
    mine = to(said, "唐命学")
    assert len(mine) == 1 and "已登记为 #1" in mine[0].text and "私信告诉您" in mine[0].text
    posted = [s for s in said if s.room == LT]
    assert len(posted) == 1 and "私信诉求 #1" in posted[0].text and "13812345678" not in posted[0].text
    assert set(posted[0].mentions) == {"唐驻村", "石支书"} and "唐命学" not in posted[0].text
    req = request(chat, 1)
    assert req.private and req.village == "楼台村" and req.tier is Tier.VILLAGE
    said = chat.say(LT, "石支书", "认领 #1")
    assert not any("唐命学" in s.mentions for s in said if s.room == LT)
    assert any("石支书" in s.text for s in to(said, "唐命学"))
    said = private(chat, "唐命学", "进度 #1")
    assert len(to(said, "唐命学")) == 1 and not [s for s in said if s.room]


def test_a_villager_in_several_villages_is_asked_which(chat):
    chat.say(LT, "唐命学", "大家好")
    chat.say(CY, "唐命学", "大家好")
    said = private(chat, "唐命学", "水管爆了")
    assert "属于哪个村" in to(said, "唐命学")[0].text
    said = private(chat, "唐命学", "2")
    assert "已登记为 #1" in to(said, "唐命学")[0].text
    assert request(chat, 1).village == "茶园村" and any(s.room == CY for s in said)


def test_a_stranger_greeting_and_a_handler_command_in_private(chat):
    said = private(chat, "陌生人", "路灯坏了")
    assert "先在本村的干群连心群里说一句话" in to(said, "陌生人")[0].text
    chat.say(LT, "唐命学", "大家好")
    assert "请直接写下您要反映的事情" in to(private(chat, "唐命学", "你好"), "唐命学")[0].text
    chat.say(LT, "唐命学", "@民情直通车 路灯坏了")
    said = private(chat, "石支书", "认领 #1")
    assert "请在工作群里办理" in to(said, "石支书")[0].text and request(chat, 1).status is Status.OPEN


def test_replay_reads_and_writes_private_messages(tmp_path):
    lines = [
        {"ts": "2026-10-12T09:00:00+08:00", "room": LT, "sender": "唐命学", "sender_id": "wxid_a", "text": "大家好"},
        {"ts": "2026-10-12T09:05:00+08:00", "room": None, "sender": "唐命学", "sender_id": "wxid_a",
         "text": "二组路灯坏了"},
    ]
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    r = run("replay", "-c", str(EXAMPLE), "--db", str(tmp_path / "r.db"), str(f))
    assert r.code == 0, r.err
    out = r.json_lines()
    mine = [x for x in out if x["room"] is None]
    assert mine and mine[0]["to"] == "唐命学" and mine[0]["to_id"] == "wxid_a" and "已登记为 #1" in mine[0]["text"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"ts": "2026-10-12T09:00:00+08:00", "sender": "x", "text": "hi"}) + "\n",
                   encoding="utf-8")
    r = run("replay", "-c", str(EXAMPLE), "--db", str(tmp_path / "b.db"), str(bad))
    assert r.code == 3 and "sender_id" in r.err


def test_confidential_categories_are_configurable(db):
    cfg = config_with(replace={'confidential = ["纪检监察"]': 'confidential = ["纪检监察", "政法"]'})
    chat = make_chat(cfg, db)
    said = chat.say(LT, "王大妈", "反映 邻居打人了，派出所不管")
    assert request(chat, 1).confidential and not any("政法" in s.text for s in said if s.room == LT)

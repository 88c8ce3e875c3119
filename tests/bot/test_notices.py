"""Notices down the tiers (上令下达): 通知 [范围] 内容, 收到 通知#N, 进度 通知#N, reminders and the report
(shared/design.md, section 8), in the example county."""

from __future__ import annotations

import json

import pytest

from bot.app import Relay
from tests.bot.cli_helpers import run
from tests.conftest import CTY, CY, EXAMPLE, LT, MZ, PJ, PX, PXL, config_with
from tests.fakes import Chat, local, make_chat, tick_with_a_message_between

PJ_LT = "普觉镇楼台村干群连心群"
VILLAGES_OF_PX = {LT, MZ}
EVERY_UNIT_ROOM = {PX, LT, MZ, PJ, CY, PJ_LT}


def posts(said, number):
    """The rooms a notice was posted in, with whom each post mentions."""
    return {s.room: s.mentions for s in said if f"【通知#{number}】" in s.text or f"【紧急通知#{number}】" in s.text}


def replay_lines(tmp_path, name, lines) -> str:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    return str(path)


def units(chat, number):
    with chat.relay.db.transaction() as tx:
        notice = tx.notice(number)
    return {u.name: u for u in notice.units}


# --- who may send, and to whom --------------------------------------------------------------------
def test_county_staff_notify_every_township_and_village_and_hear_where_it_went(chat):
    said = chat.say(CTY, "吴科长", "通知 全县 今晚有暴雨，请做好防汛准备")
    posted = posts(said, 1)
    assert set(posted) == EVERY_UNIT_ROOM
    assert posted[LT] == ("唐驻村", "石支书") and posted[PX] == ("杨主任", "龙干事")
    post = next(s for s in said if s.room == MZ)
    assert "今晚有暴雨，请做好防汛准备" in post and "收到 通知#1" in post and "松桃县 吴科长" in post
    confirm = [s for s in said if s.room == CTY]
    assert len(confirm) == 1 and confirm[0].mentions == ("吴科长",)
    assert "已发到 6 个群" in confirm[0] and all(room in confirm[0].text for room in EVERY_UNIT_ROOM)
    assert "10月12日(周一) 15:00前" in confirm[0]  # 08:00 Monday + 4 working hours (08:30-12:00, 14:30-15:00)


@pytest.mark.parametrize("text", ["通知 明天上午9点到镇政府开会", "通知 全镇 明天上午9点到镇政府开会",
                                  "通知：明天上午9点到镇政府开会"])
def test_a_township_notifies_its_own_villages(chat, text):
    said = chat.say(PX, "杨主任", text)
    assert set(posts(said, 1)) == VILLAGES_OF_PX
    assert all("明天上午9点到镇政府开会" in s.text for s in said if s.room in VILLAGES_OF_PX)


@pytest.mark.parametrize("text", ["通知 楼台村 、民主村 明天开会", "通知 楼台村、 民主村 明天开会",
                                  "通知 民主村 楼台村 明天开会", "通知 楼台村；民主村 明天开会",
                                  "通知 楼台村/民主村 明天开会", "通知 楼台村和民主村 明天开会",
                                  "通知：楼台村，民主村：明天开会"])
def test_the_ways_people_write_a_list_of_units(chat, text):
    said = chat.say(PX, "杨主任", text)
    assert set(posts(said, 1)) == VILLAGES_OF_PX
    assert all(s.text.splitlines()[1] == "明天开会" for s in said if s.room in VILLAGES_OF_PX)


@pytest.mark.parametrize("text", ["通知 各村支书明天到镇里开会", "通知 各村：明天开会", "通知 3号下午两点开会"])
def test_text_that_only_starts_like_a_scope_goes_to_every_unit_below(chat, text):
    said = chat.say(PX, "杨主任", text)
    assert set(posts(said, 1)) == VILLAGES_OF_PX
    assert all(text.split(" ", 1)[1] in s.text for s in said if s.room in VILLAGES_OF_PX)


def test_township_leaders_may_notify_from_their_leaders_room(chat):
    said = chat.say(PXL, "田镇长", "通知 民主村 周五前报送低保名单")
    assert set(posts(said, 1)) == {MZ}
    assert any(s.room == PXL and "已发到 1 个群" in s.text for s in said)


def test_a_list_of_units_and_a_village_named_with_its_township(chat):
    said = chat.say(CTY, "麻干事", "通知 盘信镇楼台村、普觉镇,茶园村 明天检查")
    assert set(posts(said, 1)) == {LT, PJ, CY}
    with chat.relay.db.transaction() as tx:
        assert tx.notice(1).scope == "盘信镇楼台村、普觉镇,茶园村" and tx.notice(1).text == "明天检查"


def test_a_village_name_two_townships_share_means_the_senders_own_and_is_ambiguous_for_the_county(chat):
    assert set(posts(chat.say(PJ, "罗主任", "通知 楼台村 明天检查"), 1)) == {PJ_LT}
    said = chat.say(CTY, "吴科长", "通知 楼台村 明天检查")
    assert posts(said, 2) == {} and "有重名" in said[0] and "盘信镇楼台村" in said[0]


@pytest.mark.parametrize("room, sender, text, answer", [
    (PX, "杨主任", "通知 全县 今晚有暴雨", "只能由县里的工作人员"),
    (PX, "杨主任", "通知 茶园村 明天检查", "普觉镇茶园村不属于盘信镇"),
    (PX, "杨主任", "通知 楼台村、茶园村 明天检查", "普觉镇茶园村不属于盘信镇"),
    (PX, "杨主任", "通知 盘信镇 明天检查", "不用写盘信镇"),
    (PX, "杨主任", "通知 新华村 明天开会", "没有找到这些单位：新华村"),  # looks like a unit: never sent to all
    (PX, "杨主任", "通知 楼台村和幸福村 明天开会", "没有找到这些单位：幸福村"),
    (CTY, "吴科长", "通知 全镇 明天开会", "县里发通知请写“全县”"),
    (PX, "杨主任", "通知#1", "看起来是通知编号"),
    (PX, "杨主任", "通知 #3 开会", "进度 通知#3"),
    (PX, "杨主任", "通知 😀😀", "请写明通知内容"),
    (CTY, "吴科长", "通知 民主村、幸福村 明天检查", "没有找到这些单位：幸福村"),
    (CTY, "吴科长", "通知 全县", "请写明通知内容"),
    (CTY, "吴科长", "通知", "请写明通知内容"),
    (CTY, "吴科长", "通知 全县 " + "很长的通知" * 500, "通知太长"),
])
def test_a_notice_that_cannot_go_as_written_gets_a_clear_answer_and_no_number(chat, room, sender, text, answer):
    said = chat.say(room, sender, text)
    assert len(said) == 1 and said[0].room == room and answer in said[0], said
    with chat.relay.db.transaction() as tx:
        assert tx.notices() == []


@pytest.mark.parametrize("room, sender", [
    (LT, "唐驻村"),  # a village cadre's notice to villagers
    (LT, "王大妈"),
    (PX, "吴科长"),  # county staff outside the county room
    (CTY, "杨主任"),  # township staff outside their township's rooms
    (PJ, "杨主任"),
    (CTY, "王大妈"),
])
def test_a_notice_from_anyone_else_or_outside_their_work_room_is_chat(chat, room, sender):
    assert chat.say(room, sender, "通知 全镇 明天上午开会") == []
    with chat.relay.db.transaction() as tx:
        assert tx.notices() == []


def test_notices_are_numbered_apart_from_requests(chat):
    chat.say(LT, "王大妈", "@民情直通车 二组的路灯坏了")
    said = chat.say(PX, "杨主任", "紧急通知 全镇 山洪预警，立即转移低洼处群众")
    assert set(posts(said, 1)) == VILLAGES_OF_PX
    assert any("紧急通知#1" in s.text for s in said if s.room == PX)


# --- acknowledgement --------------------------------------------------------------------------------
def test_a_cadre_acknowledges_for_the_village_once_with_time_and_person(chat):
    chat.say(PX, "杨主任", "通知 全镇 明天上午开会")
    chat.later(minutes=20)
    said = chat.say(LT, "石支书", "收到 通知#1")
    assert [(s.room, s.mentions) for s in said] == [(LT, ("石支书",))] and "已记录" in said[0]
    lt = units(chat, 1)["盘信镇楼台村"]
    assert (lt.acknowledged_at, lt.acknowledged_by) == (local("2026-10-12 08:20"), "石支书")
    chat.later(minutes=5)
    again = chat.say(LT, "唐驻村", "收到 通知#1")  # the other cadre: the unit had acknowledged
    assert "无需再回复" in again[0] and "石支书" in again[0]
    lt = units(chat, 1)["盘信镇楼台村"]
    assert (lt.acknowledged_at, lt.acknowledged_by) == (local("2026-10-12 08:20"), "石支书")
    assert not units(chat, 1)["盘信镇民主村"].acknowledged


def test_a_bare_shou_dao_counts_only_when_exactly_one_notice_awaits_the_unit(chat):
    chat.say(PX, "杨主任", "通知 全镇 明天上午开会")
    assert "已记录" in chat.say(MZ, "滕主任", "收到了👍")[0]
    chat.say(PX, "杨主任", "通知 全镇 周五交材料")
    chat.say(CTY, "吴科长", "通知 全县 防汛")
    which = chat.say(LT, "唐驻村", "收到")  # three notices await 楼台村: which one? nothing recorded, the numbers told
    assert len(which) == 1 and "有3条通知还没确认：通知#1" in which[0] and "通知#3" in which[0]
    assert not units(chat, 2)["盘信镇楼台村"].acknowledged
    chat.say(LT, "唐驻村", "收到 通知#1")
    chat.say(LT, "唐驻村", "收到 通知#2")
    assert "已记录" in chat.say(LT, "唐驻村", "收到")[0]  # now only #3 awaits
    assert units(chat, 3)["盘信镇楼台村"].acknowledged_by == "唐驻村"
    assert chat.say(LT, "唐驻村", "收到") == []  # nothing awaits: chat


@pytest.mark.parametrize("text", ["已收到", "好的，收到", "收到收到", "好的收到", "嗯嗯收到", "收到！"])
def test_the_ways_cadres_say_shou_dao(chat, text):
    chat.say(PX, "杨主任", "通知 全镇 明天上午开会")
    assert "已记录：盘信镇民主村收到通知#1" in chat.say(MZ, "滕主任", text)[0]


def test_one_shou_dao_may_name_several_notices(chat):
    for text in ("通知 全镇 一", "通知 全镇 二", "通知 全镇 三"):
        chat.say(PX, "杨主任", text)
    said = chat.say(LT, "唐驻村", "收到 通知#1、#3，#2号诉求明天办")  # "#2号诉求" is a request, not a notice
    assert [line for line in said[0].text.splitlines()] == ["已记录：盘信镇楼台村收到通知#1。", "已记录：盘信镇楼台村收到通知#3。"]
    assert not units(chat, 2)["盘信镇楼台村"].acknowledged


def test_a_cadre_of_two_villages_answers_for_the_village_whose_room_it_is(db):
    config = config_with(replace={'cadres = [{ name = "滕主任" }]': 'cadres = [{ name = "滕主任" }, { name = "唐驻村" }]'})
    chat = make_chat(config, db)
    chat.say(PX, "杨主任", "通知 楼台村 第一条")
    chat.say(PX, "杨主任", "通知 民主村 第二条")
    assert "已记录：盘信镇民主村收到通知#2" in chat.say(MZ, "唐驻村", "收到")[0]  # only #2 awaits 民主村
    chat.say(PX, "杨主任", "通知 全镇 第三条")
    assert "已记录：盘信镇楼台村收到通知#3" in chat.say(LT, "唐驻村", "收到 通知#3")[0]
    assert not units(chat, 3)["盘信镇民主村"].acknowledged  # written in 楼台村's room: for 楼台村


def test_a_notice_written_privately_by_township_staff_is_answered_with_where_to_send_it(chat):
    said = chat.say(None, "杨主任", "通知 全镇 私信发的通知")
    assert len(said) == 1 and said[0].to == "杨主任" and "工作群" in said[0]
    with chat.relay.db.transaction() as tx:
        assert tx.notices() == []


def test_shou_dao_from_a_villager_is_ignored_and_a_handler_of_another_unit_is_told(chat):
    chat.say(PX, "杨主任", "通知 民主村 明天上午开会")
    assert chat.say(MZ, "王大妈", "收到 通知#1") == []
    assert chat.say(MZ, "王大妈", "收到") == []
    assert "没有发给您所在的单位" in chat.say(LT, "唐驻村", "收到 通知#1")[0]
    assert "没有找到通知#9" in chat.say(MZ, "滕主任", "收到 通知#9")[0]
    assert not units(chat, 1)["盘信镇民主村"].acknowledged


def test_a_notice_number_longer_than_any_the_bot_gives_gets_an_answer_and_acknowledges_nothing(chat):
    chat.say(PX, "杨主任", "通知 民主村 明天上午开会")
    said = chat.say(MZ, "滕主任", "收到 通知#1234567890")
    assert len(said) == 1 and "没看懂通知编号" in said[0] and "收到 通知#3" in said[0]
    assert not units(chat, 1)["盘信镇民主村"].acknowledged  # not taken for a bare 收到 of the one awaiting notice
    said = chat.say(MZ, "滕主任", "收到 通知#1、#1234567890")  # chained: the known one counts, the other is named
    assert sorted(s.text for s in said) == ["已记录：盘信镇民主村收到通知#1。", "没有找到通知#1234567890，请核对编号。"]
    assert "没看懂通知编号" in chat.say(PX, "龙干事", "进度 通知#99999999999")[0]
    assert chat.say(MZ, "王大妈", "收到 通知#1234567890") == []  # a villager's 收到 stays chat
    chat.say(PX, "杨主任", "通知 民主村 第二条")
    said = chat.say(MZ, "滕主任", "收到 通知#2，13812345678")  # a phone number after it is not a notice
    assert [s.text for s in said] == ["已记录：盘信镇民主村收到通知#2。"]
    said = chat.say(MZ, "滕主任", "收到 通知#1、#" + "1" * 5000)  # never turned into a number, repeated shortened
    assert len(said) == 2 and said[0].text == "没有找到通知#" + "1" * 20 + "…，请核对编号。"
    assert "无需再回复" in said[1]  # #1 was acknowledged above
    said = chat.say(MZ, "滕主任", "收到 通知#2、#0000000002")  # ten digits are no notice's, leading zeros or not
    assert said[0].text == "没有找到通知#0000000002，请核对编号。"


def test_township_staff_acknowledge_for_their_township(chat):
    chat.say(CTY, "吴科长", "通知 盘信镇、普觉镇 周一前报送统计表")
    assert "已记录：盘信镇收到通知#1" in chat.say(PX, "龙干事", "收到 通知#1")[0]
    assert "已记录：普觉镇收到通知#1" in chat.say(PJ, "欧书记", "收到")[0]  # a leader answers for the township too


def test_a_mention_with_shou_dao_from_a_villager_still_gets_the_how_to_ask_answer(chat):
    said = chat.say(LT, "王大妈", "@民情直通车 收到")
    assert len(said) == 1 and "请@我并写下" in said[0]


# --- reminders, the report, progress ---------------------------------------------------------------------
def test_silent_units_are_reminded_once_and_the_sender_gets_the_report(chat):
    chat.say(CTY, "吴科长", "通知 全县 今晚有暴雨")
    chat.at("2026-10-12 09:00")
    chat.say(LT, "唐驻村", "收到 通知#1")
    chat.say(PX, "杨主任", "收到 通知#1")
    chat.take()
    chat.at("2026-10-12 14:59")
    assert not [s for s in chat.take() if "通知#1" in s.text]
    chat.at("2026-10-12 15:00")
    reminders = [s for s in chat.take() if "【提醒】" in s.text]
    assert {s.room for s in reminders} == EVERY_UNIT_ROOM - {LT, PX}
    assert next(s for s in reminders if s.room == MZ).mentions == ("滕主任",)
    assert all("收到 通知#1" in s.text for s in reminders)
    chat.say(MZ, "滕主任", "收到 通知#1")  # late: after the reminder
    chat.at("2026-10-13 08:29")
    assert not [s for s in chat.take() if "通知#1" in s.text and "每日简报" not in s.text]  # reminded once only
    chat.at("2026-10-13 08:30")
    report = [s for s in chat.take() if "【通知#1 确认情况】" in s.text]
    assert len(report) == 1 and report[0].room == CTY
    text = report[0].text
    assert "已收到 3/6，未收到 3" in text
    assert "盘信镇楼台村 10月12日(周一) 09:00 唐驻村" in text and "盘信镇民主村 10月12日(周一) 15:00 滕主任" in text
    assert "普觉镇茶园村（已提醒）" in text
    assert set(report[0].mentions) == {"罗主任", "代驻村", "吴支书", "田支书"}  # the stragglers' handlers
    chat.at("2026-10-20 08:30")
    assert not [s for s in chat.take() if "通知#1" in s.text and "每日简报" not in s.text]


def test_a_notice_every_unit_acknowledged_reminds_nobody(chat):
    chat.say(PX, "杨主任", "通知 全镇 明天开会")
    chat.say(LT, "唐驻村", "收到")
    chat.say(MZ, "滕主任", "收到")
    chat.take()
    chat.at("2026-10-13 08:30")
    said = [s for s in chat.take() if "通知#1" in s.text and "每日简报" not in s.text]
    assert len(said) == 1 and "已收到 2/2" in said[0] and said[0].mentions == ()


def test_progress_at_any_time_in_work_rooms(chat):
    chat.say(PX, "杨主任", "通知 全镇 明天开会")
    chat.say(LT, "唐驻村", "收到")
    said = chat.say(PX, "龙干事", "进度 通知#1")
    assert len(said) == 1 and "已收到 1/2，未收到 1" in said[0] and "盘信镇民主村" in said[0]
    assert "已收到 1/2" in chat.say(LT, "石支书", "查询 通知 1")[0]  # a handler, in the village room
    assert "请在镇、县工作群查询" in chat.say(LT, "王大妈", "进度 通知#1")[0]
    assert "没有找到通知#7" in chat.say(PX, "龙干事", "进度 通知#7")[0]
    assert "没有找到诉求 #1" in chat.say(PX, "龙干事", "进度 #1")[0]  # a request's number: the request's progress


def test_urgent_notices_run_on_calendar_time_over_a_weekend(chat):
    chat.at("2026-10-17 21:00")  # Saturday night
    chat.say(CTY, "吴科长", "紧急通知 全县 山洪预警，立即转移")
    chat.take()
    chat.at("2026-10-17 22:00")
    reminders = [s for s in chat.take() if "【提醒】紧急通知#1" in s.text]
    assert {s.room for s in reminders} == EVERY_UNIT_ROOM
    chat.at("2026-10-18 00:00")
    assert [s.room for s in chat.take() if "【通知#1 确认情况】" in s.text] == [CTY]


def test_working_time_notices_wait_over_a_holiday(example_config, db):
    chat = make_chat(example_config, db, start="2026-09-30 16:00")  # the day before the National Day holiday
    chat.say(PX, "杨主任", "通知 全镇 节后第一天交材料")
    chat.take()
    chat.at("2026-10-08 10:59")
    assert not [s for s in chat.take() if "【提醒】" in s.text]
    chat.at("2026-10-08 11:00")  # 1.5 working hours on the 30th, 2.5 on the 8th
    assert {s.room for s in chat.take() if "【提醒】" in s.text} == VILLAGES_OF_PX


def test_the_help_lists_the_notice_commands_for_handlers(chat):
    assert "发通知：通知 [范围] 内容" in chat.say(PX, "杨主任", "帮助")[0]
    assert "收到 通知#编号" in chat.say(LT, "唐驻村", "帮助")[0]
    assert "通知" not in chat.say(LT, "王大妈", "帮助")[0].text


def test_the_timing_rules_come_from_the_config(db):
    config = config_with(replace={'remind_after = "4 workhours"': 'remind_after = "1 workhours"',
                                  'report_after = "1 workdays"': 'report_after = "2 workhours"'})
    chat = make_chat(config, db)
    confirm = chat.say(PX, "杨主任", "通知 全镇 明天开会")
    assert "10月12日(周一) 09:30前" in confirm[-1] and "10月12日(周一) 10:30把确认情况" in confirm[-1]


# --- restart safety ---------------------------------------------------------------------------------------
def test_a_restart_in_the_reminder_window_sends_nothing_twice(example_config, db):
    chat = make_chat(example_config, db)
    chat.say(CTY, "吴科长", "通知 全县 今晚有暴雨")
    chat.say(LT, "唐驻村", "收到")
    chat.at("2026-10-12 15:00")  # the reminders are queued and sent
    first = chat.take()
    assert len([s for s in first if "【提醒】" in s.text]) == 5

    # the bot restarts: a new process on the same database, the clock where it was
    again = Chat(Relay(example_config, db, chat.transport), chat.clock, chat.transport)
    again.relay.tick(again.clock.now())
    again.relay.flush(again.clock.now())
    assert again.take() == []
    again.at("2026-10-13 08:30")
    assert [s.room for s in again.take() if "通知#1" in s.text and "每日简报" not in s.text] == [CTY]
    with db.transaction() as tx:
        keys = [r.key for r in tx.outbox(statuses=("queued", "sending", "sent")) if r.key and "notice:1" in r.key]
    assert len(keys) == len(set(keys)) == 6 + 5 + 1  # posts, reminders, the report


def test_a_restart_before_the_reminder_still_reminds_at_its_time(example_config, db):
    chat = make_chat(example_config, db)
    chat.say(PX, "杨主任", "通知 全镇 明天开会")
    chat.take()
    again = Chat(Relay(example_config, db, chat.transport), chat.clock, chat.transport)
    again.at("2026-10-12 15:00")
    assert {s.room for s in again.take() if "【提醒】" in s.text} == VILLAGES_OF_PX


# --- the record: CLI and replay ----------------------------------------------------------------------------
def test_minqing_notices_lists_each_units_acknowledgement(tmp_path):
    db = str(tmp_path / "n.db")
    lines = [
        {"ts": "2026-10-12T09:00:00+08:00", "room": PX, "sender": "杨主任", "text": "通知 全镇 明天开会"},
        {"ts": "2026-10-12T09:30:00+08:00", "room": LT, "sender": "唐驻村", "text": "收到 通知#1"},
        {"ts": "2026-10-13T10:00:00+08:00", "tick": True},
    ]
    assert run("replay", "-c", str(EXAMPLE), "--db", db, replay_lines(tmp_path, "in.jsonl", lines)).code == 0
    r = run("notices", "-c", str(EXAMPLE), "--db", db, "--json")
    assert r.code == 0, r.err
    [notice] = json.loads(r.out)
    assert set(notice) == {"id", "sender", "scope", "text", "urgent", "created_at", "units"}
    assert notice["id"] == 1 and notice["sender"] == "杨主任" and notice["scope"] == "全镇"
    assert notice["created_at"] == "2026-10-12T09:00:00+08:00" and notice["urgent"] is False
    by_unit = {u["unit"]: u for u in notice["units"]}
    assert by_unit["盘信镇楼台村"] == {"unit": "盘信镇楼台村", "tier": "village", "room": LT,
                                       "acknowledged_at": "2026-10-12T09:30:00+08:00", "acknowledged_by": "唐驻村",
                                       "reminded_at": None}
    assert by_unit["盘信镇民主村"]["acknowledged_at"] is None
    assert by_unit["盘信镇民主村"]["reminded_at"] == "2026-10-12T15:30:00+08:00"  # 09:00 + 4 working hours
    table = run("notices", "-c", str(EXAMPLE), "--db", db)
    assert table.code == 0 and "通知#1" in table.out and "唐驻村" in table.out and "未收到" in table.out
    assert json.loads(run("notices", "-c", str(EXAMPLE), "--db", db, "--json", "--from", "2026-10-13").out) == []
    assert len(json.loads(run("notices", "-c", str(EXAMPLE), "--db", db, "--json", "--from", "2026-10-12",
                              "--to", "2026-10-12").out)) == 1


def test_a_replay_across_the_holiday_reminds_after_it(tmp_path):
    lines = [
        {"ts": "2026-09-30T16:00:00+08:00", "room": PX, "sender": "杨主任", "text": "通知 全镇 节后交材料"},
        {"ts": "2026-10-02T10:00:00+08:00", "room": LT, "sender": "唐驻村", "text": "收到"},
        {"ts": "2026-10-09T12:00:00+08:00", "tick": True},
    ]
    r = run("replay", "-c", str(EXAMPLE), "--db", str(tmp_path / "r.db"), replay_lines(tmp_path, "in.jsonl", lines))
    assert r.code == 0, r.err
    said = [s for s in r.json_lines() if "通知#1" in s["text"]]
    reminders = [s for s in said if "【提醒】" in s["text"]]
    assert [(s["room"], s["ts"]) for s in reminders] == [(MZ, "2026-10-08T11:00:00+08:00")]
    report = [s for s in said if "【通知#1 确认情况】" in s["text"]]
    assert [(s["room"], s["ts"]) for s in report] == [(PX, "2026-10-08T16:00:00+08:00")]
    assert "已收到 1/2" in report[0]["text"] and "10月2日(周五) 10:00 唐驻村" in report[0]["text"]


# --- real concurrency on PostgreSQL -----------------------------------------------------------------------
def test_an_acknowledgement_that_commits_between_the_ticks_scan_and_its_write_is_kept(pg_database, example_config,
                                                                                    monkeypatch):
    """The tick finds the notice's reminder due, a cadre answers 收到, then the tick reminds: on a fresh, locked
    copy, so the acknowledgement stands and that village is not reminded."""
    chat = make_chat(example_config, pg_database)
    chat.say(PX, "杨主任", "通知 全镇 明天开会")
    chat.take()
    due = local("2026-10-12 15:00")
    tick_with_a_message_between(chat, monkeypatch, "due_timers", due,
                                lambda: chat.say(MZ, "滕主任", "收到 通知#1"))
    chat.relay.flush(due)
    reminded = {s.room for s in chat.take() if "【提醒】" in s.text}
    assert reminded == {LT}
    mz = units(chat, 1)["盘信镇民主村"]
    assert (mz.acknowledged_by, mz.acknowledged_at, mz.reminded_at) == ("滕主任", local("2026-10-12 14:59"), None)


# --- the export: each unit's acknowledgement and 通知响应率 ------------------------------------------------
def test_the_export_gives_each_units_acknowledgement_and_its_response_rate(tmp_path):
    import csv

    from openpyxl import load_workbook

    db = str(tmp_path / "n.db")
    october = replay_lines(tmp_path, "oct.jsonl", [
        {"ts": "2026-10-12T09:00:00+08:00", "room": PX, "sender": "杨主任", "text": "通知 全镇 明天开会"},
        {"ts": "2026-10-12T09:30:00+08:00", "room": LT, "sender": "唐驻村", "text": "收到 通知#1"},
        {"ts": "2026-10-30T16:00:00+08:00", "room": CTY, "sender": "吴科长", "text": "通知 民主村、茶园村 周一检查"},
        {"ts": "2026-10-30T17:00:00+08:00", "room": CY, "sender": "代驻村", "text": "收到"},
        {"ts": "2026-11-02T09:00:00+08:00", "tick": True},  # 通知#2's reminder: Monday 11:30, in November
    ])
    assert run("replay", "-c", str(EXAMPLE), "--db", db, october).code == 0
    out = tmp_path / "oct.csv"
    r = run("export", "-c", str(EXAMPLE), "--db", db, "--from", "2026-10-01", "--to", "2026-10-31", "--out", str(out))
    assert r.code == 0, r.err
    assert "oct-notices.csv" in r.out and "oct-notices-summary.csv" in r.out
    rows = list(csv.DictReader((tmp_path / "oct-notices.csv").open(encoding="utf-8-sig")))
    assert [(x["通知编号"], x["单位"], x["确认人"], x["确认用时(工作小时)"], x["按时确认"]) for x in rows] == [
        ("1", "盘信镇楼台村", "唐驻村", "0.50", "是"), ("1", "盘信镇民主村", "", "", "否")]
    summary = list(csv.DictReader((tmp_path / "oct-notices-summary.csv").open(encoding="utf-8-sig")))
    assert [(x["单位"], x["通知数"], x["按时确认"], x["通知响应率"]) for x in summary] == [
        ("盘信镇楼台村", "1", "1", "100.0%"), ("盘信镇民主村", "1", "0", "0.0%")]
    first = (tmp_path / "oct-notices-summary.csv").read_bytes()

    november = replay_lines(tmp_path, "nov.jsonl", [
        {"ts": "2026-11-03T09:00:00+08:00", "room": LT, "sender": "唐驻村", "text": "@民情直通车 路灯坏了"},
        {"ts": "2026-11-03T10:00:00+08:00", "room": MZ, "sender": "滕主任", "text": "收到 通知#1"},  # very late
    ])
    assert run("replay", "-c", str(EXAMPLE), "--db", db, november).code == 0
    r = run("export", "-c", str(EXAMPLE), "--db", db, "--from", "2026-10-01", "--to", "2026-10-31", "--out", str(out))
    assert r.code == 0 and (tmp_path / "oct-notices-summary.csv").read_bytes() == first  # October's figures stay

    xlsx = tmp_path / "nov.xlsx"
    r = run("export", "-c", str(EXAMPLE), "--db", db, "--from", "2026-11-01", "--to", "2026-11-30",
            "--out", str(xlsx), "--township", "普觉镇")
    assert r.code == 0, r.err
    wb = load_workbook(xlsx)
    assert {"通知明细", "通知响应率"} <= set(wb.sheetnames)
    rates = [row for row in wb["通知响应率"].iter_rows(min_row=2, values_only=True)]
    assert [(x[0], x[2], x[5], x[6]) for x in rates] == [("普觉镇茶园村", 1, 1, 1)]  # 民主村 is not 普觉镇's
    details = [row for row in wb["通知明细"].iter_rows(min_row=2, values_only=True)]
    assert [(x[0], x[7], x[11]) for x in details] == [(2, "普觉镇茶园村", "代驻村")]


def test_township_digests_count_the_notices_their_units_have_not_answered(chat):
    chat.say(PX, "杨主任", "通知 全镇 明天开会")
    chat.say(CTY, "吴科长", "通知 全县 防汛")
    chat.say(LT, "唐驻村", "收到 通知#2")
    chat.say(CY, "代驻村", "收到")
    chat.say(PJ, "罗主任", "收到")
    chat.say(PJ_LT, "田支书", "收到")
    chat.take()
    chat.at("2026-10-13 08:30")
    digests = {s.room: s.text for s in chat.take() if "每日简报" in s.text}
    assert digests[PXL].splitlines()[-1] == "通知未回复2条：通知#1 楼台村、民主村；通知#2 盘信镇、民主村"
    assert "通知未回复" not in digests["普觉镇党政班子群"]  # every unit of 普觉镇 answered: a quiet day, one line
    assert len(digests["普觉镇党政班子群"].splitlines()) == 1

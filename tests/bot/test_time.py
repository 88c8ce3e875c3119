"""Time-driven work on a fake clock: reminders, proposals, escalation by rule, digests, restarts."""

import json
import logging

from bot.app import Relay
from bot.sim.groups import SimulatedTransport
from routing.model import EventKind, Status, Tier
from tests.bot.cli_helpers import run
from tests.bot.test_dialogs import register, request
from tests.conftest import CTY, EXAMPLE, LT, MZ, PJ, PX, PXL, config_with
from tests.fakes import Chat, local, make_chat

PJL = "普觉镇党政班子群"


def said_at(chat, when):
    chat.at(when)
    return chat.take()


def quiet_config():
    """The example county without digests, so that tests of other jobs see only those."""
    return config_with(replace={'township_daily = "08:30"': 'township_daily = ""',
                                'county_weekly = "MON 09:00"': 'county_weekly = ""'})


def test_overdue_reminder_mentions_the_handler_once_per_remind_every_and_stops_when_escalated(db):
    chat = make_chat(quiet_config(), db, "2026-10-12 09:00")
    n = register(chat, "@民情直通车 低保的事情一直没人管", room=MZ, sender="龙老汉")  # 民政: 5 workdays
    chat.say(MZ, "滕主任", f"认领 #{n}")
    assert said_at(chat, "2026-10-19 08:59") == []
    said = said_at(chat, "2026-10-19 09:00")
    assert len(said) == 1 and said[0].room == MZ and "【逾期提醒】" in said[0].text
    assert said[0].mentions == ("滕主任",)
    assert said_at(chat, "2026-10-20 08:59") == []  # at most once per remind_every (1 workday)
    said = said_at(chat, "2026-10-20 09:00")
    assert len(said) == 1 and "办结超时1天" in said[0].text
    chat.at("2026-10-20 10:00")
    chat.say(MZ, "滕主任", f"上报 #{n} 需要镇里审批")
    # the village is no longer reminded; the township is, once it misses its own deadline
    later = [s for s in said_at(chat, "2026-10-23 09:00") if "逾期提醒" in s.text]
    assert later and all(s.room == PX for s in later)
    _, events = request(chat, n)
    reminded = [e for e in events if e.kind is EventKind.REMINDED]
    assert [e.tier for e in reminded[:2]] == [Tier.VILLAGE, Tier.VILLAGE]
    assert all(e.tier is Tier.TOWNSHIP for e in reminded[2:]) and all(e.rule == "remind_every" for e in reminded)


def test_one_reminder_per_room_listing_every_overdue_request(db):
    chat = make_chat(quiet_config(), db, "2026-10-12 09:00")
    a = register(chat, "@民情直通车 低保的事情一直没人管", room=MZ, sender="龙老汉")
    b = register(chat, "@民情直通车 敬老院的事情想咨询", room=MZ, sender="田大哥")
    chat.say(MZ, "滕主任", f"认领 #{a}")
    chat.say(MZ, "滕主任", f"认领 #{b}")
    said = said_at(chat, "2026-10-19 09:00")
    assert len(said) == 1 and f"#{a} " in said[0].text and f"#{b} " in said[0].text


def test_an_urge_from_a_higher_tier_counts_as_a_reminder(db):
    chat = make_chat(quiet_config(), db, "2026-10-12 09:00")
    n = register(chat, "@民情直通车 低保的事情一直没人管", room=MZ, sender="龙老汉")
    chat.say(MZ, "滕主任", f"认领 #{n}")
    chat.at("2026-10-19 10:00")
    chat.take()
    chat.say(PX, "杨主任", f"催办 #{n}")
    assert said_at(chat, "2026-10-20 09:59") == []
    assert len(said_at(chat, "2026-10-20 10:00")) == 1


def test_proposal_confirmed_by_a_cadre(db):
    chat = make_chat(quiet_config(), db, "2026-10-13 09:00")
    n = register(chat, "@民情直通车 低保申请两个月没回音", room=MZ, sender="龙老汉")
    said = said_at(chat, "2026-10-14 09:00")
    assert len(said) == 1 and said[0].room == MZ and "【提请上报】" in said[0].text
    assert f"确认上报 #{n}" in said[0].text and said[0].mentions == ("滕主任",)
    said = chat.say(MZ, "滕主任", f"确认上报 #{n}")
    assert any(s.room == PX and "【上报】" in s.text for s in said)
    req, events = request(chat, n)
    assert req.tier is Tier.TOWNSHIP
    assert [(e.kind, e.rule) for e in events[1:3]] == [(EventKind.PROPOSED, "propose_after"),
                                                       (EventKind.ESCALATED, None)]


def test_automatic_escalation_when_nobody_answers(db):
    chat = make_chat(quiet_config(), db, "2026-10-14 10:20")
    n = register(chat, "报修 寨子里自来水停了两天了", room="茶园村干群连心群", sender="杨嫂")
    chat.at("2026-10-15 10:20")
    chat.take()
    said = said_at(chat, "2026-10-16 10:20")
    post = [s for s in said if s.room == PJ]
    assert len(post) == 1 and "系统自动上报" in post[0].text and post[0].mentions == ("罗主任",)
    assert any(s.room == "茶园村干群连心群" and "已自动上报普觉镇" in s.text for s in said)
    req, events = request(chat, n)
    assert req.tier is Tier.TOWNSHIP and req.status is Status.OPEN and events[-1].rule == "auto_after"
    # the township clock starts now: 1 workday to acknowledge
    assert req.ack_due_at == local("2026-10-19 10:20")


def test_no_automatic_escalation_when_auto_after_is_empty(db):
    cfg = config_with(replace={'auto_after = "1 workdays"': 'auto_after = ""', 'township_daily = "08:30"':
                               'township_daily = ""', 'county_weekly = "MON 09:00"': 'county_weekly = ""'})
    chat = make_chat(cfg, db, "2026-10-14 10:20")
    n = register(chat, "报修 自来水停了", room="茶园村干群连心群", sender="杨嫂")
    chat.at("2026-10-30 10:00")
    req, _ = request(chat, n)
    assert req.tier is Tier.VILLAGE and req.proposed_at is not None


def test_rating_window_closes_an_unrated_resolution(db):
    chat = make_chat(quiet_config(), db, "2026-10-12 09:00")
    n = register(chat)
    chat.say(LT, "石支书", f"认领 #{n}")
    chat.say(LT, "石支书", f"办结 #{n} 修好了")
    chat.at("2026-10-15 08:59")
    assert request(chat, n)[0].status is Status.RESOLVED
    chat.at("2026-10-15 09:00")
    req, events = request(chat, n)
    assert req.status is Status.CLOSED and req.rating is None and events[-1].kind is EventKind.EXPIRED
    assert events[-1].rule == "rating_window"
    assert "不能“满意”" in chat.say(LT, "唐命学", f"满意 #{n}")[0].text


def test_daily_digest_to_each_township_leaders_room_on_working_days(chat):
    chat.at("2026-10-12 08:31")
    a = register(chat, "@民情直通车 路灯坏了")
    chat.say(LT, "石支书", f"认领 #{a}")
    chat.say(LT, "石支书", f"办结 #{a} 修好了")
    chat.say(LT, "唐命学", "满意")
    register(chat, "@民情直通车 低保的事", room=MZ, sender="龙老汉")
    said = said_at(chat, "2026-10-13 08:30")
    digests = {s.room: s.text for s in said if "每日简报" in s.text}
    assert set(digests) == {PXL, PJL}
    px = digests[PXL]
    assert "新登记2件，办结1件，认领1件；在办1件，无逾期。" in px
    assert "各村：楼台村 新1 办结1；民主村 新1 在办1" in px  # only villages where something happened
    assert "满意100%（1/1）" in px and len(px.splitlines()) == 4
    assert "无新诉求，无逾期" in digests[PJL] and len(digests[PJL].splitlines()) == 1
    # Saturday and Sunday have no digest; Monday does
    assert not [s for s in said_at(chat, "2026-10-18 23:59") if "每日简报" in s.text and "10月17日" in s.text]
    monday = [s for s in said_at(chat, "2026-10-19 08:30") if "每日简报" in s.text]
    assert len(monday) == 2


def test_digest_lists_overdue_requests_and_how_long(chat):
    n = register(chat, "@民情直通车 低保的事情一直没人管", room=MZ, sender="龙老汉")
    chat.at("2026-10-12 09:00")
    chat.say(MZ, "滕主任", f"认领 #{n}")
    said = said_at(chat, "2026-10-20 08:30")
    px = [s.text for s in said if s.room == PXL][-1]
    lines = px.splitlines()
    assert lines[1] == "逾期1件（最久的在前）："  # what needs the leader comes first
    assert lines[2] == f"#{n} 民主村 超时1天（未办结）经办：滕主任"
    assert lines[-1] == "各村：民主村 在办1 逾期1"


def test_weekly_county_digest_ranks_townships(chat):
    chat.at("2026-10-12 09:30")
    n = register(chat, "@民情直通车 路灯坏了")
    chat.say(LT, "石支书", f"认领 #{n}")
    said = said_at(chat, "2026-10-19 09:00")
    weekly = [s for s in said if s.room == CTY]
    assert len(weekly) == 1 and "每周简报" in weekly[0].text
    lines = weekly[0].text.splitlines()
    assert any(line.startswith("1. 盘信镇 响应100% 解决— 满意—｜得分100.0") for line in lines), lines
    assert lines[-1] == "本月无数据（排在最后）：普觉镇"


def test_weekly_digest_in_a_holiday_week_goes_out_on_the_next_working_day(db, example_config):
    chat = make_chat(example_config, db, "2026-09-30 18:00")
    register(chat)
    said = said_at(chat, "2026-10-08 09:00")
    assert [s.ts for s in said if s.room == CTY] == [local("2026-10-08 09:00")]


def test_missed_digest_is_sent_once_late_after_a_restart(tmp_path, example_config, db):
    chat = make_chat(example_config, db, "2026-10-12 08:00")
    chat.at("2026-10-12 08:30")
    assert len([s for s in chat.take() if "每日简报" in s.text]) == 2
    register(chat)
    # the bot is stopped from Monday evening to Wednesday 10:00: Tuesday's and Wednesday's digests are missed
    clock = chat.clock
    clock.set(local("2026-10-14 10:00"))
    transport = SimulatedTransport(clock)
    restarted = Chat(Relay(example_config, db, transport), clock, transport)
    restarted.relay.tick(clock.now())
    restarted.relay.flush(clock.now())
    digests = [s for s in restarted.take() if "每日简报" in s.text]
    assert len(digests) == 2  # one per township, not one per missed day
    px = [d for d in digests if d.room == PXL][0].text
    assert "补发：原定10月14日(周三) 08:30" in px
    assert "10月12日(周一) 08:30以来" in px and "新登记1件" in px  # covers the whole gap
    restarted.relay.tick(clock.now())
    restarted.relay.flush(clock.now())
    assert restarted.take() == []


def test_nothing_is_sent_twice_when_two_processes_tick_together(example_config, db):
    chat = make_chat(example_config, db, "2026-10-12 09:00")
    n = register(chat)
    chat.at("2026-10-13 08:59")
    chat.take()
    other_transport = SimulatedTransport(chat.clock)
    other = Relay(example_config, db, other_transport)
    t = local("2026-10-13 09:00")
    chat.clock.set(t)
    chat.relay.tick(t)
    other.tick(t)
    chat.relay.flush(t)
    other.flush(t)
    texts = [s.text for s in chat.transport.said + other_transport.said]
    assert sum("【提请上报】" in x for x in texts) == 1
    assert sum("每日简报" in x for x in texts) == 0  # 08:30 was before this database's clock started
    _, events = request(chat, n)
    assert [e.kind for e in events].count(EventKind.PROPOSED) == 1


def test_queued_messages_survive_a_restart_and_interrupted_sends_are_not_repeated(example_config, db, caplog):
    chat = make_chat(example_config, db, "2026-10-12 09:00")
    chat.relay.receive(chat_message(chat, "@民情直通车 路灯坏了"))  # queued, the process "dies" before sending
    chat.relay.receive(chat_message(chat, "@民情直通车 水沟堵了", "m2"))
    with db.transaction() as tx:
        first, second = tx.outbox()
        first.status = "sending"  # caught mid-send
        tx.save(first)
    transport = SimulatedTransport(chat.clock)
    relay = Relay(example_config, db, transport)
    with caplog.at_level(logging.WARNING):
        abandoned = relay.outbox.recover(chat.clock.now())
    assert [r.id for r in abandoned] == [first.id] and "not sent again" in caplog.text
    relay.flush(chat.clock.now())
    assert [s.text for s in transport.said] == [second.text]


def test_failed_sends_are_retried_with_backoff(example_config, db):
    chat = make_chat(example_config, db, "2026-10-12 09:00")
    chat.transport.fail_rooms.add(LT)
    assert chat.say(LT, "唐命学", "@民情直通车 路灯坏了") == []
    with db.transaction() as tx:
        row = tx.outbox()[0]
    assert row.attempts == 1 and row.not_before is not None
    chat.transport.fail_rooms.clear()
    chat.relay.flush(row.not_before)
    assert len(chat.take()) == 1


def chat_message(chat, text, msg_id="m1"):
    from routing.model import Inbound

    return Inbound(ts=chat.clock.now(), room=LT, sender="唐命学", text=text, msg_id=msg_id,
                   sender_id="wxid_a", mentions_bot=True)


def test_replay_spanning_days_runs_jobs_at_their_due_times(tmp_path):
    lines = [
        {"ts": "2026-10-13T09:00:00+08:00", "room": MZ, "sender": "龙老汉", "text": "@民情直通车 低保申请没回音"},
        {"ts": "2026-10-14T09:30:00+08:00", "room": MZ, "sender": "滕主任", "text": "确认上报 #1"},
    ]
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n", encoding="utf-8")
    r = run("replay", "-c", str(EXAMPLE), str(f), "--until", "2026-10-15T09:00:00+08:00")
    assert r.code == 0, r.err
    out = r.json_lines()
    stamps = [(o["ts"], o["room"], o["text"].split("\n")[0][:8]) for o in out]
    assert ("2026-10-14T08:30:00+08:00", PXL, "【盘信镇每日简报") in stamps
    assert ("2026-10-14T09:00:00+08:00", MZ, "@民情直通车"[:0] + "【提请上报】#1") in stamps
    assert [o["ts"] for o in out] == sorted(o["ts"] for o in out)
    assert out[-1]["ts"] == "2026-10-15T08:30:00+08:00"  # the digests of the --until stretch

"""`minqing run` end to end: the real process against the real puppet-service test gateway.

These tests wait on real processes, always by polling with a bounded deadline. They skip when
Node.js is missing, except under CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_harness import Gateway, GatewayMessage, poll_until
from minqing_process import TOKEN_ENV, MinqingProcess

pytestmark = pytest.mark.integration

BOT = "民情直通车"
AT = "\u2005"  # WeChat puts this after "@name" in a mention
VILLAGE = "楼台村干群连心群"
TOWNSHIP = "盘信镇二级工作群"
OTHER_VILLAGE = "民主村干群连心群"
UNCONFIGURED = "楼台村广场舞群"
VILLAGER, VILLAGER_ID = "唐命学", "wxid_tangmx"
CADRE, CADRE_ID = "石支书", "wxid_shi"
STAFF, STAFF_ID = "杨主任", "wxid_yang"


@pytest.fixture
def minqing(tmp_path: Path, gateway: Gateway, wechaty_client: None) -> Iterator[object]:
    """Start `minqing run` processes: factory(**options) -> an unstarted MinqingProcess."""
    procs: list[MinqingProcess] = []

    def make(**options: object) -> MinqingProcess:
        folder = options.pop("folder", None) or tmp_path / f"bot{len(procs) + 1}"
        proc = MinqingProcess(folder, options.pop("gateway", gateway), **options)  # type: ignore[arg-type]
        procs.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in procs:
            proc.stop()


def started(proc: MinqingProcess, gateway: Gateway, streams: int = 1) -> MinqingProcess:
    """Start the bot and wait until it is logged in through the gateway."""
    proc.start()
    proc.wait_log("login", timeout=30)
    gateway.wait_until_connected(timeout=10, streams_opened=streams)
    return proc


def mention(text: str) -> str:
    return f"@{BOT}{AT}{text}"


def sent_after(gateway: Gateway, seq: int, room: str, fragment: str, timeout: float = 10.0) -> GatewayMessage:
    return gateway.wait_for_sent(lambda m: m.room == room and fragment in m.text, since=seq, timeout=timeout)


def test_a_request_goes_up_to_the_township_and_its_result_comes_back(gateway: Gateway, minqing) -> None:
    bot = started(minqing(), gateway)

    # a request in a village group: registered, answered with its number, the villager mentioned
    t0 = time.monotonic()
    said = gateway.say(VILLAGE, VILLAGER, mention("二组的路灯坏了三盏，晚上看不见"), mentions=[BOT])
    reply = sent_after(gateway, 0, VILLAGE, "#1")
    latency = time.monotonic() - t0
    assert reply.text.startswith(f"@{VILLAGER} 收到，已登记为 #1。")
    assert reply.mention_ids == (VILLAGER_ID,)
    assert latency < 5, latency
    print(f"\nmessage -> reply through minqing run: {latency * 1000:.0f} ms")

    # the same message delivered again by the gateway is handled once
    gateway.redeliver(said.message_id)
    bot.wait_log("received", count=2, msg_id=said.message_id)
    poll_until(lambda: any(f"duplicate delivery of message {said.message_id}" in r["msg"] for r in bot.records),
               10, what="the duplicate to be skipped")

    # an image is ignored; a command from someone without the right role is refused politely
    gateway.send_image(VILLAGE, VILLAGER)
    gateway.say(VILLAGE, VILLAGER, "认领 #1")
    refused = sent_after(gateway, reply.seq, VILLAGE, "抱歉")
    assert refused.seq == reply.seq + 1  # nothing was said about the duplicate or the image
    assert refused.mention_ids == (VILLAGER_ID,)

    # a village cadre escalates: posted in the township group, its staff mentioned by their ids
    # (they are configured by name: the bot finds them among the group's members)
    gateway.say(VILLAGE, CADRE, "上报 #1 需要镇里协调")
    post = sent_after(gateway, refused.seq, TOWNSHIP, "【上报】#1")
    assert set(post.mention_ids) == {STAFF_ID, "wxid_longgs"}
    assert "需要镇里协调" in post.text

    # township staff claim and resolve it; the result reaches the villager, who rates it
    gateway.say(TOWNSHIP, STAFF, "认领 #1")
    gateway.say(TOWNSHIP, STAFF, "办结 #1 已更换三盏路灯")
    result = sent_after(gateway, post.seq, VILLAGE, "已办结")
    assert "已更换三盏路灯" in result.text and result.mention_ids == (VILLAGER_ID,)
    gateway.say(VILLAGE, VILLAGER, "满意")
    sent_after(gateway, result.seq, VILLAGE, "感谢评价")

    # the display name is the group alias when there is one
    gateway.say(VILLAGE, "唐驻村", "大家好")
    # a group not in the config: ignored, logged once with its topic
    gateway.say(UNCONFIGURED, "龙大姐", mention("今晚跳舞吗"), mentions=[BOT])
    gateway.say(UNCONFIGURED, "龙大姐", "跳")
    bot.wait_log("received", count=2, room=UNCONFIGURED)
    bot.wait_log("received", room=VILLAGE, where=lambda r: "驻村干部唐" in r["msg"])

    assert bot.stop(signal.SIGTERM) == 0
    unknown = [r for r in bot.records if UNCONFIGURED in r["msg"] and r["level"] == "warning"]
    assert len(unknown) == 1 and "不在配置里的群" in unknown[0]["msg"] and unknown[0]["event"] == "room_not_configured"
    assert not [m for m in gateway.sent_messages() if m.room == UNCONFIGURED]

    # what the operator sees afterwards
    listing = json.loads(bot.cli("list", "--json", "--unmask").stdout)
    assert [(r["id"], r["status"], r["tier"], r["requester"], r["rating"]) for r in listing] == [
        (1, "closed", "township", VILLAGER, "satisfied")]
    people = bot.cli("people").stdout
    assert "驻村干部唐" in people and "wxid_tangzc" in people
    rooms = bot.cli("rooms").stdout
    assert UNCONFIGURED in rooms

    # the log: one JSON line per event, the token nowhere, the SDK's cache in the data folder
    events = {r.get("event") for r in bot.records}
    assert {"started", "connecting", "login", "received", "transition", "sent", "stopping", "stopped"} <= events
    transitions = [r["msg"] for r in bot.events("transition")]
    assert [t.split()[2] for t in transitions] == ["registered", "escalated", "claimed", "resolved", "satisfied"]
    assert len(bot.events("sent")) == len(gateway.sent_messages())
    assert gateway.token not in bot.log_text() + bot.stdout
    assert not bot.other_lines, bot.other_lines[:5]  # nothing but JSON lines on stderr
    assert not (bot.cwd / ".wechaty").exists()
    assert list(bot.cwd.iterdir()) == []
    assert (bot.data_dir / "wechaty").is_dir()


def test_a_gateway_restart_in_the_middle(gateway: Gateway, minqing) -> None:
    bot = started(minqing(), gateway)
    first = gateway.say(VILLAGE, VILLAGER, mention("自来水停了三天"), mentions=[BOT])
    reply = sent_after(gateway, 0, VILLAGE, "#1")

    # the gateway goes down (its WeChat session too) and comes back; what was said in between
    # never reaches the bot, which notices the drop, reconnects, and tells the active group
    gateway.stop_grpc()
    bot.wait_log("disconnected")
    lost = gateway.say(VILLAGE, "龙大姐", mention("断线时反映的事"), mentions=[BOT])
    gateway.start_grpc()
    back = time.monotonic()
    gateway.wait_until_connected(timeout=20, streams_opened=2)
    bot.wait_log("login", count=2)
    reconnect = time.monotonic() - back
    print(f"\nreconnected {reconnect:.2f}s after the gateway came back")
    assert reconnect < 5
    notice = sent_after(gateway, reply.seq, VILLAGE, "没有收到", timeout=15)
    assert "请重新发一次" in notice.text and notice.mention_ids == ()
    assert bot.wait_log("reconnected")["msg"].startswith("重新上线")

    # after the reconnect every message is handled exactly once
    again = gateway.say(VILLAGE, "龙大姐", mention("断线时反映的事，再发一次"), mentions=[BOT])
    reply2 = sent_after(gateway, notice.seq, VILLAGE, "#2")
    assert reply2.mention_ids == ("wxid_long",)
    gateway.redeliver(first.message_id)
    gateway.say(VILLAGE, VILLAGER, "进度 #1")
    progress = sent_after(gateway, reply2.seq, VILLAGE, "#1")
    assert progress.seq == reply2.seq + 1
    assert bot.stop() == 0

    # only groups with activity got a notice: here the village group alone
    assert [m.room for m in gateway.sent_messages() if "没有收到" in m.text] == [VILLAGE]
    received = [r["msg_id"] for r in bot.events("received")]
    assert lost.message_id not in received and received.count(again.message_id) == 1
    assert [r["id"] for r in json.loads(bot.cli("list", "--json").stdout)] == [1, 2]
    assert len(bot.events("offline")) == 1


def test_a_wrong_token_stops_the_bot_with_a_clear_message(gateway: Gateway, minqing) -> None:
    bot = minqing(token="wrong-token-4711").start()
    assert bot.wait_exit(timeout=30) == 2
    failure = bot.events("startup_failed")
    assert len(failure) == 1
    assert "网关拒绝了 token" in failure[0]["msg"] and "UNAUTHENTICATED" in failure[0]["msg"]
    assert TOKEN_ENV in failure[0]["msg"]
    assert "wrong-token-4711" not in bot.log_text() + bot.stdout
    assert gateway.health()["auth_rejections"] >= 1


def test_a_gateway_that_is_down_at_start_is_waited_for(gateway: Gateway, minqing) -> None:
    gateway.stop_grpc()
    bot = minqing().start()
    failed = bot.wait_log("connect_failed", timeout=20)
    assert gateway.endpoint in failed["msg"] and "秒后再试" in failed["msg"]
    bot.wait_log("connect_failed", count=2, timeout=20)  # it keeps trying, with backoff
    up = time.monotonic()
    gateway.start_grpc()
    bot.wait_log("login", timeout=30)
    print(f"\nlogged in {time.monotonic() - up:.2f}s after the gateway came up")
    gateway.say(VILLAGE, VILLAGER, mention("路灯坏了"), mentions=[BOT])
    sent_after(gateway, 0, VILLAGE, "#1")
    assert not [m for m in gateway.sent_messages() if "没有收到" in m.text]  # a first start loses nothing
    assert bot.stop(signal.SIGINT) == 0


def test_sends_are_paced_and_a_restart_loses_nothing_queued(gateway: Gateway, minqing, tmp_path: Path) -> None:
    first = started(minqing(room_interval=0.6, folder=tmp_path / "bot"), gateway)
    for i, what in enumerate(("路灯坏了", "自来水停了", "垃圾没人收")):
        gateway.say(VILLAGE, VILLAGER, mention(f"{what}（第{i + 1}件）"), mentions=[BOT])
    sent_after(gateway, 0, VILLAGE, "#1")
    assert first.stop() == 0  # before the other replies: they stay queued

    second = started(minqing(room_interval=0.6, folder=tmp_path / "bot"), gateway, streams=2)
    gateway.wait_for(lambda: len([m for m in gateway.sent_messages() if "已登记为" in m.text]) == 3, timeout=15,
                     what="all three replies")
    notice = sent_after(gateway, 0, VILLAGE, "没有收到", timeout=15)  # the time it was stopped counts too
    assert second.stop() == 0

    replies = [m for m in gateway.sent_messages() if "已登记为" in m.text]
    assert sorted(m.text.split("已登记为 ")[1][:2] for m in replies) == ["#1", "#2", "#3"]
    village = [m.ts for m in gateway.sent_messages() if m.room == VILLAGE]
    gaps = [b - a for a, b in zip(village, village[1:], strict=False)]
    assert min(gaps) >= 0.6, gaps  # one message every 0.6 s in a group, across the restart too
    assert notice.room == VILLAGE


def test_the_plugin_port_is_honoured(gateway: Gateway, minqing) -> None:
    bot = minqing()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", bot.plugin_port))
        taken.listen()
        bot.start()
        assert bot.wait_exit(timeout=30) == 2
    failure = bot.events("startup_failed")[0]["msg"]
    assert f"端口 {bot.plugin_port} 已被占用" in failure and "plugin_port" in failure
    assert gateway.health()["client_starts"] == 0  # it never connected

    # the SDK's own plugin server is told to use 127.0.0.1 and the configured port
    probe = (
        "import asyncio, logging, sys\n"
        "from bot.wechat.supervisor import load_adapter\n"
        "from pathlib import Path\n"
        "adapter = load_adapter(Path(sys.argv[1]))\n"
        "async def main():\n"
        "    gw = adapter.WechatyGateway('127.0.0.1:1', 't', int(sys.argv[2]), 'x', None, None)\n"
        "    print(gw.bot._plugin_manager.endpoint)\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(bot.data_dir / "wechaty"), str(bot.plugin_port)],
                         cwd=bot.cwd, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == str(("127.0.0.1", bot.plugin_port)), out.stderr[-2000:]
    assert not (bot.cwd / ".wechaty").exists()


def test_a_private_request_and_a_confidential_complaint_through_the_gateway(gateway: Gateway, minqing) -> None:
    """Private messages both ways: a villager writes to the bot privately; a 纪检监察 complaint in the village
    group gets only its number there, the rest privately (shared/design.md, section 8)."""
    bot = started(minqing(), gateway)
    gateway.say(VILLAGE, VILLAGER, "大家好")  # now the bot knows which village he is of
    gateway.say_privately(VILLAGER, "二组的路灯坏了三盏，电话13812345678")
    mine = gateway.wait_for_sent(lambda m: m.room is None and m.to_id == VILLAGER_ID and "已登记为 #1" in m.text)
    post = sent_after(gateway, 0, VILLAGE, "私信诉求 #1")
    assert "13812345678" not in post.text and set(post.mention_ids) == {"wxid_tangzc", CADRE_ID}
    gateway.say(VILLAGE, CADRE, "认领 #1")
    notice = gateway.wait_for_sent(lambda m: m.room is None and m.to_id == VILLAGER_ID and "石支书" in m.text,
                                   since=mine.seq)
    assert not [m for m in gateway.sent_messages(notice.seq - 1) if m.room == VILLAGE and VILLAGER_ID in m.mention_ids]

    seq = gateway.last_sent_seq()
    gateway.say(OTHER_VILLAGE, "田大哥", "投诉 村里低保评定优亲厚友，村干部亲戚都评上了")
    public = sent_after(gateway, seq, OTHER_VILLAGE, "#2")
    assert "纪检监察" not in public.text and "优亲厚友" not in public.text
    private = gateway.wait_for_sent(lambda m: m.room is None and m.to_id == "wxid_tiandg", since=seq)
    assert "纪检监察" in private.text
    sent_after(gateway, seq, TOWNSHIP, "优亲厚友")
    assert bot.stop(signal.SIGTERM) == 0


def test_an_urgent_notice_down_the_tiers_through_the_gateway(gateway: Gateway, minqing) -> None:
    """A township's urgent notice reaches its villages with their cadres mentioned by id; one village answers
    收到, the other is reminded once, and the township's room gets the report (urgent notices run on calendar
    time: here a few seconds, set in the config)."""
    proc = minqing()
    text = proc.config_path.read_text(encoding="utf-8")
    for key, value in (("urgent_remind_after", "0.002 hours"), ("urgent_report_after", "0.004 hours")):
        text, n = re.subn(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, count=1, flags=re.MULTILINE)
        assert n == 1, key
    proc.config_path.write_text(text, encoding="utf-8")
    bot = started(proc, gateway)

    gateway.say(TOWNSHIP, STAFF, "紧急通知 全镇 今晚有暴雨，请立即排查地质灾害隐患点")
    confirm = sent_after(gateway, 0, TOWNSHIP, "紧急通知#1 已发到 2 个群")
    posts = {room: gateway.wait_for_sent(lambda m, r=room: m.room == r and "【紧急通知#1】" in m.text, since=0)
             for room in (VILLAGE, OTHER_VILLAGE)}
    assert set(posts[VILLAGE].mention_ids) == {"wxid_tangzc", CADRE_ID}
    assert posts[OTHER_VILLAGE].mention_ids == ("wxid_teng",)
    assert "今晚有暴雨" in posts[VILLAGE].text and confirm.mention_ids == (STAFF_ID,)

    gateway.say(OTHER_VILLAGE, "滕主任", "收到")
    ack = sent_after(gateway, confirm.seq, OTHER_VILLAGE, "已记录")
    reminder = sent_after(gateway, ack.seq, VILLAGE, "【提醒】紧急通知#1", timeout=30)
    assert set(reminder.mention_ids) == {"wxid_tangzc", CADRE_ID}
    report = sent_after(gateway, reminder.seq, TOWNSHIP, "【通知#1 确认情况】", timeout=30)
    assert "已收到 1/2" in report.text and "盘信镇民主村" in report.text and "滕主任" in report.text
    # the straggling village's cadres are mentioned where they are members of the township's room
    assert report.mention_ids == ("wxid_tangzc",)
    assert not [m for m in gateway.sent_messages() if m.room == OTHER_VILLAGE and "【提醒】" in m.text]

    assert bot.stop(signal.SIGTERM) == 0
    [notice] = json.loads(bot.cli("notices", "--json").stdout)
    units = {u["unit"]: u for u in notice["units"]}
    assert notice["urgent"] is True and units["盘信镇民主村"]["acknowledged_by"] == "滕主任"
    assert units["盘信镇楼台村"]["acknowledged_at"] is None and units["盘信镇楼台村"]["reminded_at"] is not None


def test_at_login_a_misnamed_room_is_reported_with_the_closest_group(gateway: Gateway, minqing) -> None:
    """The account's groups come from the real gateway (python-wechaty's Room.find_all): a configured room
    with one wrong character is logged with the group whose name is closest; `minqing rooms` marks it."""
    bot = minqing()
    typo = "民主村干群联心群"
    bot.config_path.write_text(bot.config_path.read_text(encoding="utf-8").replace(OTHER_VILLAGE, typo),
                               encoding="utf-8")
    started(bot, gateway)
    checked = bot.wait_log("rooms_checked", timeout=30)
    assert "1 configured ones missing" in checked["msg"], checked
    (missing,) = bot.events("room_missing")
    assert typo in missing["msg"] and f"最接近的是“{OTHER_VILLAGE}”" in missing["msg"]
    rooms = subprocess.run([sys.executable, "-m", "bot.cli", "rooms", "-c", str(bot.config_path)],
                           capture_output=True, text=True, timeout=60, cwd=bot.cwd, env=bot.env)
    assert rooms.returncode == 0, rooms.stderr
    assert f"✗ {typo}  ← 最接近的群名：{OTHER_VILLAGE}" in rooms.stdout
    assert bot.stop() == 0

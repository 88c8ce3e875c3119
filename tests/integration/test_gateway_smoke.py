"""Smoke tests of the Wechaty test gateway, alone and with a real python-wechaty client."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from gateway_harness import (
    DEFAULT_FIXTURE,
    EchoBotProcess,
    Gateway,
    GatewayError,
    free_port,
    poll_until,
)

VILLAGE = "楼台村干群连心群"
TOWNSHIP = "盘信镇二级工作群"
BOT = "民情直通车"
BOT_ID = "wxid_bot"
VILLAGER = "唐命学"
VILLAGER_ID = "wxid_tangmx"
CADRE = "唐驻村"
CADRE_ID = "wxid_tangzc"
AT = "\u2005"  # WeChat puts this after "@name" in a mention


# ---------------------------------------------------------------- the gateway alone


def test_gateway_is_ready_with_the_fixture(gateway: Gateway) -> None:
    health = gateway.health()
    assert health["grpc_running"] is True
    assert health["logged_in"] is True
    assert health["user"] == {"id": BOT_ID, "name": BOT}
    assert health["client_connected"] is False
    assert health["grpc"] == gateway.endpoint

    view = gateway.fixture_view()
    rooms = {r["topic"]: r for r in view["rooms"]}
    assert set(rooms) == {r["topic"] for r in DEFAULT_FIXTURE["rooms"]}
    assert all("@" in r["id"] for r in view["rooms"])
    village = rooms[VILLAGE]
    assert village["members"][0] == {"id": BOT_ID, "name": BOT, "alias": ""}  # the bot is in every room
    assert {"id": CADRE_ID, "name": CADRE, "alias": "驻村干部唐"} in village["members"]


def test_control_api_records_what_people_say(gateway: Gateway) -> None:
    said = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}路灯坏了", mentions=[BOT])
    assert said.seq == 1
    assert said.room == VILLAGE and said.room_id == "loutai@chatroom"
    assert said.sender == VILLAGER and said.sender_id == VILLAGER_ID
    assert said.mention_ids == (BOT_ID,) and said.mention_names == (BOT,)
    assert said.type == "text" and said.message_id

    # rooms and people may be named by id too
    by_id = gateway.say("loutai@chatroom", CADRE_ID, "收到", mentions=[VILLAGER_ID])
    assert by_id.sender == CADRE and by_id.mention_names == (VILLAGER,)

    image = gateway.send_image(TOWNSHIP, "杨主任")
    assert image.type == "image" and image.text == ""

    assert [m.seq for m in gateway.said_messages()] == [1, 2, 3]
    assert [m.seq for m in gateway.said_messages(since=2)] == [3]
    assert gateway.sent_messages() == []  # nobody answered: no client
    assert gateway.last_sent_seq() == 0

    with pytest.raises(GatewayError, match="unknown room"):
        gateway.say("没有这个群", VILLAGER, "hi")
    with pytest.raises(GatewayError, match="unknown mention"):
        gateway.say(VILLAGE, VILLAGER, "hi", mentions=["nobody"])


def test_restart_and_stop_start_keep_the_port_and_log_in_again(gateway: Gateway) -> None:
    health = gateway.restart(down=0.2)
    assert health["grpc_running"] and health["logged_in"] and health["restarts"] == 1
    assert health["grpc"] == gateway.endpoint

    down = gateway.stop_grpc()
    assert down["grpc_running"] is False and down["logged_in"] is False
    with pytest.raises(GatewayError, match="not running"):
        gateway.stop_grpc()
    up = gateway.start_grpc()
    assert up["grpc_running"] is True and up["logged_in"] is True
    assert "grpc-stopped" in gateway.log_text() and "grpc-started" in gateway.log_text()


def test_two_gateways_run_side_by_side(gateway_installed: None) -> None:
    with Gateway(token="a") as first, Gateway(token="b") as second:
        assert first.endpoint != second.endpoint
        assert first.health()["logged_in"] and second.health()["logged_in"]


def test_gateway_reports_a_bad_fixture(gateway_installed: None, tmp_path: Path) -> None:
    bad = {"bot": {"name": BOT}, "rooms": [{"id": "no-at-sign", "topic": "群"}]}
    with pytest.raises(GatewayError, match="must contain @"):
        Gateway(bad, startup_timeout=15).start()


# ---------------------------------------------------------------- with python-wechaty


def test_wechaty_client_receives_a_mention_and_its_reply_reaches_the_gateway(
    gateway: Gateway, echo_bot_factory, tmp_path: Path
) -> None:
    bot: EchoBotProcess = echo_bot_factory(gateway.client_env())
    gateway.wait_until_connected(timeout=20)
    login = bot.wait_event("login", timeout=20)
    assert login["id"] == BOT_ID and login["name"] == BOT

    said = gateway.say(VILLAGE, CADRE, f"@{BOT}{AT}产业路不通，希望修一条", mentions=[BOT])
    got = bot.wait_event("message", id=said.message_id)
    assert got["topic"] == VILLAGE and got["room_id"] == said.room_id
    assert got["talker_id"] == CADRE_ID and got["talker_name"] == CADRE
    assert got["room_alias"] == "驻村干部唐"
    assert got["text"] == f"@{BOT}{AT}产业路不通，希望修一条"
    assert got["mention_text"] == "产业路不通，希望修一条"
    assert got["mention_ids"] == [BOT_ID] and got["mention_self"] is True
    assert got["type"] == "MESSAGE_TYPE_TEXT"
    assert got["timestamp"] == said.raw["ts"]  # the payload's timestamp: milliseconds since the epoch

    reply = gateway.wait_for_sent(lambda m: m.room == VILLAGE, timeout=10)
    assert reply.text == f"@{CADRE} 收到：产业路不通，希望修一条"  # the SDK prefixes "@name "
    assert reply.mention_ids == (CADRE_ID,) and reply.mention_names == (CADRE,)
    assert reply.type == "text"
    replied = bot.wait_event("replied", id=said.message_id)
    assert replied["reply_id"] == reply.message_id
    # the bot's own message comes back to it as a message event
    bot.wait_event("self", id=reply.message_id)

    # a message without a mention, and a non-text message
    plain = gateway.say(VILLAGE, VILLAGER, "反映很快啊")
    got_plain = bot.wait_event("message", id=plain.message_id)
    assert got_plain["mention_ids"] == [] and got_plain["mention_self"] is False
    image = gateway.send_image(VILLAGE, VILLAGER)
    got_image = bot.wait_event("message", id=image.message_id)
    assert got_image["type"] == "MESSAGE_TYPE_IMAGE" and got_image["text"] == ""
    gateway.wait_for_sent(lambda m: "反映很快啊" in m.text, since=reply.seq)
    # the echo bot decides on a reply right after logging a message, with nothing awaited in
    # between: once the image's "message" event is seen, no answer to it can still come
    assert [m.text for m in gateway.sent_messages(since=reply.seq)] == [f"@{VILLAGER} 收到：反映很快啊"]

    assert bot.stop() == 0
    assert bot.find("stopped")
    gateway.wait_for(lambda: not gateway.health()["client_connected"], timeout=5, what="the client to leave")
    # CACHE_DIR takes the SDK's files; nothing lands in the working directory
    assert (tmp_path / "bot1" / "cache").is_dir()
    assert not (tmp_path / "bot1" / "cwd" / ".wechaty").exists()

    # the next client restarts the puppet again, and the bot user logs in again
    second: EchoBotProcess = echo_bot_factory(gateway.client_env())
    assert second.wait_event("login", timeout=20)["id"] == BOT_ID
    gateway.wait_until_connected(timeout=10, streams_opened=2)
    again = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}第二个客户端", mentions=[BOT])
    second.wait_event("replied", id=again.message_id)
    assert gateway.health()["puppet_starts"] >= 3  # at boot, then once per client


def test_wrong_token_is_unauthenticated(gateway: Gateway, echo_bot_factory) -> None:
    stock = echo_bot_factory(gateway.client_env(token="wrong-token"))
    returned = stock.wait_event("start-returned", timeout=20)
    # Wechaty.start() print()s the gRPC error and returns as if all were well
    assert returned["error"] is None
    assert any("UNAUTHENTICATED" in line and "wrong-token" in line for line in stock.raw_lines)
    assert not stock.find("login")

    supervised = echo_bot_factory(gateway.client_env(token="wrong-token"), mode="supervised")
    fatal = supervised.wait_event("fatal", timeout=20)
    assert fatal["status"] == "UNAUTHENTICATED"
    assert fatal["detail"] == 'Invalid Wechaty TOKEN "wrong-token"'

    health = gateway.health()
    assert health["auth_rejections"] >= 2 and health["event_streams_opened"] == 0
    assert 'auth-rejected method="start"' in gateway.log_text()


def test_supervised_client_reconnects_after_a_gateway_restart(gateway: Gateway, echo_bot_factory) -> None:
    bot = echo_bot_factory(gateway.client_env(), mode="supervised", retry=0.5)
    gateway.wait_until_connected(timeout=20)
    bot.wait_event("login", timeout=20)
    first = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}重启前", mentions=[BOT])
    bot.wait_event("replied", id=first.message_id)

    gateway.restart(down=1.0)
    started = time.monotonic()
    gateway.wait_until_connected(timeout=20, streams_opened=2)
    assert time.monotonic() - started < 10
    bot.wait_event("login", count=2, timeout=10)  # on_login runs again after a reconnect
    assert bot.wait_event("disconnected")["reason"]
    after = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}重连后", mentions=[BOT])
    bot.wait_event("replied", id=after.message_id)
    assert len(bot.find("message", id=after.message_id)) == 1  # delivered once

    # said while the gateway is down: there is no stream to carry it, and
    # nothing replays it after the reconnect
    gateway.stop_grpc()
    lost = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}断线时", mentions=[BOT])
    gateway.start_grpc()
    gateway.wait_until_connected(timeout=20, streams_opened=3)
    last = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}又连上了", mentions=[BOT])
    bot.wait_event("replied", id=last.message_id)
    assert not bot.find("message", id=lost.message_id)
    texts = [m.text for m in gateway.sent_messages()]
    assert texts == [f"@{VILLAGER} 收到：{t}" for t in ("重启前", "重连后", "又连上了")]


def test_supervised_client_waits_for_a_gateway_that_is_down_at_start(
    gateway: Gateway, echo_bot_factory
) -> None:
    gateway.stop_grpc()
    bot = echo_bot_factory(gateway.client_env(), mode="supervised", retry=0.3)
    failed = bot.wait_event("disconnected", timeout=20)
    assert "can't not ping endpoint" in failed["reason"]  # the SDK's wording
    gateway.start_grpc()
    gateway.wait_until_connected(timeout=20)
    bot.wait_event("login", timeout=10)
    said = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}你好", mentions=[BOT])
    bot.wait_event("replied", id=said.message_id)


def test_stock_client_dies_when_the_gateway_is_down_at_start(echo_bot_factory) -> None:
    port = free_port()  # nothing listens there
    env = {
        "WECHATY_PUPPET_SERVICE_ENDPOINT": f"127.0.0.1:{port}",
        "WECHATY_PUPPET_SERVICE_TOKEN": "any",
    }
    bot = echo_bot_factory(env)
    poll_until(lambda: bot.returncode is not None, timeout=20, interval=0.05, what="the stock client to exit")
    assert bot.returncode == 1
    log = bot.log_text()
    assert "can't not ping endpoint" in log
    assert "Event loop stopped before Future completed" in log  # Wechaty.start() called loop.stop()


@pytest.mark.skipif(
    os.environ.get("MINQING_SLOW_TESTS") != "1", reason="takes over a minute; set MINQING_SLOW_TESTS=1"
)
def test_stock_client_reconnects_60_seconds_after_a_gateway_restart(gateway: Gateway, echo_bot_factory) -> None:
    bot = echo_bot_factory(gateway.client_env())
    gateway.wait_until_connected(timeout=20)
    bot.wait_event("login", timeout=20)
    gateway.restart()
    started = time.monotonic()
    gateway.wait_until_connected(timeout=90, streams_opened=2)
    assert 55 < time.monotonic() - started < 75
    assert "the bot will try to restart after 60 seconds" in bot.log_text()
    said = gateway.say(VILLAGE, VILLAGER, f"@{BOT}{AT}一分钟后", mentions=[BOT])
    bot.wait_event("replied", id=said.message_id)

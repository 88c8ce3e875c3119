"""Alerts to the operator: a local server that behaves like the WeCom group-robot webhook (including its
errors), a local SMTP server (aiosmtpd), at most one alert per cause an hour (a fake clock), never blocking;
what the live bot watches (logout, QR code, gateway down, messages given up or failed, rooms, holiday years)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.alerts import Alert, AlertError, Alerter, Mail, WeComRobot, channels, clip
from bot.clock import ManualClock
from bot.config import AlertsCfg
from bot.monitor import Monitor, account_rooms, missing_rooms
from bot.wechat.supervisor import LiveBot, StartupError, live_settings
from routing.model import Inbound
from storage.db import Database
from tests.bot.cli_helpers import run
from tests.bot.test_live import FakeGateway, settings, stop_now
from tests.conftest import EXAMPLE, LT, MZ, config_with
from tests.fakes import local
from tests.integration.gateway_harness import poll_until

T0 = local("2026-10-12 09:00")


# --- a local WeCom webhook ------------------------------------------------------------------------
class WeComServer:
    """Answers like https://qyapi.weixin.qq.com/cgi-bin/webhook/send: JSON in, {"errcode": 0, "errmsg": "ok"} out,
    an errcode for a bad key or too many messages; records every body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.answer: dict | None = {"errcode": 0, "errmsg": "ok"}
        self.status = 200
        self.hold = threading.Event()
        self.hold.set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                server.hold.wait(10)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if "key=" not in self.path:
                    answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
                else:
                    try:
                        server.bodies.append(json.loads(body))
                    except ValueError:
                        answer = {"errcode": 40008, "errmsg": "invalid message type"}
                    answer = server.answer
                data = json.dumps(answer).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cgi-bin/webhook/send?key=test-key"

    def close(self) -> None:
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def wecom():
    server = WeComServer()
    yield server
    server.close()


def an_alert(cause="logout") -> Alert:
    return Alert(cause, "微信账号已退出登录", "请在网关上重新扫码登录。", T0)


def test_the_webhook_gets_a_text_message_in_its_format(wecom):
    WeComRobot(wecom.url).send(an_alert(), "松桃县")
    (body,) = wecom.bodies
    assert body["msgtype"] == "text"
    assert body["text"]["content"] == "【民情直通车·松桃县】微信账号已退出登录\n请在网关上重新扫码登录。"


@pytest.mark.parametrize("answer, meaning", [
    ({"errcode": 45009, "errmsg": "api freq out of limit"}, "调用太频繁"),
    ({"errcode": 93000, "errmsg": "invalid webhook url"}, "webhook 地址无效"),
    ({"errcode": 12345, "errmsg": "something else"}, "errcode 12345 something else"),
])
def test_the_webhooks_errors_are_reported_with_their_meaning(wecom, answer, meaning):
    wecom.answer = answer
    with pytest.raises(AlertError, match=meaning):
        WeComRobot(wecom.url).send(an_alert(), "松桃县")


def test_a_webhook_without_a_key_or_unreachable_or_failing(wecom):
    with pytest.raises(AlertError, match="93000"):
        WeComRobot(wecom.url.split("?")[0]).send(an_alert(), "松桃县")
    wecom.status = 502
    with pytest.raises(AlertError, match="HTTP 502"):
        WeComRobot(wecom.url).send(an_alert(), "松桃县")
    port = wecom.httpd.server_address[1]
    wecom.close()
    with pytest.raises(AlertError, match="连不上"):
        WeComRobot(f"http://127.0.0.1:{port}/send?key=k", timeout=2).send(an_alert(), "松桃县")


def test_a_long_text_is_cut_to_what_the_robot_takes():
    text = "很长" * 2000
    cut = clip(text, 2048)
    assert len(cut.encode("utf-8")) <= 2048 and cut.endswith("…") and clip("短", 2048) == "短"


# --- a local SMTP server -------------------------------------------------------------------------
class Inbox:
    def __init__(self) -> None:
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"bot", b"pw")
    return AuthResult(success=ok)


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a port it can connect to once started: a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    yield inbox, port
    controller.stop()


def test_an_alert_by_mail(smtp):
    inbox, port = smtp
    Mail("127.0.0.1", port, "bot@example.cn", ["it@example.cn", "duty@example.cn"], "bot", "pw",
         starttls=False).send(an_alert(), "松桃县")
    (env,) = inbox.messages
    assert env.rcpt_tos == ["it@example.cn", "duty@example.cn"]
    text = env.content.decode("utf-8")
    assert "Subject: =?utf-8?" in text  # the Chinese subject, encoded
    assert "请在网关上重新扫码登录" in env.original_content.decode("utf-8") or "base64" in text
    with pytest.raises(AlertError, match="STARTTLS|SMTPNotSupported"):  # the server offers no TLS
        Mail("127.0.0.1", port, "bot@example.cn", ["it@example.cn"]).send(an_alert(), "松桃县")


def test_the_config_names_the_channels_and_what_is_missing():
    cfg = AlertsCfg(wecom_webhook_env="HOOK", smtp_host="mail.example.cn", smtp_user="bot", mail_from="a@b.cn",
                    mail_to=["c@d.cn"])
    found, problems = channels(cfg, {"HOOK": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                                     "MINQING_SMTP_PASSWORD": "pw"})
    assert [c.name for c in found] == ["企业微信群机器人", "邮件"] and problems == []
    found, problems = channels(cfg, {})
    assert found == [] and len(problems) == 2 and "HOOK" in problems[0] and "MINQING_SMTP_PASSWORD" in problems[1]
    bad = config_with(replace={'wecom_webhook_env = ""': 'wecom_webhook_env = "HOOK"'})
    with pytest.raises(StartupError, match="HOOK"):
        live_settings(bad, {"WECHATY_PUPPET_SERVICE_TOKEN": "tok"})
    r = run("check-config", str(EXAMPLE))
    assert r.code == 0 and "告警：未配置" in r.out and "[alerts]" in r.out


def test_check_config_names_the_alert_channels_and_warns_of_a_missing_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("HOOK", raising=False)
    text = EXAMPLE.read_text(encoding="utf-8").replace('wecom_webhook_env = ""', 'wecom_webhook_env = "HOOK"')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    r = run("check-config", str(path))
    assert r.code == 0 and "告警：企业微信群机器人（环境变量 HOOK）" in r.out
    assert "警告：[alerts] wecom_webhook_env：环境变量 HOOK" in r.err


# --- at most one per cause an hour, never blocking -------------------------------------------------
class Recording:
    name = "recording"

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Alert] = []
        self.fail = fail

    def send(self, alert, county):
        if self.fail:
            raise AlertError("down")
        self.sent.append(alert)


def test_one_alert_per_cause_an_hour():
    clock = ManualClock(T0)
    channel = Recording()
    alerter = Alerter("松桃县", [channel], clock, background=False)
    assert alerter.alert("logout", "t", "x")
    assert not alerter.alert("logout", "t", "again")
    assert alerter.alert("qr_wait", "t", "another cause")
    clock.set(T0 + timedelta(minutes=59))
    assert not alerter.alert("logout", "t", "still within the hour")
    clock.set(T0 + timedelta(hours=1))
    assert alerter.alert("logout", "t", "an hour later")
    assert [(a.cause, a.text) for a in channel.sent] == [("logout", "x"), ("qr_wait", "another cause"),
                                                         ("logout", "an hour later")]


def test_a_failing_channel_is_logged_and_the_others_still_get_it(caplog):
    good = Recording()
    alerter = Alerter("松桃县", [Recording(fail=True), good], ManualClock(T0), background=False)
    with caplog.at_level(logging.ERROR):
        assert alerter.alert("logout", "t", "x")
    assert len(good.sent) == 1
    assert any(getattr(r, "event", None) == "alert_failed" and "down" in r.getMessage() for r in caplog.records)


def test_sending_never_blocks_the_caller(wecom):
    wecom.hold.clear()  # the webhook does not answer until the test lets it
    alerter = Alerter("松桃县", [WeComRobot(wecom.url)], ManualClock(T0))
    started = time.monotonic()
    assert alerter.alert("logout", "t", "x")
    assert alerter.alert("gateway_down", "t", "y")
    assert time.monotonic() - started < 1.0 and wecom.bodies == []
    wecom.hold.set()
    poll_until(lambda: len(alerter.delivered) == 2, 10, what="both alerts delivered")
    alerter.stop()


# --- what the live bot watches -------------------------------------------------------------------
@pytest.fixture
def watched(tmp_path):
    config = config_with()
    db = Database(f"sqlite:///{tmp_path / 'm.db'}", config.county.name)
    clock = ManualClock(T0)
    channel = Recording()
    monitor = Monitor(config, db, Alerter(config.county.name, [channel], clock, background=False))
    yield monitor, clock, channel, db
    db.dispose()


def causes(channel) -> list[str]:
    return [a.cause for a in channel.sent]


def test_logout_qr_code_and_gateway_down(watched):
    monitor, clock, channel, _ = watched
    monitor.logged_out(clock.now(), "user logout")
    assert causes(channel) == ["logout"] and "重新扫码" in channel.sent[0].text
    monitor.scanning(clock.now())
    clock.set(T0 + timedelta(minutes=9))
    monitor.scanning(clock.now())  # the next QR code of the same wait: the clock keeps its start
    monitor.check(clock.now())
    assert causes(channel) == ["logout"]
    clock.set(T0 + timedelta(minutes=10))
    monitor.check(clock.now())
    assert causes(channel) == ["logout", "qr_wait"] and "10 分钟" in channel.sent[-1].text
    monitor.logged_in()
    monitor.offline(clock.now(), "nothing answers at 127.0.0.1:8788")
    clock.set(T0 + timedelta(minutes=24))
    monitor.check(clock.now())
    assert causes(channel)[-1] == "qr_wait"
    clock.set(T0 + timedelta(minutes=25))
    monitor.check(clock.now())
    assert causes(channel)[-1] == "gateway_down" and "127.0.0.1:8788" in channel.sent[-1].text
    for minutes in range(26, 80):
        clock.set(T0 + timedelta(minutes=minutes))
        monitor.check(clock.now())
    assert causes(channel).count("gateway_down") == 1  # still down, but an hour has not passed


def test_messages_failed_or_given_up_since_the_start(watched):
    monitor, clock, channel, db = watched
    msg = Inbound(T0, LT, "唐命学", "text", "m1")
    with db.transaction() as tx:
        tx.record_failure(msg, "ValueError: old", T0)  # before the bot started: not news
    monitor.check_data(clock.now())
    assert channel.sent == []
    with db.transaction() as tx:
        tx.record_failure(msg, "ValueError: a bug", T0)
        tx.enqueue(LT, "回复", [], T0, key="k1")
        (row,) = tx.outbox()
        row.status = "failed"
        tx.save(row)
    clock.set(T0 + timedelta(seconds=30))
    monitor.check_data(clock.now())
    assert channel.sent == []  # looked at once a minute
    clock.set(T0 + timedelta(minutes=1))
    monitor.check_data(clock.now())
    assert causes(channel) == ["message_failed", "message_given_up"]
    assert "minqing failed" in channel.sent[0].text


def test_a_holiday_year_still_a_guess_from_1_november(watched):
    monitor, clock, channel, _ = watched
    monitor.check_data(local("2026-10-31 23:00"))
    assert channel.sent == []
    clock.set(local("2026-11-01 08:00"))
    monitor.check_data(clock.now())
    assert causes(channel) == ["calendar:2027"] and "minqing calendar import" in channel.sent[0].text


def test_a_room_name_with_one_wrong_character_is_found_with_the_closest_name(watched):
    monitor, clock, channel, db = watched
    config = monitor.config
    account = [r for r in config.county.rooms if r != MZ] + ["民主村干群联心群", "家族群"]
    missing = monitor.check_rooms(clock.now(), account)
    assert [(m.room, m.closest) for m in missing] == [(MZ, "民主村干群联心群")]
    (alert,) = channel.sent
    assert alert.cause == f"room_missing:{MZ}" and "民主村干群联心群" in alert.text
    assert account_rooms(db) == (clock.now(), sorted(account))
    assert missing_rooms(["茶园村干群连心群"], ["完全不同的名字"])[0].closest is None


def test_minqing_rooms_marks_the_configured_rooms_the_account_is_not_in(watched, tmp_path):
    monitor, clock, channel, db = watched
    r = run("rooms", "-c", str(EXAMPLE), "--db", str(tmp_path / "m.db"))
    assert "还不知道机器人账号在哪些群里" in r.out
    monitor.check_rooms(clock.now(), [r for r in monitor.config.county.rooms if r != MZ] + ["民主村干群联心群"])
    r = run("rooms", "-c", str(EXAMPLE), "--db", str(tmp_path / "m.db"))
    assert r.code == 0
    assert f"✗ {MZ}  ← 最接近的群名：民主村干群联心群" in r.out


def test_at_login_the_live_bot_checks_its_rooms_and_alerts(example_config, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'live.db'}", example_config.county.name)
    channel = Recording()
    made = []

    async def login_with_a_misnamed_room(gw, stop):
        gw.logged_in = True
        await gw.listener.on_login("wxid_bot", "民情直通车")
        deadline = time.monotonic() + 10
        while not channel.sent and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return "the gateway closed the event stream"

    def factory(listener):
        gw = FakeGateway(listener, [login_with_a_misnamed_room, stop_now])

        async def room_topics():
            return [r for r in example_config.county.rooms if r != MZ] + ["民主村干群联心群"]

        gw.room_topics = room_topics
        made.append(gw)
        return gw

    live = LiveBot(example_config, db, settings(), ManualClock(T0), factory, jobs_paused=True)
    live.alerter.channels = [channel]
    from bot.messaging.backoff import Backoff
    live.backoff = Backoff(0, 0)
    try:
        asyncio.run(live.run())
    finally:
        db.dispose()
    assert [a.cause for a in channel.sent][:1] == [f"room_missing:{MZ}"]

"""`minqing run` without a gateway: settings, reconnect backoff, outages and their notices, the
transport over the event loop, and the supervisor driven by a scripted fake gateway."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.messaging.backoff import Backoff
from bot.wechat.connection import GatewayAuthError, GatewayUnavailable, LoopTransport, display_name, message_time
from bot.wechat.outages import Outage, OutageTracker
from bot.wechat.supervisor import ONLINE_MARK, LiveBot, LiveSettings, StartupError, live_settings, outage_notices
from bot.logs import Redact
from bot.messaging.transport import SendError
from routing.model import Inbound, PersonRef
from tests.bot.cli_helpers import run
from tests.conftest import CTY, EXAMPLE, LT, MZ, PX, config_with
from tests.fakes import local

T0 = local("2026-10-12 09:00")
S = timedelta(seconds=1)


def settings(**changes) -> LiveSettings:
    base = dict(endpoint="127.0.0.1:8788", token="secret", token_env="TOKEN_VAR", plugin_port=8790,
                cache_dir=Path("/nonexistent"), room_interval=timedelta(0), per_minute=20)
    base.update(changes)
    return LiveSettings(**base)


# --- settings ---------------------------------------------------------------------------------
def test_settings_come_from_the_config_and_the_environment(example_config):
    s = live_settings(example_config, {"WECHATY_PUPPET_SERVICE_TOKEN": "tok"})
    assert (s.endpoint, s.token, s.plugin_port) == ("127.0.0.1:8788", "tok", 8790)
    assert s.cache_dir == example_config.data_dir / "wechaty"
    assert s.room_interval == timedelta(seconds=2) and s.per_minute == 20
    env = {"WECHATY_PUPPET_SERVICE_TOKEN": "tok", "WECHATY_PUPPET_SERVICE_ENDPOINT": "10.0.0.5:9000"}
    assert live_settings(example_config, env).endpoint == "10.0.0.5:9000"


def test_settings_name_every_problem(example_config):
    with pytest.raises(StartupError) as e:
        live_settings(example_config, {"WECHATY_PUPPET_SERVICE_ENDPOINT": "no-port"})
    assert "WECHATY_PUPPET_SERVICE_ENDPOINT：'no-port' 不是“主机:端口”的写法" in str(e.value)
    assert "请把环境变量 WECHATY_PUPPET_SERVICE_TOKEN" in str(e.value)
    cfg = config_with(replace={'data_dir = ""': 'data_dir = "no/such/folder"'})
    with pytest.raises(StartupError, match="data_dir：文件夹 .* 不存在，请先建好它"):
        live_settings(cfg, {"WECHATY_PUPPET_SERVICE_TOKEN": "tok"})


def test_a_data_dir_that_is_a_file_or_cannot_be_written_is_named(tmp_path, monkeypatch):
    import bot.wechat.supervisor as supervisor

    a_file = tmp_path / "f"
    a_file.write_text("x", encoding="utf-8")
    assert "不是文件夹" in supervisor.data_dir_problem(a_file)
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(supervisor.os, "access", lambda path, mode: Path(path) != locked)
    assert "没有权限在文件夹" in supervisor.data_dir_problem(locked)
    assert supervisor.data_dir_problem(tmp_path) is None


def test_run_refuses_to_start_without_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    result = run("run", "--config", str(EXAMPLE), "--db", str(tmp_path / "x.db"))
    assert result.code == 2
    assert "没有网关 token：请把环境变量 WECHATY_PUPPET_SERVICE_TOKEN" in result.err


def test_run_refuses_a_plugin_port_in_use(tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "config.toml"
        config.write_text(EXAMPLE.read_text(encoding="utf-8").replace("plugin_port = 8790", f"plugin_port = {port}"),
                          encoding="utf-8")
        monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "tok")
        result = run("--log-format", "json", "run", "--config", str(config), "--db", str(tmp_path / "x.db"))
    assert result.code == 2
    assert f"127.0.0.1 上的端口 {port} 已被占用" in result.err and '"event": "startup_failed"' in result.err


# --- pieces -----------------------------------------------------------------------------------
def test_backoff_doubles_up_to_its_limit_and_resets():
    b = Backoff(0.5, 4.0)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next() == 0.5


def test_an_outage_is_announced_once_the_connection_is_steady():
    t = OutageTracker(timedelta(seconds=2))
    assert t.came_online(T0) is None  # a first start loses nothing
    assert t.went_offline(T0 + 10 * S, "stream ended")
    assert not t.went_offline(T0 + 11 * S, "again")  # already offline
    ended = t.came_online(T0 + 15 * S)
    assert ended == Outage(T0 + 10 * S, T0 + 15 * S, "stream ended") and ended.seconds == 5
    assert t.due(T0 + 16 * S) is None  # not steady yet
    # a flap before it is steady: one notice for the whole time
    t.went_offline(T0 + 16 * S, "flap")
    t.came_online(T0 + 20 * S)
    assert t.due(T0 + 21 * S) is None
    assert t.due(T0 + 22 * S) == Outage(T0 + 10 * S, T0 + 20 * S, "stream ended")
    assert t.due(T0 + 30 * S) is None  # once


def test_the_time_a_previous_run_was_stopped_counts_as_an_outage():
    t = OutageTracker(timedelta(seconds=2), offline_since=T0)
    assert t.offline_since == T0 and not t.online
    assert not t.went_offline(T0 + 5 * S, "cannot connect")  # still the same outage
    assert t.came_online(T0 + 60 * S) == Outage(T0, T0 + 60 * S, "机器人没有运行")
    assert t.due(T0 + 62 * S).start == T0


def test_message_times_and_display_names():
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    assert message_time(1_790_000_000_123, fallback) == datetime.fromtimestamp(1_790_000_000.123, UTC)
    assert message_time(1_790_000_000, fallback) == datetime.fromtimestamp(1_790_000_000, UTC)  # seconds
    assert message_time(None, fallback) == fallback and message_time(0, fallback) == fallback
    assert display_name("驻村干部唐", "唐驻村") == "驻村干部唐"
    assert display_name("", "唐驻村") == "唐驻村" and display_name(None, "唐驻村") == "唐驻村"


def test_the_token_is_redacted_from_log_lines_and_tracebacks():
    flt = Redact(["s3cret"])
    try:
        raise RuntimeError('Invalid Wechaty TOKEN "s3cret"')
    except RuntimeError:
        import sys

        record = logging.LogRecord("PuppetService", logging.WARNING, "", 0, "token<%s> at %s", ("s3cret", "x"),
                                   sys.exc_info())
    assert flt.filter(record)
    assert record.getMessage() == "token<***> at x"
    assert "s3cret" not in record.exc_text and "***" in record.exc_text


class LoopThread:
    """An event loop in a thread, as the live bot runs one next to the sender's thread."""

    def __enter__(self) -> asyncio.AbstractEventLoop:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self.loop

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class ScriptedSay:
    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.said = []

    async def say(self, room, text, mentions, to=None):
        await self.behaviour()
        self.said.append((room, text, tuple(mentions)))


def test_the_loop_transport_sends_on_the_loop_and_reports_failures_as_send_errors():
    async def fine():
        return None

    async def broken():
        raise ConnectionResetError("gone")

    never = asyncio.Event()

    async def hangs():
        await never.wait()

    with LoopThread() as loop:
        ok = ScriptedSay(fine)
        LoopTransport(ok, loop).send(LT, "你好", [PersonRef("唐命学", "wxid_tangmx")])
        assert ok.said == [(LT, "你好", (PersonRef("唐命学", "wxid_tangmx"),))]
        with pytest.raises(SendError, match="ConnectionResetError: gone"):
            LoopTransport(ScriptedSay(broken), loop).send(LT, "你好", [])
        with pytest.raises(SendError, match="秒内没有确认消息已发出"):
            LoopTransport(ScriptedSay(hangs), loop, timeout=0.05).send(LT, "你好", [])
    closed = asyncio.new_event_loop()
    closed.close()
    with pytest.raises(SendError, match="没有连接"):
        LoopTransport(ok, closed).send(LT, "你好", [])  # the bot is stopping


# --- outage notices ------------------------------------------------------------------------------
@pytest.fixture
def bot(example_config, db):
    clock = ManualClock(T0)
    live = LiveBot(example_config, db, settings(), clock, lambda _: None)
    return live


def test_outage_notices_go_to_the_groups_with_activity(example_config, db, bot):
    from bot.app import Relay
    from bot.messaging.sender import RateLimiter, Sender
    from bot.sim.groups import SimulatedTransport

    bot.relay = Relay(example_config, db, SimulatedTransport(bot.clock))
    bot.sender = Sender(bot.relay.outbox, bot.relay.transport, RateLimiter(timedelta(0), 20), bot.clock)
    # someone wrote in 楼台村 an hour before; the bot posted in 盘信镇 yesterday morning; 民主村 was quiet for days
    bot.relay.receive(Inbound(T0 - timedelta(hours=1), LT, "唐命学", "大家好", "m1", "wxid_tangmx"))
    bot.relay.receive(Inbound(T0 - timedelta(days=3), MZ, "田大哥", "大家好", "m2", "wxid_tiandg"))
    with db.transaction() as tx:
        tx.enqueue(PX, "【上报】#1", [], T0 - timedelta(hours=20))
    outage = Outage(T0, T0 + 90 * S, "stream ended")
    assert bot.announce(outage, T0 + 95 * S) == 2
    with db.transaction() as tx:
        queued = [(r.room, r.text) for r in tx.outbox(("queued",)) if r.key]
    assert [room for room, _ in queued] == [PX, LT]  # config order
    assert "10月12日(周一) 09:00 至 10月12日(周一) 09:01" in queued[0][1] and "请重新发一次" in queued[0][1]
    assert bot.announce(outage, T0 + 96 * S) == 0  # once per outage
    # a notice is no activity of its own: the next outage a day later finds no active group
    assert bot.announce(Outage(T0 + timedelta(hours=25), T0 + timedelta(hours=26), "x"), T0) == 0


def test_a_short_outage_is_named_by_one_time(example_config):
    notices = outage_notices(example_config, {CTY, "not configured"}, Outage(T0, T0 + 5 * S, "x"))
    assert [(n.room, n.template, n.key) for n in notices] == [(CTY, "outage.j2", f"outage:{CTY}:{T0.isoformat()}")]
    from bot.messaging.render import Renderer

    text = Renderer(example_config.tz).render(notices[0])
    assert text.startswith("10月12日(周一) 09:00 前后我和微信断开了一会儿")


# --- the supervisor, with a scripted gateway -------------------------------------------------------
class FakeGateway:
    """Plays a script: each session is a coroutine function taking (gateway, stop)."""

    def __init__(self, listener, script):
        self.listener = listener
        self.script = list(script)
        self.logged_in = False
        self.said: list[tuple[str, str, tuple[str, ...]]] = []
        self.spoke = asyncio.Event()
        self.closed = False

    async def session(self, stop):
        step = self.script.pop(0)
        try:
            return await step(self, stop)
        finally:
            self.logged_in = False

    async def say(self, room, text, mentions, to=None):
        if not self.logged_in:
            raise SendError("not connected")
        self.said.append((room, text, tuple(m.name for m in mentions)))
        self.spoke.set()

    async def close(self):
        self.closed = True


async def refuse_connection(gw, stop):
    raise GatewayUnavailable("127.0.0.1:8788 没有响应：ConnectionRefusedError")


async def refuse_token(gw, stop):
    raise GatewayAuthError("网关拒绝了 token（gRPC UNAUTHENTICATED：Invalid Wechaty TOKEN \"***\"）")


async def converse(gw, stop):
    gw.logged_in = True
    await gw.listener.on_login("wxid_bot", "民情直通车")
    await gw.listener.on_message(Inbound(T0, LT, "唐命学", "@民情直通车 路灯坏了", "m1", "wxid_tangmx", True))
    await gw.listener.on_message(Inbound(T0, LT, "唐命学", "@民情直通车 路灯坏了", "m1", "wxid_tangmx", True))
    await asyncio.wait_for(gw.spoke.wait(), 10)  # the sender's thread answered
    return "网关关闭了事件流"


async def stop_now(gw, stop):
    gw.listener._signal(signal.SIGTERM)  # as the operator's Ctrl-C or systemd would  # noqa: SLF001
    await asyncio.wait_for(stop.wait(), 10)  # sending stops first, then the connection
    return "机器人正在停止"


def live_bot(example_config, db, script, clock=None) -> tuple[LiveBot, list[FakeGateway]]:
    made: list[FakeGateway] = []

    def factory(listener):
        made.append(FakeGateway(listener, script))
        return made[-1]

    live = LiveBot(example_config, db, settings(), clock or ManualClock(T0), factory, jobs_paused=True)
    live.backoff = Backoff(0, 0)  # no waiting between attempts
    return live, made


def test_the_supervisor_reconnects_and_relays(example_config, db, caplog):
    caplog.set_level(logging.INFO)
    live, made = live_bot(example_config, db, [refuse_connection, converse, refuse_token, stop_now])
    asyncio.run(live.run())
    gw = made[0]
    assert gw.said[0][0] == LT and gw.said[0][1].startswith("收到，已登记为 #1") and gw.said[0][2] == ("唐命学",)
    assert len(gw.said) == 1  # the second delivery of m1 was skipped
    assert gw.closed
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.index("connect_failed") < events.index("login") < events.index("disconnected")
    assert "unauthenticated" in events  # after a login, a refused token is logged and retried
    assert events[-1] == "stopped"
    with db.transaction() as tx:
        assert tx.get_meta(ONLINE_MARK) == T0.isoformat()


def test_a_token_refused_before_any_login_stops_the_bot(example_config, db):
    live, made = live_bot(example_config, db, [refuse_connection, refuse_token])
    with pytest.raises(StartupError, match="拒绝了 token.*TOKEN_VAR"):
        asyncio.run(live.run())
    assert made[0].closed


def test_a_long_outage_does_not_flood_the_log(example_config, db, caplog):
    caplog.set_level(logging.INFO)
    live, made = live_bot(example_config, db, [refuse_connection] * 40 + [stop_now])
    asyncio.run(live.run())
    failed = [r for r in caplog.records if getattr(r, "event", None) == "connect_failed"]
    assert len(failed) == 4 and "（第 30 次）" in failed[-1].getMessage()  # the first three, then one in 30

"""`minqing run`: the bot in real WeChat groups through a Wechaty puppet-service gateway.

Wiring: config -> database -> Relay -> Wechaty adapter (events in, in order) -> outbox ->
paced sender (its own thread; it sends only while it holds the county's send lock, so a
second process on the same database stands by) -> adapter; the time-driven jobs run on their
own scheduler thread. The asyncio loop only talks to the gateway: every database call runs in a thread.

Connection faults: each connection is one `Gateway.session`; when it ends or cannot start,
the bot logs why and tries again after 0.5 s, 1 s, 2 s ... up to 10 s. Messages posted
while it was disconnected never reach it (the gateway does not keep them), so once it has
been back for a few seconds it posts one notice, naming the time it was away, in every
configured group that had any activity in the day before (see `announce`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

from bot.alerts import Alerter, Channel, channels
from bot.app import Relay
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.messaging.backoff import Backoff
from bot.wechat.connection import Gateway, GatewayAuthError, GatewayUnavailable, LoopTransport
from bot.wechat.outages import Outage, OutageTracker
from bot.logs import redact
from bot.messaging.scheduler import JobRunner
from bot.messaging.sender import RateLimiter, Sender
from bot.monitor import Monitor
from routing.model import Inbound
from routing.ports import Outbound
from storage.db import Database

log = logging.getLogger(__name__)

ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
CACHE_FOLDER = "wechaty"  # inside the data folder: the SDK's cache (CACHE_DIR)
SETTLE = timedelta(seconds=2)  # back this long before the outage notice goes out (flaps merge into one)
ACTIVITY_WINDOW = timedelta(hours=24)  # a group with activity this long before an outage gets its notice
NOTICE_KEY = "outage:"
ONLINE_MARK = "live.online_until"  # the last moment the bot was known to hear the groups
MARK_SECONDS = 30.0
LOGIN_WAIT_SECONDS = 30.0  # connected this long without a login: the gateway's account needs attention
RECONNECT_FIRST, RECONNECT_LIMIT = 0.5, 10.0  # messages sent to a gateway without its bot are lost
LOUD_EVERY = 30  # while the gateway stays down, log one failed attempt in this many (about 5 minutes)


class StartupError(Exception):
    """`minqing run` cannot start with this config or environment (exit status 2)."""


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """What `minqing run` needs beyond the config: resolved endpoint, token and folders."""

    endpoint: str
    token: str
    token_env: str
    plugin_port: int
    cache_dir: Path
    room_interval: timedelta
    per_minute: int
    alert_channels: tuple[Channel, ...] = ()


def live_settings(config: Config, environ: Mapping[str, str] | None = None) -> LiveSettings:
    """The endpoint (env WECHATY_PUPPET_SERVICE_ENDPOINT overrides the config), the token (from the
    env var the config names) and the SDK's cache folder; StartupError names every problem."""
    env = os.environ if environ is None else environ
    w = config.raw.wechaty
    problems = []
    override = env.get(ENDPOINT_ENV, "").strip()
    endpoint = override or w.endpoint.strip()
    source = f"环境变量 {ENDPOINT_ENV}" if override else "[wechaty] endpoint"
    if not endpoint:
        problems.append(f"没有网关地址：请在配置 [wechaty] endpoint 写上“主机:端口”，或设置环境变量 {ENDPOINT_ENV}")
    elif not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", endpoint):
        problems.append(f"{source}：{endpoint!r} 不是“主机:端口”的写法")
    token = config.token(dict(env))
    if not token:
        problems.append(f"没有网关 token：请把环境变量 {w.token_env}（由配置 [wechaty] token_env 指定）"
                        "设为 puppet-service 网关的 token")
    data_dir = config.data_dir
    if problem := data_dir_problem(data_dir):
        problems.append(problem)
    if problems:
        raise StartupError("无法启动：" + "；".join(problems))
    found, alert_problems = channels(config.raw.alerts, env)
    if alert_problems:
        raise StartupError("; ".join(alert_problems))
    s = config.raw.sending
    return LiveSettings(
        endpoint=endpoint,
        token=token or "",
        token_env=w.token_env,
        plugin_port=w.plugin_port,
        cache_dir=data_dir / CACHE_FOLDER,
        room_interval=timedelta(seconds=s.room_interval_seconds),
        per_minute=s.per_minute,
        alert_channels=tuple(found),
    )


def data_dir_problem(data_dir: Path) -> str | None:
    """What keeps the bot from keeping its files in `[bot] data_dir`, if anything."""
    if not data_dir.exists():
        return f"[bot] data_dir：文件夹 {data_dir} 不存在，请先建好它"
    if not data_dir.is_dir():
        return f"[bot] data_dir：{data_dir} 不是文件夹"
    if not os.access(data_dir, os.W_OK | os.X_OK):
        return f"[bot] data_dir：没有权限在文件夹 {data_dir} 里写文件，请让运行机器人的用户能写它"
    return None


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def load_adapter(cache_dir: Path) -> ModuleType:
    """Import the Wechaty adapter with its cache in `cache_dir` (the SDK reads CACHE_DIR at import)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CACHE_DIR"] = str(cache_dir)
    return importlib.import_module("bot.wechat.adapter")


def outage_notices(config: Config, active: set[str], outage: Outage) -> list[Outbound]:
    """One notice per configured group with activity, in config order, keyed so it is queued once."""
    stamp = outage.start.isoformat()
    return [
        Outbound(room, "outage.j2", {"start": outage.start, "end": outage.end}, key=f"{NOTICE_KEY}{room}:{stamp}")
        for room in config.county.rooms
        if room in active
    ]


class LiveBot:
    """The running bot: supervises the gateway connection and feeds the relay; a gateway Listener."""

    def __init__(self, config: Config, db: Database, settings: LiveSettings, clock: Clock,
                 gateway_factory: Callable[[LiveBot], Gateway], *, jobs_paused: bool = False) -> None:
        self.jobs_paused = jobs_paused  # the time-driven jobs' scheduler reads the real time: off under a fake clock
        self.config = config
        self.db = db
        self.settings = settings
        self.clock = clock
        self.gateway_factory = gateway_factory
        self.limiter = RateLimiter(settings.room_interval, settings.per_minute)
        self.backoff = Backoff(RECONNECT_FIRST, RECONNECT_LIMIT)
        self.outages = OutageTracker(SETTLE)
        self.logins = 0
        self.alerter = Alerter(config.county.name, settings.alert_channels, clock)
        self.monitor = Monitor(config, db, self.alerter)
        self.session_since: float | None = None  # when the current gateway session began (monotonic)
        self.stopping: asyncio.Event | None = None
        self._connection_stop: asyncio.Event | None = None  # set once sending has stopped (see _signal)
        self._stop_task: asyncio.Task | None = None
        self._rooms_task: asyncio.Task | None = None
        self.gateway: Gateway
        self.relay: Relay
        self.sender: Sender
        self.jobs: JobRunner

    # --- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        """Run until SIGINT or SIGTERM (StartupError when the gateway refuses the token at start)."""
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self._connection_stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._signal, sig)
        self.gateway = self.gateway_factory(self)
        transport = LoopTransport(self.gateway, loop)
        self.relay = Relay(self.config, self.db, transport)
        self.outages = OutageTracker(SETTLE, await asyncio.to_thread(self._read_mark))
        # the sender takes the county's send lock (recovering what a previous holder left mid-send,
        # and taking over its pacing) once the gateway is logged in, and lets it go when it stops
        self.sender = Sender(self.relay.outbox, transport, self.limiter, self.clock,
                             ready=lambda: self.gateway.logged_in, lock=self.db.send_lock())
        await asyncio.to_thread(self._reschedule)
        self.jobs = JobRunner(self.relay, self.clock)
        self.jobs.on_queued = self.sender.wake
        self.sender.start()
        self.jobs.start(paused=self.jobs_paused)
        keeper = asyncio.create_task(self._housekeeping(), name="minqing-housekeeping")
        queued = len(await asyncio.to_thread(self.relay.outbox.queued))
        log.info("民情直通车已为%s启动：%d 个群，网关 %s，%d 条消息待发", self.config.county.name,
                 len(self.config.county.rooms), self.settings.endpoint, queued, extra={"event": "started"})
        try:
            await self._supervise()
        finally:
            keeper.cancel()
            if self._rooms_task is not None and not self._rooms_task.done():
                self._rooms_task.cancel()
            await asyncio.to_thread(self.jobs.stop)
            if self._stop_task is not None:
                await self._stop_task
            await asyncio.to_thread(self.sender.stop)  # the message being sent, if any, completes; the lock is let go
            if self.outages.online:
                await asyncio.to_thread(self._write_mark, self.clock.now())
            await self.gateway.close()
            await asyncio.to_thread(self.alerter.stop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            log.info("民情直通车已停止", extra={"event": "stopped"})

    def _signal(self, sig: int) -> None:
        assert self.stopping is not None
        if self.stopping.is_set():
            log.info("正在停止")
            return
        log.info("收到 %s，正在停止", signal.Signals(sig).name, extra={"event": "stopping"})
        self.stopping.set()
        self._stop_task = asyncio.get_running_loop().create_task(self._stop_sending_then_connection())

    async def _stop_sending_then_connection(self) -> None:
        """Let the message being sent finish (and be recorded as sent) before the connection closes under it:
        a message the gateway took must never be recorded as failed and sent again at the next start."""
        assert self._connection_stop is not None
        try:
            sender = getattr(self, "sender", None)
            if sender is not None:
                await asyncio.to_thread(sender.stop)
        finally:
            self._connection_stop.set()

    async def _supervise(self) -> None:
        """One gateway session after another, with backoff between failed attempts.

        While the gateway stays unreachable, the first failures are logged, then one in every
        LOUD_EVERY (and any with a new reason), so a long outage does not flood the log.
        """
        assert self.stopping is not None
        attempt = failures = 0
        last_reason = ""
        while not self.stopping.is_set():
            attempt += 1
            logins = self.logins
            loud = failures < 3 or (failures + 1) % LOUD_EVERY == 0
            log.log(logging.INFO if loud else logging.DEBUG, "正在连接网关 %s（第 %d 次）",
                    self.settings.endpoint, attempt, extra={"event": "connecting"})
            self.session_since = time.monotonic()
            try:
                reason = await self.gateway.session(self._connection_stop)
            except GatewayAuthError as e:
                if self.logins == 0:
                    raise StartupError(f"{e}。请检查环境变量 {self.settings.token_env} 里的 token："
                                       "它必须是网关的 token") from None
                reason = str(e)
                log.error("%s；%s 里的 token 与网关的不再一致", e, self.settings.token_env,
                          extra={"event": "unauthenticated"})
            except GatewayUnavailable as e:
                reason = str(e)
            finally:
                self.session_since = None
            if self.stopping.is_set():
                break
            await self._offline(reason)
            delay = self.backoff.next()
            if self.logins > logins:
                failures = 0
                log.warning("与网关 %s 的连接断开：%s；%.1f 秒后重连", self.settings.endpoint,
                            reason, delay, extra={"event": "disconnected"})
            else:
                failures += 1
                loud = loud or reason != last_reason
                log.log(logging.WARNING if loud else logging.DEBUG,
                        "连不上网关 %s（第 %d 次）：%s；%.1f 秒后再试",
                        self.settings.endpoint, attempt, reason, delay, extra={"event": "connect_failed"})
            last_reason = reason
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _offline(self, reason: str) -> None:
        now = self.clock.now()
        if not reason.startswith("the account logged out") and reason != "the bot is stopping":
            self.monitor.offline(now, reason)
        if self.outages.went_offline(now, reason):
            log.warning("从 %s 起离线：此后群里发的消息机器人收不到",
                        now.astimezone(self.config.tz).isoformat(timespec="seconds"), extra={"event": "offline"})
            await asyncio.to_thread(self._write_mark, now)

    async def _housekeeping(self) -> None:
        """Every second: announce an outage once the connection is steady; keep the online mark fresh."""
        last_mark = time.monotonic()
        warned_session: float | None = None
        while True:
            await asyncio.sleep(1.0)
            try:
                since = self.session_since
                if (since is not None and since != warned_session and not self.gateway.logged_in
                        and time.monotonic() - since > LOGIN_WAIT_SECONDS):
                    warned_session = since
                    log.warning("已连上网关 %s %.0f 秒，但网关上的微信号没有登录："
                                "请在网关上登录（扫描它的二维码）", self.settings.endpoint,
                                time.monotonic() - since, extra={"event": "not_logged_in"})
                    self.monitor.connected()  # the gateway answers: it waits for a login
                    self.monitor.scanning(self.clock.now())
                now = self.clock.now()
                await self._watch(now)
                outage = self.outages.due(now)
                if outage is not None:
                    await asyncio.to_thread(self.announce, outage, now)
                if self.outages.online and time.monotonic() - last_mark >= MARK_SECONDS:
                    last_mark = time.monotonic()
                    await asyncio.to_thread(self._write_mark, now)
            except Exception:
                log.exception("例行检查出错，一秒后再试")

    async def _watch(self, now: datetime) -> None:
        """The operator's alerts: time thresholds, the database (once a minute), the rooms (hourly, logged in)."""
        self.monitor.check(now)
        await asyncio.to_thread(self.monitor.check_data, now)
        if self.gateway.logged_in and self.monitor.rooms_due(now):
            await self.check_rooms(now)

    async def check_rooms(self, now: datetime) -> None:
        """Compare the configured rooms with the account's groups (log and alert each missing one)."""
        self.monitor.rooms_checked = now  # once an hour, whether the gateway answers or not
        try:
            topics = await asyncio.wait_for(self.gateway.room_topics(), 60)
        except Exception as e:  # the gateway's own errors: try again at the next hour
            log.warning("could not list the account's groups: %s", e, extra={"event": "rooms_unknown"})
            return
        missing = await asyncio.to_thread(self.monitor.check_rooms, now, topics)
        log.info("rooms checked: %d configured, the account is in %d groups, %d configured ones missing",
                 len(self.config.county.rooms), len(topics), len(missing), extra={"event": "rooms_checked"})

    # --- the gateway's events ------------------------------------------------------------------
    async def on_scan(self, status: str) -> None:
        """The gateway waits for its account's QR code to be scanned."""
        self.monitor.connected()
        self.monitor.scanning(self.clock.now())

    async def on_login(self, user_id: str, name: str) -> None:
        """Logged in: reset the backoff, close the outage, let the sender go, check the rooms."""
        self.logins += 1
        self.monitor.logged_in()
        self.backoff.reset()
        now = self.clock.now()
        ended = self.outages.came_online(now)
        log.info("已通过网关 %s 登录微信：%s（%s）", self.settings.endpoint, name, user_id,
                 extra={"event": "login"})
        if ended is not None:
            log.warning("重新上线：离线 %.1f 秒，从 %s 到 %s（%s）；这段时间群里发的消息"
                        "机器人没有收到", ended.seconds, ended.start.astimezone(self.config.tz).isoformat(
                            timespec="seconds"), ended.end.astimezone(self.config.tz).isoformat(timespec="seconds"),
                        ended.reason, extra={"event": "reconnected"})
        self.sender.wake()
        # off the login event's path: listing the groups asks the gateway, which may take a while
        self._rooms_task = asyncio.get_running_loop().create_task(self.check_rooms(now), name="minqing-rooms")

    async def on_logout(self, reason: str) -> None:
        """The account logged out of WeChat: the bot hears nothing until it logs in again."""
        log.error("网关上的微信号已退出登录（%s）：请在网关上重新登录", reason,
                  extra={"event": "logout"})
        self.monitor.logged_out(self.clock.now(), reason)
        await self._offline(f"微信号退出登录：{reason}")

    async def on_message(self, msg: Inbound) -> None:
        """Handle one message (see `on_messages`)."""
        await self.on_messages([msg])

    async def on_messages(self, messages: list[Inbound]) -> None:
        """Handle messages that arrived together (in a thread: the database must not block the loop), with one
        disk flush for all of them; then send and reschedule."""
        for msg in messages:
            log.info("message %s in %s from %s (%s)%s", msg.msg_id, msg.room, msg.sender, msg.sender_id,
                     "" if msg.is_text else " [not text]", extra={"event": "received", "room": msg.room,
                                                                  "msg_id": msg.msg_id})
        await asyncio.to_thread(self._receive, messages)

    def _receive(self, messages: list[Inbound]) -> None:
        self.relay.receive_all(messages)
        self.sender.wake()
        self.jobs.poke()

    # --- outages -----------------------------------------------------------------------------
    def announce(self, outage: Outage, now: datetime) -> int:
        """Queue the outage notice in every configured group with activity in the day before it.

        Why not every group: a county has hundreds; posting in all of them after each network
        blip would be spam (and costs the account's sending budget). The groups where a message
        was likely lost are those where people, or the bot, were talking.
        """
        with self.db.transaction() as tx:
            active = tx.active_rooms(outage.start - ACTIVITY_WINDOW, ignore_key_prefix=NOTICE_KEY)
        notices = outage_notices(self.config, active, outage)
        queued = self.relay.queue(notices, now)
        log.warning("已在 %d 个群里说明 %s 到 %s 的消息没有收到：%s", queued,
                    outage.start.astimezone(self.config.tz).isoformat(timespec="seconds"),
                    outage.end.astimezone(self.config.tz).isoformat(timespec="seconds"),
                    "、".join(n.room for n in notices) or "这段时间没有群有动静", extra={"event": "outage_notice"})
        self.sender.wake()
        return queued

    def _reschedule(self) -> None:
        """Guessed deadlines of years imported since (`minqing calendar import` while the bot ran): recomputed."""
        with self.db.transaction() as tx:
            changed = self.relay.service.reschedule_provisional(tx, self.clock.now())
        if changed:
            log.info("deadlines of %d requests worked out again with the imported holiday years", len(changed),
                     extra={"event": "rescheduled"})

    def _read_mark(self) -> datetime | None:
        with self.db.transaction() as tx:
            value = tx.get_meta(ONLINE_MARK)
        return datetime.fromisoformat(value) if value else None

    def _write_mark(self, at: datetime) -> None:
        with self.db.transaction() as tx:
            tx.set_meta(ONLINE_MARK, at.isoformat())


def run_live(config: Config, db: Database, settings: LiveSettings, clock: Clock | None = None) -> None:
    """Run the bot against the gateway until SIGINT/SIGTERM (StartupError: exit status 2)."""
    if port_in_use(settings.plugin_port):
        raise StartupError(f"[wechaty] plugin_port：127.0.0.1 上的端口 {settings.plugin_port} 已被占用；"
                           "python-wechaty 每次登录都要用这个端口，被占用就会失败。请换一个空闲端口")
    redact(settings.token)
    adapter = load_adapter(settings.cache_dir)
    level = logging.getLogger().getEffectiveLevel()
    clock = clock or SystemClock()

    def gateway(listener: LiveBot) -> Gateway:
        return adapter.WechatyGateway(settings.endpoint, settings.token, settings.plugin_port, config.raw.bot.name,
                                      listener, clock, log_level=level)

    asyncio.run(LiveBot(config, db, settings, clock, gateway).run())

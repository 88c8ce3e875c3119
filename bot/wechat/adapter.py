"""The Wechaty adapter: python-wechaty 0.10.7 talking to a puppet-service gateway.

This is the only module that imports wechaty, wechaty_puppet or grpclib. python-wechaty 0.10.7
(2022) is the newest SDK; the project pins what it needs (pyproject.toml): `pyee<9` (it uses
AsyncIOEventEmitter), `urllib3<2` (get_host), `apscheduler<4`. It imports `telnetlib`, so it
cannot run on Python 3.13; on 3.11 and 3.12 it needs the shim below.

Import it only after setting CACHE_DIR (bot.wechat.supervisor does): the SDK reads it at import time and
otherwise creates `.wechaty/` in the working directory.

What the stock SDK gets wrong, and what this module does instead:
- `Wechaty.start()` hides connection errors (it print()s a refused token and returns; it stops
  the event loop when the gateway is down; it retries a lost stream once after 60 s): the bot
  runs one connection at a time through `session()` and reconnects itself (bot/live.py).
- `on_message` handlers run as concurrent tasks and may reorder messages: message ids are
  queued in stream order and handled one at a time.
- The `PuppetService` logger prints the token: SDK loggers go through the bot's own log
  handler, where the token is redacted (bot.logs.redact).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

if not os.environ.get("CACHE_DIR"):
    raise ImportError(
        "set CACHE_DIR to the bot's data folder before importing bot.wechat.adapter: python-wechaty "
        "writes its cache there at import (else into ./.wechaty)"
    )

_LOGGERS_BEFORE = set(logging.root.manager.loggerDict)

# python-wechaty 0.10.7 on Python 3.11+: its PuppetOptions dataclass is used as the mutable
# default of a field of WechatyOptions ("mutable default ... for field puppet_options"); a
# hash makes dataclasses accept it. It must run before `import wechaty`.
import wechaty_puppet.schemas.puppet as _puppet_schema  # noqa: E402

_puppet_schema.PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign]

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from grpclib.const import Status  # noqa: E402
from grpclib.exceptions import GRPCError, StreamTerminatedError  # noqa: E402
from wechaty import Wechaty, WechatyOptions  # noqa: E402
from wechaty_puppet import MessageType  # noqa: E402
from wechaty_puppet.exceptions import WechatyPuppetError  # noqa: E402

from bot.clock import Clock  # noqa: E402
from bot.wechat.connection import GatewayAuthError, GatewayUnavailable, Listener, display_name, message_time  # noqa: E402
from bot.messaging.transport import SendError  # noqa: E402
from routing.grammar import mentions as text_mentions  # noqa: E402
from routing.model import Inbound, PersonRef  # noqa: E402

log = logging.getLogger(__name__)

SDK_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
# environment variables the SDK reads for its token and endpoint; the bot passes both explicitly
SDK_ENV = ("WECHATY_PUPPET_SERVICE_TOKEN", "TOKEN", "token", "WECHATY_PUPPET_SERVICE_ENDPOINT", "ENDPOINT",
           "endpoint")
HEARTBEAT_SECONDS = 30.0  # how often the gateway is pinged: a frozen gateway never ends the stream
PING_TIMEOUT = 5.0
BURST = 50  # at most this many waiting messages are stored with one disk flush
DRAIN_SECONDS = 5.0  # after the stream ends, how long the messages already announced may take
ROOMS_REFRESH_SECONDS = 60.0  # at most this often the room list, or a group's members, is fetched for a name not found
MEMBERS_TTL_SECONDS = 600.0


def adopt_sdk_loggers(level: int) -> list[str]:
    """Route the SDK's loggers (each with its own stderr handler, not propagating) through ours.

    Their lines then get the bot's format and the token redaction. Their INFO and DEBUG lines quote
    message texts, and no log line may carry what people wrote (bot.logs), so they stay at WARNING
    whatever the bot's own level.
    """
    adopted = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        if name not in _LOGGERS_BEFORE or any(
            getattr(h.formatter, "_fmt", None) == SDK_FORMAT for h in logger.handlers
        ):
            logger.handlers = []
            logger.propagate = True
            logger.setLevel(max(level, logging.WARNING))
            adopted.append(name)
    return adopted


class _SdkNoise(logging.Filter):
    """Drops the SDK's harmless warnings that come on every start or message: that it was given an
    endpoint and a token, that no plugin registered a web page, that a payload was loaded twice."""

    NOISE = ("there are endpoint<", "there is not registed blueprint", "set payload more than once")

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not any(noise in message for noise in self.NOISE)


class _ReentrantScheduler(AsyncIOScheduler):
    """An in-memory scheduler for the SDK's plugin manager (its default writes job.db into the
    cache folder). The SDK starts it on every login; a second start() would raise "Scheduler is
    already running" inside the login handler."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        if not self.running:
            super().start(*args, **kwargs)


@contextlib.contextmanager
def _sdk_env_hidden() -> Iterator[None]:
    """Hide the SDK's token/endpoint variables while it reads them: a stray TOKEN must not win."""
    saved = {k: os.environ.pop(k) for k in SDK_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


class WechatyGateway:
    """A connection to a Wechaty puppet-service gateway: events in (in order), text out."""

    def __init__(self, endpoint: str, token: str, plugin_port: int, bot_name: str, listener: Listener,
                 clock: Clock, log_level: int = logging.INFO) -> None:
        self.endpoint = endpoint
        self.token = token
        self.bot_name = bot_name
        self.listener = listener
        self.clock = clock
        adopt_sdk_loggers(log_level)
        for name in ("PuppetService", "wechaty.plugin", "Accessory"):
            logging.getLogger(name).addFilter(_SdkNoise())
        self._scheduler = _ReentrantScheduler()
        with _sdk_env_hidden():
            self.bot = Wechaty(WechatyOptions(
                token=token,
                endpoint=endpoint,  # never empty: without it the SDK asks a discovery service on the internet
                host="127.0.0.1",  # the SDK's plugin web server; its default is 0.0.0.0
                port=plugin_port,  # its default 5000 is often taken, and then every login fails
                scheduler=self._scheduler,
            ))
        adopt_sdk_loggers(log_level)  # loggers created while building the bot
        self._logged_in = False
        self._user_id: str | None = None
        self._room_ids: dict[str, str] = {}  # topic -> room id
        self._rooms_loaded = float("-inf")
        # room id -> (when, display name -> id, member ids)
        self._members: dict[str, tuple[float, dict[str, str], set[str]]] = {}

    @property
    def logged_in(self) -> bool:
        """True while the account is logged in and the event stream is open."""
        return self._logged_in

    # --- one connection ------------------------------------------------------------------
    async def session(self, stop: asyncio.Event) -> str:
        """Connect, deliver events in order until the stream ends or `stop` is set; returns why it ended."""
        probe = asyncio.create_task(self._probe())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({probe, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not probe.done():
            probe.cancel()
            return "机器人正在停止"
        probe.result()  # raises GatewayUnavailable when nothing answers
        bot = self.bot
        queue: asyncio.Queue[str] = asyncio.Queue()
        await bot.init_puppet()  # the same PuppetService every time; new per-connection user classes
        await bot.init_puppet_event_bridge(bot.puppet)
        puppet = bot.puppet
        # The SDK's own message listener runs a task per message (messages may overtake each other)
        # and fetches each one for plugins the bot does not use: a plain function keeps stream order.
        puppet._event_stream.remove_all_listeners("message")  # noqa: SLF001
        puppet.on("message", lambda payload: queue.put_nowait(payload.message_id))
        puppet.on("login", self._on_login)
        puppet.on("logout", self._on_logout)
        puppet.on("scan", self._on_scan)
        stream = asyncio.create_task(puppet.start(), name="wechaty-stream")  # Stop, Start, then the event stream
        consumer = asyncio.create_task(self._consume(queue), name="wechaty-messages")
        pinger = asyncio.create_task(self._heartbeat(), name="wechaty-ping")
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({stream, pinger, stopper}, return_when=asyncio.FIRST_COMPLETED)
            self._logged_in = False  # nothing is sent on a connection that is ending
            await self._drain(queue, consumer)
            if stream in done:
                return self._stream_end(stream)  # raises for a refused token or a broken connection
            if pinger in done:
                return pinger.result()
            return "机器人正在停止"
        finally:
            self._logged_in = False
            for task in (pinger, stopper, consumer):
                task.cancel()
            await self._release()
            await _cancel(stream)

    async def _probe(self) -> None:
        """Fail fast, with a clear reason, when nothing answers at the endpoint."""
        host, _, port = self.endpoint.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), PING_TIMEOUT)
        except (TimeoutError, OSError) as e:
            raise GatewayUnavailable(f"{self.endpoint} 没有响应：{_describe(e)}") from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    def _stream_end(self, stream: asyncio.Task) -> str:
        exc = stream.exception()
        if exc is None:
            return "网关关闭了事件流"
        if isinstance(exc, GRPCError):
            detail = self._redact(exc.message or "")
            if exc.status == Status.UNAUTHENTICATED:
                raise GatewayAuthError(f"网关拒绝了 token（gRPC UNAUTHENTICATED：{detail}）")
            raise GatewayUnavailable(f"gRPC {exc.status.name}: {detail}")
        if isinstance(exc, (StreamTerminatedError, OSError, WechatyPuppetError, TimeoutError)):
            raise GatewayUnavailable(self._redact(_describe(exc)))
        raise exc

    async def _heartbeat(self) -> str:
        """Ping the gateway now and then; returns why the connection is dead when it stops answering."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            puppet = self.bot._puppet  # noqa: SLF001 - the SDK has no "is there a puppet"
            if puppet is None or getattr(puppet, "_puppet_stub", None) is None:
                continue
            try:
                await asyncio.wait_for(puppet.ding("minqing"), PING_TIMEOUT)
            except TimeoutError:
                return f"网关 {PING_TIMEOUT:.0f} 秒内没有回应心跳"
            except (GRPCError, StreamTerminatedError, OSError) as e:
                return f"心跳失败：{self._redact(_describe(e))}"

    async def _drain(self, queue: asyncio.Queue[str], consumer: asyncio.Task) -> None:
        """Let the messages announced before the stream ended be handled (bounded)."""
        if consumer.done():
            return
        try:
            await asyncio.wait_for(queue.join(), DRAIN_SECONDS)
        except TimeoutError:
            log.error("连接关闭前，网关通知的消息没有处理完（还有 %d 条在排队）；"
                      "这些消息丢失了", queue.qsize(), extra={"event": "message_lost"})

    async def _release(self) -> None:
        """Drop this connection's listeners and channel; the next connection starts afresh.

        The SDK reuses one PuppetService, so listeners left on it would double every event.
        No Stop call: the stream is gone, and the next connection sends Stop and Start anyway.
        """
        puppet = self.bot._puppet  # noqa: SLF001
        if puppet is None:
            return
        puppet._event_stream.remove_all_listeners()  # noqa: SLF001
        if puppet.channel is not None:
            puppet.channel.close()
            puppet.channel = None
        puppet._puppet_stub = None  # noqa: SLF001

    async def close(self) -> None:
        """Leave the gateway for good: drop the channel, stop the SDK's scheduler.

        No Stop call: it would stop the gateway's puppet too, taking the WeChat account offline
        until the next start; the next connection sends Stop and Start anyway.
        """
        await self._release()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    # --- events -----------------------------------------------------------------------------
    async def _on_login(self, payload: Any) -> None:
        try:
            user_id = payload.contact_id
            contact = self.bot.Contact.load(user_id)
            await contact.ready()
            self._user_id = user_id
            self._logged_in = True
            await self.listener.on_login(user_id, contact.name)
        except Exception:
            log.exception("处理登录事件出错")

    async def _on_logout(self, payload: Any) -> None:
        try:
            self._logged_in = False
            await self.listener.on_logout(str(getattr(payload, "data", "") or "已退出登录"))
        except Exception:
            log.exception("处理退出登录事件出错")

    async def _on_scan(self, payload: Any) -> None:
        status = getattr(getattr(payload, "status", None), "name", "?")
        log.warning("网关上的微信号没有登录，正在等待扫描二维码登录（%s）：%s",
                    status, getattr(payload, "qrcode", None) or "二维码还没有生成", extra={"event": "scan"})
        try:
            await self.listener.on_scan(status)
        except Exception:
            log.exception("handling the scan event failed")

    async def _consume(self, queue: asyncio.Queue[str]) -> None:
        """Handle announced messages in the order the stream announced them: those waiting together (a burst,
        up to BURST) are handed over at once, to be stored with one disk flush."""
        while True:
            ids = [await queue.get()]
            while len(ids) < BURST and not queue.empty():
                ids.append(queue.get_nowait())
            try:
                inbound = [m for m in [await self._read(i) for i in ids] if m is not None]
                if inbound:
                    await self.listener.on_messages(inbound)
            except Exception:
                log.exception("处理消息 %s 出错", ", ".join(ids))
            finally:
                for _ in ids:
                    queue.task_done()

    async def _read(self, message_id: str) -> Inbound | None:
        """The message as the bot sees it; None for the bot's own and for one the gateway could not give."""
        try:
            return await self._inbound(message_id)
        except (GRPCError, StreamTerminatedError, OSError, WechatyPuppetError) as e:
            # the gateway could not give the payload: the message is lost
            log.error("无法从网关读取消息 %s：%s", message_id, self._redact(_describe(e)),
                      extra={"event": "message_lost", "msg_id": message_id})
            return None

    async def _inbound(self, message_id: str) -> Inbound | None:
        """The message as the bot sees it; None for the bot's own messages."""
        msg = self.bot.Message.load(message_id)
        await msg.ready()
        if msg.is_self():  # the bot's replies come back as messages too
            return None
        room = msg.room()
        if room is None:
            return await self._private_inbound(msg, message_id)
        await room.ready()
        topic = await room.topic() or ""
        self._room_ids.setdefault(topic, room.room_id)
        talker = msg.talker()
        await talker.ready()
        alias = await room.alias(talker)
        is_text = msg.type() == MessageType.MESSAGE_TYPE_TEXT
        text = msg.text() if is_text else f"[{msg.type().name.removeprefix('MESSAGE_TYPE_').lower()}]"
        mentioned = await msg.mention_self() or (is_text and text_mentions(text, self.bot_name))
        return Inbound(
            ts=message_time(getattr(msg.payload, "timestamp", None), self.clock.now()),
            room=topic,
            sender=display_name(alias, talker.name),
            text=text,
            msg_id=message_id,
            sender_id=talker.contact_id,
            mentions_bot=bool(mentioned),
            is_text=is_text,
            room_id=room.room_id,
        )

    async def _private_inbound(self, msg: Any, message_id: str) -> Inbound:
        """A message to the bot alone, with the groups its sender is in (to find the sender's village)."""
        talker = msg.talker()
        await talker.ready()
        is_text = msg.type() == MessageType.MESSAGE_TYPE_TEXT
        text = msg.text() if is_text else f"[{msg.type().name.removeprefix('MESSAGE_TYPE_').lower()}]"
        return Inbound(
            ts=message_time(getattr(msg.payload, "timestamp", None), self.clock.now()),
            room=None,
            sender=talker.name,
            text=text,
            msg_id=message_id,
            sender_id=talker.contact_id,
            mentions_bot=True,
            is_text=is_text,
            member_of=await self._groups_of(talker.contact_id),
        )

    async def _groups_of(self, contact_id: str) -> tuple[str, ...]:
        """Topics of the groups (of the bot's) this contact is a member of."""
        await self._load_rooms()
        topics = []
        for topic, room_id in list(self._room_ids.items()):
            room = self.bot.Room.load(room_id)
            await room.ready()
            members = await self._member_ids(room)
            if contact_id in members:
                topics.append(topic)
        return tuple(topics)

    # --- sending ----------------------------------------------------------------------------
    async def say(self, room: str | None, text: str, mentions: Sequence[PersonRef], to: PersonRef | None = None) -> None:
        """Send a text to the room with this topic, @-mentioning people, or privately `to` a contact (raises
        SendError)."""
        if not self._logged_in:
            raise SendError("没有连上网关，或网关上的微信号没有登录")
        if room is None:
            if to is None or not to.contact_id:
                raise SendError("发私信需要收信人的微信号（contact id）")
            contact = self.bot.Contact.load(to.contact_id)
            await contact.ready()
            await contact.say(text)
            return
        target = await self._room(room)
        ids: list[str] = []
        plain: list[str] = []
        for person in mentions:
            contact_id = person.contact_id or await self._member_id(target, person.name)
            if contact_id:
                if contact_id not in ids:
                    ids.append(contact_id)
            elif person.name not in plain:
                plain.append(person.name)  # not found in the room: named, not mentioned
        if plain:
            text = " ".join(f"@{name}" for name in plain) + " " + text
        # room.say puts "@name" in front for each mentioned id
        await target.say(text, mention_ids=ids or None)

    async def _load_rooms(self) -> None:
        """Learn the groups the account is in (at most once a minute)."""
        if time.monotonic() - self._rooms_loaded <= ROOMS_REFRESH_SECONDS:
            return
        self._rooms_loaded = time.monotonic()
        rooms = await self.bot.Room.find_all()  # Room.find() matches substrings: match topics here
        for r in rooms:
            t = r.payload.topic if r.payload else None
            if t and t in self._room_ids and self._room_ids[t] != r.room_id:
                log.warning("有两个群都叫 %r；消息发到第一个", t)
            elif t:
                self._room_ids[t] = r.room_id

    async def room_topics(self) -> list[str]:
        """The names of every group the account is in (asked of the gateway now, and remembered for sending)."""
        rooms = await self.bot.Room.find_all()
        topics = sorted({r.payload.topic for r in rooms if r.payload and r.payload.topic})
        self._rooms_loaded = float("-inf")  # the next send looks the groups up afresh too
        return topics

    async def reachable(self, contact_id: str) -> bool:
        """True when the account can message this contact privately (a friend of the account)."""
        contact = self.bot.Contact.load(contact_id)
        await contact.ready()
        return bool(contact.is_friend())

    async def _room(self, topic: str) -> Any:
        room_id = self._room_ids.get(topic)
        if room_id is None:
            await self._load_rooms()
            room_id = self._room_ids.get(topic)
        if room_id is None:
            raise SendError(f"机器人的微信号不在名为 {topic!r} 的群里")
        room = self.bot.Room.load(room_id)
        await room.ready()
        return room

    async def _member_ids(self, room: Any) -> set[str]:
        """The contact ids of a group's members (cached like the names)."""
        cached = self._members.get(room.room_id)
        if cached is None or time.monotonic() - cached[0] >= MEMBERS_TTL_SECONDS:
            await self._member_id(room, "")
            cached = self._members[room.room_id]
        return set(cached[1].values()) | cached[2]

    async def _member_id(self, room: Any, name: str) -> str | None:
        """The contact id of the member shown as `name` in the room (room alias or WeChat name)."""
        cached = self._members.get(room.room_id)
        if cached:
            age = time.monotonic() - cached[0]
            # a name not found is looked up again at most once a minute (someone may have joined)
            if age < MEMBERS_TTL_SECONDS and (name in cached[1] or age < ROOMS_REFRESH_SECONDS):
                return cached[1].get(name)
        names: dict[str, str] = {}
        members = await room.member_list()
        for member in members:
            names.setdefault(member.name, member.contact_id)
        if name and name not in names:  # room aliases cost one call per member: only when the name is not found
            for member in members:
                alias = await room.alias(member)
                if alias:
                    names.setdefault(alias, member.contact_id)
        self._members[room.room_id] = (time.monotonic(), names, {m.contact_id for m in members})
        return names.get(name)

    def _redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _cancel(task: asyncio.Task, timeout: float = 5.0) -> None:
    """Cancel a task until it ends: grpclib can swallow one cancellation while a stream closes."""
    deadline = time.monotonic() + timeout
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at exit
    elif not task.done():
        log.warning("连接任务 %.0f 秒内没有结束", timeout)

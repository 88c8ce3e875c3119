"""A minimal python-wechaty bot for the gateway tests: it answers room messages.

Run it as a subprocess: the SDK reads CACHE_DIR when it is imported and keeps
global state, so each bot gets its own process. Configuration comes from the
environment:

    WECHATY_PUPPET_SERVICE_ENDPOINT   host:port of the gateway (plaintext gRPC)
    WECHATY_PUPPET_SERVICE_TOKEN      the gateway's token
    CACHE_DIR                         where the SDK writes its files (set before import)
    WECHATY_LOG                       the SDK's log level: verbose, info, warn, error
    ECHO_BOT_MODE                     "stock": Wechaty.start() and the SDK's own retry;
                                      "supervised": our loop, reconnecting ECHO_BOT_RETRY
                                      seconds (default 1) after the event stream ends
    ECHO_BOT_PLUGIN_PORT              port of the SDK's plugin web server (default: a free one)
    ECHO_BOT_REPLY                    "0" to only report messages, not answer them
    ECHO_BOT_LOG_LEVEL                level of the root logger (default WARNING)

It answers every text message in a room with "收到：<text without mentions>",
@-mentioning the sender, and writes one JSON object per line on stdout, each
line prefixed with "ECHO-BOT " (the SDK print()s some errors on stdout):
starting, connecting, login, logout, ready, error, message, replied, self,
direct, disconnected, fatal, puppet-stop-error, start-returned, stop-error,
stopped. It stops (Wechaty.stop()) on SIGTERM, SIGINT or when stdin closes.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

# python-wechaty 0.10.7 on Python 3.11+: its PuppetOptions dataclass is used as
# a mutable default; give it a hash before `import wechaty`.
import wechaty_puppet.schemas.puppet as _puppet_schema

_puppet_schema.PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign]

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from grpclib.const import Status  # noqa: E402
from grpclib.exceptions import GRPCError, StreamTerminatedError  # noqa: E402
from wechaty import Contact, Message, Wechaty, WechatyOptions  # noqa: E402
from wechaty.exceptions import WechatyStatusError  # noqa: E402
from wechaty_puppet import MessageType  # noqa: E402
from wechaty_puppet.exceptions import WechatyPuppetConfigurationError  # noqa: E402


# The SDK print()s some errors on stdout: our lines carry a prefix.
LINE_PREFIX = "ECHO-BOT "


def emit(event: str, **fields: Any) -> None:
    """Write one prefixed JSON line on stdout."""
    fields = {"event": event, "t": time.time(), **fields}
    sys.stdout.write(LINE_PREFIX + json.dumps(fields, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EchoBot(Wechaty):
    """Answers every text message in a room with "收到：<text>", mentioning the sender."""

    def __init__(self, options: WechatyOptions, reply: bool) -> None:
        super().__init__(options)
        self.reply = reply

    async def on_login(self, contact: Contact) -> None:
        emit("login", id=contact.contact_id, name=contact.name)

    async def on_logout(self, contact: Contact) -> None:
        emit("logout", id=contact.contact_id)

    async def on_ready(self, payload: Any) -> None:
        emit("ready")

    async def on_error(self, payload: Any) -> None:
        emit("error", data=str(payload))

    async def on_message(self, msg: Message) -> None:
        received = time.time()
        if msg.is_self():  # the bot's own replies come back as messages too
            emit("self", id=msg.message_id, text=msg.text())
            return
        room = msg.room()
        if room is None:
            emit("direct", id=msg.message_id, text=msg.text())
            return
        talker = msg.talker()
        mentions = await msg.mention_list()
        emit(
            "message",
            received=received,
            id=msg.message_id,
            room_id=room.room_id,
            topic=await room.topic(),
            talker_id=talker.contact_id,
            talker_name=talker.name,
            room_alias=await room.alias(talker) or "",
            text=msg.text(),
            mention_text=await msg.mention_text(),
            mention_ids=[c.contact_id for c in mentions],
            mention_names=[c.name for c in mentions],
            mention_self=await msg.mention_self(),
            type=msg.type().name,
            timestamp=msg.payload.timestamp,
        )
        if self.reply and msg.type() == MessageType.MESSAGE_TYPE_TEXT:
            text = f"收到：{await msg.mention_text()}"
            saying = time.time()
            sent = await room.say(text, mention_ids=[talker.contact_id])
            emit("replied", id=msg.message_id, reply_id=sent.message_id if sent else None,
                 say_started=saying, say_seconds=time.time() - saying)


class ReentrantScheduler(AsyncIOScheduler):
    """The SDK starts its scheduler on every login event; after a reconnect the
    second start() raises "Scheduler is already running" inside the login
    handler, which then never calls on_login."""

    def start(self, *args: Any, **kwargs: Any) -> None:
        if not self.running:
            super().start(*args, **kwargs)


async def close_puppet(bot: Wechaty, timeout: float = 5.0) -> None:
    """Stop the SDK's puppet: drop its event listeners, send Stop, close the channel.

    The SDK reuses one PuppetService for the whole life of the Wechaty object
    (init_puppet() returns the same instance), so listeners left on it would
    double every event after a reconnect. The Stop call fails or hangs when the
    gateway is gone; the channel is closed anyway.
    """
    puppet = bot._puppet  # noqa: SLF001 - the SDK has no public "is there a puppet"
    if puppet is None:
        return
    try:
        await asyncio.wait_for(puppet.stop(), timeout)
    except (GRPCError, StreamTerminatedError, OSError, asyncio.TimeoutError) as exc:
        emit("puppet-stop-error", error=repr(exc))
        if puppet.channel is not None:
            puppet.channel.close()
            puppet.channel = None
        puppet._puppet_stub = None  # noqa: SLF001


async def run_supervised(bot: EchoBot, stop: asyncio.Event, retry_seconds: float) -> None:
    """Connect, read the event stream, and reconnect `retry_seconds` after it ends.

    Wechaty.start() instead sleeps 60 s after a lost stream, stops the event
    loop when the gateway is unreachable, and only print()s a wrong token.
    """
    attempt = 0
    while not stop.is_set():
        attempt += 1
        try:
            await bot.init_puppet()  # a new PuppetService and new user classes
            await bot.init_puppet_event_bridge(bot.puppet)
            emit("connecting", attempt=attempt)
            await bot.puppet.start()  # Stop and Start calls, then the event stream until it ends
            reason = "event stream ended"
        except GRPCError as exc:
            if exc.status == Status.UNAUTHENTICATED:
                emit("fatal", reason="unauthenticated", status=exc.status.name, detail=exc.message)
                raise
            reason = f"gRPC {exc.status.name}: {exc.message}"
        except (WechatyPuppetConfigurationError, StreamTerminatedError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            await close_puppet(bot)
        emit("disconnected", attempt=attempt, reason=reason)
        try:
            await asyncio.wait_for(stop.wait(), retry_seconds)
        except asyncio.TimeoutError:
            pass


async def cancel_and_wait(task: asyncio.Task[Any], timeout: float = 5.0) -> None:
    """Cancel `task` until it ends: grpclib can swallow one cancellation while a
    stream closes, and Wechaty.start() then sleeps 60 s before retrying."""
    deadline = time.monotonic() + timeout
    while not task.done() and time.monotonic() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.2)
    if not task.done():
        emit("task-stuck", task=repr(task))


async def main() -> int:
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid> prints every thread's stack
    logging.basicConfig(
        level=os.environ.get("ECHO_BOT_LOG_LEVEL", "WARNING"),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    mode = os.environ.get("ECHO_BOT_MODE", "stock")
    port = int(os.environ.get("ECHO_BOT_PLUGIN_PORT") or free_port())
    options = WechatyOptions(
        host="127.0.0.1",  # the plugin web server; default 0.0.0.0
        port=port,  # default 5000, and every login fails while that port is taken
        scheduler=ReentrantScheduler(),  # in memory: no job.db in CACHE_DIR
    )
    bot = EchoBot(options, reply=os.environ.get("ECHO_BOT_REPLY", "1") != "0")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def on_stdin() -> None:
        if not sys.stdin.readline():  # EOF: the parent is gone or wants us to stop
            loop.remove_reader(sys.stdin.fileno())
            stop.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)

    if mode == "supervised":
        runner = asyncio.create_task(run_supervised(bot, stop, float(os.environ.get("ECHO_BOT_RETRY", "1"))))
    else:
        runner = asyncio.create_task(bot.start())  # returns only when the event stream ends
    stopper = asyncio.create_task(stop.wait())
    emit("starting", mode=mode, plugin_port=port, pid=os.getpid())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner in done:
        exc = runner.exception()
        emit("start-returned", error=repr(exc) if exc else None)
        await stop.wait()
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(bot.stop(), 5.0)  # Stop call to the gateway, then the channel is closed
    except WechatyStatusError as exc:  # no puppet: already stopped
        emit("stop-error", error=repr(exc))
    except (GRPCError, StreamTerminatedError, OSError, asyncio.TimeoutError) as exc:  # gateway gone or refusing
        emit("stop-error", error=repr(exc))
        await close_puppet(bot)
    await cancel_and_wait(runner)
    stopper.cancel()
    emit("stopped", seconds=time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

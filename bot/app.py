"""The composition root: config, database, domain service, renderer, outbox and transport."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError

from bot.tagging.model import ModelError, TextModel, load_model
from bot.config import Config, ConfigError
from bot.messaging.outbox import Outbox
from bot.messaging.render import Renderer
from bot.messaging.transport import Transport
from routing.model import Event, Inbound, Request
from routing.org import Place, RoomKind
from routing.ports import Outbound
from routing.privacy import mask
from routing.text import NAME_LIMIT, storable
from routing.service import RelayService
from routing.tagging import Classifier, Tagger
from storage.db import Database
from storage.repository import SqlRepository, StaleWrite

log = logging.getLogger(__name__)


def configured_model(config: Config, warm: bool = True) -> TextModel | None:
    """The trained model named by `[tagging] model`, or None; ConfigError when it cannot be used."""
    path = config.model_path()
    if path is None:
        return None
    try:
        return load_model(path, warm=warm)
    except ModelError as e:
        raise ConfigError(config.source, [("tagging.model", str(e))]) from None


def model_problem(config: Config) -> str | None:
    """Why the configured model file cannot be used, or None when it loads (or none is configured)."""
    try:
        configured_model(config, warm=False)
    except ConfigError as e:
        return str(e)
    return None


def build_tagger(config: Config, model: Classifier | None = None) -> Tagger:
    """The tagger the config asks for: keywords, plus the trained model given or named by the config."""
    if model is None:
        # loaded at start-up, so that a bad model file stops the bot before any message arrives
        model = configured_model(config)
    return Tagger(config.category_keywords, config.raw.urgency.keywords, model,
                  confidential=config.policy.escalation.confidential)


def log_transitions(events: Iterable[Event]) -> None:
    """One log line per request event, once its transaction is committed."""
    if not log.isEnabledFor(logging.INFO):
        return  # nothing would be written: the lines are not even composed
    for e in events:
        change = f"{e.from_status.value}→{e.to_status.value}" if e.from_status and e.to_status else (
            e.to_status.value if e.to_status else "no status change")
        tier = f"{e.from_tier.key}→{e.tier.key}" if e.from_tier and e.from_tier != e.tier else e.tier.key
        log.info("request #%d %s (%s, %s tier) by %s%s", e.number, e.kind.value, change, tier, e.actor or "the bot",
                 f" [{e.rule}]" if e.rule else "", extra={"event": "transition", "request": e.number})


def shown_outside_origin(out: Outbound, place: Place | None) -> bool:
    """True unless the message goes to a village room and shows only that village's requests."""
    # personal data stays in the village room it was posted in: every other room sees it masked,
    # including another village's room where a handler asked about this request
    if out.room is None:
        return False  # a private message to the requester: their own words
    if place is None or place.kind is not RoomKind.VILLAGE:
        return True
    for value in out.context.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, Request) and ((item.township, item.village) != (place.township, place.village)
                                              or item.private or item.confidential):
                return True  # another village's, or one its requester did not post in this room
    return False


def storable_message(msg: Inbound) -> Inbound:
    """The message in a form every database stores (routing.text.storable): NUL and lone surrogates replaced,
    names and ids cut to NAME_LIMIT characters."""
    def name(v: str | None) -> str | None:
        return None if v is None else storable(v, NAME_LIMIT)

    def ident(v: str | None) -> str | None:
        # an id is an identity: a long one is replaced by its digest, never cut (two cut ids could be one)
        if v is None or len(v) <= NAME_LIMIT and storable(v) == v:
            return v
        return "sha256:" + hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()

    fields = dict(room=name(msg.room), sender=name(msg.sender), sender_id=ident(msg.sender_id),
                  msg_id=ident(msg.msg_id), room_id=ident(msg.room_id), text=storable(msg.text))
    if all(value is getattr(msg, key) for key, value in fields.items()):
        return msg  # the common message: nothing to change
    return replace(msg, **fields)


class Relay:
    """Messages in, messages out: one transaction per message or tick, the outbox in between."""

    def __init__(self, config: Config, db: Database, transport: Transport, tagger: Tagger | None = None) -> None:
        self.config = config
        self.db = db
        self.transport = transport
        self.service = RelayService(config.county, config.policy, tagger or build_tagger(config))
        self.renderer = Renderer(config.tz)
        self.outbox = Outbox(db, config.raw.sending.max_attempts)
        self.failed = 0  # messages this process failed to handle (kept in the database)

    # --- inbound -----------------------------------------------------------------
    def receive(self, msg: Inbound) -> int:
        """Handle one chat message and queue the replies (sending is separate: see `flush`); how many were queued.

        A message the bot fails on because of its own error is kept (see `minqing failed`) and
        answered with an apology; it never stops the bot.
        """
        msg = storable_message(msg)
        if not msg.private and self.config.county.place(msg.room) is None:
            self._unconfigured(msg)
            return 0
        try:
            return self._handle(msg)
        except Exception as e:  # a bug of ours: keep the message, apologise, carry on
            log.exception("failed to handle message %s in %s", msg.msg_id, msg.room,
                          extra={"event": "message_failed", "msg_id": msg.msg_id})
            self.failed += 1
            self._keep_failed(msg, e)
            return 1

    def receive_all(self, messages: Sequence[Inbound]) -> int:
        """Handle messages that arrived together, in order, with one disk flush for all (group commit).

        Each message is its own savepoint: one that fails is kept and answered alone, the others
        stand. Nothing is announced before the commit: replies reach the outbox, which is read
        only after it. Returns how many replies were queued.
        """
        if len(messages) == 1:
            return self.receive(messages[0])
        with self.db.batch():
            return sum(self.receive(m) for m in messages)

    def _keep_failed(self, msg: Inbound, error: Exception) -> None:
        """Keep a message the bot failed on, and apologise; if even that cannot be stored, say so in the log."""
        try:
            with self.db.transaction() as tx:
                tx.record_failure(msg, storable(f"{type(error).__name__}: {error}"), msg.ts)
                apology = (Outbound(None, "internal_error.j2", {}, to=msg.sender_ref) if msg.private
                           else Outbound(msg.room, "internal_error.j2", {}, (msg.sender_ref,)))
                self._record(tx, [apology], msg.ts)
        except Exception:
            log.exception("could not keep failed message %s from %s in %s", msg.msg_id, msg.sender_id, msg.room,
                          extra={"event": "failed_message_lost", "msg_id": msg.msg_id})

    def _unconfigured(self, msg: Inbound) -> None:
        """A message from a group the config does not name: remembered (`minqing rooms`), otherwise ignored."""
        try:
            with self.db.transaction() as tx:
                first = tx.note_room(msg.room, False, msg.ts, msg.room_id)
        except (IntegrityError, OperationalError) as e:
            log.warning("could not note room %r: %s", msg.room, e.orig)
            return
        if first:
            log.warning("不在配置里的群“%s”发来了消息，机器人不处理（要服务这个群，请把它写进配置；"
                        "`minqing rooms` 列出见过的群）", msg.room, extra={"event": "room_not_configured"})

    def _handle(self, msg: Inbound) -> int:
        for attempt in (1, 2):
            try:
                with self.db.transaction() as tx:
                    if not msg.private:
                        tx.note_room(msg.room, True, msg.ts, msg.room_id)
                    queued = self._record(tx, self.service.handle(tx, msg), msg.ts)
                log_transitions(tx.written)
                return queued
            except (IntegrityError, OperationalError, StaleWrite) as e:
                # another process took the same number or message id first, or changed the request
                # this message acts on: try once more on fresh data, then report
                if attempt == 2:
                    raise
                log.warning("retrying message %s after a database conflict: %s", msg.msg_id, getattr(e, "orig", e))

    # --- time --------------------------------------------------------------------
    def tick(self, now: datetime) -> int:
        """Run every time-driven job due at `now`; returns how many messages it queued."""
        with self.db.transaction() as tx:
            tx.write_tallies()  # this process's rooms' and people's message counts not yet written (storage.tallies)
            if not tx.try_lock_jobs():
                log.info("another process is running the time-driven jobs; skipped")
                return 0
            outs = self.service.tick(tx, now)
            queued = self._record(tx, outs, now)
        log_transitions(tx.written)
        return queued

    def next_due(self, after: datetime) -> datetime | None:
        """When the next time-driven job falls due after `after`, if any (a read: it takes no write lock)."""
        with self.db.snapshot() as tx:
            return self.service.next_due(tx, after)

    # --- outbound -----------------------------------------------------------------
    def queue(self, outs: Iterable[Outbound], at: datetime) -> int:
        """Record messages of the bot's own (not caused by a chat message) to send; returns how many."""
        with self.db.transaction() as tx:
            return self._record(tx, outs, at)

    def _record(self, tx: SqlRepository, outs: Iterable[Outbound], at: datetime) -> int:
        count = 0
        for out in outs:
            if out.to is not None and not self.transport.reachable(out.to):
                if out.fallback is None:
                    log.info("no private channel to %s: message %s not sent", out.to.contact_id, out.template,
                             extra={"event": "private_unreachable"})
                    continue
                room, template = out.fallback
                out = Outbound(room, template, out.context, (out.to,), out.key)
            outside = shown_outside_origin(out, self.config.county.place(out.room) if out.room else None)
            text = self.renderer.render(out, masked=outside)
            if outside:
                text = mask(text)
            mentions = [{"name": p.name, "id": p.contact_id} for p in out.mentions]
            to = out.to if out.room is None else None
            if tx.enqueue(out.room, text, mentions, at, out.key, to=to):
                count += 1
        return count

    def flush(self, now: datetime) -> int:
        """Send everything queued, at once (simulated groups; the live bot paces its sends)."""
        return self.outbox.drain(self.transport, now)

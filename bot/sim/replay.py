"""`minqing replay`: chat messages from JSON Lines through the bot on a simulated clock."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import Relay
from bot.clock import ManualClock, check_year
from bot.sim.groups import Said
from routing import grammar
from routing.model import Inbound

log = logging.getLogger(__name__)

MARK = "clock_mark"
SAVE_MARK_EVERY = 500  # lines and ticks between two stores of the clock's high-water mark
BATCH_LINES = 200  # lines replayed in one transaction (group commit)
MAX_TEXT = 100_000  # longer lines are cut (and logged): a chat message is never this long


class ReplayInputError(Exception):
    """A line of the input that cannot be replayed (exit status 3)."""

    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__(f"第 {lineno} 行：{reason}" if lineno else reason)
        self.lineno = lineno


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed input line: a chat message, or a tick that only moves time."""

    ts: datetime
    message: Inbound | None


def parse_time(value: object, tz: ZoneInfo) -> datetime:
    """An ISO 8601 time; one without an offset is taken in the configured timezone."""
    if not isinstance(value, str):
        raise ValueError("ts 应是 ISO 8601 格式的时间字符串，例如 2026-10-09T09:15:00+08:00")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"ts {value!r} 不是 ISO 8601 格式的时间，例如 2026-10-09T09:15:00+08:00") from None
    check_year(t, f"时间 {value!r}")  # on the local time, before any conversion can overflow
    return t if t.tzinfo else t.replace(tzinfo=tz)


def parse_line(raw: str, lineno: int, tz: ZoneInfo, bot_name: str) -> Line | None:
    """Parse one JSON Lines line; None for a blank line."""
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ReplayInputError(lineno, f"不是 JSON：第 {e.colno} 列出错（{e.msg}）") from None
    except RecursionError:
        raise ReplayInputError(lineno, "JSON 嵌套层数太多，不是一条聊天消息") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise ReplayInputError(lineno, f"JSON 里有无法读取的值（{str(e).split(':')[0]}）") from None
    if not isinstance(obj, dict):
        raise ReplayInputError(lineno, "每一行应是一个 JSON 对象（{...}）")
    try:
        ts = parse_time(obj.get("ts"), tz)
    except ValueError as e:
        raise ReplayInputError(lineno, str(e)) from None
    if obj.get("tick", False) is not False:  # "tick": false is an ordinary message
        if obj["tick"] is not True:
            raise ReplayInputError(lineno, "'tick' 只能写 true（只推进时间的一行）或 false")
        chat = sorted(k for k in ("room", "sender", "sender_id", "text", "mentions", "id") if k in obj)
        if chat:  # a message in a tick line would be dropped unseen
            raise ReplayInputError(lineno, f"tick 行只推进时间，不能同时带消息（{'、'.join(chat)}）：请分成两行")
        return Line(ts, None)
    for key in ("sender", "text"):
        if not isinstance(obj.get(key), str):
            raise ReplayInputError(lineno, f"{key!r} 应是字符串")
    room = obj.get("room")
    if room is not None and (not isinstance(room, str) or not room.strip()):
        raise ReplayInputError(lineno, "'room' 应是群名；私信写 null 或不写")
    if not obj["sender"].strip():
        raise ReplayInputError(lineno, "'sender' 不能为空")
    if room is None and not obj.get("sender_id"):
        raise ReplayInputError(lineno, "私信（没有 room）必须写 'sender_id'")
    for key in ("sender_id", "id"):
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ReplayInputError(lineno, f"{key!r} 应是字符串")
    mentions = obj.get("mentions") or []
    if not isinstance(mentions, list) or not all(isinstance(m, str) for m in mentions):
        raise ReplayInputError(lineno, "'mentions' 应是名字的列表，例如 [\"民情直通车\"]")
    text = obj["text"]
    if len(text) > MAX_TEXT:
        log.warning("第 %d 行：消息有 %d 个字，只读前 %d 个", lineno, len(text), MAX_TEXT)
        text = text[:MAX_TEXT]
    msg_id = obj.get("id") or derived_id(obj["ts"], room, obj["sender"], obj["text"])
    return Line(ts, Inbound(
        ts=ts,
        room=room,
        sender=obj["sender"],
        sender_id=obj.get("sender_id") or None,
        text=text,
        msg_id=msg_id,
        mentions_bot=bot_name in mentions or grammar.mentions(text, bot_name),
    ))


def decode_line(raw: str | bytes, lineno: int) -> str:
    """One input line as text; bytes are decoded here, so that bad UTF-8 is reported with its line number."""
    if isinstance(raw, str):
        return raw
    try:
        # utf-8-sig on the first line: editors on Windows start UTF-8 files with a byte order mark
        return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise ReplayInputError(lineno, f"不是 UTF-8 文本（第 {e.start + 1} 个字节起无法解码）") from None


def derived_id(ts: str, room: str | None, sender: str, text: str) -> str:
    """A stable id for a message that came without one."""
    # surrogatepass: a lone surrogate (valid in a JSON string, not in UTF-8) must not stop the replay
    key = json.dumps([ts, room, sender, text], ensure_ascii=False).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(key).hexdigest()
    return "derived:" + digest[:32]


def said_json(said: Said, tz: ZoneInfo) -> str:
    """One output line: what the bot said, where and when (a private message: room null, to whom)."""
    line = {"ts": said.ts.astimezone(tz).isoformat(), "room": said.room, "text": said.text,
            "mentions": [m.name for m in said.mentions]}
    if said.room is None and said.to is not None:
        line["to"], line["to_id"] = said.to.name, said.to.contact_id
    return json.dumps(line, ensure_ascii=False)


class Replayer:
    """Feeds lines to the relay, running the time-driven jobs that fall due in between."""

    def __init__(self, relay: Relay, clock: ManualClock, on_commit: Callable[[], None] = lambda: None) -> None:
        self.relay = relay
        self.clock = clock
        self.on_commit = on_commit  # what the bot said so far is committed: it may be let out
        with relay.db.transaction() as tx:
            mark = tx.get_meta(MARK)
        self.mark: datetime | None = datetime.fromisoformat(mark) if mark else None
        self._unsaved = 0

    def _save_mark(self, when: datetime) -> None:
        self.mark = when
        with self.relay.db.transaction() as tx:
            tx.set_meta(MARK, when.isoformat())

    def _advance(self, when: datetime) -> None:
        """Move the clock's high-water mark; it is stored now and then, and when a replay ends (a mark left
        behind by a crash only makes the next replay look again at lines it has already handled: each is
        handled once, by its id, and every time-driven job once, by its key)."""
        self.mark = when
        self._unsaved += 1
        if self._unsaved >= SAVE_MARK_EVERY:
            self._save_mark(when)
            self._unsaved = 0

    def run_until(self, when: datetime) -> None:
        """Run every job due up to and including `when`, each at its due time."""
        if self.mark is None:
            self._save_mark(when)  # a fresh database's clock starts here
        while (due := self.relay.next_due(self.mark)) is not None and due <= when:
            self.clock.set(due)
            if self.relay.tick(due):
                self.relay.flush(due)
            self._advance(due)
        self.clock.set(max(when, self.clock.now()))

    def feed(self, lines: Iterable[str | bytes], on_line: Callable[[int], None] | None = None) -> int:
        """Replay JSON Lines (text, or bytes decoded one line at a time); returns how many lines were processed.

        Lines go through in groups of BATCH_LINES, each group one transaction (one disk flush); what
        the bot said during a group is let out (`on_commit`) only once the group is committed. A bad
        line stops the replay after the lines before it are committed.
        """
        numbered = enumerate(lines, 1)
        count = 0
        try:
            while True:
                with self.relay.db.batch():
                    done, error, more = self._feed_some(numbered, on_line)
                count += done
                self.on_commit()
                if error is not None:
                    raise error
                if not more:
                    return count
        finally:
            if self.mark is not None and self._unsaved:
                self._save_mark(self.mark)
                self._unsaved = 0
                self.on_commit()

    def _feed_some(self, numbered: Iterator[tuple[int, str | bytes]],
                   on_line: Callable[[int], None] | None) -> tuple[int, ReplayInputError | None, bool]:
        """Up to BATCH_LINES lines: (how many, the bad line's error if one stopped them, whether lines remain)."""
        tz = self.relay.config.tz
        bot = self.relay.config.policy.bot_name
        count = 0
        for lineno, raw in numbered:
            try:
                line = parse_line(decode_line(raw, lineno), lineno, tz, bot)
                if line is not None and self.mark is not None and line.ts < self.mark:
                    raise ReplayInputError(
                        lineno, f"时间倒退了：{line.ts.isoformat()} 早于时钟已经走到的 {self.mark.isoformat()}"
                        "（同一个数据库上的重放接着上次的时间往下走）")
            except ReplayInputError as e:
                return count, e, False
            if line is None:
                continue
            self.run_until(line.ts)
            if line.message is not None and self.relay.receive(line.message):
                self.relay.flush(line.ts)
            self._advance(line.ts)
            count += 1
            if on_line:
                on_line(lineno)
            if count >= BATCH_LINES:
                return count, None, True
        return count, None, False

    def finish(self, until: datetime | None) -> None:
        """Run the clock on to `until` after the last line."""
        if until is None:
            return
        if self.mark is not None and until < self.mark:
            raise ReplayInputError(0, f"--until {until.isoformat()} 早于时钟已经走到的 {self.mark.isoformat()}")
        with self.relay.db.batch():
            self.run_until(until)
            self._save_mark(until)
        self._unsaved = 0
        self.on_commit()

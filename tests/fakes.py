"""Fakes for tests: a clock that moves only when told, and a chat that records what the bot says."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from bot.app import Relay
from bot.clock import ManualClock
from bot.sim.groups import Said, SimulatedTransport
from routing.model import Inbound

TZ = ZoneInfo("Asia/Shanghai")
FakeClock = ManualClock


def local(text: str) -> datetime:
    """A Beijing-time moment from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@dataclass(frozen=True)
class Line:
    """What the bot said, in a form tests can compare: room, text and the names it mentioned."""

    room: str | None  # None: a private message
    text: str
    mentions: tuple[str, ...]
    ts: datetime
    to: str | None = None  # a private message's addressee

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text


class Chat:
    """Simulated groups for dialog tests: people speak, the clock moves, the bot answers."""

    def __init__(self, relay: Relay, clock: ManualClock, transport: SimulatedTransport) -> None:
        self.relay = relay
        self.clock = clock
        self.transport = transport
        self._ids = count(1)

    def at(self, when: str | datetime) -> Chat:
        """Move the clock (running due jobs on the way) to a 'YYYY-MM-DD HH:MM' local time."""
        t = local(when) if isinstance(when, str) else when
        self.run_jobs_until(t)
        self.clock.set(t)
        return self

    def later(self, **delta) -> Chat:
        """Move the clock forward by a timedelta's keywords."""
        return self.at(self.clock.now() + timedelta(**delta))

    def run_jobs_until(self, t: datetime) -> None:
        """Run every time-driven job that falls due up to t, each at its due time (see `take`)."""
        while (due := self.relay.next_due(self.clock.now())) is not None and due <= t:
            self.clock.set(due)
            self.relay.tick(due)
            self.relay.flush(due)

    def say(self, room: str | None, sender: str, text: str, *, sender_id: str | None = "auto", mention: bool = False,
            msg_id: str | None = None, is_text: bool = True) -> list[Line]:
        """Someone writes in a room; returns what the bot said in reply (anywhere)."""
        now = self.clock.now()
        inbound = Inbound(
            ts=now, room=room, sender=sender, text=text,
            msg_id=msg_id or f"m{next(self._ids)}",
            sender_id=f"wxid_{sender}" if sender_id == "auto" else sender_id,
            mentions_bot=mention or f"@{self.relay.config.policy.bot_name}" in text,
            is_text=is_text,
        )
        self.relay.receive(inbound)
        self.relay.flush(now)
        return self.take()

    def take(self) -> list[Line]:
        """Everything the bot said since the last call."""
        return [to_line(s) for s in self.transport.take()]

    def script(self, steps: Sequence[tuple]) -> None:
        """Run a dialog: (room, sender, text, expected) rows; expected is [(room, fragment), ...].

        Each expected fragment must appear in a message the bot said in that room in reply;
        an empty list means the bot says nothing.
        """
        for i, (room, sender, text, expected) in enumerate(steps, 1):
            said = self.say(room, sender, text)
            if not expected:
                assert said == [], f"step {i} {text!r}: expected silence, bot said {said}"
            for want_room, fragment in expected:
                assert any(s.room == want_room and fragment in s.text for s in said), (
                    f"step {i} {text!r}: nothing in {want_room} containing {fragment!r}; bot said:\n"
                    + "\n".join(f"  [{s.room}] {s.text}" for s in said)
                )


def to_line(s: Said) -> Line:
    """A transcript entry as a comparable line."""
    return Line(s.room, s.text, tuple(m.name for m in s.mentions), s.ts, s.to.name if s.to else None)


def make_chat(config, db, start: str = "2026-10-12 08:00", *, pinned: bool = True) -> Chat:
    """Simulated groups over a config and a database, the clock at `start`.

    `pinned`: every handler configured by name alone is already pinned to the contact id the chat gives
    them (wxid_<name>), as in a deployment that has been running; False starts with no pin at all.
    """
    clock = FakeClock(local(start))
    transport = SimulatedTransport(clock)
    if pinned:
        with db.transaction() as tx:
            for m in config.county.members():
                if not m.wechat_id and tx.pinned_id(m.unit, m.name) is None:
                    tx.pin(m.unit, m.name, f"wxid_{m.name}", clock.now())
    return Chat(Relay(config, db, transport), clock, transport)


def break_on(chat: Chat, monkeypatch, word: str) -> None:
    """Make the bot fail with an error of its own (ValueError "a bug") on every message containing `word`."""
    real = chat.relay.service.handle

    def broken(tx, msg):
        if word in msg.text:
            raise ValueError("a bug")
        return real(tx, msg)

    monkeypatch.setattr(chat.relay.service, "handle", broken)


def tick_with_a_message_between(chat: Chat, monkeypatch, scan: str, due: datetime, meanwhile) -> None:
    """Run a tick at `due` in a thread of its own that stops right after the repository's `scan` (the query that
    finds what is due: "due", "due_timers") until `meanwhile()` (someone writing in a room, a minute before) has
    committed in this thread: a real race on the real database, synchronised with events, never with sleeps."""
    import threading

    from storage.repository import SqlRepository

    scanned, written = threading.Event(), threading.Event()
    original = getattr(SqlRepository, scan)
    ticking: list[threading.Thread] = []

    def scan_then_wait(self, *args):
        found = original(self, *args)
        if threading.current_thread() is ticking[0] and found:
            scanned.set()
            assert written.wait(20), "the message never came"
        return found

    monkeypatch.setattr(SqlRepository, scan, scan_then_wait)
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            chat.relay.tick(due)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append(e)

    ticking.append(threading.Thread(target=tick))
    ticking[0].start()
    assert scanned.wait(20), "the tick never scanned"
    chat.clock.set(due - timedelta(minutes=1))
    meanwhile()  # commits while the tick waits between its scan and its write
    written.set()
    ticking[0].join(20)
    assert not ticking[0].is_alive() and errors == []

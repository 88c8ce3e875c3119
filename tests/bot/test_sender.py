"""Live sending: pacing per group and per minute, retries, order, restarts; a fake clock, no sleeping."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.clock import ManualClock
from bot.messaging.outbox import ABANDONED, FAILED, SENDING, SENT, Outbox
from bot.messaging.sender import RateLimiter, Sender
from bot.messaging.transport import SendError
from storage.db import Database
from tests.conftest import CTY, LT, MZ, PX, lose
from tests.fakes import local

T0 = local("2026-10-12 09:00")
S = timedelta(seconds=1)


class RecordingTransport:
    """Records what was sent, at the clock's time; rooms in `failing` raise SendError."""

    def __init__(self, clock: ManualClock, took: timedelta = timedelta(0)) -> None:
        self.clock = clock
        self.took = took
        self.sent: list[tuple[object, str, str, tuple[str, ...]]] = []
        self.failing: set[str] = set()

    def send(self, room, text, mentions, to=None) -> None:
        if room in self.failing:
            raise SendError(f"{room} unreachable")
        self.sent.append((self.clock.now(), room, text, tuple(m.name for m in mentions)))
        self.clock.set(self.clock.now() + self.took)

    def texts(self) -> list[str]:
        return [text for _, _, text, _ in self.sent]




def queue(database: Database, *items: tuple[str, str], at=T0) -> None:
    with database.transaction() as tx:
        for room, text in items:
            tx.enqueue(room, text, [{"name": "唐命学", "id": "wxid_tangmx"}], at)


def make_sender(database, *, interval=2.0, per_minute=20, ready=lambda: True, max_attempts=5, lock=None,
                clock=None):
    clock = clock or ManualClock(T0)
    transport = RecordingTransport(clock)
    outbox = Outbox(database, max_attempts)
    limiter = RateLimiter(timedelta(seconds=interval), per_minute)
    return Sender(outbox, transport, limiter, clock, ready=ready, lock=lock), transport, clock


def run_until(sender: Sender, clock: ManualClock, until) -> list:
    """Step the sender, moving the clock to each time it asks for, up to `until`."""
    while True:
        nxt = sender.step(clock.now())
        if nxt is None or nxt > until:
            return sender.transport.sent
        if nxt > clock.now():
            clock.set(nxt)


# --- the rate limiter -------------------------------------------------------------------------
def test_one_message_per_room_every_interval():
    limiter = RateLimiter(timedelta(seconds=2), 20)
    assert limiter.next_allowed(LT, T0) == T0
    limiter.record(LT, T0)
    assert limiter.next_allowed(LT, T0) == T0 + 2 * S
    assert limiter.next_allowed(LT, T0 + 3 * S) == T0 + 3 * S
    assert limiter.next_allowed(MZ, T0) == T0  # other rooms are not held back


def test_at_most_per_minute_in_all():
    limiter = RateLimiter(timedelta(0), 3)
    for i in range(3):
        limiter.record(f"room{i}", T0 + i * S)
    assert limiter.next_allowed("room9", T0 + 10 * S) == T0 + 60 * S  # the oldest send leaves the window
    assert limiter.next_allowed("room9", T0 + 60 * S) == T0 + 60 * S
    assert limiter.next_allowed("room9", T0 + 61 * S) == T0 + 61 * S


def test_pacing_survives_a_restart_when_seeded():
    limiter = RateLimiter(timedelta(seconds=2), 3)
    limiter.seed([(LT, T0), (MZ, T0 + S)])
    assert limiter.next_allowed(LT, T0 + S) == T0 + 2 * S
    assert limiter.next_allowed(PX, T0 + S) == T0 + S
    limiter.record(PX, T0 + S)
    assert limiter.next_allowed(CTY, T0 + S) == T0 + 60 * S


def test_the_limiter_refuses_a_zero_budget():
    with pytest.raises(ValueError):
        RateLimiter(timedelta(seconds=2), 0)


# --- the sender -------------------------------------------------------------------------------
def test_a_burst_goes_out_paced_and_in_order(database):
    sender, transport, clock = make_sender(database)
    queue(database, (LT, "一"), (LT, "二"), (MZ, "甲"), (LT, "三"))
    sent = run_until(sender, clock, T0 + 60 * S)
    assert [(t - T0, room, text) for t, room, text, _ in sent] == [
        (0 * S, LT, "一"), (0 * S, MZ, "甲"), (2 * S, LT, "二"), (4 * S, LT, "三")]
    assert sent[0][3] == ("唐命学",)
    assert sender.step(clock.now()) is None  # nothing left
    with database.transaction() as tx:
        assert {r.status for r in tx.outbox((SENT,))} == {SENT} and not tx.outbox(("queued",))


def test_the_interval_counts_from_when_the_gateway_took_the_message(database):
    sender, transport, clock = make_sender(database)
    transport.took = timedelta(milliseconds=500)
    queue(database, (LT, "一"), (LT, "二"))
    sent = run_until(sender, clock, T0 + 60 * S)
    assert [t - T0 for t, *_ in sent] == [0 * S, timedelta(seconds=2.5)]
    with database.transaction() as tx:
        assert [r.sent_at - T0 for r in tx.outbox((SENT,))] == [timedelta(seconds=0.5), timedelta(seconds=3)]


def test_twenty_a_minute_in_all(database):
    sender, transport, clock = make_sender(database, interval=0, per_minute=3)
    queue(database, *[(room, f"m{i}") for i, room in enumerate([LT, MZ, PX, LT, MZ])])
    sent = run_until(sender, clock, T0 + 120 * S)
    assert [t - T0 for t, *_ in sent] == [0 * S, 0 * S, 0 * S, 60 * S, 60 * S]


def test_a_failed_send_is_retried_with_backoff_and_holds_back_its_room(database):
    sender, transport, clock = make_sender(database, interval=0)
    queue(database, (LT, "一"), (LT, "二"), (MZ, "甲"))
    transport.failing.add(LT)
    nxt = sender.step(clock.now())
    assert transport.texts() == ["甲"]  # the other room goes on
    assert sender.step(clock.now()) == T0 + 5 * S  # the retry after the first backoff
    clock.set(T0 + 5 * S)
    sender.step(clock.now())
    assert sender.step(clock.now()) == T0 + 15 * S  # attempt 2 failed: 10 s more
    transport.failing.clear()
    run_until(sender, clock, T0 + 60 * S)
    assert transport.texts() == ["甲", "一", "二"]  # its room's order is kept
    assert nxt is not None
    with database.transaction() as tx:
        first = [r for r in tx.outbox((SENT,)) if r.text == "一"][0]
    assert first.attempts == 3


def test_a_message_that_keeps_failing_is_given_up(database):
    sender, transport, clock = make_sender(database, interval=0, max_attempts=2)
    queue(database, (LT, "一"), (LT, "二"))
    transport.failing.add(LT)
    run_until(sender, clock, T0 + 60 * S)
    with database.transaction() as tx:
        assert [(r.text, r.attempts) for r in tx.outbox((FAILED,))] == [("一", 2), ("二", 2)]


def test_nothing_is_attempted_while_the_gateway_is_not_ready(database):
    ready = [False]
    sender, transport, clock = make_sender(database, ready=lambda: ready[0])
    queue(database, (LT, "一"))
    assert sender.step(clock.now()) is None
    assert transport.sent == []
    with database.transaction() as tx:
        assert tx.outbox(("queued",))[0].attempts == 0  # no retry was spent on the outage
    ready[0] = True
    sender.step(clock.now())
    assert transport.texts() == ["一"]


def test_a_restart_sends_what_was_queued_and_never_what_was_being_sent(database):
    queue(database, (LT, "一"), (LT, "二"), (MZ, "甲"))
    outbox = Outbox(database)
    caught = outbox.begin(outbox.queued()[0].id, T0)  # the process died during this send
    assert caught.status == SENDING

    # the next run
    sender, transport, clock = make_sender(database)
    abandoned = sender.outbox.recover(T0)
    assert [r.text for r in abandoned] == ["一"]
    run_until(sender, clock, T0 + 60 * S)
    assert transport.texts() == ["二", "甲"]
    with database.transaction() as tx:
        assert [r.text for r in tx.outbox((ABANDONED,))] == ["一"]
    # its pacing is remembered
    seeded = RateLimiter(timedelta(seconds=2), 20)
    seeded.seed(sender.outbox.recent_sends(T0 - 60 * S))
    assert seeded.next_allowed(LT, T0) == T0 + 2 * S


def test_run_waits_for_the_next_allowed_time_and_stops(database):
    sender, transport, clock = make_sender(database)
    queue(database, (LT, "一"), (LT, "二"))
    waits: list[float] = []

    def wait(seconds: float) -> None:  # instead of sleeping: move the clock
        waits.append(seconds)
        clock.set(clock.now() + timedelta(seconds=seconds))
        if len(transport.sent) == 2:
            sender.stop()

    sender._wait = wait
    sender.run()
    assert transport.texts() == ["一", "二"]
    assert waits[0] == 2.0 and transport.sent[1][0] == T0 + 2 * S


# --- one sender per county: the send lock ----------------------------------------------------------
def two_senders(database, **kw):
    """Two senders of one county, as in two processes: each with its own outbox holder and lock handle."""
    clock = ManualClock(T0)
    first = make_sender(database, lock=database.send_lock(), clock=clock, **kw)[0]
    second = make_sender(database, lock=database.send_lock(), clock=clock, **kw)[0]
    assert first.outbox.holder != second.outbox.holder
    return first, second, clock


def statuses(database) -> dict[str, str]:
    with database.transaction() as tx:
        return {r.text: r.status for r in tx.outbox(("queued", SENDING, SENT, ABANDONED))}


def test_only_the_holder_of_the_send_lock_sends(database, caplog):
    caplog.set_level(logging.INFO)
    first, second, clock = two_senders(database, interval=0)
    queue(database, (LT, "一"), (MZ, "甲"))
    assert first.step(clock.now()) is not None
    assert second.step(clock.now()) is None  # standing by
    queue(database, (LT, "二"))
    assert second.step(clock.now()) is None and second.transport.sent == []
    run_until(first, clock, T0 + 60 * S)
    assert first.transport.texts() == ["一", "甲", "二"]
    events = [getattr(r, "event", None) for r in caplog.records]
    assert events.count("send_lock_acquired") == 1 and events.count("standing_by") == 1  # said once
    first.release()
    second.release()


def test_only_the_process_that_takes_the_lock_recovers_and_only_then(database, caplog):
    first, second, clock = two_senders(database, interval=0)
    queue(database, (LT, "一"), (LT, "二"), (MZ, "甲"))
    assert first.hold()
    caught = first.outbox.begin(first.outbox.queued()[0].id, T0)  # the holder is sending 一 right now
    assert caught.status == SENDING and caught.holder == first.outbox.holder
    assert second.step(clock.now()) is None
    assert statuses(database)["一"] == SENDING  # a stand-by never touches a row
    first.lock.release()  # the holder dies mid-send: the OS or the server frees its lock
    with caplog.at_level(logging.WARNING):
        run_until(second, clock, T0 + 60 * S)
    assert "not sent again" in caplog.text
    assert second.transport.texts() == ["二", "甲"]
    assert statuses(database) == {"一": ABANDONED, "二": SENT, "甲": SENT}
    # the dead holder cannot record an outcome for what the new holder recovered
    assert first.outbox.sent(caught.id, T0) is False
    assert statuses(database)["一"] == ABANDONED
    second.release()


def test_a_stand_by_sender_takes_over_when_the_holder_stops(database, caplog):
    caplog.set_level(logging.INFO)
    first, second, clock = two_senders(database, interval=2.0)
    queue(database, (LT, "一"), (LT, "二"), (LT, "三"))
    first.step(clock.now())  # 一 goes out at T0, then the holder stops
    first.release()
    waits: list[float] = []

    def wait(seconds: float) -> None:  # instead of sleeping: move the clock
        waits.append(seconds)
        clock.set(clock.now() + timedelta(seconds=seconds))
        if len(second.transport.sent) == 2:
            second.stop()

    second._wait = wait
    second.run()
    assert first.transport.texts() == ["一"] and second.transport.texts() == ["二", "三"]
    # the new holder keeps the old one's pacing: 二 waits its 2 s after 一
    assert [t - T0 for t, *_ in second.transport.sent] == [2 * S, 4 * S]
    assert not second.holding and not second.lock.held()  # let go on the way out
    assert [getattr(r, "event", None) for r in caplog.records].count("send_lock_released") == 2


def test_a_stand_by_sender_tries_again_every_few_seconds(database):
    first, second, clock = two_senders(database, interval=0)
    queue(database, (LT, "一"))
    assert first.hold()
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.set(clock.now() + timedelta(seconds=seconds))
        if len(waits) == 3:
            first.release()  # the holder goes away while the other stands by
        if second.transport.sent:
            second.stop()

    second._wait = wait
    second.standby_seconds = 5.0
    second.run()
    assert waits[:3] == [5.0, 5.0, 5.0]
    assert second.transport.texts() == ["一"] and first.transport.sent == []


def test_a_sender_that_lost_the_lock_stops_sending(database, caplog):
    caplog.set_level(logging.INFO)
    first, second, clock = two_senders(database, interval=0)
    queue(database, (LT, "一"))
    first.step(clock.now())
    lose(database, first.lock)
    assert second.hold()  # another process took over
    queue(database, (LT, "二"))
    assert first.step(clock.now()) is None
    assert first.transport.texts() == ["一"] and not first.holding
    assert "send_lock_lost" in [getattr(r, "event", None) for r in caplog.records]
    run_until(second, clock, T0 + 60 * S)
    assert second.transport.texts() == ["二"]
    second.release()


def test_a_sender_whose_gateway_is_down_does_not_take_the_lock(database):
    ready = [False]
    first, second, clock = two_senders(database, ready=lambda: ready[0])

    def wait(seconds: float) -> None:
        first.stop()

    first._wait = wait
    first.run()
    assert not first.lock.held()
    assert second.hold()  # free for a process that can send
    second.release()

"""Messages per second through the whole intake path, beside the disk's floor in the same run.

    .venv/bin/python benchmarks/intake.py                    # 2,000 requests (8,000 messages), FULL and NORMAL
    .venv/bin/python benchmarks/intake.py --stored 100000    # and again with 100,000 requests stored before
    .venv/bin/python benchmarks/intake.py --db postgresql+psycopg://postgres@127.0.0.1/test

The path: `Relay.receive` of each chat message (registration, claim, resolution, rating, in
the county of benchmarks/review.py: 20 townships, 300 villages), one transaction each, its
replies rendered and recorded in the outbox; nothing is sent (no network). The floor: raw
sqlite3 on the same disk, WAL, one INSERT and one COMMIT per row, with the same `synchronous`
setting, timed in stretches of 200 commits between stretches of 200 messages (both see the same
disk, whose flush times drift). Each is measured two ways: one message at a time (`Relay.receive`, one commit each, as
when messages come one by one) and in bursts (`Relay.receive_all` of `--burst` messages that
arrived together, one commit for the burst, as the live bot stores what waits in its queue).
`--stored N` measures again after loading N requests (a tenth of them pending) so the rate with
history can be compared with the rate on an empty database. With `--db`, PostgreSQL beside its
own floor (psycopg, one INSERT and one COMMIT per row).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from review import TOWNSHIP_NAMES, VILLAGE_WORDS, write_config  # noqa: E402
from timers import drop_county, fill  # noqa: E402

from bot.app import Relay  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.sim.groups import SimulatedTransport  # noqa: E402
from routing.model import Inbound  # noqa: E402
from storage.db import Database  # noqa: E402

START = datetime(2026, 10, 12, 1, 0, tzinfo=UTC)  # Monday 09:00 in the county
TEXTS = ["二组的路灯坏了三盏，晚上看不见", "村里的产业路被水冲坏了，希望尽快修", "低保申请交上去两个月没有回音",
         "自来水管爆了，全组停水", "垃圾没人收，堆在路边很臭", "孩子上学的补助还没到账"]


class Floor:
    """The floor: sqlite3 on the same disk, WAL, one INSERT and one COMMIT per row, with a `synchronous` setting.

    Timed in stretches between the stretches of messages (see `intake`), so that both see the same
    disk: this machine's flush times drift by a factor of two within a minute."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self.conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, room TEXT, text TEXT, at TEXT)")
        self.rows = 0
        self.seconds = 0.0

    def run(self, rows: int) -> None:
        conn = self.conn
        started = time.perf_counter()
        for i in range(self.rows, self.rows + rows):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (room, text, at) VALUES (?, ?, ?)", ("楼台村干群连心群", TEXTS[i % 6], str(i)))
            conn.execute("COMMIT")
        self.seconds += time.perf_counter() - started
        self.rows += rows

    @property
    def rate(self) -> float:
        """Rows (commits) per second so far."""
        return self.rows / self.seconds

    def close(self) -> None:
        self.conn.close()


def script(requests: int, seed: int = 7) -> list[Inbound]:
    """Chat messages: each request registered, claimed, resolved and rated, interleaved across villages."""
    rng = random.Random(seed)
    villages = [(t, v) for t in TOWNSHIP_NAMES for v in VILLAGE_WORDS]
    lines: list[tuple[int, Inbound]] = []
    for i in range(requests):
        t, v = rng.choice(villages)
        room = f"{t}镇{v}村干群连心群"
        villager, cadre = f"村民{i}", f"{t}{v}支书"
        at = START + timedelta(seconds=20 * i)
        steps = [(villager, f"@民情直通车 {rng.choice(TEXTS)}"), (cadre, "认领 #{n}"), (cadre, "办结 #{n} 已处理"),
                 (villager, "满意 #{n}")]
        for k, (who, text) in enumerate(steps):
            lines.append((i, Inbound(ts=at + timedelta(minutes=10 * k), room=room, sender=who, text=text,
                                     msg_id=f"m{i}-{k}", sender_id=f"wxid_{who}", mentions_bot=k == 0)))
    lines.sort(key=lambda x: x[1].ts)
    return [m for _, m in lines]


STRETCH = 200  # messages between two stretches of the floor


def intake(config_path: Path, url: str, synchronous: str, requests: int, *, burst: int = 1,
           stored: int = 0, floor: Floor | None = None) -> tuple[float, int]:
    """Messages per second through Relay.receive (or receive_all of `burst` at a time), and how many messages;
    on a fresh database, or one holding `stored` requests (a tenth pending) first. With a floor, the
    floor runs as many commits as there were messages, in stretches between theirs (its time is not
    counted as theirs)."""
    cfg = load_config(config_path)
    county = cfg.county.name if url.startswith("sqlite") else f"{cfg.county.name}-{uuid.uuid4().hex[:6]}"
    db = Database(url, county, synchronous=synchronous)
    try:
        if stored:
            fill(db, stored, stored // 10)
        clock = ManualClock(START)
        relay = Relay(cfg, db, SimulatedTransport(clock))
        messages = script(requests)
        numbers: dict[str, int] = {}
        took = 0.0
        started = time.perf_counter()
        for k in range(0, len(messages), burst):
            if floor is not None and k and k % STRETCH < burst:
                took += time.perf_counter() - started
                floor.run(STRETCH)
                started = time.perf_counter()
            group = []
            for m in messages[k:k + burst]:
                i = m.msg_id[1:].split("-")[0]
                if "{n}" in m.text:
                    m = Inbound(m.ts, m.room, m.sender, m.text.format(n=numbers[i]), m.msg_id, m.sender_id,
                                m.mentions_bot)
                elif m.msg_id.endswith("-0"):
                    numbers[i] = stored + len(numbers) + 1
                group.append(m)
            if burst == 1:
                relay.receive(group[0])
            else:
                relay.receive_all(group)
        took += time.perf_counter() - started
        with db.snapshot() as tx:
            assert tx.get(stored + requests) is not None, "every request registered"
    finally:
        if not url.startswith("sqlite"):
            drop_county(db)
        db.dispose()
    return len(messages) / took, len(messages)


def pg_floor(url: str, rows: int) -> float:
    """Rows per second on PostgreSQL: psycopg, one INSERT and one COMMIT per row."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE floor_t (id BIGSERIAL PRIMARY KEY, room TEXT, text TEXT, at TEXT)")
        conn.commit()
        started = time.perf_counter()
        for i in range(rows):
            conn.execute("INSERT INTO floor_t (room, text, at) VALUES (%s, %s, %s)",
                         ("楼台村干群连心群", TEXTS[i % 6], str(i)))
            conn.commit()
        return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests (4 messages each)")
    parser.add_argument("--burst", type=int, default=20, help="messages stored together in the burst figures")
    parser.add_argument("--stored", type=int, default=0, help="measure again with this many requests stored first")
    parser.add_argument("--db", help="a PostgreSQL URL to measure too")
    parser.add_argument("--sync", choices=("FULL", "NORMAL"), action="append",
                        help="only this synchronous setting (repeatable; default both)")
    parser.add_argument("--no-bursts", action="store_true", help="one message at a time only")
    args = parser.parse_args()
    results: dict[str, dict] = {}

    def show(name: str, rate: float, n: int, floor: float) -> None:
        results[name] = {"messages": n, "msg_per_s": round(rate, 1), "floor_rows_per_s": round(floor),
                         "share_of_floor": round(rate / floor, 3)}
        print(f"{name}: {rate:,.0f} msg/s ({n:,} messages); floor {floor:,.0f} commits/s; "
              f"{rate / floor:.1%} of the floor", flush=True)

    with tempfile.TemporaryDirectory(prefix="minqing-bench-") as d:
        folder = Path(d)
        config = write_config(folder, "sqlite:///unused.db")
        for sync in args.sync or ("FULL", "NORMAL"):
            for burst in (1,) if args.no_bursts else (1, args.burst):
                how = "one at a time" if burst == 1 else f"bursts of {burst}"
                for stored in sorted({0, args.stored}):
                    url = f"sqlite:///{folder / f'intake-{sync}-{burst}-{stored}.db'}"
                    floor = Floor(folder / f"floor-{sync}-{burst}-{stored}.db", sync)
                    rate, n = intake(config, url, sync, args.requests, burst=burst, stored=stored, floor=floor)
                    floor.close()
                    show(f"SQLite synchronous={sync}, {how}" + (f", {stored:,} stored" if stored else ""),
                         rate, n, floor.rate)
                if args.stored:
                    base = results[f"SQLite synchronous={sync}, {how}"]["msg_per_s"]
                    with_history = results[f"SQLite synchronous={sync}, {how}, {args.stored:,} stored"]["msg_per_s"]
                    print(f"  with {args.stored:,} stored: {with_history / base:.2f} of the rate on an empty database")
        if args.db:
            floor = pg_floor(args.db, 4 * args.requests)
            for burst in (1, args.burst):
                rate, n = intake(config, args.db, "FULL", args.requests, burst=burst)
                show("PostgreSQL, " + ("one at a time" if burst == 1 else f"bursts of {burst}"), rate, n, floor)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()

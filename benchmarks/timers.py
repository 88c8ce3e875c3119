"""Time-driven jobs with a large history: `tick` and `next_due` when nothing is due.

    .venv/bin/python benchmarks/timers.py                          # 1,000,000 stored, 10,000 pending
    .venv/bin/python benchmarks/timers.py --stored 100000 --pending 1000
    .venv/bin/python benchmarks/timers.py --db postgresql+psycopg://postgres@127.0.0.1/test

Requests are written straight into the table in bulk (their content does not matter here): all
closed but `--pending`, whose timers fall due later. Then `Relay.tick(now)` and
`Relay.next_due(now)` run 50 times each on the real database; the figures are their median and
90th percentile in milliseconds. Both read only the timers' indexes, so they must not grow with
the history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from review import write_config  # noqa: E402
from sqlalchemy import delete, insert  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from bot.app import Relay  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.sim.groups import SimulatedTransport  # noqa: E402
from routing.model import Request, Status, Tier  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.repository import request_values  # noqa: E402
from storage.tables import Counter, RequestRow  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in the county
BATCH = 20_000


def fill(db: Database, stored: int, pending: int) -> float:
    """Write `stored` requests, `pending` of them with a timer after NOW; returns the seconds it took."""
    started = time.perf_counter()
    base = Request(number=0, requester="村民", requester_key="wxid_x", requester_id="wxid_x", village="楼台村",
                   township="盘信镇", tier=Tier.VILLAGE, category="城乡建设", urgent=False, text="路灯坏了",
                   created_at=NOW - timedelta(days=400), tier_since=NOW - timedelta(days=400), ack_due_at=None,
                   resolve_due_at=None, first_ack_due_at=None, status=Status.CLOSED)
    every = max(1, stored // max(1, pending))
    with db.engine.begin() as conn:
        rows = []
        for n in range(1, stored + 1):
            open_ = pending and n % every == 0 and n // every <= pending
            values = request_values(base)
            values.update(number=n, status="open" if open_ else "closed",
                          next_due_at=NOW + timedelta(hours=1 + n % 500) if open_ else None)
            rows.append({"county": db.county, **values})
            if len(rows) == BATCH:
                conn.execute(insert(RequestRow.__table__), rows)
                rows = []
        if rows:
            conn.execute(insert(RequestRow.__table__), rows)
        conn.execute(insert(Counter.__table__), [{"county": db.county, "last_number": stored}])
    return time.perf_counter() - started


def drop_county(db: Database) -> None:
    """Remove a benchmark's county from a shared database."""
    with db.engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables[::-1]:
            if "county" in table.c:
                conn.execute(delete(table).where(table.c.county == db.county))


def timed(fn, rounds: int = 50) -> tuple[float, float]:
    """Median and 90th percentile of `rounds` calls, in milliseconds."""
    took = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        took.append((time.perf_counter() - t0) * 1000)
    took.sort()
    return statistics.median(took), took[int(0.9 * (len(took) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="minqing-timers-") as d:
        folder = Path(d)
        cfg = load_config(write_config(folder, "sqlite:///unused.db"))
        county = cfg.county.name if not args.db else f"{cfg.county.name}-{uuid.uuid4().hex[:6]}"
        db = Database(args.db or f"sqlite:///{folder / 'timers.db'}", county)
        took = fill(db, args.stored, args.pending)
        print(f"{args.stored:,} requests stored ({args.pending:,} pending) in {took:.0f} s", flush=True)
        clock = ManualClock(NOW)
        relay = Relay(cfg, db, SimulatedTransport(clock))
        relay.tick(NOW - timedelta(minutes=1))  # the first tick sets the digests' timers
        nothing = NOW - timedelta(seconds=30)  # nothing is due: the timers come later
        tick_ms = timed(lambda: relay.tick(nothing))
        next_ms = timed(lambda: relay.next_due(nothing))
        print(f"tick when nothing is due: median {tick_ms[0]:.1f} ms, p90 {tick_ms[1]:.1f} ms")
        print(f"next_due: median {next_ms[0]:.1f} ms, p90 {next_ms[1]:.1f} ms")
        if args.db:
            drop_county(db)
        db.dispose()


if __name__ == "__main__":
    main()

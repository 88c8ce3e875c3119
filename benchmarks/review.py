"""Benchmark of `minqing export` and `minqing report` on a county-year and on a million requests.

    .venv/bin/python benchmarks/review.py                 # 50,000 and 1,000,000 requests
    .venv/bin/python benchmarks/review.py --sizes 50000   # only the county-year
    .venv/bin/python benchmarks/review.py --db postgresql+psycopg://postgres@127.0.0.1/test

It writes a county of 20 townships and 300 villages (config.toml), fills a database with a
year (2025) of requests through the domain's own lifecycle (`routing.lifecycle.transition`, so
the rows and event logs are what the bot writes), inserted in bulk, then runs each command as
a separate process and prints its wall time and peak memory (maximum resident set size). Before
the commands of a size, the SQLite file is read once (into the operating system's cache), as on
a server that keeps its database in memory; without that, the first command pays for reading
it from disk.

Times to resolution are drawn from ../shared/data/petitions_with_replies.csv (答复时间 −
留言时间 of each message, in calendar time) when that file is there; otherwise from a
lognormal with the same median (11 days) and 90th percentile (41 days). The first response
comes after a random 1–20 % of that time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, insert  # noqa: E402

from bot.config import load_config  # noqa: E402
from routing.jobs import due_at  # noqa: E402
from routing.lifecycle import register, transition  # noqa: E402
from routing.model import EventKind, PersonRef, Request, Tier  # noqa: E402
from routing.privacy import MASK_RULES, mask  # noqa: E402
from storage.db import Database, database_url  # noqa: E402
from storage.repository import request_values, stint_values  # noqa: E402
from storage.tables import Counter, EventRow, Meta, RequestRow, StintRow  # noqa: E402

REPLIES = Path("shared") / "data" / "petitions_with_replies.csv"  # looked for beside the checkout, then higher up
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight, Asia/Shanghai
DATA_NOW = YEAR_START + timedelta(days=375)  # the moment the database was copied: some requests still open
CATEGORIES = [("城乡建设", 30), ("劳动和社会保障", 15), ("教育文体", 10), ("商贸旅游", 5), ("环境保护", 10),
              ("卫生计生", 8), ("交通运输", 8), ("农村农业", 9), ("民政", 5)]
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = "明国华建平志强军伟芳秀英丽敏静霞玉兰桂珍凤红梅海林云飞学文德兴福贵荣富山水春秋冬"
TOWNSHIP_NAMES = ["盘信", "普觉", "孟溪", "寨英", "乌罗", "甘龙", "长兴", "大路", "迓驾", "蓼皋", "世昌", "黄板",
                  "石梁", "瓦溪", "永安", "牛郎", "太平", "正大", "冷水", "平头"]
VILLAGE_WORDS = ["楼台", "民主", "茶园", "新寨", "坪地", "河坝", "高峰", "龙井", "岩门", "水田", "大坪", "新华",
                 "团结", "红星", "长坡"]
BATCH = 5000


# --- the county -------------------------------------------------------------------------------
def write_config(folder: Path, database: str, county: str | None = None) -> Path:
    """A county of 20 townships with 15 villages each, on the example config's rules."""
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    rules = example[:example.index("[county]")]
    rules = rules.replace('database = "sqlite:///minqing.db"', f'database = "{database}"')
    county = county or f"基准县{uuid.uuid4().hex[:6]}"  # runs sharing one PostgreSQL stay apart
    lines = [rules, "[county]", f'name = "{county}"', f'room = "{county}网络问政工作群"',
             'staff = [{ name = "吴科长" }, { name = "麻干事" }]', ""]
    for t in TOWNSHIP_NAMES:
        tn = f"{t}镇"
        lines += ["[[townships]]", f'name = "{tn}"', f'room = "{tn}二级工作群"', f'leaders_room = "{tn}党政班子群"',
                  f'staff = [{{ name = "{t}杨主任" }}, {{ name = "{t}龙干事" }}]',
                  f'leaders = [{{ name = "{t}张书记" }}]', ""]
        for v in VILLAGE_WORDS:
            vn = f"{v}村"
            lines += ["[[townships.villages]]", f'name = "{vn}"', f'room = "{tn}{vn}干群连心群"',
                      f'cadres = [{{ name = "{t}{v}支书" }}, {{ name = "{t}{v}驻村" }}]', ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- time to resolution --------------------------------------------------------------------------
def find_replies() -> Path | None:
    """../shared/data/petitions_with_replies.csv of the checkout (or of a folder above it), if there."""
    for folder in ROOT.parents:
        if (folder / REPLIES).exists():
            return folder / REPLIES
    return None


def reply_delays(path: Path | None) -> tuple[list[float], str]:
    """Calendar days from message to official reply, from the real data when it is there."""
    if path is not None and path.exists():
        out = []
        with path.open(encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                try:
                    a = datetime.strptime(row["留言时间"].strip(), "%Y/%m/%d %H:%M:%S")
                    b = datetime.strptime(row["答复时间"].strip(), "%Y/%m/%d %H:%M:%S")
                except (KeyError, ValueError):
                    continue
                days = (b - a).total_seconds() / 86400
                if 0 < days < 400:
                    out.append(days)
        if out:
            return out, f"{path} ({len(out)} replies)"
    return [], "lognormal, median 11 days, p90 41 days"


SIGMA = math.log(41 / 11) / 1.2816  # the lognormal whose p90/median is 41/11


def draw_days(rng: random.Random, delays: list[float]) -> float:
    """One time to resolution, in calendar days."""
    if delays:
        return rng.choice(delays)
    return rng.lognormvariate(math.log(11), SIGMA)


# --- requests ------------------------------------------------------------------------------------
def event_row(county: str, e) -> dict:
    """An event as a row of the events table."""
    return {
        "county": county, "number": e.number, "kind": e.kind.value, "at": e.at, "tier": e.tier.key,
        "from_tier": e.from_tier.key if e.from_tier else None, "actor": e.actor, "actor_key": e.actor_key,
        "from_status": e.from_status.value if e.from_status else None,
        "to_status": e.to_status.value if e.to_status else None, "note": e.note, "rule": e.rule, "data": e.data,
        "stint": e.stint,
    }


def simulate(number: int, cfg, rng: random.Random, delays: list[float], villages, names, categories, weights):
    """One request's life: a Request in its final state, its events and its stints, as the bot would write them."""
    policy = cfg.policy
    v = rng.choice(villages)
    township = cfg.county.township(v.township)
    day = rng.randrange(365)
    if rng.random() < 0.7:
        minute = rng.choice((rng.randrange(510, 720), rng.randrange(870, 1050)))
    else:
        minute = rng.randrange(420, 1320)
    created = YEAR_START + timedelta(days=day, minutes=minute, seconds=rng.randrange(60))
    category = rng.choices(categories, weights)[0]
    urgent = rng.random() < 0.03
    requester = rng.choice(names)
    ack_due, resolve_due = policy.deadlines(created, category, urgent)
    text = f"{category}方面的问题，请帮忙解决，联系电话1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}"
    r = Request(
        number=number, requester=requester, requester_key=f"wxid_{number}", requester_id=f"wxid_{number}",
        village=v.name, township=v.township, tier=Tier.VILLAGE, category=category, urgent=urgent,
        text=text, masked_text=mask(text), masked_by=MASK_RULES,  # as registration stores it
        created_at=created, tier_since=created, ack_due_at=ack_due, resolve_due_at=resolve_due,
        first_ack_due_at=ack_due,
    )
    first_step = register(r, PersonRef(requester, r.requester_id))
    events, stints = [first_step.event], [first_step.current]
    cadre = rng.choice(v.cadres).ref
    staff = rng.choice(township.staff + township.leaders).ref
    county_staff = rng.choice(cfg.county.staff).ref
    total = draw_days(rng, delays) * 86400
    resolve_at = created + timedelta(seconds=total)
    first = created + timedelta(seconds=total * rng.uniform(0.01, 0.2))

    def step(kind, at, actor, **kw):
        """Apply an event, unless it would come after the copy of the database was taken."""
        if at > DATA_NOW:
            return False
        done = transition(r, kind, at, actor, work=policy.calendar.working_seconds, **kw)
        events.append(done.event)
        if done.started:
            stints.append(done.current)
        return True

    def up(at, actor, target, rule=None):
        """Escalate, the new tier's clock starting."""
        return step(EventKind.ESCALATED, at, actor, to_tier=target, rule=rule,
                    deadlines=policy.deadlines(at, category, urgent))

    path = rng.random()
    if path < 0.03:  # not a request: the township rejects it
        step(EventKind.REJECTED, first, staff, note="重复诉求")
        return r, events, stints
    handler = cadre
    if path < 0.28:  # the village passes it up; a few by the bot's rule
        bot = rng.random() < 0.1
        if not up(first, None if bot else cadre, Tier.TOWNSHIP, "auto_after" if bot else None):
            return r, events, stints
        handler = staff
        claim = first + (resolve_at - first) * rng.uniform(0.05, 0.3)
        if not step(EventKind.CLAIMED, claim, staff):
            return r, events, stints
        if path < 0.08:
            if not up(claim + (resolve_at - claim) * 0.3, staff, Tier.COUNTY):
                return r, events, stints
            handler = county_staff
            if not step(EventKind.CLAIMED, claim + (resolve_at - claim) * 0.4, county_staff):
                return r, events, stints
    elif not step(EventKind.CLAIMED, first, cadre):
        return r, events, stints
    if resolve_at > r.resolve_due_at > events[-1].at and rng.random() < 0.8:  # an overdue reminder or two
        step(EventKind.REMINDED, r.resolve_due_at, None, rule="remind_every")
    if not step(EventKind.RESOLVED, resolve_at, handler, note="已办结"):
        return r, events, stints
    verdict = rng.random()
    rated_at = resolve_at + timedelta(hours=rng.uniform(0.5, 48))
    if verdict < 0.06:  # not satisfied: reopened, resolved again
        _, again_due = policy.deadlines(rated_at, category, urgent)
        if not step(EventKind.UNSATISFIED, rated_at, r.requester_ref, deadlines=(None, again_due)):
            return r, events, stints
        again = rated_at + timedelta(seconds=draw_days(rng, delays) * 86400 * 0.3)
        if not step(EventKind.RESOLVED, again, handler, note="已重新办理"):
            return r, events, stints
        rated_at = again + timedelta(hours=rng.uniform(0.5, 48))
        verdict = rng.random() * 0.9
    if verdict < 0.6:
        step(EventKind.SATISFIED, rated_at, r.requester_ref)
    else:
        step(EventKind.EXPIRED, r.resolved_at + timedelta(days=3), None, rule="rating_window")
    return r, events, stints


_worker: dict = {}


def _start_worker(config_path: str, delays: list[float], seed: int) -> None:
    """Set up a simulating process: the county and what requests are drawn from."""
    cfg = load_config(config_path)
    _worker.update(
        cfg=cfg, delays=delays, seed=seed, villages=cfg.county.villages(),
        names=[s + a + b for s in SURNAMES for a in GIVEN[:12] for b in GIVEN[12:]],
        categories=[c for c, _ in CATEGORIES], weights=[w for _, w in CATEGORIES],
    )


def _simulate_batch(first: int, last: int) -> tuple[list[dict], list[dict], list[dict]]:
    """Requests first..last as rows to insert (the same for the same seed, whichever process draws them)."""
    w = _worker
    rng = random.Random(w["seed"] * 1_000_003 + first)
    county = w["cfg"].county.name
    requests, events, stints = [], [], []
    for number in range(first, last + 1):
        r, evs, sts = simulate(number, w["cfg"], rng, w["delays"], w["villages"], w["names"], w["categories"],
                               w["weights"])
        r.next_due_at = due_at(r, w["cfg"].policy)
        requests.append({"county": county, **request_values(r)})
        events += [event_row(county, e) for e in evs]
        stints += [{"county": county, **stint_values(st)} for st in sts]
    return requests, events, stints


def build(config_path: Path, database: Database, size: int, delays: list[float], seed: int = 5) -> dict:
    """Fill the database with `size` requests in bulk; returns counts and times.

    Other processes draw the requests while this one inserts them, a few batches ahead at most.
    """
    county = database.county
    workers = max(1, (os.cpu_count() or 2) - 1)
    t0 = time.perf_counter()
    n_events = 0
    batches = [(first, min(first + BATCH - 1, size)) for first in range(1, size + 1, BATCH)]
    with database.engine.begin() as conn, ProcessPoolExecutor(
        workers, initializer=_start_worker, initargs=(str(config_path), delays, seed),
    ) as pool:
        if database.is_sqlite:
            conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB: index pages stay in memory
        pending: deque = deque()
        todo = iter(batches)
        for first, last in todo:
            pending.append(pool.submit(_simulate_batch, first, last))
            if len(pending) > 2 * workers:
                break
        while pending:
            requests, events, stints = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_simulate_batch, *nxt))
            conn.execute(insert(RequestRow.__table__), requests)
            conn.execute(insert(EventRow.__table__), events)
            conn.execute(insert(StintRow.__table__), stints)
            n_events += len(events)
        conn.execute(insert(Counter.__table__), [{"county": county, "last_number": size}])
    return {"requests": size, "events": n_events, "seconds": time.perf_counter() - t0}


def built_county(path: Path, size: int) -> str | None:
    """The county of a database an earlier run built with `size` requests, or None."""
    if not path.exists():
        return None
    import sqlite3
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT county, last_number FROM counters").fetchone()
    return row[0] if row and row[1] == size else None


# --- running the commands ---------------------------------------------------------------------------
# The command's own peak memory. The child's maximum resident set size that wait4/getrusage report
# starts from this process's high-water mark (it carries over exec), so the child reports its own
# VmHWM from /proc when it exits.
_PROBE = """
import atexit, sys
def _peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                sys.stderr.write("\\nminqing-peak-kib " + line.split()[1] + "\\n")
atexit.register(_peak)
from bot.cli import main
main(sys.argv[1:])
"""


def run(args: list[str]) -> tuple[float, float, str]:
    """Run `minqing ARGS` as its own process: wall seconds, peak memory in MiB, its output."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"minqing {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    peaks = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("minqing-peak-kib ")]
    return seconds, int(peaks[-1]) / 1024 if peaks else float("nan"), proc.stdout.strip()


def warm(path: Path) -> None:
    """Read a database file once before the commands are timed, so that they find it in the OS cache (as on a
    server that keeps its database in memory); otherwise the first command pays for reading it from disk."""
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists():
            with p.open("rb") as f:
                while f.read(1 << 24):
                    pass


def main() -> None:
    """Build the databases, time the commands, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50000,1000000", help="numbers of requests, comma-separated")
    ap.add_argument("--db", help="a PostgreSQL URL to use instead of a SQLite file per size")
    ap.add_argument("--xlsx-max", type=int, default=100_000,
                    help="export XLSX too for sizes up to this many requests (XLSX of a million takes long)")
    ap.add_argument("--replies", type=Path, help="petitions_with_replies.csv (default: ../shared/data/)")
    ap.add_argument("--keep", action="store_true", help="keep the files in the work folder")
    ap.add_argument("--work", help="work folder (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true",
                    help="use a SQLite database of the work folder that holds the size's requests already")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    delays, source = reply_delays(args.replies or find_replies())
    work = Path(args.work or tempfile.mkdtemp(prefix="minqing-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"time to resolution drawn from: {source}")
    seconds, rss, _ = run(["--help"])
    print(f"the command line alone (minqing --help): {seconds:.1f} s, peak {rss:.0f} MiB")
    print(f"work folder: {work}\n")
    results = []
    counties: list[Database] = []
    for size in sizes:
        url = args.db or f"sqlite:///{work / f'county-{size}.db'}"
        kept = built_county(work / f"county-{size}.db", size) if args.reuse and not args.db else None
        config_path = write_config(work, url, kept)
        cfg = load_config(config_path)
        database = Database(database_url(url, work), cfg.county.name)
        built = {"seconds": 0.0, "events": 0} if kept else build(config_path, database, size, delays)
        if args.db and not args.keep:
            counties.append(database)  # its rows are removed from the shared database at the end
        else:
            database.dispose()
        size_mb = (work / f"county-{size}.db").stat().st_size / 2**20 if not args.db else float("nan")
        if kept:
            print(f"{size:>9,} requests: the database of an earlier run ({size_mb:.0f} MiB SQLite)")
        else:
            print(f"{size:>9,} requests: built in {built['seconds']:.1f} s ({built['events']:,} events"
                  + (f", {size_mb:.0f} MiB SQLite)" if not args.db else ")"))
        common = ["-c", str(config_path), "--from", "2025-01-01", "--to", "2025-12-31"]
        if not args.db:
            warm(work / f"county-{size}.db")
        jobs = [("export csv", ["export", *common, "--out", str(work / f"export-{size}.csv")])]
        if size <= args.xlsx_max:
            jobs.append(("export xlsx", ["export", *common, "--out", str(work / f"export-{size}.xlsx")]))
        jobs.append(("report", ["report", *common, "--out", str(work / f"report-{size}.html")]))
        for name, cmd in jobs:
            seconds, rss, out = run(cmd)
            results.append((size, name, seconds, rss))
            print(f"{'':>9}  {name:<12} {seconds:7.1f} s  peak {rss:6.0f} MiB   {out}")
    print("\n| requests | command | time (s) | peak memory (MiB) |\n|---:|---|---:|---:|")
    for size, name, seconds, rss in results:
        print(f"| {size:,} | {name} | {seconds:.1f} | {rss:.0f} |")
    for database in counties:
        with database.engine.begin() as conn:
            for table in (EventRow, StintRow, RequestRow, Counter, Meta):
                conn.execute(delete(table.__table__).where(table.__table__.c.county == database.county))
        database.dispose()
    if not args.keep and not args.work:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    main()

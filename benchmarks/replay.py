"""`minqing replay` of a county-year: linear in the number of messages, whatever the history before them.

    .venv/bin/python benchmarks/replay.py                       # 50,000 requests (about 200,000 messages)
    .venv/bin/python benchmarks/replay.py --requests 5000       # a tenth, to look at the shape quickly

The county of benchmarks/review.py (20 townships, 300 villages); through 2026, each request is
registered in its village group, and most are claimed, resolved and rated in chat. Some are
claimed late or never (escalation proposals and automatic escalations fall due), some are
resolved after their deadline (overdue reminders fall due), one in twenty is rated 不满意 and
resolved again days later (a second stint, reminded while overdue), and the daily and weekly digests
fall due along the way. One request in twelve is not answered in its village: the bot proposes
and then makes its escalation, and the township takes it up days later: the replay runs every one of them at its time. The input is written to
a file, then `minqing replay` runs as a separate process; the figures are its wall time, lines
per second overall and per tenth of the input (flat when the cost per line does not grow with
history), and its peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from review import TOWNSHIP_NAMES, VILLAGE_WORDS, write_config  # noqa: E402

TZ_OFFSET = timedelta(hours=8)
START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC) - TZ_OFFSET  # local midnight, the first Monday of 2026
TEXTS = ["二组的路灯坏了三盏，晚上看不见", "村里的产业路被水冲坏了，希望尽快修", "低保申请交上去两个月没有回音",
         "自来水管爆了，全组停水", "垃圾没人收，堆在路边很臭", "孩子上学的补助还没到账", "河沟里有人电鱼",
         "养老保险一年交多少，在哪里交", "危房改造的补助什么时候下来", "通组路坑坑洼洼，下雨没法走"]


def iso(t: datetime) -> str:
    return (t + TZ_OFFSET).replace(tzinfo=None).isoformat() + "+08:00"


def working_moment(rng: random.Random, day: int) -> datetime:
    """A moment in working hours of a weekday, `day` days after the start."""
    d = START + timedelta(days=day)
    while (d + TZ_OFFSET).weekday() >= 5:
        d += timedelta(days=1)
    minute = rng.choice((rng.randrange(510, 720), rng.randrange(870, 1050)))
    return d + timedelta(minutes=minute, seconds=rng.randrange(60))


def lines(requests: int, seed: int = 11) -> list[tuple[datetime, str]]:
    """The county-year's chat lines (time, JSON), in time order; request numbers follow registration order."""
    rng = random.Random(seed)
    villages = [(t, v) for t in TOWNSHIP_NAMES for v in VILLAGE_WORDS]
    births = sorted(working_moment(rng, rng.randrange(360)) for _ in range(requests))
    out: list[tuple[datetime, dict]] = []
    for n, born in enumerate(births, 1):
        t, v = rng.choice(villages)
        room, villager, cadre = f"{t}镇{v}村干群连心群", f"村民{n}", f"{t}{v}支书"
        out.append((born, {"room": room, "sender": villager, "sender_id": f"wxid_v{n}",
                           "text": f"@民情直通车 {rng.choice(TEXTS)}"}))
        fate = rng.random()
        if fate < 0.08:
            # nobody in the village answers: a proposal, the bot escalates it, the township takes it up later
            room, cadre = f"{t}镇二级工作群", f"{t}杨主任"
            born += timedelta(days=rng.choice((4, 6, 9)))
        claim = born + timedelta(hours=rng.choice((0.5, 2, 5, 30)))  # some claimed after their deadline
        out.append((claim, {"room": room, "sender": cadre, "sender_id": f"wxid_{cadre}", "text": f"认领 #{n}"}))
        done = claim + timedelta(days=rng.choice((1, 2, 4, 9, 20)))  # some resolved after their deadline
        out.append((done, {"room": room, "sender": cadre, "sender_id": f"wxid_{cadre}", "text": f"办结 #{n} 已处理"}))
        if 0.08 <= fate < 0.9:
            verdict = "满意" if fate < 0.85 else "不满意 还是没修好"
            rated = done + timedelta(hours=rng.uniform(0.5, 30))
            out.append((rated, {"room": room, "sender": villager, "sender_id": f"wxid_v{n}", "text": f"{verdict} #{n}"}))
            if fate >= 0.85:  # reopened: the cadre handles it again and resolves it days later
                again = rated + timedelta(days=rng.choice((2, 5, 12)))
                out.append((again, {"room": room, "sender": cadre, "sender_id": f"wxid_{cadre}",
                                    "text": f"办结 #{n} 已返工处理"}))
    out.sort(key=lambda x: x[0])
    return [(ts, json.dumps({"ts": iso(ts), **obj}, ensure_ascii=False)) for ts, obj in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--db", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="minqing-replay-") as d:
        folder = Path(d)
        config = write_config(folder, "sqlite:///county.db")
        feed = lines(args.requests)
        path = folder / "year.jsonl"
        path.write_text("\n".join(text for _, text in feed) + "\n", encoding="utf-8")
        until = iso(feed[-1][0] + timedelta(days=30))
        db = args.db or str(folder / "county.db")
        print(f"{args.requests:,} requests, {len(feed):,} chat lines, {feed[0][0]:%Y-%m-%d} to {until[:10]}", flush=True)
        cmd = [sys.executable, "-c",
               "import resource, sys; from bot.cli import main; "
               "sys.argv = ['minqing'] + sys.argv[1:]\n"
               "try:\n    main()\nfinally:\n"
               "    print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)",
               "--log-level", "warning", "replay", str(path), "--config", str(config), "--db", db, "--until", until]
        started = time.perf_counter()
        marks: list[float] = []
        said = 0
        tenth = max(1, len(feed) // 10)
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) as proc:
            # the bot's answers stream out in time order: their times show how far the replay has got
            boundaries = [feed[min(len(feed) - 1, k * tenth)][0] for k in range(1, 11)]
            for out in proc.stdout:
                said += 1
                ts = datetime.fromisoformat(json.loads(out)["ts"])
                while len(marks) < 10 and ts >= boundaries[len(marks)]:
                    marks.append(time.perf_counter() - started)
            err = proc.stderr.read()
        took = time.perf_counter() - started
        peak = next((int(x.split()[1]) for x in err.splitlines() if x.startswith("PEAK")), 0) / 1024
        if proc.returncode:
            print(err[-2000:])
            sys.exit(proc.returncode)
        rate = len(feed) / took
        print(f"replay: {took / 60:.1f} min for {len(feed):,} lines ({rate:,.0f} lines/s), the bot said {said:,} "
              f"messages, peak memory {peak:.0f} MiB")
        steps = [b - a for a, b in zip([0.0, *marks], marks)]
        if steps:
            print("lines/s per tenth of the input: " + ", ".join(f"{tenth / s:,.0f}" for s in steps if s > 0))
        print(json.dumps({"requests": args.requests, "lines": len(feed), "seconds": round(took, 1),
                          "lines_per_s": round(rate), "said": said, "peak_mib": round(peak)}))


if __name__ == "__main__":
    main()

"""Tagging speed inside the bot: chat-length messages tagged one at a time with the trained model loaded.

The messages are the titles of petitions_raw_unlabelled.csv (about 20 characters, as short as a
chat message). Each is tagged through `Tagger.tag` -- the category from the model, with its calibrated
probability, and urgency from the rules -- exactly as the bot tags a message when it registers it.
The process is pinned to one core. Each figure is the median of 5 runs (--runs); beside it, the word
segmenter alone (jieba's dictionary cut by rjieba, `bot.tagging.model.segment`, its per-message cache emptied first) on the
same titles: the floor no tagging can go below. Also prints the model file's size and how long loading
it takes in a fresh process.

    python benchmarks/tagging_speed.py [--model MODEL] [--runs 5]

Without --model it first trains one on petitions_labelled_segmented.csv.
"""

from __future__ import annotations

import os

# one core: no thread pools under numpy
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _data import REPO, require, rows  # noqa: E402

from bot.tagging.model import clear_cache, load_model, normalize, segment  # noqa: E402
from bot.config import UrgencyCfg  # noqa: E402
from routing.tagging import Tagger  # noqa: E402

LOAD = """
import time
t = time.perf_counter()
from bot.tagging.model import load_model
model = load_model({path!r})
model.predict("村里的路灯坏了")
print(time.perf_counter() - t)
"""


def load_seconds(path: Path, runs: int = 3, cold: bool = False) -> list[float]:
    """Seconds from a fresh interpreter's first import to a model ready to tag, per run.

    `cold`: with an empty temporary folder, as on the very first start on a machine (a segmenter that
    caches its dictionary there would build the cache first).
    """
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, TMPDIR=tmp) if cold else None
            done = subprocess.run([sys.executable, "-c", LOAD.format(path=str(path))], cwd=REPO,
                                  capture_output=True, text=True, check=True, env=env)
        out.append(float(done.stdout.strip().splitlines()[-1]))
    return out


def rate(fn, texts: list[str]) -> tuple[float, float]:
    """Messages per second over one pass, by wall clock and by this process's CPU time."""
    w, c = time.perf_counter(), time.process_time()
    for t in texts:
        fn(t)
    w, c = time.perf_counter() - w, time.process_time() - c
    return len(texts) / w, len(texts) / c


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model file (default: train one now)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = require("petitions_raw_unlabelled.csv", "petitions_labelled_segmented.csv")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    path = args.model
    if path is not None and not path.is_file():
        print(f"no model file at {path}")
        sys.exit(2)
    if path is None:
        from bot.tagging.training import read_labelled, train

        data = read_labelled(folder / "petitions_labelled_segmented.csv")
        path = Path(tempfile.mkdtemp(prefix="minqing-speed-")) / "model.npz"
        train(data.texts, data.labels).save(path)
        print(f"trained {path} on petitions_labelled_segmented.csv")

    titles = [r["留言主题"] for r in rows(folder / "petitions_raw_unlabelled.csv")]
    print(f"model file: {path.stat().st_size / 1e6:.1f} MB")
    loads = load_seconds(path)
    print(f"load (fresh process: imports, model, word segmenter, first message): "
          f"median {statistics.median(loads):.2f} s, max {max(loads):.2f} s")
    cold = load_seconds(path, runs=1, cold=True)
    print(f"first start on a machine (empty temporary folder): {cold[0]:.2f} s")

    # A running bot has seen messages before: warm each fresh model on other titles, those of
    # petitions_with_replies.csv, then tag every title once. Every run starts with an empty segmenter cache.
    warm = [r["留言主题"] for r in rows(folder / "petitions_with_replies.csv")] \
        if (folder / "petitions_with_replies.csv").exists() else []
    print(f"{len(titles)} titles, {statistics.mean(map(len, titles)):.0f} characters on average, "
          f"one at a time, after warming on {len(warm)} other titles; median of {args.runs} runs:")
    for name in ("segmenter alone (floor)", "Tagger.tag (category + urgency)", "model.decide only",
                 "urgency rules only"):
        walls, cpus = [], []
        for _ in range(args.runs):
            clear_cache()
            model = load_model(path)
            tagger = Tagger(urgency_keywords=UrgencyCfg().keywords, model=model)
            fn = {"segmenter alone (floor)": lambda t: segment(normalize(t)),
                  "Tagger.tag (category + urgency)": tagger.tag, "model.decide only": model.decide,
                  "urgency rules only": tagger.urgency}[name]
            if name != "segmenter alone (floor)":
                for t in warm:
                    fn(t)
            clear_cache()  # the titles' own words are cut afresh in every run
            wall, cpu = rate(fn, titles)
            walls.append(wall)
            cpus.append(cpu)
        print(f"  {name:32s} {statistics.median(walls):8.0f} messages/s (wall clock), "
              f"{statistics.median(cpus):8.0f} per CPU second (runs: {', '.join(f'{w:.0f}' for w in walls)})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine load average while measuring: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

"""Category quality on raw petition messages that were never used for training or for choosing the model.

The protocol was fixed before any tuning (docs/tagging.md, 「评测方法」):

1. The labelled set (petitions_labelled_segmented.csv) holds only segmented words. Some of its
   messages were also published raw in petitions_raw_unlabelled.csv or petitions_with_replies.csv: a
   raw message whose words match a labelled message's (TF-IDF cosine >= 0.8) is that petition, and
   gets its label. These raw messages are the evaluation messages.
2. They are split once, with the seed 20240611, into a development part (a third of them, used to
   compare variants while the recipe was chosen) and a test part (the rest, never used to choose
   anything); reposts of one petition (cosine >= 0.5) stay in one part.
3. Every labelled message resembling any evaluation message (cosine >= 0.5) is held out of training,
   and every raw message resembling one is taken out of the unlabelled pool used for self-training.
4. The model is trained as `minqing tagger train` trains it and scored on the raw title + body and on
   the raw title alone of each part. `--self-training` adds one round of self-training on the pool (as
   `tagger train --unlabelled`): tried, it scored lower on the development part and in cross-validation,
   so the chosen recipe goes without it.

    python benchmarks/tagging_quality.py [--out DIR] [--self-training] [--c 0.3] [--parts dev,test]

`--out DIR` keeps the sets as CSV files, to repeat the figures with the CLI:

    minqing tagger train DIR/train.csv --out DIR/model.npz      (add --unlabelled DIR/pool.csv: self-training)
    minqing tagger eval DIR/test_title_body.csv --model DIR/model.npz
    minqing tagger eval DIR/test_title.csv --model DIR/model.npz
"""

from __future__ import annotations

import argparse
import csv
import logging
import random
import tempfile
import time
from pathlib import Path

from _data import require, rows

from bot.tagging.training import evaluate, format_evaluation, predict_all, score, train

SEED = 20240611
SAME = 0.8  # a raw message this close to a labelled one is that petition
NEAR = 0.5  # this close: the same petition reposted, or a near copy
DEV_SHARE = 3  # one group in this many goes to the development part


def _cut(text: str) -> list[str]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [w for w in jieba.lcut(text.lower()) if any(ch.isalnum() for ch in w)]


def build_sets(folder: Path) -> dict[str, list]:
    """The training rows, the unlabelled pool, and the development and test parts (see the docstring)."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import TfidfVectorizer

    labelled = rows(folder / "petitions_labelled_segmented.csv")
    raw: dict[tuple[str, str], None] = {}
    for name in ("petitions_raw_unlabelled.csv", "petitions_with_replies.csv"):
        for r in rows(folder / name):
            raw.setdefault((r["留言主题"].strip(), r["留言详情"].strip()), None)
    raw_items = list(raw)
    vec = TfidfVectorizer(analyzer=lambda ws: ws, sublinear_tf=True)
    x_labelled = vec.fit_transform([r["tokens"].lower().split() for r in labelled])
    x_raw = vec.transform([_cut(f"{t}\n{b}") for t, b in raw_items])
    sim = (x_raw @ x_labelled.T).tocsr()
    best = np.asarray(sim.max(axis=1).todense()).ravel()
    match = np.asarray(sim.argmax(axis=1)).ravel()
    chosen = np.flatnonzero(best >= SAME)

    # the split, by groups of reposts, with the fixed seed
    x_eval = x_raw[chosen]
    _, group = connected_components((x_eval @ x_eval.T) >= NEAR, directed=False)
    groups = sorted(set(group.tolist()))
    random.Random(SEED).shuffle(groups)
    dev_groups = set(groups[:len(groups) // DEV_SHARE])
    parts: dict[str, list] = {"dev": [], "test": []}
    for k, i in enumerate(chosen):
        item = {"title": raw_items[i][0], "body": raw_items[i][1], "label": labelled[match[i]]["label"],
                "twin": labelled[match[i]]["tokens"]}  # the same petition as the labelled set has it, segmented
        parts["dev" if group[k] in dev_groups else "test"].append(item)

    near_labelled = np.asarray((sim[chosen] >= NEAR).sum(axis=0)).ravel() > 0
    near_raw = np.asarray(((x_raw @ x_eval.T) >= NEAR).sum(axis=1)).ravel() > 0
    parts["train"] = [r for r, held in zip(labelled, near_labelled) if not held]
    parts["pool"] = [raw_items[i] for i in range(len(raw_items)) if not near_raw[i]]
    parts["held_out"] = [int(near_labelled.sum())]
    return parts


def bootstrap(truth: list[str], predicted: list[str], rounds: int = 1000) -> tuple[float, float]:
    """A 95% bootstrap interval of macro-F1."""
    rng = random.Random(0)
    n = len(truth)
    values = []
    for _ in range(rounds):
        pick = [rng.randrange(n) for _ in range(n)]
        values.append(score([truth[i] for i in pick], [predicted[i] for i in pick]).macro_f1)
    values.sort()
    return values[int(0.025 * rounds)], values[int(0.975 * rounds)]


def write_sets(out: Path, sets: dict[str, list]) -> None:
    """The sets as CSV files the CLI reads."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "train.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "tokens", "label"])
        w.writerows((r["id"], r["tokens"], r["label"]) for r in sets["train"])
    with (out / "pool.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["留言主题", "留言详情"])
        w.writerows(sets["pool"])
    for part in ("dev", "test"):
        for name, text in (("title_body", lambda e: f"{e['title']}\n{e['body']}"), ("title", lambda e: e["title"])):
            with (out / f"{part}_{name}.csv").open("w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(["text", "label"])
                w.writerows((text(e), e["label"]) for e in sets[part])


def main() -> None:
    """Build the sets, train, evaluate, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the sets (CSV) and the model here")
    parser.add_argument("--self-training", action="store_true", help="one round of self-training on the pool")
    parser.add_argument("--c", type=float, default=0.3, help="SVM regularisation (default 0.3)")
    parser.add_argument("--parts", default="dev,test", help="which parts to score (default dev,test)")
    args = parser.parse_args()
    folder = require("petitions_labelled_segmented.csv", "petitions_raw_unlabelled.csv",
                     "petitions_with_replies.csv")

    started = time.perf_counter()
    sets = build_sets(folder)
    print(f"evaluation messages: {len(sets['dev']) + len(sets['test'])} raw messages that are labelled petitions "
          f"(cosine >= {SAME}); split with seed {SEED}: development {len(sets['dev'])}, test {len(sets['test'])}")
    print(f"training: {len(sets['train'])} labelled messages ({sets['held_out'][0]} held out: cosine >= {NEAR} "
          f"to an evaluation message); unlabelled pool: {len(sets['pool'])} raw messages (evaluation messages "
          f"and their near copies taken out)")
    out = args.out or Path(tempfile.mkdtemp(prefix="minqing-quality-"))
    write_sets(out, sets)

    t = time.perf_counter()
    pool = [f"{a}\n{b}" for a, b in sets["pool"]] if args.self_training else []
    model = train([r["tokens"] for r in sets["train"]], [r["label"] for r in sets["train"]], segmented=True,
                  unlabelled=pool, c=args.c)
    model.save(out / "model.npz")
    print(f"trained in {time.perf_counter() - t:.0f} s (C={args.c}, self-training on {len(pool)} raw messages); "
          f"temperature {model.temperature:.3f}, guess threshold {model.guess_below:.3f}")
    for part in args.parts.split(","):
        items = sets[part]
        truth = [e["label"] for e in items]
        role = "used to choose the recipe" if part == "dev" else "never used for training or choosing"
        for title, texts in (("title + body", [f"{e['title']}\n{e['body']}" for e in items]),
                             ("title only", [e["title"] for e in items])):
            predicted = predict_all(model, texts, segmented=False)
            ev = evaluate(model, texts, truth, segmented=False)
            low, high = bootstrap(truth, predicted)
            g = ev.guesses
            print(f"\n== {part} ({len(items)} messages, {role}), raw {title}: macro-F1 {ev.macro_f1:.3f} "
                  f"(95% bootstrap {low:.3f}-{high:.3f}), accuracy {ev.accuracy:.3f}; guesses {g.share:.1%} "
                  f"(right {g.correct}/{g.count}), sure right {g.sure_correct}/{g.sure_count}")
            print(format_evaluation(ev))
        # raw text against its segmented twin (the labelled row it was matched to, held out of training): how
        # far the raw form alone moves the model
        twins = predict_all(model, [e["twin"] for e in items], segmented=True)
        raw = predict_all(model, [f"{e['title']}\n{e['body']}" for e in items], segmented=False)
        print(f"\n== {part}: the segmented twins of the same petitions: macro-F1 {score(truth, twins).macro_f1:.3f}; "
              f"raw title + body and twin tagged differently: {sum(a != b for a, b in zip(raw, twins))} of {len(items)}")
    print(f"\nsets and model written to {out} (see this script's docstring for the CLI commands)")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

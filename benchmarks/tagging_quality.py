"""Category quality on raw petition messages the model never saw.

The labelled set (petitions_labelled_segmented.csv) holds only segmented words. Some of its
messages were also published raw in petitions_raw_unlabelled.csv and petitions_with_replies.csv:
a raw message whose words match a labelled message's (TF-IDF cosine >= 0.8) is the same petition,
so it gets that message's label. These raw messages form the evaluation set; every labelled
message resembling any of them (cosine >= 0.5, which also catches reposts of the same petition)
is held out of training. The model is trained with the same function as `minqing tagger train`
and scored on the raw title + body and on the raw title alone.

    python benchmarks/tagging_quality.py [--out DIR] [--cv]

`--out DIR` keeps the training and evaluation CSVs, to repeat the figures with the CLI:

    minqing tagger train DIR/train.csv --out DIR/model.npz
    minqing tagger eval DIR/eval_title_body.csv --model DIR/model.npz --text-col text
    minqing tagger eval DIR/eval_title.csv --model DIR/model.npz --text-col text

`--cv` adds a grouped 5-fold cross-validation on the labelled set itself (segmented words; each
message's opening words stand in for its title).
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

from _data import require, rows

from bot.tagging.model import opening, words
from bot.tagging.training import evaluate, format_evaluation, predict_all, score, train

SAME = 0.8  # a raw message this close to a labelled one is that petition
NEAR = 0.5  # labelled messages this close to an evaluation message stay out of training


def build_sets(folder: Path):
    """(training rows, evaluation rows) as described in the module docstring."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    labelled = rows(folder / "petitions_labelled_segmented.csv")
    raw: dict[tuple[str, str], None] = {}
    for name in ("petitions_raw_unlabelled.csv", "petitions_with_replies.csv"):
        for r in rows(folder / name):
            raw.setdefault((r["留言主题"].strip(), r["留言详情"].strip()), None)
    raw_items = list(raw)
    vec = TfidfVectorizer(analyzer=lambda ws: ws, sublinear_tf=True)
    x_labelled = vec.fit_transform([words(r["tokens"], segmented=True) for r in labelled])
    x_raw = vec.transform([words(f"{t}\n{b}") for t, b in raw_items])
    sim = (x_raw @ x_labelled.T).tocsr()
    best = np.asarray(sim.max(axis=1).todense()).ravel()
    match = np.asarray(sim.argmax(axis=1)).ravel()
    evaluation = [
        {"title": raw_items[i][0], "body": raw_items[i][1], "label": labelled[match[i]]["label"]}
        for i in np.flatnonzero(best >= SAME)
    ]
    eval_idx = np.flatnonzero(best >= SAME)
    near = np.asarray((sim[eval_idx] >= NEAR).sum(axis=0)).ravel() > 0
    training = [r for r, held in zip(labelled, near) if not held]
    return training, evaluation, len(labelled) - len(training)


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


def cross_validate(training: list[dict[str, str]]) -> None:
    """Grouped 5-fold cross-validation on segmented words (reposts of one petition stay in one fold)."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import GroupKFold

    texts = [r["tokens"] for r in training]
    labels = [r["label"] for r in training]
    x = TfidfVectorizer(analyzer=lambda ws: ws, sublinear_tf=True).fit_transform(
        [words(t, segmented=True) for t in texts])
    _, groups = connected_components((x @ x.T) >= NEAR, directed=False)
    full, head = [""] * len(texts), [""] * len(texts)
    for fold, (tr, te) in enumerate(GroupKFold(5).split(texts, labels, groups), 1):
        model = train([texts[i] for i in tr], [labels[i] for i in tr], segmented=True)
        for i in te:
            full[i] = model.predict_words(words(texts[i], segmented=True)) or "-"
            head[i] = model.predict_words(opening(texts[i], segmented=True) or words(texts[i], True)) or "-"
        print(f"  fold {fold} done", flush=True)
    print(f"grouped 5-fold CV on {len(texts)} labelled messages: macro-F1 {score(labels, full).macro_f1:.3f} "
          f"(all words), {score(labels, head).macro_f1:.3f} (opening words only)")


def main() -> None:
    """Build the sets, train, evaluate, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the training and evaluation CSVs here")
    parser.add_argument("--cv", action="store_true", help="also cross-validate on the labelled set")
    args = parser.parse_args()
    folder = require("petitions_labelled_segmented.csv", "petitions_raw_unlabelled.csv",
                      "petitions_with_replies.csv")

    started = time.perf_counter()
    training, evaluation, held_out = build_sets(folder)
    print(f"evaluation set: {len(evaluation)} raw messages that are labelled petitions (cosine >= {SAME})")
    print(f"training set: {len(training)} labelled messages ({held_out} held out: cosine >= {NEAR} "
          f"to an evaluation message)")

    out = args.out or Path(tempfile.mkdtemp(prefix="minqing-quality-"))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "train.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "tokens", "label"])
        w.writerows((r["id"], r["tokens"], r["label"]) for r in training)
    for name, text in (("eval_title_body.csv", lambda e: f"{e['title']}\n{e['body']}"),
                       ("eval_title.csv", lambda e: e["title"])):
        with (out / name).open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((text(e), e["label"]) for e in evaluation)

    t = time.perf_counter()
    model = train([r["tokens"] for r in training], [r["label"] for r in training], segmented=True)
    print(f"trained in {time.perf_counter() - t:.1f} s")
    truth = [e["label"] for e in evaluation]
    for title, texts in (("title + body", [f"{e['title']}\n{e['body']}" for e in evaluation]),
                         ("title only", [e["title"] for e in evaluation])):
        predicted = predict_all(model, texts, segmented=False)
        ev = evaluate(model, texts, truth, segmented=False)
        low, high = bootstrap(truth, predicted)
        print(f"\n== raw {title}: macro-F1 {ev.macro_f1:.3f} (95% bootstrap {low:.3f}-{high:.3f}), "
              f"accuracy {ev.accuracy:.3f}")
        print(format_evaluation(ev))
    print(f"\nsplits written to {out} (see this script's docstring for the CLI commands)")
    if args.cv:
        cross_validate(training)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

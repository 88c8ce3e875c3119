"""Recipe candidates for the category classifier compared by cross-validation on the training rows only.

This reproduces the second- and third-round tables of docs/tagging.md (「试过什么，各得多少」, 「第二轮：只用交叉验证
选择」, 「第三轮：原文和分词语料之间还差什么」):

1. The sets are built by `build_sets` of benchmarks/tagging_quality.py (same data, same seed 20240611).
   **The test part is thrown away right after loading**: no candidate is ever scored on it.
2. Cross-validation: the training rows (labelled, segmented petitions; those resembling an evaluation
   message are already held out), in 5 folds by scikit-learn's `StratifiedGroupKFold` (shuffled,
   `--seed`, stratified by category). Reposts -- rows whose word TF-IDF cosine is >= 0.5, joined into
   connected groups -- stay in one fold. Each fold's model is trained as `minqing tagger train` trains
   it (segmented text joined up and cut again, each text's opening learned as a message of its own;
   no calibration, which does not change the category), and the held-out fold is scored on the
   full texts and on their openings (a text without an opening: its full text).
3. Development part: each candidate trained once on all training rows and scored on the raw title + body
   and on the raw title alone. It can only veto a candidate.

For each candidate it prints the macro-F1 mean ± standard deviation over the 5 folds (full text and
opening), the per-fold difference to the current recipe (`base`, always run as the reference): mean ±
standard deviation and in how many folds the candidate was better, and the development macro-F1. The
last column applies parts (a)-(c) of the rule fixed before the comparison: a candidate replaces the
recipe only if, for both full text and opening, it is better in all 5 folds and the mean per-fold
difference exceeds twice its standard error (sd / sqrt 5), and neither development figure is lower
than the current recipe's. (The rest of the rule -- the same again with folds split by another seed,
e.g. `--seed 7`, and at least 5,000 messages/s -- is checked separately.)

The features are those of the shipping model (`bot.tagging.model.features`: jieba words and the
character n-grams of each run of letters); they are recomputed here from the model module's public
parts so that other n-gram ranges can be tried, and checked against `features` for the current range.
`base` is the current recipe as `bot.tagging.training` fits it: NB-SVM (Wang & Manning 2012), C=0.3,
TF-IDF with sublinear term frequency, min_df=2, character 1-3-grams.

    python benchmarks/tagging_cv.py [--candidates base,c0.5,...] [--seed 20240611] [--data DIR] [--cache DIR]

With the default seed and all candidates these are the tables in docs/tagging.md (about 130 minutes on one core; the
ensembles take 5-11 minutes each, the latent-dimension ones (`lsa*`) about 5, the co-training ones (`co_reply*`)
about 4, the others about 2). The third round's candidates use the unlabelled raw pool: `lsa*` learn latent
dimensions from it (a truncated SVD of the word TF-IDF of the training texts and the pool, whose weights are folded
back into one weight per feature), and `corpus_like` learns from it which words the segmented corpus dropped and
takes them out of the raw development texts before tagging (the cross-validation texts, segmented, never had them);
`win*` add runs of consecutive words from each training text as short messages of their own; `bias*` add one offset
per category to its score, chosen for macro-F1 on a held-out part of the training rows.
The fourth round's `co_reply*` (docs/tagging.md 「第四轮」) co-train with the official reply as a second view:
pool petitions whose text and reply the recipe tags the same are learned as rows of that category (pool texts
resembling a held-out row are left out of that fold), and the run prints how often the two views agree. `--cache DIR` keeps the sets and their features
(gzipped JSON, keyed by the data files and the code that makes them), which saves the 40 seconds or so of
preparation on the next run; nothing is cached without it. The data folder is `--data`, else $MINQING_DATA, else
../shared/data beside the repository; when its files are missing the script says so and exits without running
anything.
"""

from __future__ import annotations

import os

# one core: no thread pools under numpy
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _data import REPO, data_dir, rows
from tagging_quality import NEAR, build_sets

from bot.tagging.model import (
    CHAR_NGRAMS,
    OPENING_FALLBACK_WORDS,
    WORD_PREFIX,
    char_ngrams,
    features,
    normalize,
    opening,
    segment,
    softmax,
    unsegment,
    words,
)
from bot.tagging.training import (
    NO_PREDICTION,
    calibration_split,
    fit_temperature,
    score,
)

DEFAULT_SEED = 20240611  # the folds of the table in docs/tagging.md (its confirmation split used 7)
FOLDS = 5
DATA_FILES = ("petitions_labelled_segmented.csv", "petitions_raw_unlabelled.csv", "petitions_with_replies.csv")
RUN = re.compile(r"\w+")  # runs of letters, as bot.tagging.model cuts them into character n-grams

# the current recipe, as bot.tagging.training fits it
BASE = {"clf": "nbsvm", "c": 0.3, "cw": "none", "ng": CHAR_NGRAMS, "sublinear": True, "min_df": 2, "alpha": 1.0,
        "heads": 1.0, "loss": "squared_hinge"}

# name: (changes to BASE, description), in the order of the table in docs/tagging.md
CANDIDATES: dict[str, tuple[dict, str]] = {
    "base": ({}, ("current recipe: NB-SVM, C=0.3, unweighted, jieba words + char 1-3-grams, sublinear tf, "
                 "min_df=2, NB smoothing 1, squared hinge, openings learned (weight 1)")),
    "c0.1": ({"c": 0.1}, "C=0.1"),
    "c0.2": ({"c": 0.2}, "C=0.2"),
    "c0.5": ({"c": 0.5}, "C=0.5"),
    "c1.0": ({"c": 1.0}, "C=1.0"),
    "cw_binary": ({"cw": "binary"}, 'class_weight="balanced" in each one-vs-rest SVM'),
    "cw_multi": ({"cw": "multi"}, "sample weights giving every category the same total weight"),
    "cw_multi_nbw": ({"cw": "multi", "nb_weighted": True}, "the same, NB ratios counted with the sample weights"),
    "ng1-2": ({"ng": (1, 2)}, "character 1-2-grams"),
    "ng1-4": ({"ng": (1, 4)}, "character 1-4-grams"),
    "ng2-4": ({"ng": (2, 4)}, "character 2-4-grams (no single characters)"),
    "no_sublinear": ({"sublinear": False}, "raw term frequency (not sublinear)"),
    "min_df1": ({"min_df": 1}, "min_df=1"),
    "min_df3": ({"min_df": 3}, "min_df=3"),
    "alpha0.5": ({"alpha": 0.5}, "NB smoothing alpha=0.5"),
    "hinge": ({"loss": "hinge"}, "hinge loss"),
    "beta0.25": ({"beta": 0.25}, "Wang & Manning interpolation, beta=0.25"),
    "heads0.5": ({"heads": 0.5}, "openings weighted 0.5"),
    "heads0": ({"heads": 0.0}, "openings not learned on their own"),
    "nblr_c10": ({"clf": "nblr", "c": 10.0}, "NB-weighted logistic regression (C=10) instead of the SVM"),
    "plain_svm": ({"clf": "svm"}, "linear SVM without NB weighting"),
    "ens_lr": ({"clf": "ens", "members": [{}, {"clf": "lr", "lr_c": 10.0}]},
               "ensemble: NB-SVM + multinomial logistic regression (C=10), scores over their temperatures summed"),
    "ens_lr_prob": ({"clf": "ens", "mode": "prob", "members": [{}, {"clf": "lr", "lr_c": 10.0}]},
                    "the same, calibrated probabilities averaged"),
    "ens_cnb": ({"clf": "ens", "members": [{}, {"clf": "cnb", "nb_a": 0.3}]},
                "ensemble: NB-SVM + ComplementNB (alpha=0.3), scores over their temperatures summed"),
    "ens_cnb_prob": ({"clf": "ens", "mode": "prob", "members": [{}, {"clf": "cnb", "nb_a": 0.3}]},
                     "the same, calibrated probabilities averaged"),
    "lsa200": ({"lsa": 200}, "200 latent dimensions (truncated SVD of the word TF-IDF of training + raw pool) beside the features"),
    "lsa200_joint": ({"lsa": 200, "lsa_vocab": "joint"},
                     "the same, vocabulary and IDF from training + raw pool (raw-only words get weights)"),
    "lsa300_w2": ({"lsa": 300, "lsa_w": 2.0}, "300 latent dimensions, weighted 2"),
    "lsa300_w4": ({"lsa": 300, "lsa_w": 4.0}, "300 latent dimensions, weighted 4"),
    "win1": ({"windows": 1}, "one run of 12 consecutive words from each text learned as a message of its own"),
    "win2": ({"windows": 2}, "two runs of 12 consecutive words from each text, each learned as a message"),
    "win1_cw": ({"windows": 1, "cw": "multi"}, "one run of 12 words per text, and every category the same total weight"),
    "bias": ({"bias_tune": True}, ("one offset per category added to its score, chosen for macro-F1 on a held-out "
                                    "20% of the training rows (coordinate ascent), then fitted on all")),
    "bias_cw": ({"bias_tune": True, "cw": "multi"}, "the same, with every category the same total weight"),
    "co_reply": ({"cotrain": "reply"}, ("raw pool petitions with an official reply, labelled where the model tags "
                                        "the petition and its reply the same, learned beside the training rows")),
    "co_reply_w0.5": ({"cotrain": "reply", "co_w": 0.5}, "the same, the pool rows weighted 0.5"),
    "co_reply_m": ({"cotrain": "reply", "co_margin": 0.5},
                   "the same, and only where both views lead their runner-up by at least 0.5"),
    "corpus_like": ({"corpus_like": True}, ("raw text made to look like the corpus before tagging: the words the "
                                             "corpus dropped (learned from the raw pool) taken out, the rest joined "
                                             "(changes only the development part's texts)")),
}


# --- the sets and their features ----------------------------------------------------------------
def text_parts(text: str, segmented: bool) -> tuple[list[str], list[str]]:
    """A text's word features and its runs of letters, exactly as `bot.tagging.model.features` makes them."""
    t = normalize(text)
    if segmented:
        t = unsegment(t)
    return [WORD_PREFIX + w for w in segment(t)], RUN.findall(t)


def doc(parts: tuple[list[str], list[str]], ng: tuple[int, int]) -> list[str]:
    """A text's features with character ng[0]- to ng[1]-grams."""
    word_feats, runs = parts
    return word_feats + char_ngrams(runs, *ng)


def repost_groups(texts: list[str]) -> np.ndarray:
    """Connected groups of training rows whose word TF-IDF cosine is >= NEAR, numbered in order of their
    first row (the numbering StratifiedGroupKFold was given for the documented folds)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(analyzer=_same, sublinear_tf=True).fit_transform([words(t, segmented=True) for t in texts])
    rows, cols = ((x @ x.T) >= NEAR).nonzero()
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(rows.tolist(), cols.tolist()):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    number: dict[int, int] = {}
    return np.array([number.setdefault(root(i), len(number)) for i in range(len(texts))])


def prepare(folder: Path) -> dict:
    """Training rows (features, openings, labels, repost groups) and the development part; no test part."""
    sets = build_sets(folder)
    del sets["test"]  # never looked at while comparing candidates
    texts = [r["tokens"] for r in sets["train"]]
    full = [text_parts(t, True) for t in texts]
    heads = []
    for t in texts:
        h = opening(t, True)
        heads.append(text_parts(h, True) if h else None)
    dev = sets["dev"]
    replies = {(r["留言主题"].strip(), r["留言详情"].strip()): r["答复意见"].strip()
               for r in rows(folder / "petitions_with_replies.csv") if r["答复意见"].strip()}
    return {
        "labels": [r["label"] for r in sets["train"]],
        "groups": repost_groups(texts).tolist(),
        "full": full,
        "heads": heads,
        "dev_labels": [e["label"] for e in dev],
        "dev_tb": [text_parts(f"{e['title']}\n{e['body']}", False) for e in dev],
        "dev_t": [text_parts(e["title"], False) for e in dev],
        "dev_reply": [text_parts(replies[k], False) if (k := (e["title"].strip(), e["body"].strip())) in replies
                      else None for e in dev],
        "pool": [text_parts(f"{a}\n{b}", False) for a, b in sets["pool"]],
        "pool_heads": [text_parts(h, False) if (h := opening(f"{a}\n{b}", False)) else None for a, b in sets["pool"]],
        "pool_reply": [text_parts(replies[(a, b)], False) if (a, b) in replies else None for a, b in sets["pool"]],
        "pool_near": pool_near(texts, [f"{a}\n{b}" for a, b in sets["pool"]]),
        "check": texts[:200],  # to compare the recomputed features with the model's own
    }


def pool_near(texts: list[str], pool: list[str]) -> list[list[int]]:
    """For each raw pool text, the training rows whose word TF-IDF cosine with it is >= NEAR: a pool text is
    left out of a fold's training whenever one of them is in the held-out fold."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    v = TfidfVectorizer(analyzer=_same, sublinear_tf=True)
    x = v.fit_transform([words(t, segmented=True) for t in texts])
    sim = (v.transform([words(t, segmented=False) for t in pool]) @ x.T).tocsr()
    sim.data[sim.data < NEAR] = 0
    sim.eliminate_zeros()
    return [sim.indices[sim.indptr[k]:sim.indptr[k + 1]].tolist() for k in range(len(pool))]


def fingerprint(folder: Path) -> str:
    """What the prepared data depends on: the data files, the code that reads and cuts them, the segmenters (rjieba
    cuts the texts, stock jieba matches the evaluation messages)."""
    h = hashlib.sha256(f"{version('jieba')} {version('rjieba')}".encode())
    for name in DATA_FILES:
        st = (folder / name).stat()
        h.update(f"{name} {st.st_size} {st.st_mtime_ns}".encode())
    for code in ("benchmarks/tagging_cv.py", "benchmarks/tagging_quality.py", "benchmarks/_data.py",
                 "bot/tagging/model.py", "routing/text.py"):
        h.update((REPO / code).read_bytes())
    return h.hexdigest()


def load(folder: Path, cache: Path | None) -> dict:
    """The prepared data, from `cache` when it holds it for these files and this code."""
    key = fingerprint(folder) if cache else ""
    path = cache / f"tagging_cv-{key[:16]}.json.gz" if cache else None
    if path is not None and path.exists():
        data = json.loads(gzip.decompress(path.read_bytes()))
        print(f"prepared data read from {path}")
    else:
        data = prepare(folder)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(json.dumps(data, ensure_ascii=False).encode(), 6))
            print(f"prepared data kept in {path}")
    for t in data["check"]:
        if doc(text_parts(t, True), CHAR_NGRAMS) != features(t, True):
            sys.exit("the recomputed features differ from bot.tagging.model.features: update text_parts()")
    data["groups"] = np.array(data["groups"])
    data["full"] = [tuple(p) for p in data["full"]]
    data["heads"] = [tuple(p) if p else None for p in data["heads"]]
    data["pool"] = [tuple(p) for p in data["pool"]]
    data["pool_heads"] = [tuple(p) if p else None for p in data["pool_heads"]]
    data["pool_reply"] = [tuple(p) if p else None for p in data["pool_reply"]]
    data["dev_reply"] = [tuple(p) if p else None for p in data["dev_reply"]]
    return data


def make_folds(data: dict, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped, stratified, shuffled folds of the training rows."""
    from sklearn.model_selection import StratifiedGroupKFold

    n = len(data["labels"])
    return list(StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed).split(
        np.zeros(n), data["labels"], data["groups"]))


# --- fitting and scoring one candidate -----------------------------------------------------------
def _same(d: list[str]) -> list[str]:
    return d


def vectorize(docs: list[list[str]], cfg: dict):
    from sklearn.feature_extraction.text import TfidfVectorizer

    v = TfidfVectorizer(analyzer=_same, sublinear_tf=cfg["sublinear"], min_df=cfg["min_df"], dtype=np.float32)
    return v, v.fit_transform(docs).tocsr()


def sample_weights(ys: np.ndarray, cfg: dict, classes: list[str], base: np.ndarray) -> np.ndarray:
    w = base.copy()
    if cfg["cw"] == "multi":  # every category weighs the same in total
        counts = {c: (ys == c).sum() for c in classes}
        w *= np.array([len(ys) / (len(classes) * counts[y]) for y in ys])
    return w


def fit_linear(x, ys: np.ndarray, classes: list[str], cfg: dict, w: np.ndarray,
               dense: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """W (features x classes) and b: scores = x @ W + b. `dense`: (Z, P), extra columns Z = x @ P.T * w
    beside the sparse ones, whose weights are folded back through P."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import ComplementNB
    from sklearn.svm import LinearSVC

    clf = cfg["clf"]
    if clf == "lr":  # multinomial logistic regression
        m = LogisticRegression(C=cfg["lr_c"], max_iter=2000).fit(x, ys, sample_weight=w)
        assert list(m.classes_) == classes
        return m.coef_.T, m.intercept_
    if clf == "cnb":
        m = ComplementNB(alpha=cfg["nb_a"]).fit(x, ys, sample_weight=w)
        assert list(m.classes_) == classes
        return m.feature_log_prob_.T, np.zeros(len(classes))
    W = np.zeros((x.shape[1], len(classes)), dtype=np.float64)
    b = np.zeros(len(classes))
    present = x.copy()
    present.data[:] = 1.0
    balanced = "balanced" if cfg["cw"] == "binary" else None
    for k, name in enumerate(classes):
        mine = ys == name
        if clf in ("nbsvm", "nblr"):
            # NB ratio: how much more often each feature occurs in this category than in the others
            counted = present.multiply(w[:, None]).tocsr() if cfg.get("nb_weighted") else present
            p = cfg["alpha"] + np.asarray(counted[mine].sum(axis=0)).ravel()
            q = cfg["alpha"] + np.asarray(counted[~mine].sum(axis=0)).ravel()
            ratio = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        else:
            ratio = np.ones(x.shape[1], dtype=np.float32)
        xs = x.multiply(ratio).tocsr()
        if dense is not None:
            import scipy.sparse as sp
            xs = sp.hstack([xs, sp.csr_matrix(dense[0])]).tocsr()
        if clf == "nblr":
            m = LogisticRegression(C=cfg["c"], solver="liblinear", class_weight=balanced).fit(
                xs, mine.astype(int), sample_weight=w)
        else:
            m = LinearSVC(C=cfg["c"], random_state=0, loss=cfg["loss"], class_weight=balanced).fit(
                xs, mine.astype(int), sample_weight=w)
        coef = m.coef_.ravel()
        folded = 0.0
        if dense is not None:  # the latent columns' weights, as weights of the features they are made of
            folded = dense[1].T @ coef[x.shape[1]:] * cfg.get("lsa_w", 1.0)
            coef = coef[:x.shape[1]]
        beta = cfg.get("beta")
        if beta is not None:  # Wang & Manning's interpolation towards the mean weight
            coef = (1 - beta) * np.abs(coef).mean() + beta * coef
        W[:, k] = coef * ratio + folded
        b[k] = m.intercept_[0]
    return W, b


def training_docs(idx, data: dict, cfg: dict) -> tuple[list, np.ndarray, np.ndarray]:
    """Documents, labels and base weights of training rows idx: each text, and its opening as training adds it."""
    docs, ys, base = [], [], []
    for i in idx:
        docs.append(doc(data["full"][i], cfg["ng"]))
        ys.append(data["labels"][i])
        base.append(1.0)
        h = data["heads"][i]
        if h is not None and cfg["heads"] > 0:
            docs.append(doc(h, cfg["ng"]))
            ys.append(data["labels"][i])
            base.append(cfg["heads"])
        for w in windows(data["full"][i], cfg.get("windows", 0), cfg.get("window_words", 12), seed=int(i)):
            docs.append(doc(w, cfg["ng"]))
            ys.append(data["labels"][i])
            base.append(1.0)
    return docs, np.array(ys), np.array(base)


def windows(parts: tuple[list[str], list[str]], count: int, size: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """`count` runs of `size` consecutive words from a text (after its opening), each as a short message of its
    own: chat is as short as a title, and its words need not be the title's."""
    ws = parts[0]
    if count <= 0 or len(ws) <= size + OPENING_FALLBACK_WORDS:
        return []
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        start = rng.randrange(OPENING_FALLBACK_WORDS, len(ws) - size + 1)
        chunk = ws[start:start + size]
        out.append((chunk, [joined(chunk)]))
    return out


def fit(idx, data: dict, cfg: dict, classes: list[str]) -> tuple:
    """A fitted scorer (vectorizer, W, b, cfg); an ensemble: its members, each over its own temperature."""
    if cfg["clf"] == "ens":
        parts = []
        for member in cfg["members"]:
            mcfg = dict(BASE, **member)
            t = member_temperature(idx, data, mcfg, classes)
            v, W, b, _ = fit(idx, data, mcfg, classes)
            parts.append((v, W / t, b / t, mcfg))
        return ("ens", parts, cfg.get("mode", "logit"))
    if cfg.get("bias_tune"):
        return fit_with_offsets(idx, data, cfg, classes)
    docs, ys, base = training_docs(idx, data, cfg)
    if cfg.get("cotrain"):
        extra = cotrain_docs(idx, data, cfg, classes)
        docs += extra[0]
        ys = np.concatenate([ys, extra[1]])
        base = np.concatenate([base, extra[2]])
    if not cfg.get("lsa"):
        v, x = vectorize(docs, cfg)
        W, b = fit_linear(x, ys, classes, cfg, sample_weights(ys, cfg, classes, base))
        return (v, W, b, cfg)
    return fit_lsa(docs, ys, base, data, cfg, classes)


def cotrain_docs(idx, data: dict, cfg: dict, classes: list[str]) -> tuple[list, np.ndarray, np.ndarray]:
    """Co-training with the official reply as a second view: the recipe fitted on idx tags each raw pool
    petition that has a reply, and its reply; where both get the same category (each leading its runner-up
    by at least `co_margin`), the petition and its title become training rows of that category, weighted
    `co_w`. Pool texts resembling a row outside idx (a held-out fold) are not used."""
    m = fit(idx, data, dict(cfg, cotrain=None), classes)
    inside = np.zeros(len(data["labels"]), dtype=bool)
    inside[idx] = True
    ks = [k for k, near in enumerate(data["pool_near"])
          if data["pool_reply"][k] is not None and all(inside[j] for j in near)]
    agreed = None
    for view in ("pool", "pool_reply"):
        s, empty = scores(m, [data[view][k] for k in ks])
        top = np.sort(s, axis=1)
        sure = (top[:, -1] - top[:, -2] >= cfg.get("co_margin", 0.0)) & ~empty
        label = np.where(sure, s.argmax(axis=1), -1)
        agreed = label if agreed is None else np.where(agreed == label, label, -1)
    docs, ys, base = [], [], []
    w = cfg.get("co_w", 1.0)
    for k, c in zip(ks, agreed.tolist()):
        if c < 0:
            continue
        for parts in (data["pool"][k], data["pool_heads"][k]):
            if parts is not None:
                docs.append(doc(parts, cfg["ng"]))
                ys.append(classes[c])
                base.append(w)
    cfg.setdefault("_co_counts", []).append((len(ks), int((agreed >= 0).sum())))
    return docs, np.array(ys), np.array(base)


def agreement(data: dict, cfg: dict, classes: list[str]) -> str:
    """How often the recipe (fitted on all training rows) tags a petition and its reply the same, on the
    development messages that have a reply (and how often that shared category is right) and on the pool."""
    m = fit(np.arange(len(data["labels"])), data, dict(cfg, cotrain=None), classes)

    def same(texts: list, replies: list) -> np.ndarray:
        return scores(m, texts)[0].argmax(axis=1), scores(m, replies)[0].argmax(axis=1)

    dev = [k for k, r in enumerate(data["dev_reply"]) if r is not None]
    a, b = same([data["dev_tb"][k] for k in dev], [data["dev_reply"][k] for k in dev])
    truth = np.array([classes.index(data["dev_labels"][k]) for k in dev])
    pool = [k for k, r in enumerate(data["pool_reply"]) if r is not None]
    pa, pb = same([data["pool"][k] for k in pool], [data["pool_reply"][k] for k in pool])

    def unsure(texts: list) -> float:  # the top category leads its runner-up by less than 0.5
        top = np.sort(scores(m, texts)[0], axis=1)
        return float((top[:, -1] - top[:, -2] < 0.5).mean())

    return (f"  petition and reply tagged the same: development part {(a == b).mean():.1%} of {len(dev)} "
            f"(right: {(a == truth)[a == b].mean():.1%}), raw pool {(pa == pb).mean():.1%} of {len(pool)}; "
            f"top category less than 0.5 ahead: development part {unsure(data['dev_tb']):.1%}, "
            f"raw pool {unsure(data['pool']):.1%}")


def held_out_scores(idx, data: dict, cfg: dict, classes: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A model fitted as training calibrates (on idx less the part `calibration_split` holds out) scoring the
    held-out part's full texts and openings: the scores, the mask of texts with no known feature, the labels."""
    keep, held = calibration_split(data["labels"], idx)
    m = fit(keep, data, cfg, classes)
    with_head = [i for i in held if data["heads"][i] is not None]
    s, empty = scores(m, [data["full"][i] for i in held] + [data["heads"][i] for i in with_head])
    return s, empty, [data["labels"][i] for i in held + with_head]


def fit_with_offsets(idx, data: dict, cfg: dict, classes: list[str]) -> tuple:
    """The recipe plus one offset per category added to its score, chosen to maximise macro-F1 on a held-out
    part (full texts and openings) of a model fitted on the rest, by coordinate ascent; then fitted on all of idx."""
    inner = dict(cfg, bias_tune=False)
    s, _, truth = held_out_scores(idx, data, inner, classes)
    offsets = np.zeros(len(classes))
    grid = np.arange(-0.5, 0.51, 0.05)

    def f1(o: np.ndarray) -> float:
        return score(truth, [classes[k] for k in (s + o).argmax(axis=1)]).macro_f1

    best = f1(offsets)
    for _ in range(3):
        for k in range(len(classes)):
            for g in grid:
                trial = offsets.copy()
                trial[k] = g
                value = f1(trial)
                if value > best + 1e-9:
                    best, offsets = value, trial
    v, W, b, _ = fit(idx, data, inner, classes)
    return (v, W, b + offsets, cfg)


def fit_lsa(docs, ys, base, data: dict, cfg: dict, classes: list[str]) -> tuple:
    """The NB-SVM with latent dimensions learned on raw text beside its sparse features: a truncated SVD
    of the TF-IDF rows of the training texts and the unlabelled raw pool; the SVM sees both, and the
    dense part's weights are folded back into one weight per feature (still one linear model)."""
    import scipy.sparse as sp
    from sklearn.decomposition import TruncatedSVD

    pool_docs = [doc(p, cfg["ng"]) for p in data["pool"]]
    if cfg.get("lsa_vocab") == "joint":
        v, xall = vectorize(docs + pool_docs, cfg)
        x, xpool = xall[:len(docs)], xall[len(docs):]
    else:
        v, x = vectorize(docs, cfg)
        xpool = v.transform(pool_docs)
    # the latent dimensions are learned over the words only (character n-grams are too many to decompose)
    cols = np.flatnonzero(np.char.startswith(v.get_feature_names_out().astype(str), WORD_PREFIX))
    svd = TruncatedSVD(cfg["lsa"], algorithm="randomized", n_iter=4, random_state=0)
    svd.fit(sp.vstack([x[:, cols], xpool[:, cols]]).tocsr())
    P = np.zeros((cfg["lsa"], x.shape[1]), dtype=np.float32)  # k x terms
    P[:, cols] = svd.components_
    z = np.asarray(x @ P.T) * cfg.get("lsa_w", 1.0)
    W, b = fit_linear(x, ys, classes, cfg, sample_weights(ys, cfg, classes, base), dense=(z, P))
    return (v, W, b, cfg)


def scores(model: tuple, parts_list: list) -> tuple[np.ndarray, np.ndarray]:
    """Scores (texts x classes) and a mask of the texts with no known feature."""
    if model[0] == "ens":
        total, empty = None, None
        for part in model[1]:
            s, e = scores(part, parts_list)
            if model[2] == "prob":
                s = softmax(s, 1.0)
            total = s if total is None else total + s
            empty = e if empty is None else empty & e
        return (np.log(total / len(model[1])) if model[2] == "prob" else total), empty
    v, W, b, cfg = model
    x = v.transform([doc(p, cfg["ng"]) for p in parts_list])
    return np.asarray(x @ W) + b, np.diff(x.indptr) == 0


def member_temperature(idx, data: dict, cfg: dict, classes: list[str]) -> float:
    """An ensemble member's temperature, as training calibrates: fitted on (1 - CALIBRATION_SHARE) of idx,
    drawn per category with training's seed, and fitted on the rest (full texts and openings)."""
    s, empty, labels = held_out_scores(idx, data, cfg, classes)
    truth = np.array([classes.index(label) for label in labels])
    return fit_temperature(s[~empty], truth[~empty])


def predict(model: tuple, parts_list: list, classes: list[str]) -> list[str]:
    s, empty = scores(model, parts_list)
    return [NO_PREDICTION if e else classes[k] for k, e in zip(s.argmax(axis=1), empty)]


def run(cfg: dict, data: dict, folds: list) -> dict:
    """Per-fold macro-F1 on full texts and openings, and the development figures, of one candidate."""
    classes = sorted(set(data["labels"]))
    labels = data["labels"]
    full, head = [], []
    for train_idx, test_idx in folds:
        m = fit(train_idx, data, cfg, classes)
        truth = [labels[i] for i in test_idx]
        full.append(score(truth, predict(m, [data["full"][i] for i in test_idx], classes)).macro_f1)
        head.append(score(truth, predict(m, [data["heads"][i] or data["full"][i] for i in test_idx],
                                         classes)).macro_f1)
    m = fit(np.arange(len(labels)), data, cfg, classes)
    if cfg.get("cotrain"):
        print(agreement(data, cfg, classes))
    dev_tb, dev_t = data["dev_tb"], data["dev_t"]
    if cfg.get("corpus_like"):  # raw text made to look like the segmented corpus before it is tagged
        stop = corpus_stopwords(data)
        dev_tb, dev_t = [corpus_like(p, stop) for p in dev_tb], [corpus_like(p, stop) for p in dev_t]
    return {
        "full": np.array(full), "head": np.array(head),
        "dev_tb": score(data["dev_labels"], predict(m, dev_tb, classes)).macro_f1,
        "dev_t": score(data["dev_labels"], predict(m, dev_t, classes)).macro_f1,
    }


def corpus_stopwords(data: dict, min_df: int = 20, ratio: float = 20.0) -> set[str]:
    """The words the segmented corpus dropped: jieba words of the unlabelled raw pool found in at least
    `min_df` of its texts and at least `ratio` times as often (per character) as in the training texts."""
    from collections import Counter

    def counts(parts_list) -> tuple[Counter, Counter, int]:
        n, df, chars = Counter(), Counter(), 0
        for ws, runs in parts_list:
            n.update(ws)
            df.update(set(ws))
            chars += sum(map(len, runs))
        return n, df, chars

    pool_n, pool_df, pool_chars = counts(data["pool"])
    train_n, _, train_chars = counts(data["full"])
    return {w[len(WORD_PREFIX):] for w, k in pool_n.items()
            if pool_df[w] >= min_df and (k / pool_chars) / ((train_n[w] + 1) / train_chars) >= ratio}


def corpus_like(parts: tuple[list[str], list[str]], stop: set[str]) -> tuple[list[str], list[str]]:
    """A raw text's parts without the corpus's dropped words, the rest joined into one run (as a segmented
    text joined up is: no punctuation, no gaps)."""
    kept = [w for w in parts[0] if w[len(WORD_PREFIX):] not in stop]
    return kept, [joined(kept)]


def joined(word_features: list[str]) -> str:
    """Words (as word features) written together as one run of letters, as a segmented text joined up is."""
    return "".join(w[len(WORD_PREFIX):] for w in word_features)


# --- report ---------------------------------------------------------------------------------------
def spread(values: np.ndarray, digits: int) -> str:
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def versus(diff: np.ndarray) -> str:
    return f"{diff.mean():+.4f} ± {diff.std(ddof=1):.4f} ({int((diff > 0).sum())}/{len(diff)} better)"


def meets_rule(r: dict, base: dict) -> bool:
    """Parts (a)-(c) of the rule in docs/tagging.md (see the module docstring)."""
    def clear(diff: np.ndarray) -> bool:
        return bool((diff > 0).all()) and diff.mean() > 2 * diff.std(ddof=1) / np.sqrt(len(diff))

    return (clear(r["full"] - base["full"]) and clear(r["head"] - base["head"])
            and r["dev_tb"] >= base["dev_tb"] and r["dev_t"] >= base["dev_t"])


def report(results: dict[str, dict]) -> None:
    base = results["base"]
    head = ("candidate", "CV full", "vs base per fold", "CV prefix", "vs base per fold", "DEV t+b", "DEV title",
            "rule a-c")
    rows = []
    for name, r in results.items():
        is_base = name == "base"
        rows.append((name, spread(r["full"], 3), "—" if is_base else versus(r["full"] - base["full"]),
                     spread(r["head"], 3), "—" if is_base else versus(r["head"] - base["head"]),
                     f"{r['dev_tb']:.3f}", f"{r['dev_t']:.3f}",
                     "—" if is_base else ("meets" if meets_rule(r, base) else "no")))
    widths = [max(len(row[k]) for row in (head, *rows)) for k in range(len(head))]
    for row in (head, *rows):
        print("  ".join(cell.ljust(w) if k == 0 else cell.rjust(w) for k, (cell, w) in enumerate(zip(row, widths))))


def main() -> None:
    """Prepare the data, run the candidates, print the table."""
    from sklearn.exceptions import ConvergenceWarning

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="candidates:\n" + "\n".join(f"  {n:13s} {d}" for n, (_, d) in CANDIDATES.items()))
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help="comma-separated candidate names (default: all; base is always run as the reference)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the fold split (default {DEFAULT_SEED}; the confirmation split used 7)")
    parser.add_argument("--data", type=Path, default=None,
                        help="the data folder (default: $MINQING_DATA, else ../shared/data beside the repository)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the prepared data in this folder")
    args = parser.parse_args()
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate(s): {', '.join(unknown)} (known: {', '.join(CANDIDATES)})")
    names = ["base", *(n for n in dict.fromkeys(names) if n != "base")]

    folder = args.data or data_dir()
    missing = [n for n in DATA_FILES if not (folder / n).exists()]
    if missing:
        print(f"skipped: {', '.join(missing)} not found in {folder} (give the data folder with --data "
              f"or set MINQING_DATA)")
        sys.exit(0)

    started = time.perf_counter()
    data = load(folder, args.cache)
    folds = make_folds(data, args.seed)
    print(f"training rows: {len(data['labels'])} in {len(set(data['groups'].tolist()))} repost groups, "
          f"{FOLDS} grouped stratified folds (seed {args.seed}); development part: {len(data['dev_labels'])} "
          f"raw messages; test part dropped, not used ({time.perf_counter() - started:.0f} s)", flush=True)

    results: dict[str, dict] = {}
    for name in names:
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # hinge loss: liblinear stops at its iteration limit
            warnings.simplefilter("always")
            cfg = dict(BASE, **CANDIDATES[name][0])
            r = run(cfg, data, folds)
        results[name] = r
        unconverged = 0
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                unconverged += 1
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        note = f"; liblinear did not converge in {unconverged} fits" if unconverged else ""
        if cfg.get("_co_counts"):  # pool petitions with a reply usable in each fit, and how many were labelled
            note += "; co-training labelled " + ", ".join(f"{a}/{n}" for n, a in cfg["_co_counts"])
        print(f"{name}: CV full {spread(r['full'], 4)}, prefix {spread(r['head'], 4)}; "
              f"DEV {r['dev_tb']:.3f} / {r['dev_t']:.3f} ({time.perf_counter() - t:.0f} s{note})", flush=True)
    print()
    report(results)
    print(f"\nmacro-F1; CV: mean ± sd over {FOLDS} folds; vs base: per-fold difference, mean ± sd and folds better; "
          f"DEV: development part, raw title + body / title. total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

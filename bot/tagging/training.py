"""Training and evaluating the category classifier on a labelled CSV (scikit-learn is imported only here)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.tagging.model import NGRAMS, TextModel, char_ngrams, looks_segmented, opening, words

NO_PREDICTION = "(无)"


class DataError(Exception):
    """Input data that cannot be used: a missing column, no rows, not UTF-8 CSV."""


@dataclass(frozen=True, slots=True)
class Labelled:
    """Texts and their labels read from a CSV; `skipped` rows had an empty text or label."""

    texts: list[str]
    labels: list[str]
    skipped: int = 0


def read_labelled(path: str | Path, text_cols: Sequence[str] = ("tokens",), label_col: str = "label") -> Labelled:
    """Texts (the named columns joined) and labels from a CSV with a header row."""
    p = Path(path)
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    try:
        with p.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in (*text_cols, label_col) if c not in header]
            if missing:
                raise DataError(f"{p}: no column {', '.join(map(repr, missing))} "
                                f"(columns: {', '.join(header) or 'none'})")
            for row in reader:
                text = "\n".join((row.get(c) or "").strip() for c in text_cols).strip()
                label = (row.get(label_col) or "").strip()
                if not text or not label:
                    skipped += 1
                    continue
                texts.append(text)
                labels.append(label)
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e.reason})") from None
    except (OSError, csv.Error) as e:
        raise DataError(f"{p}: cannot read as CSV: {e}") from None
    if not texts:
        raise DataError(f"{p}: no rows with both a text and a label")
    return Labelled(texts, labels, skipped)


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    segmented: bool | None = None,
    c: float = 0.3,
    min_df: int = 2,
) -> TextModel:
    """An NB-weighted linear SVM over TF-IDF character n-grams of words, exported as a compact TextModel."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    if len(texts) != len(labels):
        raise DataError("as many labels as texts are needed")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(f"at least two categories are needed to train (found {len(classes)})")
    if segmented is None:
        segmented = looks_segmented(texts)
    docs: list[list[str]] = []
    ys: list[str] = []
    openings = 0
    for text, label in zip(texts, labels):
        docs.append(words(text, segmented))
        ys.append(label)
        # chat messages are as short as a petition's title: learn each opening as a message of its own
        head = opening(text, segmented)
        if head:
            docs.append(head)
            ys.append(label)
            openings += 1
    vectorizer = TfidfVectorizer(
        analyzer=char_ngrams, sublinear_tf=True, min_df=min_df if len(texts) >= 50 else 1, dtype=np.float32,
    )
    x = vectorizer.fit_transform(docs).tocsr()
    y = np.array(ys)
    present = x.copy()
    present.data[:] = 1.0
    coef = np.zeros((x.shape[1], len(classes)), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float32)
    for k, name in enumerate(classes):
        # NB-SVM (Wang & Manning 2012): scale each n-gram by how much more often it occurs in this
        # category than in the others. N-grams common to every category (function words, which
        # the segmented corpus dropped but chat messages keep) then weigh next to nothing.
        mine = y == name
        p = 1.0 + np.asarray(present[mine].sum(axis=0)).ravel()
        q = 1.0 + np.asarray(present[~mine].sum(axis=0)).ravel()
        ratio = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        svm = LinearSVC(C=c, random_state=0).fit(x.multiply(ratio).tocsr(), mine.astype(int))
        coef[:, k] = svm.coef_.ravel() * ratio
        intercept[k] = svm.intercept_[0]
    import jieba

    meta = {
        "input": "segmented" if segmented else "raw",
        "segmenter": f"jieba {jieba.__version__}",
        "ngrams": list(NGRAMS),
        "texts": len(texts),
        "openings": openings,
        "counts": dict(sorted(Counter(labels).items())),
        "c": c,
        "min_df": vectorizer.min_df,
    }
    return TextModel(
        classes=classes,
        terms=[str(t) for t in vectorizer.get_feature_names_out()],
        idf=vectorizer.idf_,
        coef=coef,
        intercept=intercept,
        meta=meta,
    )


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Precision, recall and F1 of one category."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """How a model's predictions compare with the true labels of an evaluation set."""

    per_class: list[ClassScore]
    macro_f1: float
    accuracy: float
    labels: list[str]  # confusion matrix rows (true)
    columns: list[str]  # confusion matrix columns (predicted)
    confusion: list[list[int]]
    count: int


def predict_all(model: TextModel, texts: Sequence[str], segmented: bool | None = None) -> list[str]:
    """The model's category for each text (`(无)` when it knows none of its words)."""
    if segmented is None:
        segmented = looks_segmented(texts)
    return [model.predict_words(words(t, segmented)) or NO_PREDICTION for t in texts]


def score(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str] = ()) -> Evaluation:
    """Per-category precision/recall/F1, macro-F1 over the true categories, accuracy and confusion matrix."""
    labels = sorted(set(truth))
    columns = [*labels, *sorted((set(predicted) | set(classes)) - set(labels))]
    pos = {name: i for i, name in enumerate(columns)}
    confusion = [[0] * len(columns) for _ in labels]
    for t, p in zip(truth, predicted):
        confusion[pos[t]][pos[p]] += 1
    per_class = []
    for i, name in enumerate(labels):
        tp = confusion[i][i]
        support = sum(confusion[i])
        predicted_as = sum(row[i] for row in confusion)
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassScore(name, precision, recall, f1, support))
    correct = sum(confusion[i][i] for i in range(len(labels)))
    return Evaluation(
        per_class=per_class,
        macro_f1=math.fsum(s.f1 for s in per_class) / len(per_class) if per_class else 0.0,
        accuracy=correct / len(truth) if truth else 0.0,
        labels=labels,
        columns=columns,
        confusion=confusion,
        count=len(truth),
    )


def evaluate(
    model: TextModel, texts: Sequence[str], labels: Sequence[str], segmented: bool | None = None,
) -> Evaluation:
    """Score a model on labelled texts."""
    return score(labels, predict_all(model, texts, segmented), model.classes)


def format_evaluation(ev: Evaluation) -> str:
    """The evaluation as a plain-text report: per-category table, macro-F1, accuracy, confusion matrix."""
    width = max([len(n) for n in ev.columns] + [4])

    def cell(text: str, w: int) -> str:
        # CJK characters take two columns in a terminal
        shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
        return " " * max(0, w - shown) + text

    name_w = 2 * width
    lines = [f"{cell('category', name_w)}  precision  recall     f1  support"]
    for s in ev.per_class:
        lines.append(f"{cell(s.name, name_w)}  {s.precision:9.3f}  {s.recall:6.3f}  {s.f1:5.3f}  {s.support:7d}")
    lines.append("")
    lines.append(f"macro-F1  {ev.macro_f1:.3f}")
    lines.append(f"accuracy  {ev.accuracy:.3f}  ({ev.count} texts)")
    lines.append("")
    lines.append("confusion matrix (rows: true category, columns: predicted)")
    col_w = max(6, max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in n) for n in ev.columns))
    lines.append(cell("", name_w) + "".join(" " + cell(n, col_w) for n in ev.columns))
    for name, row in zip(ev.labels, ev.confusion):
        lines.append(cell(name, name_w) + "".join(" " + cell(str(v), col_w) for v in row))
    return "\n".join(lines)

"""Training and evaluating the category classifier on a labelled CSV (scikit-learn is imported only here)."""

from __future__ import annotations

import csv
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.tagging.model import CHAR_NGRAMS, TextModel, features, looks_segmented, opening, softmax
from storage.oserrors import reason as os_reason

NO_PREDICTION = "(无)"


class DataError(Exception):
    """Input data that cannot be used: a missing column, no rows, not UTF-8 CSV."""


@dataclass(frozen=True, slots=True)
class Labelled:
    """Texts and their labels read from a CSV; `skipped` rows had an empty text or label."""

    texts: list[str]
    labels: list[str]
    skipped: int = 0


DEFAULT_TEXT_COLS = (("tokens",), ("text",))  # a segmented corpus, or rows written by `tagger corrections`
RAW_TEXT_COLS = (("text",), ("留言主题", "留言详情"), ("title", "body"))


def _open_csv(p: Path):
    try:
        return p.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataError(f"{p}：找不到文件") from None
    except OSError as e:
        raise DataError(f"{p}：无法读取：{os_reason(e)}") from None


def _columns(p: Path, header: list[str], wanted: Sequence[Sequence[str]]) -> list[str]:
    for cols in wanted:
        if all(c in header for c in cols):
            return list(cols)
    raise DataError(f"{p}：没有文本列（{_alternatives(wanted)}）（现有的列：{'、'.join(header) or '无'}）")


def _alternatives(wanted: Sequence[Sequence[str]]) -> str:
    """Column choices as people read them: tokens 或 text, 留言主题+留言详情."""
    return " 或 ".join("+".join(cols) for cols in wanted)


def read_labelled(path: str | Path, text_cols: Sequence[str] | None = None, label_col: str = "label") -> Labelled:
    """Texts (the named columns joined; by default `tokens`, else `text`) and labels from a CSV with a header row."""
    p = Path(path)
    texts: list[str] = []
    labels: list[str] = []
    skipped = 0
    try:
        with _open_csv(p) as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            wanted = [tuple(text_cols)] if text_cols else list(DEFAULT_TEXT_COLS)
            if label_col not in header:
                has_text = any(all(c in header for c in cols) for cols in wanted)
                missing = ("" if has_text else f"文本列（{_alternatives(wanted)}）和") + f"分类列 {label_col}"
                raise DataError(f"{p}：没有{missing}（现有的列：{'、'.join(header) or '无'}；"
                                f"训练文件的表头例如 text,{label_col}）")
            cols = _columns(p, header, wanted)
            for row in reader:
                text = "\n".join((row.get(c) or "").strip() for c in cols).strip()
                label = (row.get(label_col) or "").strip()
                if not text or not label:
                    skipped += 1
                    continue
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as e:
        raise DataError(f"{p}：不是 UTF-8 编码的文本（{e.reason}）") from None
    except csv.Error as e:
        raise DataError(f"{p}：无法按 CSV 读取：{e}") from None
    if not texts:
        raise DataError(f"{p}：没有同时有文本和类别的行")
    return Labelled(texts, labels, skipped)


def read_texts(path: str | Path, text_cols: Sequence[str] | None = None) -> list[str]:
    """Unlabelled raw texts from a CSV: the named columns joined, by default `text`, or 留言主题 and 留言详情."""
    p = Path(path)
    try:
        with _open_csv(p) as f:
            reader = csv.DictReader(f)
            cols = _columns(p, list(reader.fieldnames or []), [tuple(text_cols)] if text_cols else RAW_TEXT_COLS)
            out = ["\n".join((row.get(c) or "").strip() for c in cols).strip() for row in reader]
    except UnicodeDecodeError as e:
        raise DataError(f"{p}：不是 UTF-8 编码的文本（{e.reason}）") from None
    except csv.Error as e:
        raise DataError(f"{p}：无法按 CSV 读取：{e}") from None
    return [t for t in out if t]


SEED = 20240611  # the held-out part for calibration is drawn with this seed
CALIBRATION_SHARE = 0.2  # of the labelled texts, held out to fit the temperature and the guess threshold
CALIBRATE_FROM = 200  # fewer labelled texts than this: no calibration (every category counts as sure)
SURE_ACCURACY = 0.95  # the guess threshold: the lowest probability above which held-out tags were this accurate


def _flags(texts: Sequence[str], segmented: bool | Sequence[bool] | None) -> list[bool]:
    if segmented is None or isinstance(segmented, bool):
        flag = looks_segmented(texts) if segmented is None else segmented
        return [flag] * len(texts)
    if len(segmented) != len(texts):
        raise DataError("每条文本都要有一个是否已分词的标记")
    return [bool(f) for f in segmented]


def _docs(texts: Sequence[str], labels: Sequence[str], flags: Sequence[bool]) -> tuple[list, list, int]:
    """Features of each text, and of its opening as a message of its own (chat is as short as a title)."""
    docs, ys, openings = [], [], 0
    for text, label, seg in zip(texts, labels, flags):
        docs.append(features(text, seg))
        ys.append(label)
        head = opening(text, seg)
        if head:
            docs.append(features(head, seg))
            ys.append(label)
            openings += 1
    return docs, ys, openings


def _fit(docs: list[list[str]], ys: list[str], classes: list[str], c: float, min_df: int,
         weights: np.ndarray | None = None) -> TextModel:
    """An NB-weighted linear SVM (one per category) over TF-IDF features, as a compact TextModel."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(analyzer=_same, sublinear_tf=True, min_df=min_df, dtype=np.float32)
    x = vectorizer.fit_transform(docs).tocsr()
    y = np.array(ys)
    present = x.copy()
    present.data[:] = 1.0
    coef = np.zeros((x.shape[1], len(classes)), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float32)
    for k, name in enumerate(classes):
        # NB-SVM (Wang & Manning 2012): scale each feature by how much more often it occurs in this
        # category than in the others. Features common to every category (function words, which
        # the segmented corpus dropped but chat messages keep) then weigh next to nothing.
        mine = y == name
        counted = present if weights is None else present.multiply(weights[:, None]).tocsr()
        p = 1.0 + np.asarray(counted[mine].sum(axis=0)).ravel()
        q = 1.0 + np.asarray(counted[~mine].sum(axis=0)).ravel()
        ratio = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        svm = LinearSVC(C=c, random_state=0).fit(x.multiply(ratio).tocsr(), mine.astype(int), sample_weight=weights)
        coef[:, k] = svm.coef_.ravel() * ratio
        intercept[k] = svm.intercept_[0]
    return TextModel(classes=list(classes), terms=[str(t) for t in vectorizer.get_feature_names_out()],
                     idf=vectorizer.idf_, coef=coef, intercept=intercept)


def _same(doc: list[str]) -> list[str]:
    return doc


def _recipe(texts, labels, flags, unlabelled, classes, c, min_df, pseudo_weight=1.0) -> tuple[TextModel, int]:
    """Fit on the labelled texts; then, when unlabelled texts are given, tag them with that model and fit
    again on both (one round of self-training). Returns the model and how many texts it tagged itself."""
    docs, ys, _ = _docs(texts, labels, flags)
    model = _fit(docs, ys, classes, c, min_df)
    if not unlabelled:
        return model, 0
    pseudo = [model.predict(t) for t in unlabelled]
    kept = [(t, p) for t, p in zip(unlabelled, pseudo) if p is not None]
    more, more_ys, _ = _docs([t for t, _ in kept], [p for _, p in kept], [False] * len(kept))
    weights = np.concatenate([np.ones(len(docs)), np.full(len(more), pseudo_weight)]).astype(np.float64)
    return _fit(docs + more, ys + more_ys, classes, c, min_df, weights), len(kept)


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The temperature that makes softmax(scores / T) most likely on held-out texts (their true class indexes)."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(truth))

    def nll(log_t: float) -> float:
        return -float(np.log(softmax(scores, math.exp(log_t))[rows, truth] + 1e-12).mean())

    return math.exp(minimize_scalar(nll, bounds=(math.log(0.01), math.log(100.0)), method="bounded").x)


def guess_threshold(prob: np.ndarray, correct: np.ndarray, sure_accuracy: float = SURE_ACCURACY) -> float:
    """The lowest calibrated probability above which the held-out tags were at least `sure_accuracy` right
    (the most accurate cut when none reaches it); tags below it are guesses."""
    order = np.argsort(-prob)
    p, ok = prob[order], correct[order].astype(float)
    running = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    # candidate cuts: at each distinct probability, everything at or above it counts as sure
    good = np.flatnonzero(running >= sure_accuracy)
    if len(good) == 0:
        return float(p[int(np.argmax(running))])
    return float(p[good[-1]])


def train(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    segmented: bool | Sequence[bool] | None = None,
    unlabelled: Sequence[str] = (),
    c: float = 0.3,
    min_df: int = 2,
    sure_accuracy: float = SURE_ACCURACY,
) -> TextModel:
    """Train the classifier: NB-SVM over jieba words and character n-grams, one round of self-training on
    `unlabelled` raw texts when given, and a temperature and guess threshold fitted on a held-out part."""
    if len(texts) != len(labels):
        raise DataError("每条文本都要有一个类别")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(f"训练至少需要两个类别（现在只有 {len(classes)} 个）")
    flags = _flags(texts, segmented)
    min_df = min_df if len(texts) >= 50 else 1
    unlabelled = [t for t in unlabelled if t and t.strip()]
    calibration = _calibrate(texts, labels, flags, unlabelled, classes, c, min_df, sure_accuracy) \
        if len(texts) >= CALIBRATE_FROM else {}
    model, tagged = _recipe(texts, labels, flags, unlabelled, classes, c, min_df)
    from importlib.metadata import version

    inputs = sorted({"segmented" if f else "raw" for f in flags})
    model.meta = {
        "input": "+".join(inputs),
        "segmenter": f"rjieba {version('rjieba')} (jieba's dictionary, no HMM)",
        "features": f"jieba words + character {CHAR_NGRAMS[0]}-{CHAR_NGRAMS[1]}-grams",
        "texts": len(texts),
        "openings": sum(1 for t, f in zip(texts, flags) if opening(t, f)),
        "counts": dict(sorted(Counter(labels).items())),
        "unlabelled": len(unlabelled),
        "self_trained": tagged,
        "c": c,
        "min_df": min_df,
        **calibration,
    }
    return model


def calibration_split(labels: Sequence[str], among: Iterable[int] | None = None) -> tuple[list[int], list[int]]:
    """The rows (all, or those `among`) a calibration fits on and those it holds out: CALIBRATION_SHARE of each
    category, drawn with SEED."""
    rows = list(range(len(labels))) if among is None else [int(i) for i in among]
    rng = random.Random(SEED)
    by_class: dict[str, list[int]] = {}
    for i in rows:
        by_class.setdefault(labels[i], []).append(i)
    held: list[int] = []
    for members in by_class.values():
        rng.shuffle(members)
        held += members[:int(round(len(members) * CALIBRATION_SHARE))]
    held_set = set(held)
    return [i for i in rows if i not in held_set], held


def _calibrate(texts, labels, flags, unlabelled, classes, c, min_df, sure_accuracy) -> dict:
    """Train the same recipe on 80% of the labelled texts; on the other 20% (full texts and their openings,
    as short as chat) fit the temperature, then the guess threshold on the calibrated probabilities."""
    keep, held = calibration_split(labels)
    if not held or len({labels[i] for i in keep}) < len(classes):
        return {}
    model, _ = _recipe([texts[i] for i in keep], [labels[i] for i in keep], [flags[i] for i in keep],
                       unlabelled, classes, c, min_df)
    index = {name: k for k, name in enumerate(classes)}
    rows, truth = [], []
    for i in held:
        for text in (texts[i], opening(texts[i], flags[i])):
            s = model.scores(text, flags[i]) if text else None
            if s is not None:
                rows.append(s)
                truth.append(index[labels[i]])
    if len(rows) < 20:
        return {}
    scores, truth_arr = np.vstack(rows), np.array(truth)
    t = fit_temperature(scores, truth_arr)
    prob = softmax(scores, t)
    top = prob.argmax(axis=1)
    threshold = guess_threshold(prob.max(axis=1), top == truth_arr, sure_accuracy)
    sure = prob.max(axis=1) >= threshold
    return {
        "temperature": round(t, 4),
        "guess_below": round(threshold, 4),
        "calibration": {
            "held_out": len(held), "scored": len(rows), "seed": SEED, "sure_accuracy_target": sure_accuracy,
            "accuracy": round(float((top == truth_arr).mean()), 4),
            "guess_share": round(float(1 - sure.mean()), 4),
            "sure_accuracy": round(float((top == truth_arr)[sure].mean()), 4) if sure.any() else None,
        },
    }


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Precision, recall and F1 of one category."""

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(slots=True)
class Evaluation:
    """How a model's predictions compare with the true labels of an evaluation set."""

    per_class: list[ClassScore]
    macro_f1: float
    accuracy: float
    labels: list[str]  # confusion matrix rows (true)
    columns: list[str]  # confusion matrix columns (predicted)
    confusion: list[list[int]]
    count: int
    guesses: Guesses | None = None


@dataclass(frozen=True, slots=True)
class Guesses:
    """The tags the model marks as guesses (calibrated probability below its threshold) and how right they were."""

    threshold: float
    count: int
    correct: int
    sure_count: int
    sure_correct: int

    @property
    def share(self) -> float:
        """The share of texts tagged with a guess."""
        total = self.count + self.sure_count
        return self.count / total if total else 0.0


def decide_all(model: TextModel, texts: Sequence[str], segmented: bool | None = None) -> list[tuple[str, bool]]:
    """The model's category for each text and whether it is a guess (`(无)`, a guess, when it knows none of its words)."""
    if segmented is None:
        segmented = looks_segmented(texts)
    out = []
    for t in texts:
        s = model.scores(t, segmented)
        if s is None:
            out.append((NO_PREDICTION, True))
            continue
        k = int(s.argmax())
        out.append((model.classes[k], float(softmax(s, model.temperature)[k]) < model.guess_below))
    return out


def predict_all(model: TextModel, texts: Sequence[str], segmented: bool | None = None) -> list[str]:
    """The model's category for each text (`(无)` when it knows none of its words)."""
    return [c for c, _ in decide_all(model, texts, segmented)]


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
    """Score a model on labelled texts, with how many of its tags were guesses and how right those were."""
    decided = decide_all(model, texts, segmented)
    ev = score(labels, [c for c, _ in decided], model.classes)
    right = [c == t for (c, _), t in zip(decided, labels)]
    guess = [g for _, g in decided]
    ev.guesses = Guesses(
        threshold=model.guess_below,
        count=sum(guess), correct=sum(r for r, g in zip(right, guess) if g),
        sure_count=len(guess) - sum(guess), sure_correct=sum(r for r, g in zip(right, guess) if not g),
    )
    return ev


def format_evaluation(ev: Evaluation) -> str:
    """The evaluation as a plain-text report: per-category table, macro-F1, accuracy, guesses, confusion matrix."""
    width = max([len(n) for n in ev.columns] + [4])

    def cell(text: str, w: int) -> str:
        # CJK characters take two columns in a terminal
        shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
        return " " * max(0, w - shown) + text

    name_w = 2 * width
    lines = [f"{cell('分类', name_w)}  {cell('精确率', 9)}  {cell('召回率', 6)}  {cell('F1', 5)}  {cell('条数', 7)}"]
    for s in ev.per_class:
        lines.append(f"{cell(s.name, name_w)}  {s.precision:9.3f}  {s.recall:6.3f}  {s.f1:5.3f}  {s.support:7d}")
    lines.append("")
    lines.append(f"macro-F1  {ev.macro_f1:.3f}（各分类 F1 的平均）")
    lines.append(f"准确率    {ev.accuracy:.3f}（共 {ev.count} 条）")
    g = ev.guesses
    if g is not None:
        lines.append("")
        if g.threshold > 0:
            lines.append(f"猜测（校准概率低于 {g.threshold:.3f}，登记时请村干部确认）：{g.count} 条，占 {g.share:.1%}，"
                         f"其中分类正确 {_rate(g.correct, g.count)}")
            lines.append(f"确定（校准概率不低于 {g.threshold:.3f}）：{g.sure_count} 条，其中分类正确 "
                         f"{_rate(g.sure_correct, g.sure_count)}")
        else:
            lines.append(f"这个模型没有校准阈值（训练数据少于 {CALIBRATE_FROM} 条），不标记猜测；"
                         f"模型不认识任何词的：{g.count} 条")
    lines.append("")
    lines.append("混淆矩阵（行：真实分类，列：预测分类）")
    col_w = max(6, max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in n) for n in ev.columns))
    lines.append(cell("", name_w) + "".join(" " + cell(n, col_w) for n in ev.columns))
    for name, row in zip(ev.labels, ev.confusion):
        lines.append(cell(name, name_w) + "".join(" " + cell(str(v), col_w) for v in row))
    return "\n".join(lines)


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "—"

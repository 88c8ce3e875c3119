"""The trained category classifier as the bot runs it: one compact model file, scored per message.

Training (scikit-learn) lives in `bot.tagging.training`; this module needs only numpy and rjieba, so the
bot starts fast and tags one message at a time without scikit-learn's per-call overhead.
"""

from __future__ import annotations

import functools
import json
import math
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from routing.tagging import Decision
from routing.text import fold
from storage.oserrors import reason as os_reason

FORMAT = "minqing-tagger/2"
CHAR_NGRAMS = (1, 3)
SEGMENT_CACHE_SIZE = 65_536  # messages whose words are remembered (a county's chat repeats itself)
WORD_PREFIX = "w:"  # a feature that is a whole word, not a character n-gram

_WORD = re.compile(r"\w")
_RUN = re.compile(r"\w+")


class ModelError(Exception):
    """A model file that cannot be used (missing, unreadable, or not a tagger model)."""


# --- segmentation: jieba's dictionary, cut by rjieba through its public API ------------------
# rjieba (jieba-rs, in Rust) cuts with jieba's own default dictionary and gives exactly the words of
# `jieba.lcut(text, HMM=False)` (checked by a test against stock jieba): a bare cut about 15 times faster,
# `segment` with its filter about 8 times.
@functools.cache
def _segmenter():
    import rjieba  # builds its dictionary when imported (about a tenth of a second): warm_up does it at start

    return rjieba


@functools.lru_cache(maxsize=SEGMENT_CACHE_SIZE)
def segment(text: str) -> tuple[str, ...]:
    """The words of normalised text, cut by jieba's dictionary (no guessing of unknown words: the
    character n-grams beside the words cover names the dictionary lacks); punctuation dropped."""
    return tuple(w for w in _segmenter().cut(text, hmm=False) if _WORD.search(w))


def clear_cache() -> None:
    """Forget the words of the messages seen so far (for benchmarks that must start cold)."""
    segment.cache_clear()


def warm_up() -> None:
    """Load the word segmenter now rather than on the first message."""
    segment("村里的路灯坏了")


def normalize(text: str) -> str:
    """Full-width letters and digits folded, lower case: the form both training and tagging see."""
    return fold(text).text.lower()


def unsegment(text: str) -> str:
    """A text already cut into words (a segmented corpus) put back together, to be cut as a chat message is."""
    return "".join(text.split())


def features(text: str, segmented: bool = False) -> list[str]:
    """What the model sees of a text: its jieba words, and the character 1- to 3-grams of each run of letters.

    A segmented text is joined up first and cut again, so that training on a segmented corpus sees
    exactly the words that raw chat messages will give.
    """
    text = normalize(text)
    if segmented:
        text = unsegment(text)
    out = [WORD_PREFIX + w for w in segment(text)]
    out.extend(char_ngrams(_RUN.findall(text), *CHAR_NGRAMS))
    return out


def char_ngrams(runs: Iterable[str], lo: int, hi: int) -> list[str]:
    """The character lo- to hi-grams of each run of letters, run by run (what `features` adds to the words)."""
    out: list[str] = []
    for run in runs:
        size = len(run)
        for n in range(lo, hi + 1):
            if n == 1:
                out.extend(run)
            else:
                out.extend([run[i:i + n] for i in range(size - n + 1)])
    return out


def words(text: str, segmented: bool = False) -> list[str]:
    """The words of text: split on spaces when already segmented, else cut with jieba."""
    text = normalize(text)
    return text.split() if segmented else list(segment(text))


def looks_segmented(texts: Sequence[str]) -> bool:
    """True when Chinese texts are already cut into space-separated words (like a segmented corpus)."""
    chunks = cjk = 0
    for t in texts[:500]:
        for chunk in t.split():
            n = sum(1 for ch in chunk if "\u4e00" <= ch <= "\u9fff")
            if n:
                chunks += 1
                cjk += n
    # raw Chinese runs on for a whole clause between spaces; segmented text averages about 2 characters a word
    return chunks > 0 and cjk / chunks <= 4.0


# --- the opening of a message ----------------------------------------------------------
# A petition's title, or a message's first sentence, ends at a blank run or a sentence mark.
_BOUNDARY = re.compile(r"\s{2,}|\u3000|\n|[。！？!?；;]")
OPENING_MAX_WORDS = 25
OPENING_FALLBACK_WORDS = 8


def opening(text: str, segmented: bool) -> str | None:
    """Text's title or first sentence (a segmented text: its first words), when text is longer than that."""
    text = text.strip()
    all_words = words(text, segmented)
    m = _BOUNDARY.search(text)
    head_text = text[:m.start()] if m else ""
    head = words(head_text, segmented) if head_text else []
    if not 2 <= len(head) <= OPENING_MAX_WORDS:
        head = all_words[:OPENING_FALLBACK_WORDS]
        head_text = (" " if segmented else "").join(head)
    return head_text if len(head) < len(all_words) else None


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from decision scores divided by a temperature (rows of a 2-D array, or one vector)."""
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# --- the model ---------------------------------------------------------------------------
@dataclass(slots=True)
class TextModel:
    """A linear model over TF-IDF weighted words and character n-grams; `predict` tags one text.

    `meta["temperature"]` turns its scores into calibrated probabilities, and a category whose
    probability is below `meta["guess_below"]` is only a guess (`decide`).
    """

    classes: list[str]
    terms: list[str]
    idf: np.ndarray  # float32, one per term
    coef: np.ndarray  # float32, terms x classes
    intercept: np.ndarray  # float32, one per class
    meta: dict = field(default_factory=dict)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.terms)}
        self.idf = np.ascontiguousarray(self.idf, dtype=np.float32)
        self.coef = np.ascontiguousarray(self.coef, dtype=np.float32)
        self.intercept = np.ascontiguousarray(self.intercept, dtype=np.float32)
        if self.coef.shape != (len(self.terms), len(self.classes)) or self.idf.shape != (len(self.terms),) \
                or self.intercept.shape != (len(self.classes),):
            raise ModelError("分类模型文件内部不一致（各数组的大小对不上）：请重新训练")

    @property
    def temperature(self) -> float:
        """What the scores are divided by before the softmax (fitted on held-out texts at training)."""
        return float(self.meta.get("temperature") or 1.0)

    @property
    def guess_below(self) -> float:
        """A category whose calibrated probability is below this is a guess (0: never)."""
        return float(self.meta.get("guess_below") or 0.0)

    def vector(self, feats: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows and L2-normalised TF-IDF weights of the known features, or None."""
        get = self._index.get
        found = [i for i in map(get, feats) if i is not None]
        if not found:
            return None
        counts = Counter(found)
        if len(counts) == len(found):
            # every feature once: its weight is just its idf
            rows = np.array(found, dtype=np.intp)
            weights = self.idf[rows]
        else:
            rows = np.fromiter(counts.keys(), np.intp, len(counts))
            tf = np.fromiter(counts.values(), np.float32, len(counts))
            weights = (np.log(tf) + 1.0) * self.idf[rows]
        return rows, weights / math.sqrt(float(weights @ weights))

    def scores_of(self, feats: Sequence[str]) -> np.ndarray | None:
        """One decision score per class for a text's features, or None when none is known."""
        v = self.vector(feats)
        if v is None:
            return None
        rows, weights = v
        return weights @ self.coef[rows] + self.intercept

    def scores(self, text: str, segmented: bool = False) -> np.ndarray | None:
        """One decision score per class (in `classes` order), or None when no feature is known."""
        return self.scores_of(features(text, segmented))

    def probabilities(self, text: str, segmented: bool = False) -> np.ndarray | None:
        """Calibrated probabilities per class, or None when no feature is known."""
        s = self.scores(text, segmented)
        return None if s is None else softmax(s, self.temperature)

    def decide(self, text: str) -> Decision | None:
        """The category of a raw chat message, its calibrated probability and whether it is sure; None when
        the model knows nothing of the message."""
        s = self.scores(text)
        if s is None:
            return None
        k = int(s.argmax())
        p = float(softmax(s, self.temperature)[k])
        return Decision(self.classes[k], p, p >= self.guess_below)

    def predict(self, text: str) -> str | None:
        """The category of a raw chat message, or None when the model knows none of its words."""
        s = self.scores(text)
        return None if s is None else self.classes[int(s.argmax())]

    # --- file ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model as one compressed .npz file (arrays and JSON, no pickle)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("wb") as f:
            np.savez_compressed(
                f,
                format=np.array(FORMAT),
                classes=np.array(self.classes),
                terms=np.array(self.terms),
                idf=self.idf,
                coef=self.coef,
                intercept=self.intercept,
                meta=np.array(json.dumps(self.meta, ensure_ascii=False)),
            )
        return p

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        """Read a model file written by `save` (ModelError says what is wrong with it)."""
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as data:
                found = str(data["format"]) if "format" in data.files else None
                if found is not None and found.startswith("minqing-tagger/") and found != FORMAT:
                    raise ModelError(f"{p} 是旧格式（{found}）的分类模型：请用 `minqing tagger train` 重新训练"
                                     f"（现在的格式是 {FORMAT}）")
                if found != FORMAT:
                    raise ModelError(f"{p} 不是民情直通车的分类模型（应为 {FORMAT} 格式）")
                return cls(
                    classes=[str(c) for c in data["classes"].tolist()],
                    terms=data["terms"].tolist(),
                    idf=data["idf"],
                    coef=data["coef"],
                    intercept=data["intercept"],
                    meta=json.loads(str(data["meta"])),
                )
        except FileNotFoundError:
            raise ModelError(f"找不到分类模型文件：{p}") from None
        except IsADirectoryError:
            raise ModelError(f"分类模型文件是一个文件夹：{p}") from None
        except PermissionError:
            raise ModelError(f"没有权限读取分类模型文件：{p}") from None
        except OSError as e:
            raise ModelError(f"无法读取分类模型文件 {p}：{os_reason(e)}") from None
        except (ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
            # numpy's own words would suggest loading pickled data: never; the file is simply not a model
            raise ModelError(f"{p} 不是可读的民情直通车分类模型（内容不对或已损坏）：请用 `minqing tagger train` "
                             "写出的模型文件") from None


def load_model(path: str | Path, warm: bool = True) -> TextModel:
    """Load a model file, and the word segmenter with it unless `warm` is False."""
    model = TextModel.load(path)
    if warm:
        warm_up()
    return model

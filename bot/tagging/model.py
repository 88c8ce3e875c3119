"""The trained category classifier as the bot runs it: one compact model file, scored per message.

Training (scikit-learn) lives in `bot.tagging.training`; this module needs only numpy and jieba, so the
bot starts fast and tags one message at a time without scikit-learn's per-call overhead.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from routing.text import fold

FORMAT = "minqing-tagger/1"
NGRAMS = (1, 3)
WORD_CACHE_SIZE = 200_000
UNKNOWN_WORD_CACHE_SIZE = 65_536

_WORD = re.compile(r"\w", re.UNICODE)


class ModelError(Exception):
    """A model file that cannot be used (missing, unreadable, or not a tagger model)."""


# --- segmentation --------------------------------------------------------------------
_jieba = None


def _tokenizer():
    # jieba builds its prefix dictionary on first use (about a second): do it once, on purpose
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)

        from jieba import finalseg

        # The hidden-Markov guess at unknown words (place and person names) is the costliest step;
        # the same names come back again and again in a county's chat.
        @functools.lru_cache(maxsize=UNKNOWN_WORD_CACHE_SIZE)
        def unknown_words(run: str) -> tuple[str, ...]:
            return tuple(finalseg.cut(run))

        han, skip = jieba.re_han_default, jieba.re_skip_default

        class Tokenizer(jieba.Tokenizer):
            """jieba's default cut (with HMM) with its hot loops written tighter; it cuts text exactly the same."""

            def cut(self, sentence, cut_all=False, HMM=True, use_paddle=False):  # noqa: N803 (jieba's name)
                if cut_all or not HMM or use_paddle:
                    yield from super().cut(sentence, cut_all, HMM, use_paddle)
                    return
                for block in han.split(jieba.strdecode(sentence)):
                    if not block:
                        continue
                    if han.match(block):
                        yield from self._cut_dag(block)
                    else:
                        for x in skip.split(block):
                            if skip.match(x):
                                yield x
                            else:
                                yield from x

            def _cut_dag(self, sentence):
                # jieba's Tokenizer.__cut_DAG, with the unknown-word guesses remembered
                route = {}
                self.calc(sentence, self.get_DAG(sentence), route)
                x, n, run = 0, len(sentence), ""
                while x < n:
                    y = route[x][1] + 1
                    if y - x == 1:
                        run += sentence[x]
                    else:
                        if run:
                            yield from self._single_chars(run, unknown_words)
                            run = ""
                        yield sentence[x:y]
                    x = y
                if run:
                    yield from self._single_chars(run, unknown_words)

            def _single_chars(self, run, guess):
                if len(run) == 1:
                    yield run
                elif not self.FREQ.get(run):
                    yield from guess(run)
                else:
                    yield from run

            def get_DAG(self, sentence):  # noqa: N802 (jieba's name)
                self.check_initialized()
                freq = self.FREQ
                n = len(sentence)
                dag = {}
                for k in range(n):
                    ends = []
                    i = k
                    frag = sentence[k]
                    while i < n and frag in freq:
                        if freq[frag]:
                            ends.append(i)
                        i += 1
                        frag = sentence[k:i + 1]
                    dag[k] = ends or [k]
                return dag

            def calc(self, sentence, DAG, route):  # noqa: N803 (jieba's name)
                n = len(sentence)
                route[n] = (0, 0)
                logtotal = math.log(self.total)
                get = self.FREQ.get
                log = math.log
                for idx in range(n - 1, -1, -1):
                    # the first best (log frequency, end) pair, as jieba's max() picks it
                    best = None
                    for x in DAG[idx]:
                        candidate = (log(get(sentence[idx:x + 1]) or 1) - logtotal + route[x + 1][0], x)
                        if best is None or candidate > best:
                            best = candidate
                    route[idx] = best

        tokenizer = Tokenizer()
        tokenizer.initialize()
        tokenizer.unknown_words = unknown_words
        _jieba = tokenizer
    return _jieba


def forget_unknown_words() -> None:
    """Empty the segmenter's memory of unknown words (for benchmarks that must start cold)."""
    if _jieba is not None:
        _jieba.unknown_words.cache_clear()


def warm_up() -> None:
    """Load the word segmenter now rather than on the first message."""
    _tokenizer()


def normalize(text: str) -> str:
    """Full-width letters and digits folded, lower case: the form both training and tagging see."""
    return fold(text).text.lower()


def words(text: str, segmented: bool = False) -> list[str]:
    """The words of text: split on spaces when already segmented, else cut with jieba."""
    text = normalize(text)
    if segmented:
        return text.split()
    # punctuation carries no topic, and jieba keeps it as words of its own
    return [w for w in _tokenizer().lcut(text) if w.isalnum() or _WORD.search(w)]


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


def char_ngrams(ws: Sequence[str], lo: int = NGRAMS[0], hi: int = NGRAMS[1]) -> list[str]:
    """Character n-grams inside each word, padded with a space on each side (a word boundary marker)."""
    out: list[str] = []
    append = out.append
    for w in ws:
        if lo <= 1:
            out.extend(w)
        p = " " + w + " "
        size = len(p)
        for n in range(max(lo, 2), hi + 1):
            for i in range(size - n + 1):
                append(p[i:i + n])
    return out


# --- the opening of a message ----------------------------------------------------------
# A petition's title, or a message's first sentence, ends at a blank run or a sentence mark.
_BOUNDARY = re.compile(r"\s{2,}|\u3000|\n|[。！？!?；;]")
OPENING_MAX_WORDS = 25
OPENING_FALLBACK_WORDS = 8


def opening(text: str, segmented: bool) -> list[str] | None:
    """The words of text's title or first sentence, when text is longer than that; else None."""
    all_words = words(text, segmented)
    m = _BOUNDARY.search(text.strip())
    head = words(text.strip()[:m.start()], segmented) if m else []
    if not 2 <= len(head) <= OPENING_MAX_WORDS:
        head = all_words[:OPENING_FALLBACK_WORDS]
    return head if len(head) < len(all_words) else None


# --- the model ---------------------------------------------------------------------------
@dataclass(slots=True)
class TextModel:
    """A linear model over TF-IDF weighted character n-grams of words; `predict` tags one text."""

    classes: list[str]
    terms: list[str]
    idf: np.ndarray  # float32, one per term
    coef: np.ndarray  # float32, terms x classes
    intercept: np.ndarray  # float32, one per class
    meta: dict = field(default_factory=dict)
    _index: dict[str, int] = field(init=False, repr=False)
    _word_rows: dict[str, tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.terms)}
        self._word_rows = {}
        self.idf = np.ascontiguousarray(self.idf, dtype=np.float32)
        self.coef = np.ascontiguousarray(self.coef, dtype=np.float32)
        self.intercept = np.ascontiguousarray(self.intercept, dtype=np.float32)
        if self.coef.shape != (len(self.terms), len(self.classes)) or self.idf.shape != (len(self.terms),) \
                or self.intercept.shape != (len(self.classes),):
            raise ModelError("the model's arrays do not fit together")

    def _rows(self, word: str) -> tuple[int, ...]:
        # words repeat across chat messages: remember which known n-grams each word holds
        rows = self._word_rows.get(word)
        if rows is None:
            get = self._index.get
            rows = tuple(i for i in map(get, char_ngrams((word,))) if i is not None)
            if len(self._word_rows) >= WORD_CACHE_SIZE:
                self._word_rows.clear()
            self._word_rows[word] = rows
        return rows

    def vector(self, ws: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows and L2-normalised TF-IDF weights of the known n-grams in words, or None."""
        rows_of = self._rows
        found = [i for w in ws for i in rows_of(w)]
        if not found:
            return None
        counts = Counter(found)
        if len(counts) == len(found):
            # every n-gram once: its weight is just its idf
            rows = np.array(found, dtype=np.intp)
            weights = self.idf[rows]
        else:
            rows = np.fromiter(counts.keys(), np.intp, len(counts))
            tf = np.fromiter(counts.values(), np.float32, len(counts))
            weights = (np.log(tf) + 1.0) * self.idf[rows]
        return rows, weights / np.sqrt(weights @ weights)

    def scores_of_words(self, ws: Sequence[str]) -> np.ndarray | None:
        """One decision score per class for already segmented words, or None when none is known."""
        v = self.vector(ws)
        if v is None:
            return None
        rows, weights = v
        return weights @ self.coef[rows] + self.intercept

    def scores(self, text: str, segmented: bool = False) -> np.ndarray | None:
        """One decision score per class (in `classes` order), or None when no n-gram is known."""
        return self.scores_of_words(words(text, segmented))

    def predict(self, text: str) -> str | None:
        """The category of a raw chat message, or None when the model knows none of its words."""
        s = self.scores(text)
        return None if s is None else self.classes[int(s.argmax())]

    def predict_words(self, ws: Sequence[str]) -> str | None:
        """The category of already segmented words, or None."""
        s = self.scores_of_words(ws)
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
                if "format" not in data.files or str(data["format"]) != FORMAT:
                    raise ModelError(f"{p} is not a minqing tagger model (expected format {FORMAT})")
                return cls(
                    classes=[str(c) for c in data["classes"].tolist()],
                    terms=data["terms"].tolist(),
                    idf=data["idf"],
                    coef=data["coef"],
                    intercept=data["intercept"],
                    meta=json.loads(str(data["meta"])),
                )
        except FileNotFoundError:
            raise ModelError(f"model file not found: {p}") from None
        except IsADirectoryError:
            raise ModelError(f"model file is a directory: {p}") from None
        except PermissionError:
            raise ModelError(f"model file cannot be read (permission denied): {p}") from None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise ModelError(f"{p} is not a readable minqing tagger model: {e}") from None


def load_model(path: str | Path, warm: bool = True) -> TextModel:
    """Load a model file, and the word segmenter with it unless `warm` is False."""
    model = TextModel.load(path)
    if warm:
        warm_up()
    return model


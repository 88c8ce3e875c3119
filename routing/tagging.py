"""Tagging a request: its category and whether it is urgent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from routing.taxonomy import BUILTIN_CATEGORIES, OTHER
from routing.text import analysed
from routing.urgency import UrgencyRules, negated

__all__ = ["Classifier", "Decision", "Tagger", "Tags", "best_category", "negated"]


@dataclass(frozen=True, slots=True)
class Decision:
    """A classifier's category for a text, its calibrated probability, and whether it is clearly ahead."""

    category: str
    probability: float
    sure: bool


class Classifier(Protocol):
    """A trained text classifier (an adapter provides it; the domain only calls it)."""

    @property
    def classes(self) -> list[str]:
        """The categories it can give."""

    def decide(self, text: str) -> Decision | None:
        """The category of text and how sure the model is, or None when it knows nothing of text."""


@dataclass(frozen=True, slots=True)
class Tags:
    """What the tagger found in a request's text; `guess`: the category is the model's guess, to be confirmed."""

    category: str
    urgent: bool
    urgency_reason: str | None = None
    guess: bool = False
    probability: float | None = None  # the model's calibrated probability of the category, when it decided


def _keyword_score(text: str, keywords: Sequence[str]) -> int:
    # longer keywords are more specific, so they weigh more
    return sum(len(k) for k in keywords if k and k in text)


def best_category(text: str, table: Mapping[str, Sequence[str]]) -> str | None:
    """The category whose keywords match text best, or None when none match."""
    lowered = text.lower()
    best, best_score = None, 0
    for name, keywords in table.items():
        score = _keyword_score(lowered, keywords)
        if score > best_score:
            best, best_score = name, score
    return best


class Tagger:
    """Category from a model or keywords; urgency from danger cues plus the county's urgency keywords."""

    def __init__(
        self,
        config_categories: Mapping[str, Sequence[str]] | None = None,
        urgency_keywords: Sequence[str] = (),
        model: Classifier | None = None,
        *,
        confidential: Iterable[str] = ("纪检监察",),
    ) -> None:
        self.config_categories = {k: tuple(v) for k, v in (config_categories or {}).items()}
        merged = dict(BUILTIN_CATEGORIES)
        merged.update(self.config_categories)
        self.table = {k: tuple(s.lower() for s in v) for k, v in merged.items()}
        self.overrides = {k: tuple(s.lower() for s in v) for k, v in self.config_categories.items()}
        self.urgency_keywords = tuple(urgency_keywords)
        self.urgency_rules = UrgencyRules(self.urgency_keywords)
        self.model = model
        # confidential categories are decided by their keyword rules, whatever a model would say
        self.confidential = {k: self.table[k] for k in confidential if k in self.table}

    @property
    def category_names(self) -> list[str]:
        """Every category this tagger can give (the taxonomy's, then a model's own), `其他` last."""
        extra = [c for c in (self.model.classes if self.model is not None else ()) if c not in self.table and c != OTHER]
        return [*self.table, *extra, OTHER]

    def category(self, text: str) -> str:
        """The request's category, or `其他` when nothing matches (read from its first ANALYSED_CHARS characters)."""
        return self.judge(text)[0]

    def judge(self, text: str) -> tuple[str, bool, float | None]:
        """The category, whether it is only a guess, and the model's calibrated probability (None: not the model's).

        Keyword rules are never a guess (a county wrote them); the model's category is when its calibrated
        probability is below the model's threshold, and so is a keyword fallback when the model knew no word.
        """
        text = analysed(text)
        secret = best_category(text, self.confidential)
        if secret:
            return secret, False, None
        if self.model is None:
            return best_category(text, self.table) or OTHER, False, None
        # the model decides; only the county's own keywords override it
        override = best_category(text, self.overrides)
        if override:
            return override, False, None
        decision = self.model.decide(text)
        if decision is None:
            return best_category(text, self.table) or OTHER, True, None
        return decision.category, not decision.sure, decision.probability

    def urgency(self, text: str) -> tuple[bool, str | None]:
        """Whether text reports an emergency, and the words that show it."""
        found = self.urgency_rules.assess(text)
        return found.urgent, found.reason

    def tag(self, text: str) -> Tags:
        """Category and urgency of a request's text."""
        urgent, reason = self.urgency(text)
        category, guess, probability = self.judge(text)
        return Tags(category, urgent, reason, guess, probability)

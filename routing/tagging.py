"""Tagging a request: its category and whether it is urgent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from routing.taxonomy import BUILTIN_CATEGORIES, OTHER
from routing.text import analysed
from routing.urgency import UrgencyRules, negated

__all__ = ["Classifier", "Tagger", "Tags", "best_category", "negated"]


class Classifier(Protocol):
    """A trained text classifier (an adapter provides it; the domain only calls it)."""

    def predict(self, text: str) -> str | None:
        """The category of text, or None when the model cannot tell."""


@dataclass(frozen=True, slots=True)
class Tags:
    """What the tagger found in a request's text."""

    category: str
    urgent: bool
    urgency_reason: str | None = None


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
        """Every category this tagger can give, `其他` last."""
        return [*self.table, OTHER]

    def category(self, text: str) -> str:
        """The request's category, or `其他` when nothing matches (read from its first ANALYSED_CHARS characters)."""
        text = analysed(text)
        secret = best_category(text, self.confidential)
        if secret:
            return secret
        if self.model is not None:
            # the model decides; only the county's own keywords override it
            override = best_category(text, self.overrides)
            if override:
                return override
            return self.model.predict(text) or best_category(text, self.table) or OTHER
        return best_category(text, self.table) or OTHER

    def urgency(self, text: str) -> tuple[bool, str | None]:
        """Whether text reports an emergency, and the words that show it."""
        found = self.urgency_rules.assess(text)
        return found.urgent, found.reason

    def tag(self, text: str) -> Tags:
        """Category and urgency of a request's text."""
        urgent, reason = self.urgency(text)
        return Tags(self.category(text), urgent, reason)

"""The one text normaliser: full-width forms folded (NFKC), invisible format characters removed and
runs of white space made one space.

Every reader of chat text (the command grammar, intake, personal-data detection, the classifier)
sees text through `fold`, which also maps each folded character back to the character of the
original it came from, so that what is found can be cut out of the text as it was written.

Invisible format characters are Unicode's category Cf: zero-width space and joiners (U+200B-U+200D),
word joiner (U+2060), byte-order mark (U+FEFF), soft hyphen (U+00AD), direction marks. Pasted text
carries them, and `138\u200b1234\u200b5678` must read as the phone number it shows.

How much of a message the rules read: everything that only has to understand a message (urgency,
category, the intake filters) reads its first ANALYSED_CHARS characters, so that a message of any
length costs at most that much; what protects people (personal-data masking) reads all of it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import NamedTuple

ANALYSED_CHARS = 2000  # what the understanding rules read of a message (a request says what it is about early)

# Category Cf (Unicode 15), for the quick test of `_plain`; `fold` itself asks unicodedata, and a test
# checks that this class holds every Cf character of the running Python.
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


class Folded(NamedTuple):
    """Folded text and, for each of its characters, the index of the original character it came from."""

    text: str
    origin: Sequence[int]  # a range when no character moved

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span of the folded span [start, end)."""
        if start >= end:
            at = self.origin[start] if start < len(self.origin) else (self.origin[-1] + 1 if self.origin else 0)
            return at, at
        return self.origin[start], self.origin[end - 1] + 1


_SPACES = re.compile(r"\s+")


def _spaces_only(text: str) -> Folded:
    """`fold` of a text that is NFKC already and has no format character: only its white space runs change."""
    out: list[str] = []
    origin: list[int] = []
    pos = 0
    for m in _SPACES.finditer(text):
        start = m.start()
        if m.group() == " ":
            continue  # a single plain space stays as it is
        out.append(text[pos:start])
        origin.extend(range(pos, start))
        out.append(" ")
        origin.append(start)
        pos = m.end()
    if not out:
        return Folded(text, range(len(text)))
    out.append(text[pos:])
    origin.extend(range(pos, len(text)))
    return Folded("".join(out), origin)


class _OneForOne(dict):
    """str.translate's table of the characters whose NFKC form is one other character (，→, ０→0 Ａ→A),
    filled as characters are met; any other character is left as it is."""

    def __missing__(self, ch: int) -> int:
        folded = unicodedata.normalize("NFKC", chr(ch))
        one = len(folded) == 1 and unicodedata.category(folded) != "Cf"
        self[ch] = ord(folded) if one else ch
        return self[ch]


_ONE_FOR_ONE = _OneForOne()


def fold(text: str) -> Folded:
    """Text with full-width characters folded (NFKC), format characters removed, white space runs made one space."""
    if not _FORMAT.search(text):
        # the common case, in C: characters folded one for one keep their places; then only white space is left
        one = text.translate(_ONE_FOR_ONE)
        if unicodedata.is_normalized("NFKC", one):
            return _spaces_only(one)
    return by_character(text)


def by_character(text: str) -> Folded:
    """What `fold` means, one character at a time: each NFKC-folded, format characters dropped, white space
    runs made one space (fold's fast paths give the same; a property test holds them to it)."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for f in unicodedata.normalize("NFKC", ch):
            if unicodedata.category(f) == "Cf":
                continue
            if f.isspace():
                if out and out[-1] == " ":
                    continue
                f = " "
            out.append(f)
            origin.append(i)
    return Folded("".join(out), origin)


def analysed(text: str) -> str:
    """The part of a message the understanding rules read: its first ANALYSED_CHARS characters."""
    return text[:ANALYSED_CHARS]


def normalize(text: str) -> str:
    """Folded text without white space at either end (WeChat puts U+2005 after a mention)."""
    return fold(text).text.strip()


# What no database here can store, and what it is stored as instead: NUL (PostgreSQL refuses it in text)
# becomes ␀ (U+2400); a lone surrogate (not a character at all; UTF-8 cannot encode it) becomes � (U+FFFD).
NAME_LIMIT = 128  # a display name, contact or message id, or group name longer than this is cut (index limits)
_UNSTORABLE = {0: "\u2400"}


def storable(text: str, limit: int | None = None) -> str:
    """Text in a form every supported database can store (see above); cut to `limit` characters with …."""
    if "\0" in text:
        text = text.translate(_UNSTORABLE)
    if not text.isascii():
        try:
            text.encode("utf-8")  # fails only on a lone surrogate
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text

"""The chat command grammar: `认领 #12`, `办结 12 已修好`, `满意` ...

The parser is generic: the service declares its commands as rows (verbs, what they need,
what they do) and passes them in, so the table of commands lives in one place.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from routing.text import fold, normalize


class Need(enum.Enum):
    """Whether a command takes a request number or a free-text argument."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Spec(Protocol):
    """What the parser needs to know of a command row."""

    @property
    def verbs(self) -> tuple[str, ...]: ...

    @property
    def number(self) -> Need: ...

    @property
    def arg(self) -> Need: ...


S = TypeVar("S", bound=Spec)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[S]):
    """A well-formed command."""

    spec: S
    verb: str
    number: int | None
    arg: str
    arg_tail: str = ""  # the folded text from the argument to the end (to map it back)


class Problem(str, enum.Enum):
    """Why a command could not be understood."""

    MISSING_NUMBER = "missing_number"
    BAD_NUMBER = "bad_number"
    MISSING_ARG = "missing_arg"


@dataclass(frozen=True, slots=True)
class Malformed(Generic[S]):
    """Text that is clearly meant as a command but cannot be carried out as written."""

    spec: S
    verb: str
    problem: Problem


_SPACE = re.compile(r"\s+")
_SPACES = re.compile(r"\s*")
_LEADING_MENTION = re.compile(r"@[^\s@]+(?:\s+|$)")
_SEPARATORS = " \t:：,，、.。;；-—"
_NUMBER = re.compile(r"^#?\s*(\d{1,9})(?!\d)")
_MAX_NUMBER_DIGITS = 9


def strip_leading_mentions(text: str, bot_name: str | None = None) -> str:
    """Text without the @-mentions it starts with (the bot's even without a following space)."""
    return text[_mentions_end(text, bot_name):]


def _mentions_end(text: str, bot_name: str | None) -> int:
    """Where the leading @-mentions (and the spaces around them) end."""
    # spaces are skipped by matching at a position, never by slicing the rest (linear in many mentions)
    pos = _SPACES.match(text).end()
    while text.startswith("@", pos):
        if bot_name and text.startswith("@" + bot_name, pos):
            pos += len(bot_name) + 1
        else:
            m = _LEADING_MENTION.match(text, pos)
            if not m:
                break
            pos = m.end()
        pos = _SPACES.match(text, pos).end()
    return pos


def mentions(text: str, name: str) -> bool:
    """True when text contains an @-mention of name."""
    return ("@" + name) in normalize(text) if name else False


def parse(text: str, table: Sequence[S], bot_name: str | None = None) -> Parsed[S] | Malformed[S] | None:
    """Parse a chat message against the command table; None when it is not a command."""
    folded, origin = fold(text)
    start = _mentions_end(folded, bot_name)
    body = folded[start:]
    for spec, verb in _verbs_longest_first(table):
        if body.startswith(verb):
            result = _parse_after(spec, verb, body[len(verb):])
            if isinstance(result, Parsed) and result.arg:
                # the free text as it was written, not folded
                at = start + len(body) - len(result.arg_tail)
                original = text[origin[at]:] if at < len(origin) else ""
                result = Parsed(spec, verb, result.number, original.strip(_SEPARATORS + "\n"))
            return result
    return None


def _verbs_longest_first(table: Sequence[S]) -> list[tuple[S, str]]:
    pairs = [(spec, verb) for spec in table for verb in spec.verbs]
    return sorted(pairs, key=lambda p: -len(p[1]))


def _parse_after(spec: S, verb: str, rest: str) -> Parsed[S] | Malformed[S] | None:
    rest = rest.lstrip(_SEPARATORS)
    number: int | None = None
    m = _NUMBER.match(rest)
    if m:
        number = int(m.group(1))
        rest = rest[m.end():]
    elif rest.startswith("#"):
        return Malformed(spec, verb, Problem.BAD_NUMBER)
    elif rest[:1].isdigit():
        # more digits than any request number: a phone number or a typo, not a request
        return Malformed(spec, verb, Problem.BAD_NUMBER)
    tail = rest.lstrip(_SEPARATORS + "\n")
    arg = tail.rstrip(_SEPARATORS + "\n")

    if spec.number is Need.NONE:
        # `待办` and `帮助` stand alone; `帮助他们一下` is chat
        if number is not None or arg:
            return None
        return Parsed(spec, verb, None, "")
    if number is None and spec.number is Need.REQUIRED:
        # `认领` alone is a command missing its number; `认领了吗` is chat
        return Malformed(spec, verb, Problem.MISSING_NUMBER) if not arg else None
    if spec.arg is Need.REQUIRED and not arg:
        return Malformed(spec, verb, Problem.MISSING_ARG)
    if spec.arg is Need.NONE:
        return Parsed(spec, verb, number, "")
    return Parsed(spec, verb, number, arg, tail)

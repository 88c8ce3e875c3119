"""The chat command grammar: `认领 #12`, `办结 12 已修好`, `满意` ...

The parser is generic: the service declares its commands as rows (verbs, what they need,
what they do) and passes them in, so the table of commands lives in one place.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from routing.text import analysed, fold, normalize


class Need(enum.Enum):
    """Whether a command takes a request number or a free-text argument."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True, slots=True)
class Shape:
    """What may stand around a command's word besides a number and an argument.

    `before`: words allowed in front of it (degree words before a rating: 很满意, 非常不满意), at most
    one from each group, in order; `after`: words allowed right after it before the end of the
    message or a separator (满意了, 满意啦). Emoji and punctuation are allowed after any command.
    """

    before: tuple[tuple[str, ...], ...] = ()
    after: tuple[str, ...] = ()
    # the word a number must be written after (收到 通知#3): a bare number (收到 #3) is then not this command
    number_word: str | None = None


class Spec(Protocol):
    """What the parser needs to know of a command row."""

    @property
    def verbs(self) -> tuple[str, ...]: ...

    @property
    def number(self) -> Need: ...

    @property
    def arg(self) -> Need: ...

    @property
    def shape(self) -> Shape: ...


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
    SEVERAL_NUMBERS = "several_numbers"  # 认领 #1 #2: one request per command


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
_BOUNDARY = _SEPARATORS + "！？!?~～…\n"  # what may end a command word, before its number or argument
MAX_NUMBER_DIGITS = 9  # the longest number (of a request, of a notice) a command can name
_NUMBER = re.compile(rf"^#?\s*(\d{{1,{MAX_NUMBER_DIGITS}}})(?!\d)号?")
_LONG_NUMBER = re.compile(rf"(#?)\s*\d{{{MAX_NUMBER_DIGITS + 1},}}")  # more digits than any number the bot gives
_GLUED_LETTER = re.compile(r"[A-Za-z]+\d")  # #1e5, #3a2: a number run into letters and digits is not one the bot gave
# A second number after the first (the quantifiers are possessive: a line of many digits must not make the match
# backtrack exponentially, and every chat message that starts with a command word and a number is matched):
# - nothing but numbers follow (认领 1 2; 满意 #1 #2 -- for a command that takes text, only with a #: 满意 #3 10);
# - #N follows a command that takes no text (认领 #1和#2 谢谢);
# - a number is listed after a 、 , or / and stands alone (办结 #1、#2 都修好了, 办结 #1，2 都修好了) -- but not
#   the start of a reason (办结 #3，2号楼路灯已修好; 上报 #5，3户受影响), nor a request named in one (无效 #5 与 #3 重复)
_ONLY_NUMBERS = re.compile(r"(?:[\s、,，/和及与]*+#?+\s*+\d++号?+)++[\s、,，。.!！]*+$")
_MARKED_NUMBER = re.compile(r"[\s、,，/和及与]*+#\s*+\d")
_LISTED_NUMBER = re.compile(r"\s*+[、,，/]\s*+(?:#\s*+\d|\d++号?+(?=[\s、,，/和及与]|$))")


def _another_number(rest: str, takes_text: bool) -> bool:
    """Whether a second number follows the one a command names (see the patterns above)."""
    if _ONLY_NUMBERS.match(rest):
        return not takes_text or "#" in rest
    return bool((_LISTED_NUMBER if takes_text else _MARKED_NUMBER).match(rest))


def _too_long_number(text: str) -> bool:
    """True when text starts with a number too long for any the bot gives, meant as one: marked with # (通知#…), or
    standing at the end or before 号, punctuation or an emoji. 通知13800001111明天来开会 is a phone number in chat."""
    m = _LONG_NUMBER.match(text)
    if m is None:
        return False
    after = text[m.end():].rstrip()
    return bool(m.group(1)) or not after or after[0] == "号" or (after[0] in _BOUNDARY and not after[0].isspace()) \
        or _decoration(after[0])


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
    """Parse a chat message against the command table; None when it is not a command.

    A command word is a command only when it stands alone, or is followed by a request number, or
    by a separator (space, punctuation) and then its argument (shared/design.md, section 8):
    满意 and 不满意，还是没修好 are commands; 满意度调查 and 不满意的话找谁 are chat.
    """
    folded, origin = fold(analysed(text))
    start = _mentions_end(folded, bot_name)
    body = folded[start:]
    patterns, any_word = _patterns(table)
    if any_word.match(body) is None:
        return None  # no command word at the start (most chat): one test, not one per row
    for spec, pattern in patterns:
        m = pattern.match(body)
        if m is None:
            continue
        verb = m.group("verb")
        result = _parse_after(spec, verb, body[m.end():])
        if result is None:
            continue  # another row with the same word may take it (进度 #3 / 进度 通知#3)
        if isinstance(result, Parsed) and result.arg:
            # the free text as it was written, not folded
            at = start + len(body) - len(result.arg_tail)
            original = text[origin[at]:] if at < len(origin) else ""
            result = Parsed(spec, verb, result.number, original.strip(_SEPARATORS + "\n"))
        return result
    return None


_compiled: dict[int, tuple[int, list, re.Pattern]] = {}


def _patterns(table: Sequence[S]) -> tuple[list[tuple[S, re.Pattern]], re.Pattern]:
    """Per command row, a pattern of its words and what may stand before them, the longest words first; and one
    pattern that matches where any row's does (a message it does not match is no command)."""
    key = id(table)
    cached = _compiled.get(key)
    if cached is not None and cached[0] == len(table):
        return cached[1], cached[2]
    rows = []
    for spec in table:
        verbs = "|".join(re.escape(v) for v in sorted(spec.verbs, key=len, reverse=True))
        before = "".join("(?:" + "|".join(re.escape(w) for w in sorted(group, key=len, reverse=True)) + ")?"
                         for group in spec.shape.before)
        rows.append((max(len(v) for v in spec.verbs), spec, before, verbs))
    # one row's word may begin another's (满意 / 不满意 / 不太满意): try the longest words first; of rows with
    # words as long, those whose number needs a word (进度 通知#3) before the others (进度 #3)
    rows.sort(key=lambda r: (-r[0], r[1].shape.number_word is None))
    out = [(spec, re.compile(f"{before}(?P<verb>{verbs})")) for _, spec, before, verbs in rows]
    any_word = re.compile("|".join(f"{before}(?:{verbs})" for _, _, before, verbs in rows))
    _compiled[key] = (len(table), out, any_word)
    return out, any_word


def _decoration(ch: str) -> bool:
    """Emoji and symbols: what may follow any command word without changing it (满意👍)."""
    cat = unicodedata.category(ch)
    return cat[0] == "S" or cat in ("Mn", "Me", "Cf") or ch in "\ufe0f\u200d"


def _parse_after(spec: S, verb: str, rest: str) -> Parsed[S] | Malformed[S] | None:
    i = 0
    # what the row allows right after its word (满意了, 满意啦), and emoji
    while i < len(rest):
        word = next((w for w in spec.shape.after if rest.startswith(w, i)), None)
        if word:
            i += len(word)
        elif _decoration(rest[i]):
            i += 1
        else:
            break
    word = spec.shape.number_word
    if i < len(rest):
        nxt = rest[i]
        # 认领3, 办结#12, 收到通知#3
        number_glued = i == 0 and (nxt == "#" or nxt.isdigit() or (word is not None and rest.startswith(word)))
        if not (nxt.isspace() or nxt in _BOUNDARY or number_glued):
            return None  # 满意度, 认领的人, 办结了吗, 满意了吗: the word is part of something else
    rest = rest[i:].lstrip(_BOUNDARY)
    if spec.number is Need.NONE and spec.arg is not Need.NONE:
        # a word and its text (通知 全镇 明天开会): a number in the text is part of it (3号下午)
        tail = rest.lstrip(_SEPARATORS + "\n")
        arg = tail.rstrip(_SEPARATORS + "\n")
        if not arg and spec.arg is Need.REQUIRED:
            return Malformed(spec, verb, Problem.MISSING_ARG)
        return Parsed(spec, verb, None, arg, tail)
    number: int | None = None
    if word is not None:
        if rest.startswith(word):  # 收到 通知#3, 进度 通知 3
            after_word = rest[len(word):].lstrip(" \t")
            m = _NUMBER.match(after_word)
            if m is None:
                if _too_long_number(after_word) or after_word.startswith("#"):
                    return Malformed(spec, verb, Problem.BAD_NUMBER)  # 收到 通知#1234567890, 通知#-1: no notice has it
                return None  # 收到通知了, 进度 通知: chat
            number = int(m.group(1))
            rest = after_word[m.end():]
            if _GLUED_LETTER.match(rest):  # 收到 通知#3e5 (收到 通知#1、通知#2 acknowledges both: see routing.noticing)
                return Malformed(spec, verb, Problem.BAD_NUMBER)
        elif rest.startswith("#") or rest[:1].isdigit():
            return None  # 收到 #3: a request's number, not this command's
        if number is None and spec.number is Need.REQUIRED:
            return None  # 进度 alone, 进度 #3: the request's row answers
    else:
        m = _NUMBER.match(rest)
        if m:
            number = int(m.group(1))
            rest = rest[m.end():]
            if _GLUED_LETTER.match(rest):
                return Malformed(spec, verb, Problem.BAD_NUMBER)
            if _another_number(rest, spec.arg is not Need.NONE):
                return Malformed(spec, verb, Problem.SEVERAL_NUMBERS)
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

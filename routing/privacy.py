"""Personal data in request text: found and masked before it leaves the village room.

Numbers are read as people write them. The text is read through `routing.text.fold` (NFKC, so
full-width digits are digits; invisible format characters such as zero-width spaces removed), then
its digits are read in groups:

- a digit is 0-9 or a Chinese numeral said one digit at a time: 零〇 0, 一幺壹 1, 二两贰 2, 三叁 3,
  四肆 4, 五伍 5, 六陆 6, 七柒 7, 八捌 8, 九玖 9; a keycap (1️⃣) is its digit. Where digits and
  numerals meet (138一二三四5678) a new group starts, and the groups read on as one number;
- groups separated by a run of separators (spaces, dots, dashes, commas, slashes, brackets: see
  SEPARATORS) read on as one number when the separator runs inside it are of one kind (spaces
  around a mark aside), the first run excepted: 139.1009.7063, 138 - 1234 - 5678,
  522228-19900101-0019, +86 138-1234-5678, (0856) 234-5678, 1 3 8 1 2 3 4 5 6 7 8; spaces
  between digits spelled one at a time do not count (1 3 8 - 1 2 3 4 - 5 6 7 8). A list of dates
  (1990-1-19, 1990-2-3) changes kind, and is no number;
- a number begins at a group's first digit and ends at a group's last: digits glued to more digits
  are never cut out of a longer run. Only numerals glued to a Chinese character may be a word's
  (张三一三八…, …五六七八一下): up to WORD_NUMERALS of them at either end are read with the number
  and without it.

What is detected, and how it is masked (each hidden digit or numeral becomes one *, everything else
stays as written, so 138 - 1234 - 5678 becomes 138 - **** - 5678):

- mobile: 1[3-9] and 9 more digits, also after 86, +86, 0086 or a 0; by its shape, allocated or
  not (a mistyped number is still someone's): 138****5678, the first 3 and the last 4 stay;
- landline: 0, an area code and a local number as `phonenumbers` validates it for China, or a
  local number it does not list in a real area and of that area's length (also after 86 or 0086
  instead of the 0): 0856-*****78, the area code and the last 2 stay; a local number of 7-8 digits
  without an area code only right after 电话, 座机, 固话, 手机, 联系, 号码 or 打 (*****78);
- resident ID: 18 characters (the last may be X) with the check digit and birth date of
  `stdnum.cn.ric`; 15 digits (the first-generation card) with an area `stdnum.cn.ric` knows and a
  valid birth date; any 18 or 15 right after 身份证 or 证件号, even with a wrong check digit:
  522228********0019, the first 6 and the last 4 stay;
- bank card: 16-19 digits starting with 3, 4, 5, 6 or 9 that pass the Luhn check (`stdnum.luhn`),
  or any 16-19 right after 卡号, 银行卡, 账号, 帐号, 账户, 帐户 or 存折: 6222***********0128, the
  first 4 and the last 4 stay (an 18-digit ID that is also a card number: 4 and 4 stay);
- street address with a house number (和平路15号, 楼台村3组12号, 幸福小区5栋2单元301): every number
  of it hidden, 和平路**号.

Every way of reading the digits counts: from each place a number can start, each reading hides
its digits, and a digit shows only when no reading hides it (in 第一6222…, both 16222… and 6222…
are read). `find` reports, of overlapping readings, the longer.

Not personal data: request numbers (#12), dates (2026年10月9日, 2026-10-09), times (09:30), amounts
(3000元, 3,000元), counts, and room numbers without a street or estate (302室).

Cost: linear in the length of the text, however long: groups are read in one pass, a reading spans
at most MAX_DIGITS digits, and the address pattern has only bounded repetitions.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import phonenumbers
from stdnum import luhn as _luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from routing.text import fold


class Kind(str, enum.Enum):
    """The kinds of personal data the bot masks."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    ID_NUMBER = "id_number"
    BANK_CARD = "bank_card"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data: its kind and where it is in the text."""

    kind: Kind
    start: int
    end: int


# --- reading digits as people write them -----------------------------------------------------
NUMERALS = {
    **dict.fromkeys("零〇", "0"), **dict.fromkeys("一幺壹", "1"), **dict.fromkeys("二两贰", "2"),
    **dict.fromkeys("三叁", "3"), **dict.fromkeys("四肆", "4"), **dict.fromkeys("五伍", "5"),
    **dict.fromkeys("六陆", "6"), **dict.fromkeys("七柒", "7"), **dict.fromkeys("八捌", "8"),
    **dict.fromkeys("九玖", "9"),
}
_VALUE = {**{d: d for d in "0123456789"}, **NUMERALS}
# after fold: full-width forms are already ASCII (，→, ．→. －→- ／→/ （→( )
SEPARATORS = frozenset(" .·•・-‐‑‒–—―−,、/\\()")
_KEYCAP = frozenset("\ufe0e\ufe0f\u20e3")  # variation selectors and the enclosing keycap: 1️⃣ is 1
MAX_DIGITS = 19  # the longest number detected (a bank card; 0086 and a landline is 15)
WORD_NUMERALS = 2  # at most this many numerals of a word glued to a number in numerals (张三, 一下, 两次)
_WHOLE = range(1)


@dataclass(slots=True)
class _Group:
    """Digits written together: their values, where each is, how the group is joined to the one before."""

    digits: str
    at: Sequence[int]
    join: str | None  # None: not joined; "": digits meet numerals; else the kind of separator run
    x_at: int | None = None  # where an X right after the digits is (the check digit of an ID ends in X)
    # how many numerals at its start or end may be a word's glued to it (张三一三八…, …五六七八一下): 0 up to 2
    skips: range = _WHOLE
    cuts: range = _WHOLE


@functools.lru_cache(maxsize=1024)
def _separator_kind(run: str) -> str:
    # " - ", "- " and "--" are one kind: what matters is the mark, not the spaces around it
    marks = set(run) - {" "}
    return "".join(sorted(marks)) if marks else " "


def _han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in _VALUE


_DIGIT = re.compile("[" + "".join(_VALUE) + "]")
_ASCII_RUN = re.compile("[0-9]+")


def _spelled(ft: str, i: int, ascii_digits: bool) -> tuple[str, list[int], int]:
    """The digits of a group from i, one character at a time (numerals, keycaps): values, places, where it ends."""
    digits: list[str] = []
    at: list[int] = []
    n = len(ft)
    while i < n:
        ch = ft[i]
        if ch in _KEYCAP:
            i += 1
            continue
        value = _VALUE.get(ch)
        if value is None or ch.isascii() != ascii_digits:
            break
        digits.append(value)
        at.append(i)
        i += 1
    return "".join(digits), at, i


def _groups(ft: str) -> Iterator[_Group]:
    """The digit groups of folded text, in one pass."""
    n = len(ft)
    i = 0
    join: str | None = None
    while i < n:
        ch = ft[i]
        if ch not in _VALUE:
            found = _DIGIT.search(ft, i)  # the next digit or numeral, found in C
            if found is None:
                return
            i = found.start()
            join = None
            continue
        ascii_digits = ch.isascii()
        run = _ASCII_RUN.match(ft, i) if ascii_digits else None
        if run is not None and (run.end() == n or ft[run.end()] not in _KEYCAP):
            # the common case, read in C: ASCII digits with no keycap among them
            digits = run.group()
            at: Sequence[int] = range(i, run.end())
            i = run.end()
        else:
            digits, at, i = _spelled(ft, i, ascii_digits)
        x_at = None
        if i < n and ft[i] in "Xx" and not (i + 1 < n and ft[i + 1].isascii() and ft[i + 1].isalnum()):
            x_at = i
        numerals = not ascii_digits
        word = range(min(WORD_NUMERALS, len(digits) - 1) + 1)
        yield _Group(digits, at, join, x_at,
                     word if numerals and at[0] > 0 and _han(ft[at[0] - 1]) else _WHOLE,
                     word if numerals and i < n and _han(ft[i]) else _WHOLE)
        # how the next group, if any comes at once, is joined to this one
        if i < n and ft[i] in _VALUE:
            join = ""
        elif i < n and ft[i] in SEPARATORS:
            j = i
            while j < n and ft[j] in SEPARATORS:
                j += 1
            join = _separator_kind(ft[i:j]) if j < n and ft[j] in _VALUE else None
            i = j
        else:
            join = None


# --- what a number is ---------------------------------------------------------------------------
_MOBILE = re.compile(r"(?:0086|86|0)?(1[3-9]\d{9})")
_ID_WORDS = re.compile(r"(?:身份证|证件号)[^\d]{0,6}$")
_CARD_WORDS = re.compile(r"(?:卡号|银行卡|账号|帐号|账户|帐户|存折)[^\d]{0,6}$")
_PHONE_WORDS = re.compile(r"(?:电话|座机|固话|手机|联系|号码|打)[是为:： ]{0,3}$")
_CONTEXT = 12  # how far before a number its keyword is looked for


@dataclass(frozen=True, slots=True)
class _Reading:
    """A number's kind, and how many of its digits stay visible at its start and at its end."""

    kind: Kind
    head: int
    tail: int


@functools.lru_cache(maxsize=4096)
def _id18(d: str) -> bool:
    if not d[:17].isdigit() or d[-1] != ric.calc_check_digit(d):
        return False
    try:
        return 1900 <= ric.get_birth_date(d).year <= 2100
    except ValidationError:
        return False


@functools.lru_cache(maxsize=4096)
def _id15(d: str) -> bool:
    # the first-generation card: 6 digits of area, YYMMDD, 3 digits; no check digit, so the area must be known
    if len(d) != 15 or not d.isdigit():
        return False
    long = d[:6] + "19" + d[6:] + "0"
    try:
        ric.get_birth_date(long)
        ric.get_birth_place(long)
    except (ValidationError, KeyError):  # KeyError: python-stdnum 2.2 on a province's own code (110000)
        return False
    return True


_FIXED = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
_PROBES = ("23456789", "56789012", "87654321", "62345678")  # local numbers of the kinds most areas assign


def _fixed_line(national: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(national, "CN")
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _FIXED else None


@functools.lru_cache(maxsize=4096)
def _landline_head(national: str) -> int | None:
    """How many digits of a national number (0 + area code + local) are its 0 and area code; None when no landline."""
    if not 10 <= len(national) <= 12 or national[1] == "0":
        return None
    number = _fixed_line(national)
    if number is not None:
        return 1 + (phonenumbers.length_of_geographical_area_code(number) or 3)
    # a local number phonenumbers does not list (010-8000 0000), in a real area and of that area's length:
    # still someone's line
    for area in (2, 3):
        if _real_area(national[1:1 + area], len(national) - 1 - area):
            return 1 + area
    return None


@functools.lru_cache(maxsize=1024)
def _real_area(area: str, local_length: int) -> bool:
    """True when `area` is an area code whose local numbers have `local_length` digits."""
    if local_length not in (7, 8):
        return False
    for probe in _PROBES:
        number = _fixed_line("0" + area + probe[:local_length])
        if number is not None and phonenumbers.length_of_geographical_area_code(number) == len(area):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Context:
    """Which keywords stand right before a number."""

    id_word: bool
    card_word: bool
    phone_word: bool

    @classmethod
    def before(cls, ft: str, start: int) -> _Context:
        """The keywords just before position `start` of folded text."""
        text = ft[max(0, start - _CONTEXT):start]
        return cls(bool(_ID_WORDS.search(text)), bool(_CARD_WORDS.search(text)), bool(_PHONE_WORDS.search(text)))


@functools.lru_cache(maxsize=256)
def _sizes(first: str, words: _Context) -> frozenset[int]:
    """How many digits a number starting with `first` can have for `_read` to take it (keep the two in step)."""
    sizes = {15, 18}  # ID numbers
    if first in "34569" or words.card_word:
        sizes.update(range(16, MAX_DIGITS + 1))
    if first in "018":
        sizes.update((11, 12, 13, 15))  # mobiles: 1…, 01…, 861…, 00861…
    if first in "08":
        sizes.update(range(10, 16))  # landlines: 0…, 86…, 0086…
    if words.phone_word and first not in "01":
        sizes.update((7, 8))
    return frozenset(sizes)


_ID = _Reading(Kind.ID_NUMBER, 6, 4)
_CARD = _Reading(Kind.BANK_CARD, 4, 4)
_ID_OR_CARD = _Reading(Kind.ID_NUMBER, 4, 4)
_LOCAL = _Reading(Kind.LANDLINE, 0, 2)


def _read(d: str, words: _Context) -> _Reading | None:
    """What the number d (7 digits or more) is, given the keywords before it; None when no personal data."""
    size = len(d)
    first = d[0]
    if size == 18 and (_id18(d) or (words.id_word and d[:17].isdigit())):
        # 18 digits may read as a card too: then the stricter masking of the two (4 and 4 stay)
        return _ID_OR_CARD if d[0] in "34569" and luhn(d) else _ID
    if not d.isdigit():
        return None
    if size == 15 and (words.id_word or _id15(d)):
        return _ID
    if size >= 16:
        return _CARD if (first in "34569" and luhn(d)) or words.card_word else None
    if first in "018" and size >= 11 and _MOBILE.fullmatch(d):
        return _Reading(Kind.MOBILE, size - 8, 4)  # of the last 11 digits, the first 3 stay
    if first == "8" and d.startswith("86") and size >= 11:
        head = _landline_head("0" + d[2:])
        return _Reading(Kind.LANDLINE, head + 1, 2) if head else None
    if first == "0" and size >= 10:
        if d.startswith("0086"):
            head = _landline_head(d[3:])
            return _Reading(Kind.LANDLINE, head + 3, 2) if head else None
        head = _landline_head(d)
        return _Reading(Kind.LANDLINE, head, 2) if head else None
    if size <= 8 and words.phone_word and first not in "01":
        return _LOCAL
    return None


@dataclass(frozen=True, slots=True)
class _Found:
    """Personal data in folded text: its kind, span, and the positions of the characters to hide."""

    kind: Kind
    start: int
    end: int
    hide: tuple[int, ...]
    size: int = 0  # how many digits a number has


MIN_DIGITS = 7  # the shortest number read (a local landline after 电话)
_DIGITLIKE = "0-9" + "".join(NUMERALS) + "".join(_KEYCAP)
# a number is digits and separators with nothing else between them: a stretch of those holding MIN_DIGITS digits
_STRETCH = re.compile(
    "(?:[" + _DIGITLIKE + "][" + re.escape("".join(SEPARATORS)) + "]*){%d}" % MIN_DIGITS)  # disjoint classes: linear


def _numbers_in(ft: str) -> list[_Found]:
    """`_numbers`, when the text has a stretch of digits and separators long enough to be one (checked in C):
    most texts, digests full of counts and times among them, have none."""
    return _numbers(ft) if _STRETCH.search(ft) else []


def _numbers(ft: str) -> list[_Found]:
    """Every reading of a phone, ID or card number, in order: each that starts where a number can start.

    Readings may overlap (第一6222…: 16222… and 6222…); `mask` hides what any of them hides.
    """
    groups = list(_groups(ft))
    out: list[_Found] = []
    for i, first in enumerate(groups):
        # a numeral or two of a word may be glued to a number in numerals (张三一三八…, …五六七八一下): read it
        # with and without them (without them, no keyword stands right before it)
        for r in (r for skip in first.skips for r in _from(groups, i, skip, _Context.before(ft, first.at[skip]))):
            at = [p for g in groups[i:r.last + 1] for p in g.at]
            at = at[r.skip:len(at) - r.cut]
            if r.x:
                at.append(groups[r.last].x_at)
            reading = r.reading
            out.append(_Found(reading.kind, at[0], at[-1] + 1, tuple(at[reading.head:len(at) - reading.tail]), len(at)))
    out.sort(key=lambda f: f.start)
    return out


@dataclass(frozen=True, slots=True)
class _At:
    """A reading from a place: its last group, numerals of words left out at its start and end, its X."""

    last: int
    skip: int
    cut: int
    reading: _Reading
    x: bool = False


def _one_digit(g: _Group) -> bool:
    """True when g is one digit, or one numeral with a word's glued to it (零一个人)."""
    return len(g.digits) - max(g.skips[-1], g.cuts[-1]) == 1


def _from(groups: list[_Group], i: int, skip: int, words: _Context) -> Iterator[_At]:
    """The readings that start `skip` digits into group i and end at a group's end, or a word's numerals before it."""
    digits = ""
    runs = 0
    kind_inside: str | None = None
    sizes = _sizes(groups[i].digits[skip], words)
    longest = max(sizes)
    for j in range(i, len(groups)):
        g = groups[j]
        if j > i:
            if g.join is None:
                return
            if g.join and not (g.join == " " and _one_digit(g) and _one_digit(groups[j - 1])):
                # the separator runs inside one number are of one kind, the first aside (+86 138-...), and
                # spaces between digits spelled one at a time aside (1 3 8 - 1 2 3 4 - 5 6 7 8)
                runs += 1
                if runs == 2:
                    kind_inside = g.join
                elif runs > 2 and g.join != kind_inside:
                    return
        digits += g.digits[skip:] if j == i else g.digits
        size = len(digits)
        if g.x_at is not None:
            if size == 17 and (reading := _read(digits + "X", words)) is not None:
                yield _At(j, skip, 0, reading, x=True)
            return  # the X ends the number
        for cut in g.cuts:
            if size - cut in sizes and (reading := _read(digits[:size - cut], words)) is not None:
                yield _At(j, skip, cut, reading)
        if size - g.cuts[-1] >= longest:
            return


# --- addresses ----------------------------------------------------------------------------------
_PLACE = r"[\u4e00-\u9fff][\u4e00-\u9fff0-9]{0,11}?"
_STREET = r"(?:大道|大街|街道|路|街|巷|弄|胡同)"
_ESTATE = r"(?:村|组|社区|小区|花园|家园|新村|苑|园|公寓|大厦|广场|府|庄|寨|屯)"
_NUMERAL = "0-9一二三四五六七八九十百零〇两"
_NUMBER = rf"[{_NUMERAL}]{{1,8}}"  # bounded: a house number is short, and a long digit run costs nothing
# After a village or estate, "N号" may be a day of the month: 我们村3号开会.
_DAY_AFTER = r"(?!线|文|令|前|后|之前|以前|开始|开会|上午|下午|晚上|早上|中午|那天|当天|左右|到|至|起|赶集|发)"
# The house number, then any building, unit, floor and room numbers after it (folded text: one space at most).
_UNITS = rf"(?: ?(?:-|{_NUMBER} ?(?:栋|幢|座|单元|楼|层|室|号|户)|(?<=[号栋幢座元楼层]) ?\d{{1,8}}))*"
_ADDRESS = re.compile(
    rf"(?:{_PLACE}{_STREET} ?(?P<house>{_NUMBER} ?号(?![线文令])){_UNITS}"
    rf"|{_PLACE}{_ESTATE} ?(?P<unit>{_NUMBER} ?(?:栋|幢|座|号楼|号{_DAY_AFTER}){_UNITS}))"
)
_ADDRESS_NUMERALS = frozenset(_NUMERAL.replace("0-9", "0123456789"))


# what every address has: a street or estate word, then its number (checked in C before the full pattern)
_ADDRESS_HINT = re.compile(rf"(?:{_STREET}|{_ESTATE}) ?[{_NUMERAL}]")


def _addresses(ft: str) -> Iterator[_Found]:
    if not _ADDRESS_HINT.search(ft):
        return
    for m in _ADDRESS.finditer(ft):
        start = m.start("house" if m.group("house") else "unit")
        end = m.end()
        while end > start and ft[end - 1] == " ":
            end -= 1
        yield _Found(Kind.ADDRESS, start, end, tuple(i for i in range(start, end) if ft[i] in _ADDRESS_NUMERALS))


# --- the interface ------------------------------------------------------------------------------
def _chosen(numbers: list[_Found]) -> list[_Found]:
    """Of overlapping readings, the numbers as people meant them: from the left, none with a longer one inside it."""
    out: list[_Found] = []
    for n, f in enumerate(numbers):
        if out and f.start < out[-1].end:
            continue
        # a longer reading that starts here or inside this one is the number (第一6222…: 6222…, not 16222…)
        k = n + 1
        while k < len(numbers) and numbers[k].start < f.end and numbers[k].size <= f.size:
            k += 1
        if k == len(numbers) or numbers[k].start >= f.end:
            out.append(f)
    return out


def find(text: str) -> list[Finding]:
    """Every piece of personal data in text, in order, not overlapping (spans of text as written)."""
    folded = fold(text)
    numbers, addresses = _chosen(_numbers_in(folded.text)), list(_addresses(folded.text))
    # a number inside an address is reported as the number
    kept, k = list(numbers), 0
    for a in addresses:
        while k < len(numbers) and numbers[k].end <= a.start:
            k += 1
        if k == len(numbers) or numbers[k].start >= a.end:
            kept.append(a)
    kept.sort(key=lambda f: f.start)
    return [Finding(f.kind, *folded.span(f.start, f.end)) for f in kept]


def contains_personal_data(text: str) -> bool:
    """True when text holds any phone number, ID number, bank card number or house address."""
    return bool(find(text))


# the version of the masking rules: a request keeps its text masked by the rules of registration
# (an export is then a read); a text masked by other rules is masked again when read. Raise it
# with every change of what mask() hides, in a migration that masks the stored texts again.
MASK_RULES = 1


def masked(text: str, stored: str | None, rules: int) -> str:
    """A request's text masked: the stored masking when it was made by today's rules, else masked now."""
    return stored if rules == MASK_RULES and stored is not None else mask(text)


def mask(text: str) -> str:
    """Text with personal data masked: 138****5678, 522228********0019, 6222***********1234, 和平路**号."""
    folded = fold(text)
    # every reading hides its digits: a digit shows only when no way of reading the text hides it
    hidden = {folded.origin[i] for f in (*_numbers_in(folded.text), *_addresses(folded.text)) for i in f.hide}
    if not hidden:
        return text
    chars = list(text)
    for i in hidden:
        chars[i] = "*"
    return "".join(chars)


@functools.lru_cache(maxsize=4096)
def luhn(digits: str) -> bool:
    """True when a card number passes the Luhn check."""
    return _luhn.is_valid(digits)


def mask_name(name: str | None) -> str | None:
    """A person's name with all but its first character hidden: 唐命学 -> 唐**."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)

"""Personal data in request text: found and masked before it leaves the village room.

Numbers are read as people write them. The text is read through `routing.text.fold` (NFKC, so
full-width digits are digits; invisible format characters such as zero-width spaces removed), then
its digits are read in groups:

- a digit is 0-9 or a Chinese numeral said one digit at a time: 零〇 0, 一幺壹 1, 二两贰 2, 三叁 3,
  四肆 4, 五伍 5, 六陆 6, 七柒 7, 八捌 8, 九玖 9; a keycap (1️⃣) is its digit. Where digits and
  numerals meet (138一二三四5678) a new group starts, and the groups read on as one number;
- groups separated by a run of separators (spaces, dots, dashes, commas, slashes, brackets: see
  SEPARATORS) read on as one number when the separators inside it are of one kind (spaces around
  them aside), the run after the number's first group excepted: 139.1009.7063, 138 - 1234 - 5678,
  522228-19900101-0019, +86 138-1234-5678, (0856) 234-5678, 1 3 8 1 2 3 4 5 6 7 8. A list of
  dates (1990-1-19, 1990-2-3) changes kind, and is no number;
- a number begins at a group's first digit and ends at a group's last: digits glued to more digits
  are never cut out of a longer run.

What is detected, and how it is masked (each hidden digit or numeral becomes one *, everything else
stays as written, so 138 - 1234 - 5678 becomes 138 - **** - 5678). Where several readings start at
the same group, the longest wins:

- mobile: 1[3-9] and 9 more digits, also after 86, +86, 0086 or a 0; by its shape, allocated or
  not (a mistyped number is still someone's): 138****5678, the first 3 and the last 4 stay;
- landline: 0, an area code and a local number as `phonenumbers` validates it for China (also
  after 86 or 0086 instead of the 0): 0856-*****78, the area code and the last 2 stay; a local
  number of 7-8 digits without an area code only right after 电话, 座机, 固话, 手机, 联系, 号码 or 打
  (*****78);
- resident ID: 18 characters (the last may be X) with the check digit and birth date of
  `stdnum.cn.ric`; 15 digits (the first-generation card) with an area `stdnum.cn.ric` knows and a
  valid birth date; any 18 or 15 right after 身份证 or 证件号, even with a wrong check digit:
  522228********0019, the first 6 and the last 4 stay;
- bank card: 16-19 digits starting with 3, 4, 5, 6 or 9 that pass the Luhn check (`stdnum.luhn`),
  or any 16-19 right after 卡号, 银行卡, 账号, 帐号, 账户, 帐户 or 存折: 6222***********0128, the
  first 4 and the last 4 stay;
- street address with a house number (和平路15号, 楼台村3组12号, 幸福小区5栋2单元301): every number
  of it hidden, 和平路**号.

Not personal data: request numbers (#12), dates (2026年10月9日, 2026-10-09), times (09:30), amounts
(3000元, 3,000元), counts, and room numbers without a street or estate (302室).

Cost: linear in the length of the text, however long: groups are read in one pass, a number spans
at most MAX_DIGITS digits, and the address pattern has only bounded repetitions.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator
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
_SIZES = frozenset((7, 8, *range(10, MAX_DIGITS + 1)))  # how many digits a number detected has


@dataclass(slots=True)
class _Group:
    """Digits written together: their values, where each is, how the group is joined to the one before."""

    digits: str
    at: list[int]
    join: str | None  # None: not joined; "": digits meet numerals; else the kind of separator run
    x_at: int | None = None  # where an X right after the digits is (the check digit of an ID ends in X)


@functools.lru_cache(maxsize=1024)
def _separator_kind(run: str) -> str:
    # " - ", "- " and "--" are one kind: what matters is the mark, not the spaces around it
    marks = set(run) - {" "}
    return "".join(sorted(marks)) if marks else " "


def _groups(ft: str) -> Iterator[_Group]:
    """The digit groups of folded text, in one pass."""
    n = len(ft)
    i = 0
    join: str | None = None
    while i < n:
        ch = ft[i]
        if ch not in _VALUE:
            i += 1
            continue
        ascii_digits = ch.isascii()
        digits: list[str] = []
        at: list[int] = []
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
        x_at = None
        if ascii_digits and i < n and ft[i] in "Xx" and not (i + 1 < n and ft[i + 1].isascii() and ft[i + 1].isalnum()):
            x_at = i
        yield _Group("".join(digits), at, join, x_at)
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


@functools.lru_cache(maxsize=4096)
def _landline_head(national: str) -> int | None:
    """How many digits of a national number (0 + area code + local) are its 0 and area code; None when no landline."""
    if not 10 <= len(national) <= 12 or national[1] == "0":
        return None
    try:
        number = phonenumbers.parse(national, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
    ):
        return None
    return 1 + (phonenumbers.length_of_geographical_area_code(number) or 3)


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


_ID = _Reading(Kind.ID_NUMBER, 6, 4)
_CARD = _Reading(Kind.BANK_CARD, 4, 4)
_LOCAL = _Reading(Kind.LANDLINE, 0, 2)


def _read(d: str, words: _Context) -> _Reading | None:
    """What the number d (7 digits or more) is, given the keywords before it; None when no personal data."""
    size = len(d)
    first = d[0]
    if size == 18 and (_id18(d) or (words.id_word and d[:17].isdigit())):
        return _ID
    if not d.isdigit():
        return None
    if size == 15 and (words.id_word or _id15(d)):
        return _ID
    if size >= 16:
        return _CARD if (first in "34569" and _luhn.is_valid(d)) or words.card_word else None
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


def _numbers(ft: str) -> Iterator[_Found]:
    """Phone, ID and card numbers: from each group, the longest reading; then on after it."""
    groups = list(_groups(ft))
    count = len(groups)
    i = 0
    while i < count:
        best: tuple[int, _Reading, bool] | None = None
        words = _Context.before(ft, groups[i].at[0])
        digits = ""
        kind_inside: str | None = None
        for j in range(i, count):
            g = groups[j]
            if j > i:
                join = g.join
                if join is None:
                    break
                if join and j > i + 1:
                    # the separators inside one number are of one kind (the first run aside: +86 138-...)
                    if kind_inside is None:
                        kind_inside = join
                    elif join != kind_inside:
                        break
            digits += g.digits
            size = len(digits)
            if size > MAX_DIGITS:
                break
            if g.x_at is not None:
                if size == 17 and (reading := _read(digits + "X", words)) is not None:
                    best = (j, reading, True)
                break  # the X ends the number
            if size in _SIZES and (reading := _read(digits, words)) is not None:
                best = (j, reading, False)
        if best is None:
            i += 1
            continue
        j, reading, x = best
        at = [p for g in groups[i:j + 1] for p in g.at]
        if x:
            at.append(groups[j].x_at)
        yield _Found(reading.kind, at[0], at[-1] + 1, tuple(at[reading.head:len(at) - reading.tail]))
        i = j + 1


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


def _addresses(ft: str) -> Iterator[_Found]:
    for m in _ADDRESS.finditer(ft):
        start = m.start("house" if m.group("house") else "unit")
        end = m.end()
        while end > start and ft[end - 1] == " ":
            end -= 1
        yield _Found(Kind.ADDRESS, start, end, tuple(i for i in range(start, end) if ft[i] in _ADDRESS_NUMERALS))


# --- the interface ------------------------------------------------------------------------------
def _found(ft: str) -> tuple[list[_Found], list[_Found]]:
    """The numbers and the addresses in folded text, each list in order and not overlapping itself."""
    return list(_numbers(ft)), list(_addresses(ft))


def find(text: str) -> list[Finding]:
    """Every piece of personal data in text, in order, not overlapping (spans of text as written)."""
    folded = fold(text)
    numbers, addresses = _found(folded.text)
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


def mask(text: str) -> str:
    """Text with personal data masked: 138****5678, 522228********0019, 6222***********1234, 和平路**号."""
    folded = fold(text)
    numbers, addresses = _found(folded.text)
    hidden = {folded.origin[i] for f in (*numbers, *addresses) for i in f.hide}
    if not hidden:
        return text
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def luhn(digits: str) -> bool:
    """True when a card number passes the Luhn check."""
    return _luhn.is_valid(digits)


def mask_name(name: str | None) -> str | None:
    """A person's name with all but its first character hidden: 唐命学 -> 唐**."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)

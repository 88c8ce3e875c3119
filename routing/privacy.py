"""Personal data in request text: found and masked before it leaves the village room.

Detected: mobile and landline phone numbers, 18-digit resident ID numbers (with a valid check
digit and birth date), bank card numbers (16-19 digits passing the Luhn check) and street
addresses with a house number (和平路15号, 楼台村3组12号, 幸福小区5栋2单元301).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

from routing.text import fold, normalize


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



# Not preceded or followed by another digit, so that longer numbers are not cut in pieces.
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
# An area code (0 and 2-3 digits), then a 7-8 digit number, optionally an extension.
_LANDLINE = re.compile(
    r"(?<![\d#])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}[\s-]?)[2-9]\d{2,3}[\s-]?\d{4}(?:\s*(?:转|-|ext\.?)\s*\d{1,5})?(?!\d)"
)
# A local number without an area code only after a word that says it is a phone number.
_LOCAL_PHONE = re.compile(r"(?:电话|座机|固话|手机|联系|号码|打)[是为:：\s]{0,3}([2-9]\d{6,7})(?!\d)")
_ID18 = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
_CARD = re.compile(r"(?<!\d)\d{4}(?:[\s-]?\d{4}){3}(?:[\s-]?\d{1,3})?(?!\d)")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_PLACE = r"[\u4e00-\u9fff][\u4e00-\u9fff0-9]{0,11}?"
_STREET = r"(?:大道|大街|街道|路|街|巷|弄|胡同)"
_ESTATE = r"(?:村|组|社区|小区|花园|家园|新村|苑|园|公寓|大厦|广场|府|庄|寨|屯)"
_NUMBER = r"[0-9一二三四五六七八九十百零〇两]+"
# After a village or estate, "N号" may be a day of the month: 我们村3号开会.
_DAY_AFTER = r"(?!线|文|令|前|后|之前|以前|开始|开会|上午|下午|晚上|早上|中午|那天|当天|左右|到|至|起|赶集|发)"
# The house number, then any building, unit, floor and room numbers after it.
_UNITS = rf"(?:\s*(?:-|{_NUMBER}\s*(?:栋|幢|座|单元|楼|层|室|号|户)|(?<=[号栋幢座元楼层])\s*\d+))*"
_ADDRESS = re.compile(
    rf"(?:{_PLACE}{_STREET}\s*(?P<house>{_NUMBER}\s*号(?![线文令])){_UNITS}"
    rf"|{_PLACE}{_ESTATE}\s*(?P<unit>{_NUMBER}\s*(?:栋|幢|座|号楼|号{_DAY_AFTER}){_UNITS}))"
)


def _valid_id(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    if _ID_CHECK[total % 11] != number[17].upper():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2100


def luhn(digits: str) -> bool:
    """True when a card number passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find(text: str) -> list[Finding]:
    """Every piece of personal data in text, in order, not overlapping (spans of text as written)."""
    folded = fold(text)
    ft = folded.text
    found: list[tuple[Kind, int, int]] = []

    def add(kind: Kind, start: int, end: int) -> None:
        if not any(s < end and start < e for _, s, e in found):
            found.append((kind, start, end))

    for m in _ID18.finditer(ft):
        if _valid_id(m.group()):
            add(Kind.ID_NUMBER, m.start(), m.end())
    for m in _CARD.finditer(ft):
        digits = re.sub(r"\D", "", m.group())
        if 16 <= len(digits) <= 19 and luhn(digits):
            add(Kind.BANK_CARD, m.start(), m.end())
    for m in _MOBILE.finditer(ft):
        add(Kind.MOBILE, m.start(), m.end())
    for m in _LANDLINE.finditer(ft):
        add(Kind.LANDLINE, m.start(), m.end())
    for m in _LOCAL_PHONE.finditer(ft):
        add(Kind.LANDLINE, m.start(1), m.end(1))
    for m in _ADDRESS.finditer(ft):
        start = m.start("house" if m.group("house") else "unit")
        end = m.end()
        while end > start and ft[end - 1].isspace():
            end -= 1
        add(Kind.ADDRESS, start, end)
    return sorted((Finding(kind, *folded.span(s, e)) for kind, s, e in found), key=lambda f: f.start)


def contains_personal_data(text: str) -> bool:
    """True when text holds any phone number, ID number, bank card number or house address."""
    return bool(find(text))


def mask(text: str) -> str:
    """Text with personal data masked: 138****5678, 522228********0019, 6222***********1234, 和平路**号."""
    out = []
    pos = 0
    for f in find(text):
        out.append(text[pos:f.start])
        out.append(_MASKERS[f.kind](text[f.start:f.end]))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def _digits_masked(span: str, keep_head: int, keep_tail: int) -> str:
    # keep the layout (spaces, dashes, brackets), hide the digits in between
    positions = [i for i, ch in enumerate(span) if ch.isdigit() or ch in "XxＸｘ"]
    hidden = set(positions[keep_head:len(positions) - keep_tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(span))


def _mask_mobile(span: str) -> str:
    digits = [i for i, ch in enumerate(span) if ch.isdigit()]
    # the last 11 digits are the number itself (a +86 prefix stays readable)
    number = digits[-11:]
    hidden = set(number[3:7])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(span))


def _mask_landline(span: str) -> str:
    m = re.match(r"\s*[\(（]?0\d{2,3}", normalize(span))
    head = len(re.sub(r"\D", "", m.group())) if m else 0
    return _digits_masked(span, head, 2)


def _mask_address(span: str) -> str:
    return re.sub(_NUMBER, lambda m: "*" * len(m.group()), span)


_MASKERS = {
    Kind.MOBILE: _mask_mobile,
    Kind.LANDLINE: _mask_landline,
    Kind.ID_NUMBER: lambda s: _digits_masked(s, 6, 4),
    Kind.BANK_CARD: lambda s: _digits_masked(s, 4, 4),
    Kind.ADDRESS: _mask_address,
}


def mask_name(name: str | None) -> str | None:
    """A person's name with all but its first character hidden: 唐命学 -> 唐**."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)

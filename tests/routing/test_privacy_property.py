"""Property: a real-looking number, however it is grouped and separated, is masked exactly.

Hypothesis builds mobiles, landlines (real area codes), resident ID numbers (real areas, valid birth
dates and check digits) and bank card numbers (Luhn), cuts them into groups anywhere, joins the
groups with a run of separators (one run for the whole number, the first may differ: +86 138-...),
may put a space between every two digits (1 3 8 - 1 2 3 4 - 5 6 7 8), writes each digit as an ASCII or full-width digit or a Chinese numeral, may scatter zero-width
characters, and puts the number in a sentence. Every digit the masking rules hide must be *, and
nothing but the number's digits may change (a number that can be read in two ways, say as an ID and
as a landline inside it, shows only what both readings show).
"""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric

from routing.privacy import mask

AREAS = [("010", 8), ("021", 8), ("020", 8), ("023", 8), ("0755", 8), ("0851", 8), ("0856", 7), ("0731", 8)]
REGIONS = ["110105", "310104", "440106", "522228", "522229", "430102", "510107", "330106"]
CARD_PREFIXES = ["6222", "6217", "6228", "6212", "4367", "5187", "6259"]
SEPARATORS = " .-,/、，．－／—"
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
NUMERALS = {
    "0": "零〇", "1": "一幺壹", "2": "二两贰", "3": "三叁", "4": "四肆", "5": "五伍", "6": "六陆", "7": "七柒",
    "8": "八捌", "9": "九玖",
}
# no numeral and no digit in them: what stands around the number must not read as part of it
BEFORE = ["", "我的电话", "联系：", "号码是 ", "身份证", "卡号 ", "杨老师 ", "请打", "（"]
AFTER = ["", "，谢谢", " 尽快处理", "。", "找我", "）"]

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _run(n: int):
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


# (digits, how many stay visible at the start, at the end)
mobiles = st.builds(lambda second, rest: ("1" + second + rest, 3, 4), st.sampled_from("3456789"), _run(9))
landlines = st.sampled_from(AREAS).flatmap(
    lambda area: st.builds(lambda first, rest: (area[0] + first + rest, len(area[0]), 2),
                           st.sampled_from("2345678"), _run(area[1] - 1)))


def _id(region: str, born: date, order: str) -> tuple[str, int, int]:
    body = f"{region}{born:%Y%m%d}{order}"
    number = body + ric.calc_check_digit(body + "0")
    # an 18-digit number that also reads as a card keeps only 4 and 4 (the stricter of the two)
    both = number[0] in "34569" and luhn.is_valid(number)
    return number, 4 if both else 6, 4


ids = st.builds(_id, st.sampled_from(REGIONS), st.dates(date(1930, 1, 1), date(2020, 12, 31)), _run(3))


def _card(prefix: str, middle: str) -> tuple[str, int, int]:
    body = prefix + middle
    return body + luhn.calc_check_digit(body), 4, 4


cards = st.builds(_card, st.sampled_from(CARD_PREFIXES), st.integers(11, 14).flatmap(_run))


@st.composite
def written(draw):
    """A number as someone may write it, in a sentence; returns (text, positions of its characters, head, tail)."""
    number, head, tail = draw(st.one_of(mobiles, landlines, ids, cards))
    cuts = draw(st.sets(st.integers(1, len(number) - 1), max_size=len(number) - 1))
    if number.endswith("X"):
        cuts.discard(len(number) - 1)  # the X is written right after the digits
    separator = draw(st.text(alphabet=SEPARATORS, min_size=1, max_size=3))
    first = draw(st.one_of(st.just(separator), st.text(alphabet=SEPARATORS, min_size=1, max_size=3)))
    style = draw(st.sampled_from(["ascii", "full-width", "numerals", "mixed"]))
    invisible = draw(st.booleans())
    spelled = draw(st.booleans())  # a space between every two digits: 1 3 8 - 1 2 3 4 - 5 6 7 8

    text = draw(st.sampled_from(BEFORE))
    at: list[int] = []
    for i, d in enumerate(number):
        if i in cuts:
            text += first if i == min(cuts) else separator
        elif i and spelled and d != "X":
            text += " "
        elif i and invisible and draw(st.booleans()):
            text += draw(st.sampled_from(INVISIBLE))
        how = style if style != "mixed" else draw(st.sampled_from(["ascii", "full-width", "numerals"]))
        if d == "X" or how == "ascii":
            ch = d
        elif how == "full-width":
            ch = chr(ord(d) + 0xFEE0)
        else:
            ch = draw(st.sampled_from(NUMERALS[d]))
        at.append(len(text))
        text += ch
    text += draw(st.sampled_from(AFTER))
    return text, at, head, tail


@settings(max_examples=600, derandomize=True, deadline=None)
@given(written())
def test_any_grouping_and_separator_of_a_real_number_is_masked(case):
    text, at, head, tail = case
    masked = mask(text)
    must_hide = set(at[head:len(at) - tail])
    assert len(masked) == len(text)
    shown = [i for i in must_hide if masked[i] != "*"]
    changed = [i for i, (a, b) in enumerate(zip(text, masked)) if a != b and i not in at]
    assert not shown, f"leaked: {masked!r} from {text!r}"
    assert not changed, f"changed more than the number's digits: {masked!r} from {text!r}"


# words with numerals and numbers of their own, right before and after the number (none glues digits to it)
WORDS_BEFORE = ["老三 ", "张三", "第一", "两家", "十一", "3组", "#12 ", "2026年10月9日 ", "电话", "12:30 ", "3000元，",
                "第3、", "身份证号", "号码是两", "第三", "1 "]
WORDS_AFTER = ["一个人", "一下", "两次", "十一", " 3组", "、2026年10月9日", " 12:30", "，3000元", "两遍", "三个", " 1"]


@settings(max_examples=400, derandomize=True, deadline=None)
@given(written(), st.sampled_from(WORDS_BEFORE), st.sampled_from(WORDS_AFTER))
def test_words_and_numbers_around_a_number_never_uncover_it(case, before, after):
    text, at, head, tail = case
    masked = mask(before + text + after)
    shown = [i for i in at[head:len(at) - tail] if masked[len(before) + i] != "*"]
    assert not shown, f"leaked: {masked!r}"

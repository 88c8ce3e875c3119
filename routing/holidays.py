"""A year's days off and make-up working days: read from the State Council's notice, or guessed by the holiday law."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta

from lunar_python import Lunar, Solar


class NoticeError(ValueError):
    """A holiday notice (or calendar file) that cannot be read; the message says what is wrong, in Chinese."""


@dataclass(frozen=True, slots=True)
class YearDays:
    """One year's holiday arrangement: every day off of its holiday ranges (weekend days included) and every
    make-up working day (调休上班)."""

    year: int
    off: frozenset[date]
    work: frozenset[date]

    def __post_init__(self) -> None:
        both = self.off & self.work
        if both:
            raise NoticeError(f"{', '.join(sorted(d.isoformat() for d in both))} 既是放假日又是上班日")
        strays = sorted(d.isoformat() for d in self.off | self.work if d.year != self.year)
        if strays:
            raise NoticeError(f"{self.year} 年的安排里有别的年份的日子：{', '.join(strays)}")

    def is_workday(self, d: date) -> bool:
        """True when d (a day of this year) is a working day."""
        return d in self.work or (d.weekday() < 5 and d not in self.off)

    def lines(self) -> list[str]:
        """`YYYY-MM-DD 休` / `YYYY-MM-DD 班`, one a day, in date order (what `minqing calendar show` prints)."""
        days = [(d, "休") for d in self.off] + [(d, "班") for d in self.work]
        return [f"{d.isoformat()} {kind}" for d, kind in sorted(days)]


# --- the State Council's notice --------------------------------------------------------------
_TITLE = re.compile(r"关于\s*(\d{4})\s*年\s*(?:部分)?节假日安排的通知")
_ITEM = re.compile(r"(?m)^\s*[一二三四五六七八九十]+\s*、\s*([^：:\n]{1,12})[：:]\s*(.+)$")
_ASIDE = re.compile(r"（[^）]*）|\([^)]*\)")  # （农历除夕、周二）, （星期六）: what the weekday was
_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(?:(\d{1,2})\s*月\s*)?(\d{1,2})\s*日")
_RANGE_WORD = re.compile(r"^\s*(?:至|到|—|–|-|~|～)\s*")
_NUMERALS = "一二三四五六七八九十"


def _dates(sentence: str, year: int, new_year: bool = False) -> list[tuple[date, bool]]:
    """The dates a sentence names, in order, each with whether a range word (至) leads to it.

    A date without its month takes the previous date's month. Without its year: the year of the
    previous date written with one (the next year when the month goes back: 12月31日至1月2日), else
    the notice's year, but for December in the 元旦 item (`new_year`), which is the year before.
    """
    found: list[tuple[date, bool]] = []
    month: int | None = None
    written: int | None = None  # the last year written out in the sentence
    pos = 0
    for m in _DATE.finditer(sentence):
        y, mo, d = m.group(1), m.group(2), m.group(3)
        ranged = bool(found) and bool(_RANGE_WORD.match(sentence[pos:m.start()]))
        if mo is None and month is None:
            raise NoticeError(f"“{sentence.strip()}”里的日期没有写月份")
        new_month = int(mo) if mo else month
        if y:
            written = int(y)
            the_year = written
        elif written is not None:
            if month is not None and new_month < month:
                written += 1
            the_year = written
        else:
            the_year = year - 1 if new_year and new_month == 12 else year
        month = new_month
        try:
            found.append((date(the_year, month, int(d)), ranged))
        except ValueError:
            raise NoticeError(f"“{sentence.strip()}”里有不存在的日期：{the_year}年{month}月{d}日") from None
        pos = m.end()
    return found


def _days(sentence: str, year: int, new_year: bool) -> set[date]:
    """Every day a sentence names: single dates, and each day of a range `A至B`."""
    out: set[date] = set()
    items = _dates(sentence, year, new_year)
    for i, (d, ranged) in enumerate(items):
        if ranged:
            start = items[i - 1][0]
            if d < start:
                raise NoticeError(f"“{sentence.strip()}”：{d.isoformat()} 早于 {start.isoformat()}")
            if (d - start).days > 31:
                raise NoticeError(f"“{sentence.strip()}”：假期长过一个月，请检查日期")
            out.update(start + timedelta(days=k) for k in range((d - start).days + 1))
        else:
            out.add(d)
    return out


def notice_year(text: str) -> int | None:
    """The year a notice is for, from its title (国务院办公厅关于YYYY年部分节假日安排的通知)."""
    m = _TITLE.search(text)
    return int(m.group(1)) if m else None


def parse_notice(text: str, year: int | None = None) -> YearDays:
    """Read a holiday notice as text: its numbered items (一、元旦：…), each sentence with 放假 giving days off
    and each with 上班 giving make-up working days. Days of the neighbouring years (a 元旦 range that
    begins in December) are left out: they belong to that year's notice."""
    year = year or notice_year(text)
    if year is None:
        raise NoticeError("找不到通知的年份：标题应是“国务院办公厅关于YYYY年部分节假日安排的通知”")
    off: set[date] = set()
    work: set[date] = set()
    items = _ITEM.findall(text.replace("\r", ""))
    if not items:
        raise NoticeError("通知里没有找到“一、元旦：……”这样的分项安排")
    for name, body in items:
        new_year = "元旦" in name
        for sentence in re.split(r"[。；;]", _ASIDE.sub("", body)):
            # a sentence that neither gives days off nor working days (鼓励……在除夕休息) changes nothing
            if "放假" in sentence:
                off |= _days(sentence, year, new_year)
            elif "上班" in sentence:
                work |= _days(sentence, year, new_year)
    if not off:
        raise NoticeError("通知里没有找到放假的日期")
    return YearDays(year, frozenset(d for d in off if d.year == year), frozenset(d for d in work if d.year == year))


# --- a year nobody imported: the holiday law ----------------------------------------------------
def _solar(s: Solar) -> date:
    return date(s.getYear(), s.getMonth(), s.getDay())


@functools.cache
def statutory_days(year: int) -> frozenset[date]:
    """The statutory holidays of a year by the 2024 revision of 《全国年节及纪念日放假办法》 (in force from 2025):
    元旦 1 Jan; 春节 农历除夕 to 正月初三 (4 days); 清明 (the solar term's day); 劳动节 1-2 May; 端午 (五月初五);
    中秋 (八月十五); 国庆 1-3 Oct. Without the make-up days and bridges a notice adds: those nobody can know."""
    spring = _solar(Lunar.fromYmd(year, 1, 1).getSolar())
    days = {date(year, 1, 1), date(year, 5, 1), date(year, 5, 2), date(year, 10, 1), date(year, 10, 2),
            date(year, 10, 3)}
    days.update(spring + timedelta(days=k) for k in range(-1, 3))  # 除夕, 初一 to 初三
    days.add(_solar(Solar.fromYmd(year, 6, 1).getLunar().getJieQiTable()["清明"]))
    days.add(_solar(Lunar.fromYmd(year, 5, 5).getSolar()))
    days.add(_solar(Lunar.fromYmd(year, 8, 15).getSolar()))
    return frozenset(days)

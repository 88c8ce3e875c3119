"""Holiday years read from the State Council's notices, and the guess by the holiday law for a year without one."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from routing.holidays import NoticeError, YearDays, parse_notice, statutory_days

OWN = Path(__file__).parent / "fixtures" / "holiday-notices"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "holiday-notices"


def notice(year: int) -> str:
    path = OWN / f"{year}.txt" if (OWN / f"{year}.txt").exists() else SHARED / f"{year}.txt"
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared data folder is absent)")
    return path.read_text(encoding="utf-8")


def days_of(year: int):
    start = date(year, 1, 1)
    return [start + timedelta(days=k) for k in range((date(year + 1, 1, 1) - start).days)]


@pytest.mark.parametrize("year", [2023, 2024, 2025, 2026])
def test_a_notice_gives_the_days_chinese_calendar_has(year):
    """2025 and 2026 from the shared data (周X wording), 2023 and 2024 transcribed here (星期X wording, 2024 with
    half-width punctuation and a sentence that changes nothing: 鼓励……在除夕休息)."""
    parsed = parse_notice(notice(year))
    assert parsed.year == year
    assert parsed.work == {d for d in chinese_calendar.constants.workdays if d.year == year}
    for d in days_of(year):
        assert parsed.is_workday(d) == chinese_calendar.is_workday(d), d


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_the_days_off_are_exactly_chinese_calendars(year):
    assert parse_notice(notice(year)).off == {d for d in chinese_calendar.constants.holidays if d.year == year}


def test_the_older_wording_with_a_new_year_range_over_two_years():
    parsed = parse_notice(notice(2019))
    assert date(2019, 1, 1) in parsed.off and date(2018, 12, 30) not in parsed.off  # 2018's days are 2018's
    assert parsed.work == {date(2019, 2, 2), date(2019, 2, 3), date(2019, 9, 29), date(2019, 10, 12)}
    assert {date(2019, 2, 4) + timedelta(days=k) for k in range(7)} <= parsed.off
    assert parsed.lines()[:2] == ["2019-01-01 休", "2019-02-02 班"]


def test_a_new_year_range_without_years_belongs_to_the_turn_of_the_year():
    text = ("国务院办公厅关于2031年部分节假日安排的通知\n一、元旦：12月30日至1月1日放假调休，共3天。12月28日（星期日）上班。\n"
            "二、春节：1月22日（农历除夕）至28日放假调休，共7天。")
    parsed = parse_notice(text)
    assert parsed.off == {date(2031, 1, 1)} | {date(2031, 1, 22) + timedelta(days=k) for k in range(7)}
    assert parsed.work == frozenset()  # 28 December is 2030's


def test_a_made_up_future_year():
    text = ("国务院办公厅关于2099年部分节假日安排的通知\n\n一、元旦：1月1日（周四）放假1天。\n"
            "二、春节：1月19日（周一）至27日（周二）放假调休，共9天。1月17日（周六）上班。\n"
            "三、国庆节、中秋节：9月29日（周二）至10月7日（周三）放假调休，共9天。10月10日（周六）上班。\n")
    parsed = parse_notice(text)
    assert parsed.lines() == (["2099-01-01 休", "2099-01-17 班"] + [f"2099-01-{d} 休" for d in range(19, 28)]
                              + ["2099-09-29 休", "2099-09-30 休"] + [f"2099-10-0{d} 休" for d in range(1, 8)]
                              + ["2099-10-10 班"])
    assert parsed.is_workday(date(2099, 1, 17)) and not parsed.is_workday(date(2099, 1, 19))


@pytest.mark.parametrize("text, why", [
    ("随便一段话", "年份"),
    ("国务院办公厅关于2027年部分节假日安排的通知\n经国务院批准，现将安排通知如下。", "分项"),
    ("国务院办公厅关于2027年部分节假日安排的通知\n一、春节：2月30日放假。", "不存在的日期"),
    ("国务院办公厅关于2027年部分节假日安排的通知\n一、春节：2月12日至2月5日放假。", "早于"),
    ("国务院办公厅关于2027年部分节假日安排的通知\n一、春节：2月5日至2月8日放假。2月6日上班。", "既是放假日又是上班日"),
    ("国务院办公厅关于2027年部分节假日安排的通知\n一、春节：12日放假。", "月份"),
])
def test_a_notice_that_cannot_be_read_says_why(text, why):
    with pytest.raises(NoticeError, match=why):
        parse_notice(text)


def test_days_of_another_year_are_refused_in_a_year():
    with pytest.raises(NoticeError, match="别的年份"):
        YearDays(2027, frozenset({date(2026, 12, 31)}), frozenset())


def test_the_guess_follows_the_2024_revision_of_the_holiday_law():
    """13 days: 元旦 1, 春节 4 from 除夕, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3 (2025's notice states the revision);
    checked against the statutory days of the years chinese_calendar knows under it."""
    for year in (2025, 2026):
        guessed = statutory_days(year)
        assert len(guessed) == 13
        assert guessed <= {d for d in chinese_calendar.constants.holidays if d.year == year}
        # none of them is a day off only in lieu of a make-up working day (调休): each is a statutory one
        assert not any(chinese_calendar.is_in_lieu(d) for d in guessed)
    g = statutory_days(2027)
    assert {date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8)} <= g  # 除夕 to 初三
    assert {date(2027, 4, 5), date(2027, 6, 9), date(2027, 9, 15)} <= g  # 清明, 端午, 中秋
    assert len(g) == 13

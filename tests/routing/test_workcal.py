"""The working-time calendar across the 2026 Mid-Autumn/National Day holidays and into 2027."""

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.durations import Duration
from routing.workcal import CalendarError, WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")


def t(text):
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.fixture
def cal():
    return WorkCalendar(tz=TZ)


def d(text):
    return Duration.parse(text)


def test_2026_autumn_holidays_and_make_up_days(cal):
    assert cal.is_workday(date(2026, 9, 20))  # Sunday, make-up working day
    assert not cal.is_workday(date(2026, 9, 25))  # Mid-Autumn
    assert all(not cal.is_workday(date(2026, 10, day)) for day in range(1, 8))  # National Day
    assert cal.is_workday(date(2026, 10, 10))  # Saturday, make-up working day
    assert not cal.is_workday(date(2026, 10, 11))


def test_workdays_end_at_the_same_clock_time_on_the_nth_working_day(cal):
    assert cal.add(t("2026-09-24 10:00"), d("1 workdays")) == t("2026-09-28 10:00")  # over Mid-Autumn
    assert cal.add(t("2026-09-30 10:00"), d("1 workdays")) == t("2026-10-08 10:00")  # over National Day
    assert cal.add(t("2026-10-09 10:00"), d("1 workdays")) == t("2026-10-10 10:00")  # Saturday make-up day
    assert cal.add(t("2026-09-18 16:00"), d("1 workdays")) == t("2026-09-20 16:00")  # Sunday make-up day
    assert cal.add(t("2026-10-09 10:00"), d("5 workdays")) == t("2026-10-15 10:00")  # Sat 10 counts


def test_workdays_from_outside_working_hours_count_from_the_next_working_moment(cal):
    assert cal.add(t("2026-10-12 07:00"), d("1 workdays")) == t("2026-10-13 08:30")
    assert cal.add(t("2026-10-12 12:30"), d("1 workdays")) == t("2026-10-13 14:30")
    assert cal.add(t("2026-10-12 20:00"), d("1 workdays")) == t("2026-10-14 08:30")
    assert cal.add(t("2026-09-30 18:00"), d("1 workdays")) == t("2026-10-09 08:30")


def test_workhours_count_only_hours_inside_work_periods(cal):
    assert cal.add(t("2026-10-12 11:00"), d("2 workhours")) == t("2026-10-12 15:30")
    assert cal.add(t("2026-10-12 17:00"), d("1 workhours")) == t("2026-10-13 09:00")
    assert cal.add(t("2026-09-30 17:00"), d("1 workhours")) == t("2026-10-08 09:00")
    assert cal.add(t("2026-10-12 08:30"), d("6.5 workhours")) == t("2026-10-12 17:30")


def test_calendar_time_ignores_holidays(cal):
    assert cal.add(t("2026-10-01 23:00"), d("2 hours")) == t("2026-10-02 01:00")
    assert cal.add(t("2026-10-01 23:00"), d("3 days")) == t("2026-10-04 23:00")


def test_working_time_between(cal):
    assert cal.working_seconds(t("2026-10-12 08:00"), t("2026-10-12 18:00")) == 6.5 * 3600
    assert cal.working_seconds(t("2026-09-30 17:00"), t("2026-10-08 09:00")) == 3600
    assert cal.working_days(t("2026-10-12 08:30"), t("2026-10-14 08:30")) == 2
    assert cal.working_seconds(t("2026-10-12 10:00"), t("2026-10-12 09:00")) == 0


def test_extra_days_from_the_config():
    cal = WorkCalendar(tz=TZ, extra_holidays=frozenset({date(2026, 10, 12)}),
                       extra_workdays=frozenset({date(2026, 10, 11)}))
    assert cal.is_workday(date(2026, 10, 11)) and not cal.is_workday(date(2026, 10, 12))


def test_2027_falls_back_to_weekdays_with_the_statutory_holidays_and_warns_once(cal, caplog):
    with caplog.at_level(logging.WARNING):
        assert not cal.is_workday(date(2027, 1, 1))  # Friday, New Year
        assert cal.is_workday(date(2027, 1, 4))  # Monday
        assert not cal.is_workday(date(2027, 1, 2))  # Saturday
        assert not cal.is_workday(date(2027, 5, 1))
        assert not cal.is_workday(date(2027, 10, 1)) and not cal.is_workday(date(2027, 10, 3))
        assert cal.is_workday(date(2027, 10, 4))
        # the lunar holidays of the 2024 revision of the holiday law: 除夕 (Fri 5 Feb) to 初三, 清明, 端午, 中秋
        assert not cal.is_workday(date(2027, 2, 5)) and not cal.is_workday(date(2027, 2, 8))
        assert cal.is_workday(date(2027, 2, 9))
        assert not cal.is_workday(date(2027, 4, 5))  # 清明, a Monday
        assert not cal.is_workday(date(2027, 6, 9))  # 端午, a Wednesday
        assert not cal.is_workday(date(2027, 9, 15))  # 中秋, a Wednesday
    assert sum("推测" in r.message for r in caplog.records) == 1
    assert cal.uses_fallback(2027) and not cal.uses_fallback(2026)


def test_deadlines_across_the_new_year(cal):
    # Thu 31 Dec 2026 is a working day; Fri 1 Jan 2027 a holiday (fallback); then the weekend
    assert cal.add(t("2026-12-31 10:00"), d("1 workdays")) == t("2027-01-04 10:00")
    assert cal.add(t("2026-12-31 17:00"), d("1 workhours")) == t("2027-01-04 09:00")
    assert cal.working_days(t("2026-12-31 08:30"), t("2027-01-05 08:30")) == 2


def test_weekdays_mode_ignores_statutory_holidays():
    cal = WorkCalendar(tz=TZ, mode="weekdays")
    assert cal.is_workday(date(2026, 10, 1)) and not cal.is_workday(date(2026, 10, 10))


@pytest.mark.parametrize("hours", [(), ((time(12), time(9)),), ((time(9), time(12)), (time(11), time(14)))])
def test_bad_work_hours(hours):
    with pytest.raises(CalendarError):
        WorkCalendar(tz=TZ, work_hours=hours)


def test_next_working_moment(cal):
    assert cal.next_working_moment(t("2026-10-12 09:00")) == t("2026-10-12 09:00")
    assert cal.next_working_moment(t("2026-10-12 12:00")) == t("2026-10-12 14:30")
    assert cal.next_working_moment(t("2026-10-01 12:00")) == t("2026-10-08 08:30")
    assert cal.is_working_moment(t("2026-10-10 10:00"))
    assert not cal.is_working_moment(t("2026-10-10 10:00") + timedelta(days=1))


def _reference_working_seconds(cal, a, b):
    """Working time summed day by day: the plain definition the fast index must agree with."""
    if b <= a:
        return 0.0
    a, b = cal.local(a), cal.local(b)
    total, day = 0.0, a.date()
    while day <= b.date():
        if cal.is_workday(day):
            for start, end in cal.work_hours:
                lo = max(datetime.combine(day, start, TZ), a)
                hi = min(datetime.combine(day, end, TZ), b)
                if hi > lo:
                    total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return total


MOMENTS = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2026, 12, 31)).map(
    lambda x: x.replace(tzinfo=TZ, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(MOMENTS, MOMENTS, MOMENTS)
def test_working_seconds_agrees_with_counting_day_by_day(first, a, b):
    cal = WorkCalendar(tz=TZ)
    cal.working_seconds(first, first + timedelta(hours=1))  # anchors the index somewhere else
    assert cal.working_seconds(a, b) == _reference_working_seconds(cal, a, b)


def test_working_time_across_national_day(cal):
    assert cal.working_seconds(t("2026-09-30 16:30"), t("2026-10-08 09:30")) == 2 * 3600
    assert cal.working_days(t("2026-09-29 08:30"), t("2026-10-09 08:30")) == 3
    assert cal.working_seconds(t("2026-10-03 10:00"), t("2026-10-05 10:00")) == 0


@settings(max_examples=200, deadline=None)
@given(MOMENTS, st.integers(min_value=1, max_value=12))
def test_workdays_and_next_working_moment_agree_with_stepping_day_by_day(start, n):
    cal = WorkCalendar(tz=TZ)
    first = next(cal.periods_from(start))[0]
    assert cal.next_working_moment(start) == first
    day = first.date()
    for _ in range(n):
        day = cal.next_workday(day)
    want = datetime.combine(day, first.time(), TZ)
    assert cal.add(start, d(f"{n} workdays")) == want == cal.add(start, d(f"{n} workdays"))  # remembered: same

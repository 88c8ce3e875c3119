"""Parsing SLA durations."""

import pytest

from routing.durations import Duration, DurationError, Unit


@pytest.mark.parametrize("text, amount, unit", [
    ("1 workdays", 1, Unit.WORKDAYS), ("1 workday", 1, Unit.WORKDAYS), ("4 workhours", 4, Unit.WORKHOURS),
    ("1 workhour", 1, Unit.WORKHOURS), ("2 hours", 2, Unit.HOURS), ("1 hour", 1, Unit.HOURS),
    ("3 days", 3, Unit.DAYS), ("1 day", 1, Unit.DAYS), ("0.5 hours", 0.5, Unit.HOURS), (" 10  Workdays ", 10, Unit.WORKDAYS),
])
def test_parse(text, amount, unit):
    d = Duration.parse(text)
    assert (d.amount, d.unit) == (amount, unit)


@pytest.mark.parametrize("text", ["", "workdays", "1", "1 weeks", "-1 days", "0 hours", "1.5 days", "one day", "1 工作日"])
def test_rejects(text):
    with pytest.raises(DurationError):
        Duration.parse(text)


@pytest.mark.parametrize("text", ["251 workdays", "2000.5 workhours", "8761 hours", "366 days", "99999999 days",
                                  "9" * 400 + " days"])
def test_durations_longer_than_the_caps_are_refused(text):
    with pytest.raises(DurationError, match="太长"):
        Duration.parse(text)


def test_the_caps_themselves_are_allowed_and_add_without_overflow():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from routing.durations import MAX_AMOUNT
    from routing.workcal import WorkCalendar

    cal = WorkCalendar(ZoneInfo("Asia/Shanghai"))
    start = datetime(2026, 10, 9, 9, 0, tzinfo=cal.tz)
    for unit, cap in MAX_AMOUNT.items():
        d = Duration.parse(f"{cap} {unit.value}")
        assert start < cal.add(start, d) < start.replace(year=2028)


def test_str_round_trips():
    assert str(Duration.parse("2 workdays")) == "2 workdays"
    assert Duration.parse(str(Duration.parse("0.5 hours"))) == Duration.parse("0.5 hours")

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


def test_str_round_trips():
    assert str(Duration.parse("2 workdays")) == "2 workdays"
    assert Duration.parse(str(Duration.parse("0.5 hours"))) == Duration.parse("0.5 hours")

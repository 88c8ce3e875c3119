"""SLA durations: `N workdays`, `N workhours`, `N hours`, `N days`."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Unit(str, enum.Enum):
    """How a duration is counted."""

    WORKDAYS = "workdays"
    WORKHOURS = "workhours"
    HOURS = "hours"
    DAYS = "days"

    @property
    def working_time(self) -> bool:
        """True when the unit counts only working time."""
        return self in (Unit.WORKDAYS, Unit.WORKHOURS)


_UNITS = {
    "workday": Unit.WORKDAYS,
    "workdays": Unit.WORKDAYS,
    "workhour": Unit.WORKHOURS,
    "workhours": Unit.WORKHOURS,
    "hour": Unit.HOURS,
    "hours": Unit.HOURS,
    "day": Unit.DAYS,
    "days": Unit.DAYS,
}

# The longest duration of each unit (about a working year; hours and days: a calendar year). A
# deadline further away is a typing mistake, and a much longer one overflows date arithmetic,
# which would fail every registration instead of the config.
MAX_AMOUNT = {Unit.WORKDAYS: 250, Unit.WORKHOURS: 2000, Unit.HOURS: 8760, Unit.DAYS: 365}

_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")


class DurationError(ValueError):
    """A duration string that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Duration:
    """An amount of calendar or working time."""

    amount: float
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse `"2 workdays"`, `"1 workday"`, `"4 workhours"`, `"2 hours"`, `"3 days"`."""
        m = _PATTERN.match(text or "")
        if not m:
            raise DurationError(
                f"{text!r} 不是时长：请写数字加单位，"
                "例如 \"1 workdays\"、\"4 workhours\"、\"2 hours\" 或 \"3 days\""
            )
        amount = float(m.group(1))
        unit = _UNITS.get(m.group(2).lower())
        if unit is None:
            raise DurationError(
                f"{text!r} 里的单位 {m.group(2)!r} 不认识：单位只能是 workdays（工作日）、workhours（工作小时）、"
                "hours（小时）或 days（天）"
            )
        if amount <= 0:
            raise DurationError(f"时长 {text!r} 必须大于零")
        if amount > MAX_AMOUNT[unit]:  # before int(): "1" followed by 400 zeros is float infinity
            limits = "、".join(f"{cap} {u.value}" for u, cap in MAX_AMOUNT.items())
            raise DurationError(f"时长 {text!r} 太长：{unit.value} 最多 {MAX_AMOUNT[unit]}（上限：{limits}）")
        if unit in (Unit.WORKDAYS, Unit.DAYS) and amount != int(amount):
            raise DurationError(f"时长 {text!r}：{unit.value} 必须是整数")
        return cls(amount, unit)

    def __str__(self) -> str:
        n = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{n} {self.unit.value}"

"""Clocks: the real one (the only place that reads the system time) and a manual one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

# The years the bot takes times in (replay lines, --until, review periods). Far outside them a time is
# a mistake, and near year 1 or 9999 turning it into UTC, or adding a deadline to it, overflows.
YEARS = range(2000, 2100)


def check_year(when: date, what: str) -> None:
    """ValueError naming `what` when `when` (a date or a time) falls outside YEARS."""
    if when.year not in YEARS:
        raise ValueError(f"{what} 不在 {YEARS[0]} 年到 {YEARS[-1]} 年之间")


class Clock(Protocol):
    """Where the current time comes from."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: replay, demo and tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware time")
        self._now = start

    def now(self) -> datetime:
        """The time the clock was last set to."""
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to `when` (never backwards)."""
        if when < self._now:
            raise ValueError(f"the clock cannot go back from {self._now.isoformat()} to {when.isoformat()}")
        self._now = when

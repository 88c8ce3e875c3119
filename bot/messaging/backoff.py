"""Waiting between attempts that failed: one rule for resending a message and reconnecting to the gateway."""

from __future__ import annotations

from datetime import timedelta


class Backoff:
    """`first` seconds after the first failure in a row, doubling after each further one, up to `limit`."""

    def __init__(self, first: float = 1.0, limit: float = 60.0) -> None:
        self.first = first
        self.limit = limit
        self.failures = 0

    def after(self, failures: int) -> float:
        """The wait after `failures` failures in a row (1 or more)."""
        return min(self.limit, self.first * 2 ** max(0, failures - 1))

    def delay(self, failures: int) -> timedelta:
        """`after` as a timedelta."""
        return timedelta(seconds=self.after(failures))

    def next(self) -> float:
        """Count one more failure; the wait before the next attempt."""
        self.failures += 1
        return self.after(self.failures)

    def reset(self) -> None:
        """An attempt succeeded: start again from `first`."""
        self.failures = 0

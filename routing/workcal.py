"""The working-time calendar: statutory holidays, make-up days and working hours."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from routing.durations import Duration, Unit
from routing.holidays import YearDays, statutory_days

log = logging.getLogger(__name__)

_MAX_SCAN_DAYS = 3700  # ten years: a calendar with no working day must not loop forever


@functools.cache
def chinese_calendar_years() -> tuple[int, int]:
    """The first and last year the installed chinese_calendar knows."""
    years = [d.year for d in chinese_calendar.constants.holidays]
    return min(years), max(years)


class CalendarError(ValueError):
    """A calendar that cannot be used (e.g. no working hours at all)."""


@dataclass(slots=True)
class WorkCalendar:
    """Which days are working days and which hours of them are working hours."""

    tz: ZoneInfo
    mode: str = "chinese"  # "chinese" or "weekdays"
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    work_hours: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 30), time(17, 30)))
    warned_years: set[int] = field(default_factory=set)
    # years imported from the State Council's notices (`minqing calendar import`): they override chinese_calendar
    years: dict[int, YearDays] = field(default_factory=dict)
    _cache: dict[date, bool] = field(default_factory=dict, repr=False)
    # working seconds from the start of _anchor to the start of each day seen: makes
    # working_seconds O(1), which reports over a million requests need
    _anchor: date | None = field(default=None, repr=False)
    _day_offsets: dict[date, float] = field(default_factory=dict, repr=False)
    _day_periods: dict[date, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict, repr=False)
    _nth_workdays: dict[tuple[date, int], date] = field(default_factory=dict, repr=False)
    _hours_per_day: float = field(default=0.0, repr=False, compare=False)  # set from work_hours

    def __post_init__(self) -> None:
        if self.mode not in ("chinese", "weekdays"):
            raise CalendarError(f"unknown calendar {self.mode!r}; use \"chinese\" or \"weekdays\"")
        if not self.work_hours:
            raise CalendarError("work_hours must list at least one period")
        prev_end: time | None = None
        for start, end in self.work_hours:
            if start >= end:
                raise CalendarError(f"working period {start:%H:%M}-{end:%H:%M} ends before it starts")
            if prev_end is not None and start < prev_end:
                raise CalendarError("working periods must be in order and must not overlap")
            prev_end = end
        self._hours_per_day = sum(
            (datetime.combine(date.min, e) - datetime.combine(date.min, s)).total_seconds()
            for s, e in self.work_hours
        ) / 3600

    # --- days -------------------------------------------------------------
    def is_workday(self, d: date) -> bool:
        """True when d is a working day in this calendar."""
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self.extra_workdays:
            result = True
        elif d in self.extra_holidays:
            result = False
        elif self.mode == "weekdays":
            result = d.weekday() < 5
        else:
            result = self._chinese(d)
        self._cache[d] = result
        return result

    def _chinese(self, d: date) -> bool:
        imported = self.years.get(d.year)
        if imported is not None:
            return imported.is_workday(d)
        try:
            return chinese_calendar.is_workday(d)
        except NotImplementedError:
            if d.year not in self.warned_years:
                self.warned_years.add(d.year)
                log.warning("%s", guess_warning(d.year), extra={"event": "calendar_guessed"})
            return d.weekday() < 5 and d not in statutory_days(d.year)

    def uses_fallback(self, year: int) -> bool:
        """True when the year's days off are a guess: neither imported nor known to chinese_calendar (chinese mode)."""
        if self.mode != "chinese" or year in self.years:
            return False
        first, last = chinese_calendar_years()
        return not first <= year <= last

    def use_years(self, years: Iterable[YearDays]) -> None:
        """Take imported years (they override chinese_calendar for those years); forget what was worked out before."""
        self.years = {y.year: y for y in years}
        self._cache.clear()
        self._day_offsets.clear()
        self._day_periods.clear()
        self._nth_workdays.clear()
        self._anchor = None

    def workdays_from(self, d: date) -> Iterator[date]:
        """Working days from d (inclusive) onwards."""
        for i in range(_MAX_SCAN_DAYS):
            day = d + timedelta(days=i)
            if self.is_workday(day):
                yield day
        raise CalendarError("no working day within ten years: check [calendar]")

    def next_workday(self, d: date) -> date:
        """The first working day strictly after d."""
        return next(self.workdays_from(d + timedelta(days=1)))

    # --- moments ----------------------------------------------------------
    def local(self, t: datetime) -> datetime:
        """t in the calendar's timezone."""
        return t.astimezone(self.tz)

    def _periods(self, d: date) -> Iterator[tuple[datetime, datetime]]:
        for start, end in self.work_hours:
            yield (datetime.combine(d, start, self.tz), datetime.combine(d, end, self.tz))

    def periods_from(self, t: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods that end after t, in order, clipped to start no earlier than t."""
        t = self.local(t)
        for d in self.workdays_from(t.date()):
            for ps, pe in self._periods(d):
                if pe > t:
                    yield (max(ps, t), pe)

    def is_working_moment(self, t: datetime) -> bool:
        """True when t falls inside working hours of a working day."""
        t = self.local(t)
        if not self.is_workday(t.date()):
            return False
        return any(ps <= t < pe for ps, pe in self._periods(t.date()))

    def next_working_moment(self, t: datetime) -> datetime:
        """t itself when inside working hours, else the start of the next working period."""
        t = self.local(t)
        d = t.date()
        for _ in range(_MAX_SCAN_DAYS):
            for ps, pe in self._working_periods(d):
                if pe > t:
                    return max(ps, t)
            d += timedelta(days=1)
        raise CalendarError("no working day within ten years: check [calendar]")

    def nth_workday_after(self, d: date, n: int) -> date:
        """The nth working day after d (d itself for n = 0)."""
        key = (d, n)
        found = self._nth_workdays.get(key)
        if found is None:  # deadlines start on few distinct days: remembered, they cost nothing
            found = d
            for _ in range(n):
                found = self.next_workday(found)
            self._nth_workdays[key] = found
        return found

    # --- arithmetic --------------------------------------------------------
    def add(self, start: datetime, duration: Duration) -> datetime:
        """The moment `duration` after `start` (an aware datetime), in the calendar's timezone."""
        start = self.local(start)
        if duration.unit is Unit.HOURS:
            return start + timedelta(hours=duration.amount)
        if duration.unit is Unit.DAYS:
            return start + timedelta(days=duration.amount)
        if duration.unit is Unit.WORKDAYS:
            s = self.next_working_moment(start)
            d = self.nth_workday_after(s.date(), int(duration.amount))
            return datetime.combine(d, s.timetz().replace(tzinfo=None), self.tz)
        remaining = timedelta(hours=duration.amount)
        for ps, pe in self.periods_from(start):
            if remaining <= pe - ps:
                return ps + remaining
            remaining -= pe - ps
        raise CalendarError("unreachable: periods_from never ends")  # pragma: no cover

    def working_seconds(self, a: datetime, b: datetime) -> float:
        """Working time between a and b, in seconds (0 when b <= a)."""
        if b <= a:
            return 0.0
        tz = self.tz
        return max(0.0, self._worked_until(b.astimezone(tz)) - self._worked_until(a.astimezone(tz)))

    def _worked_until(self, t: datetime) -> float:
        """Working seconds from the anchor day's start to local moment t (negative before the anchor)."""
        d = t.date()
        within = 0.0
        periods = self._day_periods.get(d)
        for ps, pe in self._working_periods(d) if periods is None else periods:
            if t <= ps:
                break
            within += ((pe if t > pe else t) - ps).total_seconds()
        offset = self._day_offsets.get(d)
        return (self._day_offset(d) if offset is None else offset) + within

    def _working_periods(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of day d (none on a day off), remembered."""
        known = self._day_periods.get(d)
        if known is None:
            known = tuple(self._periods(d)) if self.is_workday(d) else ()
            self._day_periods[d] = known
        return known

    def _day_offset(self, d: date) -> float:
        """Working seconds from the start of the anchor day to the start of d."""
        offsets = self._day_offsets
        known = offsets.get(d)
        if known is not None:
            return known
        if self._anchor is None:
            self._anchor = d
            offsets[d] = 0.0
            return 0.0
        step = timedelta(days=1 if d > self._anchor else -1)
        day = d
        while day not in offsets:  # walk back towards a known day, then fill in on the way out
            day -= step
        pending = []
        probe = day
        while probe != d:
            probe += step
            pending.append(probe)
        value = offsets[day]
        for nxt in pending:
            if step.days > 0:
                value += self._day_seconds(nxt - step)
            else:
                value -= self._day_seconds(nxt)
            offsets[nxt] = value
        return value

    def _day_seconds(self, d: date) -> float:
        """Working seconds of the whole day d."""
        return sum((pe - ps).total_seconds() for ps, pe in self._working_periods(d))

    @property
    def hours_per_day(self) -> float:
        """Length of one working day in hours."""
        return self._hours_per_day

    def working_days(self, a: datetime, b: datetime) -> float:
        """Working time between a and b, in working days."""
        return self.working_seconds(a, b) / 3600 / self.hours_per_day


def guess_warning(year: int) -> str:
    """What the operator is told about a year the calendar only guesses (log, check-config, alert)."""
    first, last = chinese_calendar_years()
    return (f"{year} 年的放假安排是推测的：chinese_calendar 只知道 {first}–{last} 年，也没有导入 {year} 年的国务院放假通知。"
            f"暂按《全国年节及纪念日放假办法》（2024年修订）的法定假日（元旦1天、春节4天自除夕起、清明1天、劳动节2天、"
            f"端午1天、中秋1天、国庆3天，农历日期按历法推算）加周一至周五计算，没有调休。"
            f"通知发布后请运行 minqing calendar import 通知文件")


def parse_dates(values: Iterable[str]) -> frozenset[date]:
    """Parse `YYYY-MM-DD` strings (ValueError names the bad one)."""
    out = set()
    for v in values:
        try:
            out.add(date.fromisoformat(v))
        except (TypeError, ValueError):
            raise ValueError(f"{v!r} is not a date in the form YYYY-MM-DD") from None
    return frozenset(out)

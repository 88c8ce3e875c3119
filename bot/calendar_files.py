"""Reading a holiday year from a file: the State Council's notice as text, or an iCalendar (.ics) file."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from routing.holidays import NoticeError, YearDays, notice_year, parse_notice
from storage.oserrors import reason as os_reason

MAX_FILE_BYTES = 2_000_000  # a notice is a page; a year of holidays in iCalendar a few kilobytes


def read_year_file(path: Path, year: int | None = None) -> YearDays:
    """The year a notice (.txt, any other name) or an iCalendar file (.ics) gives (NoticeError says why not)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise NoticeError(f"{path} 太大（超过 {MAX_FILE_BYTES // 1_000_000} MB），不像是放假通知或日历文件")
        data = path.read_bytes()
    except OSError as e:
        raise NoticeError(f"读不了 {path}：{os_reason(e)}") from None
    text = _decode(data, path)
    if path.suffix.lower() == ".ics" or text.lstrip("\ufeff").startswith("BEGIN:VCALENDAR"):
        return parse_ics(text, year)
    return parse_notice(text, year)


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030 (notices saved from Windows); NoticeError otherwise."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise NoticeError(f"{path} 不是文本文件（既不是 UTF-8 也不是 GBK 编码）")


def _day(value) -> date:
    when = value.dt
    return when.date() if isinstance(when, datetime) else when


def parse_ics(text: str, year: int | None = None) -> YearDays:
    """All-day events whose SUMMARY holds 班 (make-up working days: 上班, 补班, 调休上班) or else 休 (days off),
    DTEND exclusive.

    A file may cover several years (a 元旦 range beginning in December): the year is `year`, else the
    one with the most days; days of other years are left out.
    """
    import icalendar  # only an .ics import needs it: not loaded by every command

    try:
        cal = icalendar.Calendar.from_ical(text)
    except ValueError as e:
        raise NoticeError(f"不是有效的 iCalendar 文件：{e}") from None
    off: set[date] = set()
    work: set[date] = set()
    for event in cal.walk("VEVENT"):
        summary = str(event.get("SUMMARY", ""))
        # 班 first: "调休上班" and "补班" are working days although 调休 holds 休
        kind = work if "班" in summary else off if "休" in summary else None
        if kind is None or event.get("DTSTART") is None:
            continue
        try:
            start = _day(event["DTSTART"])
            end = _day(event["DTEND"]) if event.get("DTEND") is not None else start + timedelta(days=1)
        except (ValueError, TypeError, AttributeError, KeyError) as e:  # a broken date property
            raise NoticeError(f"“{summary}”的日期读不出来（{type(e).__name__}）：请检查 DTSTART/DTEND") from None
        if end <= start or (end - start).days > 31:
            raise NoticeError(f"“{summary}”的日期不对：{start} 到 {end}")
        kind.update(start + timedelta(days=k) for k in range((end - start).days))
    if not off and not work:
        raise NoticeError("日历文件里没有标题含“休”或“班”的全天事件")
    if year is None:
        year = Counter(d.year for d in off | work).most_common(1)[0][0]
    return YearDays(year, frozenset(d for d in off if d.year == year), frozenset(d for d in work if d.year == year))


__all__ = ["NoticeError", "notice_year", "parse_ics", "read_year_file"]

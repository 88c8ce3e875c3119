"""`minqing export`: per-request times and per-unit 三率 as CSV (Excel-ready UTF-8) or XLSX.

One row per request registered in the period, written as the requests stream out of the
database; the per-unit summary is written at the end. CSV goes to two files (the rows, and
`<name>-summary.csv`); XLSX to one workbook with the sheets 诉求明细, 汇总, 逾期 (every overdue request
of the period, longest overdue first) and 说明. The XLSX sheets are written in openpyxl's write-only
mode (rows streamed to disk); what reviewers need besides the cells (frozen 编号 and 乡镇 columns and
header, autofilter, landscape A4 print fitted to the width with the header repeated, rates below the
config's thresholds marked) are sheet properties, set before the first row or before the sheet closes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from bot.messaging.render import STATUS_NAMES, TIER_NAMES
from routing.model import Rating, Request, Status, Tier
from routing.notices import NoticeLine, UnitRate
from routing.org import County
from routing.privacy import mask_name, masked
from routing.rates import DEFAULT_SCORING, RATE_NAMES, Person, Rates, Record, Scoring, Unclaimed
from routing.review import OverdueItem, RequestFigures, Review, UnitSummary

XLSX_MAX_ROWS = 1_048_576  # rows of an Excel sheet, the header included
OVERDUE_SHEET = "逾期"
BELOW_FILL = PatternFill(fill_type="solid", start_color="FFC7CE", end_color="FFC7CE")  # Excel's "light red"
BELOW_FONT = Font(color="9C0006")

RATING_NAMES = {Rating.SATISFIED: "满意", Rating.UNSATISFIED: "不满意"}
DIMENSION_NAMES = {"total": "全部", "township": "乡镇", "village": "村", "category": "分类", "handler": "经办人"}
UNCLAIMED = "（无人认领）"


class RowLimitError(Exception):
    """More rows than an Excel sheet holds."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"{rows} 件诉求放不进一张 XLSX 工作表（最多 {limit - 1} 行）："
            "请用 --format csv 导出，或者缩短时期、缩小单位"
        )
        self.rows = rows
        self.limit = limit


# --- columns ---------------------------------------------------------------------
# kinds: text (what people wrote comes masked unless --unmask: see Row), int,
# time (local date and time), hours and days (2 decimals), pct (a rate)
@dataclass(frozen=True, slots=True)
class Column:
    """One column of an export: header, kind of value, width in Excel and how to get the value."""

    header: str
    kind: str
    width: float
    value: Callable[[Any], Any]


def _flag(met: bool | None, pending: str) -> str:
    return "是" if met else ("否" if met is False else pending)


def credit_name(key: Hashable, county: str) -> str:
    """A per-handler entry as people read it: the person's name, or the unit's 无人认领 entry."""
    if isinstance(key, Person):
        return key.name
    if isinstance(key, Unclaimed):
        unit = f"{key.township}{key.village}" if key.township else county
        return f"{unit}{UNCLAIMED}"
    return str(key)


def _tier(t: Tier | None) -> str | None:
    return TIER_NAMES[t] if t is not None else None


class Row:
    """What a request row is made from: its figures, the request, and how to show people's names."""

    __slots__ = ("f", "r", "unmask")

    def __init__(self, f: RequestFigures, unmask: bool) -> None:
        self.f = f
        self.r: Request = f.record.request
        self.unmask = unmask

    def requester(self) -> str:
        """The requester's name, masked unless asked otherwise."""
        return self.r.requester if self.unmask else (mask_name(self.r.requester) or "")

    def content(self) -> str:
        """What the requester wrote, phone and ID numbers masked unless asked otherwise (masked at registration)."""
        r = self.r
        return r.text if self.unmask else masked(r.text, r.masked_text, r.masked_by)


# the columns that name a request, first in the requests' sheet and in the overdue sheet
WHICH_REQUEST: tuple[Column, ...] = (
    Column("编号", "int", 8, lambda x: x.r.number),
    Column("乡镇", "text", 10, lambda x: x.r.township),
    Column("村", "text", 10, lambda x: x.r.village),
    Column("分类", "text", 14, lambda x: x.r.category),
    Column("紧急", "text", 6, lambda x: "是" if x.r.urgent else "否"),
)

REQUEST_COLUMNS: tuple[Column, ...] = (
    *WHICH_REQUEST,
    Column("提出人", "text", 9, Row.requester),
    Column("内容", "text", 40, Row.content),
    Column("状态", "text", 12, lambda x: STATUS_NAMES[x.r.status.value]),
    Column("当前层级", "text", 9, lambda x: TIER_NAMES[x.r.tier]),
    Column("登记时间", "time", 17, lambda x: x.r.created_at),
    Column("首次响应时间", "time", 17, lambda x: x.r.acknowledged_at),
    Column("首次上报时间", "time", 17, lambda x: x.r.escalated_at),
    Column("办结时间", "time", 17, lambda x: x.r.resolved_at),
    Column("关闭时间", "time", 17, lambda x: x.r.closed_at),
    Column("办结层级", "text", 9, lambda x: _tier(x.f.resolved_tier)),
    Column("首次响应人", "text", 12, lambda x: x.f.first_responder.name if x.f.first_responder else None),
    Column("办结人", "text", 10, lambda x: x.f.resolver.name if x.f.resolver else None),
    Column("响应用时(工作小时)", "hours", 11, lambda x: x.f.response_hours),
    Column("办结用时(工作日)", "days", 11, lambda x: x.f.resolution_days),
    Column("村级响应(工作小时)", "hours", 11, lambda x: x.f.response_at(Tier.VILLAGE)),
    Column("村级办理(工作日)", "days", 11, lambda x: x.f.handling_days(Tier.VILLAGE)),
    Column("镇级响应(工作小时)", "hours", 11, lambda x: x.f.response_at(Tier.TOWNSHIP)),
    Column("镇级办理(工作日)", "days", 11, lambda x: x.f.handling_days(Tier.TOWNSHIP)),
    Column("县级响应(工作小时)", "hours", 11, lambda x: x.f.response_at(Tier.COUNTY)),
    Column("县级办理(工作日)", "days", 11, lambda x: x.f.handling_days(Tier.COUNTY)),
    Column("响应期限", "time", 17, lambda x: x.r.first_ack_due_at),
    Column("办结期限", "time", 17, lambda x: x.r.resolve_due_at),
    Column("按时响应", "text", 9, lambda x: _flag(x.f.response_met, "未到期")),
    Column("按时办结", "text", 9,
           lambda x: _flag(x.f.resolution_met, "不计" if x.r.status is Status.REJECTED else "未到期")),
    Column("评价", "text", 7, lambda x: RATING_NAMES.get(x.r.rating) if x.r.rating else None),
    Column("重新办理次数", "int", 8, lambda x: x.r.reopened),
)


class OverdueRow:
    """What an overdue row is made from: the overdue request, and whether names and numbers are shown."""

    __slots__ = ("o", "r", "unmask")

    def __init__(self, o: OverdueItem, unmask: bool) -> None:
        self.o = o
        self.r: Request = o.request
        self.unmask = unmask

    requester = Row.requester
    content = Row.content


OVERDUE_COLUMNS: tuple[Column, ...] = (
    *WHICH_REQUEST,
    Column("当前层级", "text", 9, lambda x: TIER_NAMES[x.r.tier]),
    Column("状态", "text", 12, lambda x: STATUS_NAMES[x.r.status.value]),
    Column("经办人", "text", 10, lambda x: x.r.handler or UNCLAIMED),
    Column("登记时间", "time", 17, lambda x: x.r.created_at),
    Column("逾期起始(时限)", "time", 17, lambda x: x.o.since),
    Column("逾期(工作日)", "days", 11, lambda x: x.o.working_days),
    Column("提出人", "text", 9, OverdueRow.requester),
    Column("内容", "text", 40, OverdueRow.content),
)


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """One line of the summary: a unit of one dimension and its figures."""

    dimension: str
    s: UnitSummary
    county: str = ""

    @property
    def rates(self) -> Rates:
        """The unit's 三率 counts."""
        return self.s.rates

    def name(self) -> str:
        """The unit's name as people read it."""
        key = self.s.key
        if self.dimension == "total":
            return "全部"
        if self.dimension == "village":
            return f"{key[0]}/{key[1]}"
        if self.dimension == "handler":
            return credit_name(key, self.county)
        return str(key)


SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("维度", "text", 10, lambda x: DIMENSION_NAMES[x.dimension]),
    Column("名称", "text", 18, SummaryLine.name),
    Column("登记数", "int", 8, lambda x: x.s.requests),
    Column("已办结", "int", 8, lambda x: x.s.resolved),
    Column("不予受理", "int", 8, lambda x: x.s.rejected),
    Column("在办", "int", 8, lambda x: x.s.active),
    Column("应响应", "int", 8, lambda x: x.rates.due_ack),
    Column("按时响应", "int", 8, lambda x: x.rates.responded_in_time),
    Column("响应率", "pct", 8, lambda x: x.rates.response),
    Column("应办结", "int", 8, lambda x: x.rates.due_resolve),
    Column("按时办结", "int", 8, lambda x: x.rates.resolved_in_time),
    Column("解决率", "pct", 8, lambda x: x.rates.resolution),
    Column("评价数", "int", 8, lambda x: x.rates.rated),
    Column("满意数", "int", 8, lambda x: x.rates.satisfied),
    Column("满意率", "pct", 8, lambda x: x.rates.satisfaction),
    Column("响应用时中位数(工作小时)", "hours", 12, lambda x: x.s.response.median),
    Column("响应用时P90(工作小时)", "hours", 12, lambda x: x.s.response.p90),
    Column("办结用时中位数(工作日)", "days", 12, lambda x: x.s.resolution.median),
    Column("办结用时P90(工作日)", "days", 12, lambda x: x.s.resolution.p90),
)


def units(review: Review, dimension: str, county: County) -> list[UnitSummary]:
    """A dimension's units in the order people look for them: townships and villages as in the
    config, categories and handlers by number of requests."""
    found = review.by(dimension)
    if dimension in ("township", "village"):
        if dimension == "township":
            order = {t.name: i for i, t in enumerate(county.townships)}
        else:
            order = {(v.township, v.name): i for i, v in enumerate(county.villages())}
        return sorted(found, key=lambda u: (order.get(u.key, len(order)), str(u.key)))
    return sorted(found, key=lambda u: (isinstance(u.key, Unclaimed), -u.requests, credit_name(u.key, county.name)))


def summary_lines(review: Review, county: County) -> Iterator[SummaryLine]:
    """The summary: the whole scope, then per township, village, category and first responder."""
    yield SummaryLine("total", review.overall())
    for dimension in ("township", "village", "category", "handler"):
        for s in units(review, dimension, county):
            yield SummaryLine(dimension, s, county.name)


NOTICE_COLUMNS: tuple[Column, ...] = (
    Column("通知编号", "int", 8, lambda x: x.notice.number),
    Column("发出单位", "text", 10, lambda x: x.notice.sender_unit),
    Column("发出人", "text", 8, lambda x: x.notice.sender),
    Column("发出时间", "time", 16, lambda x: x.notice.created_at),
    Column("紧急", "text", 6, lambda x: "是" if x.notice.urgent else "否"),
    Column("范围", "text", 12, lambda x: x.notice.scope or "下属全部单位"),
    Column("内容", "text", 40, lambda x: x.notice.text),
    Column("单位", "text", 16, lambda x: x.unit.name),
    Column("层级", "text", 6, lambda x: TIER_NAMES[x.unit.tier]),
    Column("提醒时限", "time", 16, lambda x: x.notice.remind_at),
    Column("确认时间", "time", 16, lambda x: x.unit.acknowledged_at),
    Column("确认人", "text", 8, lambda x: x.unit.acknowledged_by),
    Column("确认用时(工作小时)", "hours", 12, lambda x: x.working_hours),
    Column("按时确认", "text", 8, lambda x: _flag(x.on_time, "未到期")),
    Column("提醒时间", "time", 16, lambda x: x.unit.reminded_at),
)

NOTICE_SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("单位", "text", 16, lambda x: x.unit),
    Column("层级", "text", 6, lambda x: TIER_NAMES[x.tier]),
    Column("通知数", "int", 8, lambda x: x.notices),
    Column("已确认", "int", 8, lambda x: x.acknowledged),
    Column("应确认", "int", 8, lambda x: x.due),
    Column("按时确认", "int", 8, lambda x: x.on_time),
    Column("通知响应率", "pct", 10, lambda x: x.rate),
    Column("确认用时中位数(工作小时)", "hours", 14, lambda x: x.median_hours),
)


# --- writers ----------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_formats(tz: ZoneInfo) -> dict[str, Callable[[Any], Any]]:
    """How a CSV cell shows a value of each kind (None: an empty cell)."""

    def text(v: Any) -> Any:
        if v is None:
            return ""
        return "'" + v if v[:1] in _FORMULA_START else v  # Excel would run text that people wrote as a formula

    def time(v: Any) -> Any:
        if v is None:
            return ""
        t = v.astimezone(tz)
        return "%04d-%02d-%02d %02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute)

    def number(v: Any) -> Any:
        return "" if v is None else f"{v:.2f}"

    def pct(v: Any) -> Any:
        return "" if v is None else f"{v * 100:.1f}%"

    def plain(v: Any) -> Any:
        return "" if v is None else v

    return {"text": text, "time": time, "hours": number, "days": number, "pct": pct, "int": plain}


def request_cells(tz: ZoneInfo) -> Callable[[Row], list]:
    """The CSV cells of a request row in one function: what REQUEST_COLUMNS with `_csv_formats` give, cell for
    cell (a test holds the two together), without two calls per cell: a million rows are 31 million cells."""
    formats = _csv_formats(tz)
    s, t, n = formats["text"], formats["time"], formats["hours"]
    village, township, county = Tier.VILLAGE, Tier.TOWNSHIP, Tier.COUNTY
    status_names, tier_names, rating_names = STATUS_NAMES, TIER_NAMES, RATING_NAMES
    rejected = Status.REJECTED

    def cells(x: Row) -> list:
        r, f = x.r, x.f
        tiers, per_day = f.tiers, f.hours_per_day
        v, tw, c = tiers.get(village), tiers.get(township), tiers.get(county)
        met = f.resolution_met
        return [
            r.number, s(r.township), s(r.village), s(r.category), "是" if r.urgent else "否", s(x.requester()),
            s(x.content()), status_names[r.status.value], tier_names[r.tier],
            t(r.created_at), t(r.acknowledged_at), t(r.escalated_at), t(r.resolved_at), t(r.closed_at),
            "" if f.resolved_tier is None else tier_names[f.resolved_tier],
            "" if f.first_responder is None else s(f.first_responder.name),
            "" if f.resolver is None else s(f.resolver.name),
            n(f.response_hours), n(f.resolution_days),
            "" if v is None else n(v.response_hours), "" if v is None else n(v.handling_seconds / 3600 / per_day),
            "" if tw is None else n(tw.response_hours), "" if tw is None else n(tw.handling_seconds / 3600 / per_day),
            "" if c is None else n(c.response_hours), "" if c is None else n(c.handling_seconds / 3600 / per_day),
            t(r.first_ack_due_at), t(r.resolve_due_at),
            _flag(f.response_met, "未到期"), _flag(met, "不计" if r.status is rejected else "未到期"),
            rating_names.get(r.rating) or "" if r.rating else "", r.reopened,
        ]

    return cells


class CsvTable:
    """A CSV file that Excel opens with Chinese intact: UTF-8 with a BOM, CRLF line ends."""

    def __init__(self, path: Path, columns: tuple[Column, ...], tz: ZoneInfo, header: bool = True) -> None:
        """A new file with the BOM and the header row; or, with header=False, rows appended to a file."""
        self.path = path
        self.columns = columns
        # each column's value and how it is shown, chosen once: a large export writes tens of millions of cells
        formats = _csv_formats(tz)
        self._cells = tuple((c.value, formats[c.kind]) for c in columns)
        if header:
            self._file = path.open("w", encoding="utf-8-sig", newline="")
        else:
            self._file = path.open("a", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file)
        if header:
            self._csv.writerow([c.header for c in columns])

    def write(self, item: Any) -> None:
        """Write one row."""
        self._csv.writerow([show(value(item)) for value, show in self._cells])

    def write_cells(self, cells: list) -> None:
        """Write one row of cells formatted already (`request_cells`)."""
        self._csv.writerow(cells)

    def close(self) -> None:
        """Finish the file."""
        self._file.close()


_XLSX_FORMATS = {"time": "yyyy-mm-dd hh:mm", "hours": "0.00", "days": "0.00", "pct": "0.0%", "int": "0"}


class XlsxSheet:
    """A sheet of a write-only workbook: typed cells, set widths, bold header; the header and the first
    `frozen_columns` columns frozen, landscape A4 print fitted to the page width with the header repeated
    on every page, and (at `finish`) an autofilter over the rows written."""

    def __init__(self, wb: Workbook, title: str, columns: tuple[Column, ...], tz: ZoneInfo,
                 max_rows: int = XLSX_MAX_ROWS, frozen_columns: int = 2) -> None:
        self.ws = wb.create_sheet(title)
        self.columns = columns
        self.tz = tz
        self.max_rows = max_rows
        self.rows = 0
        ws = self.ws
        for i, c in enumerate(columns, 1):  # a write-only sheet takes widths only before its first row
            ws.column_dimensions[get_column_letter(i)].width = c.width
        ws.freeze_panes = f"{get_column_letter(frozen_columns + 1)}2"
        # print: written with the sheet's first row (properties) or when it closes (setup, titles)
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
        ws.print_title_rows = "1:1"
        # one styled cell per typed column, given each row's value: styling a new cell per value
        # (a style lookup each) would take most of the time of a large export
        self._typed = {i: self._styled(c.kind) for i, c in enumerate(columns) if c.kind in _XLSX_FORMATS}
        header = []
        for c in columns:
            cell = WriteOnlyCell(ws, value=c.header)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            header.append(cell)
        ws.append(header)

    def _styled(self, kind: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.ws)
        cell.number_format = _XLSX_FORMATS[kind]
        return cell

    def write(self, item: Any) -> None:
        """Write one row (RowLimitError when the sheet is full)."""
        if self.rows + 1 >= self.max_rows:
            raise RowLimitError(self.rows + 1, self.max_rows)
        self.rows += 1
        row = []
        for i, c in enumerate(self.columns):
            v = c.value(item)
            if v is None:
                row.append(None)
            elif c.kind == "text":
                if v.startswith("="):  # a string, not a formula, whatever people wrote
                    cell = WriteOnlyCell(self.ws, value=v)
                    cell.data_type = "s"
                    v = cell
                row.append(v)
            else:
                if c.kind == "time":
                    v = v.astimezone(self.tz).replace(tzinfo=None)  # Excel has no time zones: local time
                cell = self._typed[i]
                cell.value = v
                row.append(cell)
        self.ws.append(row)  # the sheet writes the row out at once, so the cells can be reused

    def column_range(self, header: str) -> str:
        """The cells of a column below the header, e.g. "I2:I40"."""
        letter = get_column_letter([c.header for c in self.columns].index(header) + 1)
        return f"{letter}2:{letter}{self.rows + 1}"

    def mark_below(self, thresholds: Scoring) -> None:
        """Rates below the config's thresholds in light red (conditional formatting: Excel decides, and a
        reviewer who edits a figure sees the mark follow)."""
        if not self.rows:
            return
        for name, threshold in zip(RATE_NAMES, thresholds.thresholds, strict=True):
            if threshold is None:
                continue
            header = RATE_HEADERS[name]
            self.ws.conditional_formatting.add(
                self.column_range(header),
                CellIsRule(operator="lessThan", formula=[repr(threshold)], fill=BELOW_FILL, font=BELOW_FONT))

    def finish(self) -> None:
        """What is set once the rows are known: the autofilter over header and rows."""
        last = get_column_letter(len(self.columns))
        self.ws.auto_filter.ref = f"A1:{last}{self.rows + 1}"


RATE_HEADERS = {"response": "响应率", "resolution": "解决率", "satisfaction": "满意率"}


# --- the export ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    rows: int
    files: tuple[Path, ...]


def summary_path(out: Path) -> Path:
    """Where a CSV export puts its summary: beside the rows, `<name>-summary.csv`."""
    return out.with_name(f"{out.stem}-summary{out.suffix or '.csv'}")


def notice_paths(out: Path) -> tuple[Path, Path]:
    """Where a CSV export puts its notices: `<name>-notices.csv` (each unit of each notice) and
    `<name>-notices-summary.csv` (通知响应率 per unit)."""
    suffix = out.suffix or ".csv"
    return out.with_name(f"{out.stem}-notices{suffix}"), out.with_name(f"{out.stem}-notices-summary{suffix}")


def export_notices_csv(lines: list[NoticeLine], rates: list[UnitRate], out: Path, tz: ZoneInfo) -> tuple[Path, ...]:
    """The notices of a CSV export in their two files (each appears only when complete)."""
    targets = list(notice_paths(out))

    def write(paths: list[Path]) -> int:
        for path, columns, items in ((paths[0], NOTICE_COLUMNS, lines), (paths[1], NOTICE_SUMMARY_COLUMNS, rates)):
            table = CsvTable(path, columns, tz)
            try:
                for item in items:
                    table.write(item)
            finally:
                table.close()
        return len(lines)

    return _finished(targets, write).files


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def export(
    review: Review,
    requests: Iterable[Record],
    stray_ratings: Iterable[Record],
    out: Path,
    fmt: str,
    *,
    county: County,
    unmask: bool,
    notes: list[str],
    max_rows: int = XLSX_MAX_ROWS,
    scoring: Scoring = DEFAULT_SCORING,
    notices: tuple[list[NoticeLine], list[UnitRate]] = ([], []),
) -> ExportResult:
    """Stream the requests through the review into the rows file, then write the summary (one process).

    An XLSX's 逾期 sheet lists the review's overdue requests: make the review with `overdue_listed=
    XLSX_MAX_ROWS` for all of them (the sheet says so when some are left out). XLSX holds the notices in
    two sheets of its own (通知明细, 通知响应率); CSV leaves them to `export_notices_csv`."""
    tz = review.calendar.tz
    if fmt == "xlsx":
        return _finished([out], lambda paths: _xlsx(review, requests, stray_ratings, paths[0], tz, county, unmask,
                                                     notes, max_rows, scoring, notices))

    def rows_into(path: Path) -> tuple[Review, int]:
        return review, write_rows(review, requests, stray_ratings, path, unmask)

    return export_csv(rows_into, out, county, tz, unmask)


def export_csv(rows_into: Callable[[Path], tuple[Review, int]], out: Path, county: County, tz: ZoneInfo,
               unmask: bool) -> ExportResult:
    """A CSV export: the header, the rows `rows_into(path)` appends to the file (returning the review
    they were counted in and how many there were), then the summary of that review in its own file."""

    def write(paths: list[Path]) -> int:
        CsvTable(paths[0], REQUEST_COLUMNS, tz).close()  # the header
        review, rows = rows_into(paths[0])
        summary = CsvTable(paths[1], SUMMARY_COLUMNS, tz)
        try:
            for line in summary_lines(review, county):
                summary.write(line)
        finally:
            summary.close()
        return rows

    return _finished([out, summary_path(out)], write)


def _finished(targets: list[Path], write: Callable[[list[Path]], int]) -> ExportResult:
    """Files that appear only when complete: written beside their names under temporary ones and renamed
    at the end, so a failed export leaves nothing half-written behind."""
    partials = [_partial(p) for p in targets]
    try:
        rows = write(partials)
        for tmp, final in zip(partials, targets, strict=True):
            os.replace(tmp, final)
    finally:
        for tmp in partials:
            tmp.unlink(missing_ok=True)
    return ExportResult(rows, tuple(targets))


def _feed(review: Review, requests: Iterable[Record], stray_ratings: Iterable[Record], unmask: bool) -> Iterator[Row]:
    for rec in requests:
        f = review.add(rec)
        if review.scope.created_in(rec.request):
            yield Row(f, unmask)
    for rec in stray_ratings:
        review.add_rating(rec)


def write_rows(review: Review, requests: Iterable[Record], stray_ratings: Iterable[Record], path: Path,
               unmask: bool) -> int:
    """Count the records in the review and append the rows of those registered in the period to a CSV
    file (no header: it is there already, or this is a part of the rows); returns how many."""
    rows = 0
    table = CsvTable(path, REQUEST_COLUMNS, review.calendar.tz, header=False)
    cells = request_cells(review.calendar.tz)
    try:
        for row in _feed(review, requests, stray_ratings, unmask):
            table.write_cells(cells(row))
            rows += 1
    finally:
        table.close()
    return rows


def _xlsx(review, requests, stray_ratings, path: Path, tz: ZoneInfo, county: County, unmask: bool,
          notes: list[str], max_rows: int, scoring: Scoring = DEFAULT_SCORING,
          notices: tuple[list[NoticeLine], list[UnitRate]] = ([], [])) -> int:
    wb = Workbook(write_only=True)
    try:
        sheet = XlsxSheet(wb, "诉求明细", REQUEST_COLUMNS, tz, max_rows)
        for row in _feed(review, requests, stray_ratings, unmask):
            sheet.write(row)
        sheet.finish()
        summary = XlsxSheet(wb, "汇总", SUMMARY_COLUMNS, tz)
        for line in summary_lines(review, county):
            summary.write(line)
        summary.mark_below(scoring)
        summary.finish()
        overdue = XlsxSheet(wb, OVERDUE_SHEET, OVERDUE_COLUMNS, tz)
        listed = review.overdue()
        for item in listed:
            overdue.write(OverdueRow(item, unmask))
        overdue.finish()
        if review.overdue_count > len(listed):  # a review made to list only some (never by `minqing export`)
            overdue.ws.append([f"另有{review.overdue_count - len(listed)}件未列出"])
        for title, columns, items in (("通知明细", NOTICE_COLUMNS, notices[0]),
                                      ("通知响应率", NOTICE_SUMMARY_COLUMNS, notices[1])):
            table = XlsxSheet(wb, title, columns, tz)
            for item in items:
                table.write(item)
            table.finish()
        about = wb.create_sheet("说明")
        about.column_dimensions["A"].width = 100
        for line in notes:
            about.append([line])
        wb.save(path)
    except BaseException:
        for ws in wb.worksheets:  # finish the sheets' streams, or they complain when collected
            if not ws.closed:
                ws.close()
        raise
    return sheet.rows

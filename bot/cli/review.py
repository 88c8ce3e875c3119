"""The reviewers' commands: `export` and `report`.

What `--from/--to` select: the requests registered from the start of `--from` to the end of
`--to` (both inclusive), as local dates in the configured timezone. The 三率 of the period
count, as everywhere, the deadlines and ratings that fall in it (a request registered just
before the period whose deadline falls in it counts in its 解决率). Reports read one
consistent snapshot of the database and never block the running bot.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    BAD_CONFIG,
    FAILURE,
    MAX_NUMBER,
    ConfigError,
    ConfigOpt,
    DbOpt,
    Exit,
    UnmaskOpt,
    audit,
    output_path_ok,
    load,
    open_database,
    stdout,
)
from bot.clock import SystemClock
from bot.config import Config
from bot.review import parts
from bot.review.numeric import numpy_spread
from bot.review.period import make_scope
from routing.notices import notice_record
from routing.review import Review, Scope
from storage.oserrors import reason as os_reason
from storage.reports import categories_used, count_registered, review_requests, stray_ratings

FORMATS = ("csv", "xlsx")

log = logging.getLogger(__name__)

FromOpt = Annotated[str, typer.Option("--from", help="统计期第一天（YYYY-MM-DD，当地日期）。")]
ToOpt = Annotated[str, typer.Option("--to", help="统计期最后一天（含当日）。")]
TownshipOpt = Annotated[str | None, typer.Option("--township", help="只统计这个镇。")]
VillageOpt = Annotated[str | None, typer.Option("--village", help="只统计这个名字的村。")]
CategoryOpt = Annotated[str | None, typer.Option("--category", help="只统计这个分类。")]
JobsOpt = Annotated[int | None, typer.Option(
    "--jobs", min=1, max=64,
    help="并行进程数（默认：本机处理器数，最多 4）。诉求按编号分成若干段，各进程读完一段再取下一段，结果与单进程完全相同。")]


def scope_or_exit(cfg: Config, date_from: str, date_to: str, township: str | None = None,
                  village: str | None = None, category: str | None = None) -> Scope:
    """The scope, or exit with status 2 saying what is wrong with the options."""
    try:
        return make_scope(cfg, date_from, date_to, township, village, category)
    except ValueError as e:
        raise Exit(BAD_CONFIG, str(e)) from None


def category_or_exit(cfg: Config, database, category: str) -> None:
    """Exit with status 2 when no request could have the category: neither one the config gives (the taxonomy,
    the county's own, 其他), nor one a stored request has (a model used before), nor one of the configured model's.
    The model file is read only when the others do not know the name, and an export never fails for want of it
    (on another computer, say): its categories are then simply not offered."""
    from bot.app import configured_model
    from routing.tagging import Tagger

    known = Tagger(cfg.category_keywords).category_names
    if category in known:
        return
    with database.snapshot() as tx:
        used = categories_used(tx)
    if category in used:
        return
    try:
        model = configured_model(cfg, warm=False)
    except ConfigError as e:
        log.warning("export_category_model_unreadable %s", e)
        model = None
    modelled = list(model.classes) if model is not None else []
    if category in modelled:
        return
    database.dispose()
    names = "、".join(dict.fromkeys([*known[:-1], *modelled, *used, known[-1]]))
    raise Exit(BAD_CONFIG, f"--category {category!r} 不是已知的分类（可选：{names}）")


def notice_lines(tx, cfg: Config, scope: Scope, now: datetime):
    """The notices of an export: those whose reminder moment falls in the period (as requests count by their
    deadlines), each unit in the scope's township or village, and 通知响应率 per unit as of the period's end
    or now, whichever is earlier: a past period's figures never change."""
    notices = tx.notices(scope.start, scope.end, by="remind")

    def keep(unit) -> bool:
        return ((scope.township is None or unit.township == scope.township)
                and (scope.village is None or unit.village == scope.village))

    return notice_record(notices, min(now, scope.end), cfg.policy.calendar, cfg.county, keep)


def export_cmd(
    date_from: FromOpt,
    date_to: ToOpt,
    out: Annotated[Path, typer.Option("--out", help="要写入的文件（CSV 另写 <文件名>-summary.csv 和通知的两个文件）。")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv 或 xlsx（默认按 --out 的扩展名）。")] = None,
    township: TownshipOpt = None,
    village: VillageOpt = None,
    category: CategoryOpt = None,
    unmask: UnmaskOpt = False,
    jobs: JobsOpt = None,
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """导出一段时期的诉求明细和三率，供绩效考核用。

    每件诉求的各项时间和用时、各单位（镇、村、分类、经办人）的三率，以及各单位确认通知的用时和通知响应率。
    """
    from bot.review import export as exporting  # openpyxl: loaded only when needed
    from bot.review.text import notes_lines
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise Exit(BAD_CONFIG, f"--format 只能是 csv 或 xlsx（现在是 {fmt or '空'!r}）")
    cfg = load(config)
    scope = scope_or_exit(cfg, date_from, date_to, township, village, category)
    output_path_ok(out, "--out")
    database = open_database(cfg, db, must_exist=True)
    if category is not None:
        category_or_exit(cfg, database, category)
    now = SystemClock().now()
    try:
        with database.snapshot() as tx:
            notices = notice_lines(tx, cfg, scope, now)
        if fmt == "xlsx":
            with database.snapshot() as tx:
                n = count_registered(tx, scope)
            if n >= exporting.XLSX_MAX_ROWS:
                raise exporting.RowLimitError(n, exporting.XLSX_MAX_ROWS)
        if unmask:
            audit(database, "export_unmasked", {
                "from": date_from, "to": date_to, "township": township, "village": village,
                "category": category, "format": fmt, "out": str(out.resolve()),
            }, now)
        if fmt == "csv":  # read in parts by processes of their own; the rows joined in number order
            def rows_into(path: Path) -> tuple[Review, int]:
                got = parts.read(database, cfg, scope, now, jobs=jobs or parts.default_jobs(), weeks=False,
                                 rows=path, unmask=unmask)
                log.info("export_read processes=%d peak_mib=%s", got.processes,
                         ",".join(f"{p:.0f}" for p in got.peaks_mib))
                return got.review, got.rows

            result = exporting.export_csv(rows_into, out, cfg.county, cfg.tz, unmask)
            result = exporting.ExportResult(result.rows, result.files + exporting.export_notices_csv(
                *notices, out, cfg.tz))
        else:
            # an export shows no weeks; its 逾期 sheet lists every overdue request of the period
            review = Review(scope, cfg.policy.calendar, now, weeks=False, overdue_listed=exporting.XLSX_MAX_ROWS,
                            spread=numpy_spread)
            notes = notes_lines(cfg, scope, now, unmask=unmask)
            with database.snapshot() as tx:
                result = exporting.export(review, review_requests(tx, scope), stray_ratings(tx, scope), out, fmt,
                                          county=cfg.county, unmask=unmask, notes=notes,
                                          max_rows=exporting.XLSX_MAX_ROWS, scoring=cfg.policy.scoring,
                                          notices=notices)
    except exporting.RowLimitError as e:
        raise Exit(BAD_CONFIG, str(e)) from None
    except OSError as e:
        raise Exit(FAILURE, f"无法写入 {out}：{os_reason(e)}") from None
    finally:
        database.dispose()
    log.info("export: %d requests to %s", result.rows, ", ".join(map(str, result.files)))
    stdout().print(f"{result.rows} 件诉求 → " + "、".join(str(p) for p in result.files))

def report_cmd(
    out: Annotated[Path, typer.Option("--out", help="要写入的 HTML 文件。")],
    date_from: Annotated[str | None, typer.Option("--from", help="统计期第一天（YYYY-MM-DD，当地日期）。")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="统计期最后一天（含当日）。")] = None,
    township: TownshipOpt = None,
    request: Annotated[int | None, typer.Option(
        "--request", min=1, max=MAX_NUMBER, help="只写这一件诉求的办理过程（每条记录的时间、层级、人和时限，各层级用时）；不需要 --from/--to。")] = None,
    jobs: JobsOpt = None,
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """写一份可在 A4 纸上打印的通报（HTML）：排名、与上期比较、低于标准的单位、热点、逾期清单；或一件诉求的办理过程。"""
    cfg = load(config)
    if request is not None:
        if date_from or date_to or township:
            raise Exit(BAD_CONFIG, "--request 单独使用，不与 --from/--to/--township 同用")
        return _request_page(cfg, request, out, db)
    if not date_from or not date_to:
        raise Exit(BAD_CONFIG, "需要 --from 和 --to（或 --request N）")
    from bot.review.report import OVERDUE_LISTED, previous_scope, write_report  # matplotlib: loaded only when needed
    scope = scope_or_exit(cfg, date_from, date_to, township)
    output_path_ok(out, "--out")
    database = open_database(cfg, db, must_exist=True)
    now = SystemClock().now()
    n = jobs or parts.default_jobs()
    try:
        got = parts.read(database, cfg, scope, now, jobs=n, overdue_listed=OVERDUE_LISTED)
        log.info("report_read processes=%d peak_mib=%s", got.processes, ",".join(f"{p:.0f}" for p in got.peaks_mib))
        review = got.review
        # the previous period, for the changes: no weeks, no overdue list
        before = parts.read(database, cfg, previous_scope(scope, cfg), now, jobs=n, weeks=False, overdue_listed=0)
        write_report(review, cfg, out, before.review)
    except OSError as e:
        raise Exit(FAILURE, f"无法写入 {out}：{os_reason(e)}") from None
    finally:
        database.dispose()
    total = review.overall()
    stdout().print(f"{total.requests} 件诉求 → {out}")


def _request_page(cfg: Config, number: int, out: Path, db: str | None) -> None:
    """`report --request N`: the request's timeline page."""
    from bot.review.report import write_page
    from bot.review.timeline import render_timeline
    output_path_ok(out, "--out")
    database = open_database(cfg, db, must_exist=True)
    now = SystemClock().now()
    try:
        with database.snapshot() as tx:
            records = tx.records_of([number])
            events = tx.events(number) if records else []
        if not records:
            raise Exit(FAILURE, f"没有诉求 #{number}")
        write_page(render_timeline(records[0], events, cfg, now), out)
    except OSError as e:
        raise Exit(FAILURE, f"无法写入 {out}：{os_reason(e)}") from None
    finally:
        database.dispose()
    stdout().print(f"#{number} → {out}")

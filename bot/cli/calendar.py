"""Holiday years: `calendar import` stores a year from the State Council's notice, `calendar show` prints one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import chinese_calendar
import typer

from bot.calendar_files import read_year_file
from bot.cli.common import BAD_CONFIG, BAD_INPUT, ConfigOpt, DbOpt, Exit, err, load, load_years, open_database, stdout
from bot.clock import SystemClock
from bot.config import Config
from routing.holidays import NoticeError, YearDays, statutory_days
from routing.service import RelayService
from routing.tagging import Tagger
from routing.workcal import chinese_calendar_years, guess_warning
from storage.db import Database

calendar_app = typer.Typer(help="放假安排：导入国务院每年的放假通知（或 .ics 日历），查看某一年的放假和调休上班日。",
                           no_args_is_help=True)

YEAR_MIN, YEAR_MAX = 2000, 2200


def reschedule(config: Config, database: Database) -> int:
    """Work out again the guessed deadlines not yet passed (each an event); how many requests changed."""
    service = RelayService(config.county, config.policy,
                           Tagger(config.category_keywords, config.raw.urgency.keywords, None))
    with database.transaction() as tx:
        return len(service.reschedule_provisional(tx, SystemClock().now()))


@calendar_app.command("import")
def import_year(
    file: Annotated[Path, typer.Argument(help="国务院办公厅关于某年部分节假日安排的通知（文本文件），或 .ics 日历文件。")],
    year: Annotated[int | None, typer.Option("--year", help="年份（通知标题里没有年份、或 .ics 文件跨几年时指定）。")] = None,
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """导入一年的放假安排：存进数据库，覆盖 chinese_calendar 对这一年的数据；之后按推测日历算出、还没到的时限会重算。"""
    cfg = load(config)
    if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
        raise Exit(BAD_CONFIG, f"--year {year} 不是合理的年份（{YEAR_MIN}–{YEAR_MAX}）")
    try:
        days = read_year_file(file, year)
    except NoticeError as e:
        raise Exit(BAD_INPUT, f"无法导入 {file}：{e}") from None
    if not YEAR_MIN <= days.year <= YEAR_MAX:
        raise Exit(BAD_INPUT, f"无法导入 {file}：{days.year} 不是合理的年份")
    database = open_database(cfg, db)
    try:
        with database.transaction() as tx:
            replaced = tx.store_calendar_year(days, file.name, SystemClock().now())
        load_years(cfg, database)
        changed = reschedule(cfg, database)
    finally:
        database.dispose()
    out = stdout()
    out.print(f"{'已更新' if replaced else '已导入'} {days.year} 年放假安排（{file.name}）：放假 {len(days.off)} 天，"
              f"调休上班 {len(days.work)} 天", markup=False)
    out.print(f"重算了 {changed} 件诉求的时限（原按推测日历计算、尚未到期）", markup=False)
    out.print("正在运行的机器人要重启后才按新的安排计算（如 systemctl restart minqing）", markup=False)


def year_days(config: Config, database: Database, year: int) -> tuple[YearDays, str]:
    """A year's days off and make-up working days, and where they come from."""
    imported = {y.year: y for y in load_years(config, database)}
    if year in imported:
        with database.snapshot() as tx:
            source, at = tx.calendar_sources().get(year, ("?", None))
        when = f"，{at.astimezone(config.tz):%Y-%m-%d %H:%M} 导入" if at else ""
        return imported[year], f"来源：导入的 {source}{when}"
    first, last = chinese_calendar_years()
    if first <= year <= last:
        off = frozenset(d for d in chinese_calendar.constants.holidays if d.year == year)
        work = frozenset(d for d in chinese_calendar.constants.workdays if d.year == year)
        return YearDays(year, off, work), f"来源：chinese_calendar {chinese_calendar.__version__}"
    return YearDays(year, statutory_days(year), frozenset()), "警告：" + guess_warning(year)


@calendar_app.command("show")
def show(
    year: Annotated[int, typer.Argument(help="年份，如 2027。")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """列出一年的放假日（“YYYY-MM-DD 休”，假期中的周末也列出）和调休上班日（“YYYY-MM-DD 班”），每行一天。"""
    if not YEAR_MIN <= year <= YEAR_MAX:  # the command line is wrong, not an input file: usage, exit 2
        raise Exit(BAD_CONFIG, f"{year} 不是合理的年份（{YEAR_MIN}–{YEAR_MAX}）")
    cfg = load(config)
    database = open_database(cfg, db)
    try:
        days, source = year_days(cfg, database, year)
    finally:
        database.dispose()
    err.print(source, markup=False, highlight=False)
    out = stdout()
    for line in days.lines():
        out.print(line, markup=False, highlight=False)


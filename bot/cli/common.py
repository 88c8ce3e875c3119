"""What every `minqing` command shares: exit codes, options, consoles, loading the config and database."""

from __future__ import annotations

import enum
import getpass
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.clock import SystemClock
from bot.config import Config, ConfigError, load_config
from routing.holidays import YearDays
from storage.db import Database, DatabaseError, database_url


class ExitCode(enum.IntEnum):
    """The exit status of every command (shared/design.md, section 4)."""

    OK = 0
    FAILURE = 1  # runtime failure
    BAD_CONFIG = 2  # bad config or usage
    BAD_INPUT = 3  # bad input data


OK, FAILURE, BAD_CONFIG, BAD_INPUT = ExitCode.OK, ExitCode.FAILURE, ExitCode.BAD_CONFIG, ExitCode.BAD_INPUT
MAX_NUMBER = 2**31 - 1  # request numbers are stored in an INTEGER column (32 bits on PostgreSQL)


class Exit(Exception):
    """Leave the CLI with a message and an exit status."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code


err = Console(stderr=True, soft_wrap=True, highlight=False)


def stdout() -> Console:
    """Standard output; wide when it is not a terminal, so tables are not cut for files and pipes."""
    return Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 200)


ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="MINQING_CONFIG", help="配置文件（TOML）。", show_default=True),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="数据库文件路径或 URL（默认：配置里写的数据库）。"),
]
UnmaskOpt = Annotated[
    bool,
    typer.Option("--unmask", help="不打码：显示姓名和号码（记入审计）。"),
]


def first_line(e: BaseException) -> str:
    """The first line of an error's message; for a database error the driver's, without the SQL."""
    cause = getattr(e, "orig", None) or e  # SQLAlchemy's message goes on with the statement and a link
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def output_path_ok(path: Path, what: str) -> None:
    """Exit with status 2 when a file cannot be written at `path`: its folder is missing or not writable, or the
    path is something other than a regular file (a link, a device, a pipe, a folder), which writing would replace."""
    if not path.parent.is_dir():
        raise Exit(BAD_CONFIG, f"{what}：文件夹 {path.parent} 不存在，请先建好这个文件夹或换一个位置")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        kind = ("符号链接" if path.is_symlink() else "文件夹" if path.is_dir() else "设备或管道等特殊文件")
        raise Exit(BAD_CONFIG, f"{what}：{path} 是{kind}，不是普通文件，不会覆盖它；请换一个普通文件的路径")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise Exit(BAD_CONFIG, f"{what}：没有权限在文件夹 {path.parent} 里写文件，请换一个位置")


def load(path: Path) -> Config:
    """The config, or exit with status 2 listing its problems."""
    try:
        return load_config(path)
    except ConfigError as e:
        raise Exit(BAD_CONFIG, str(e)) from None


def open_database(config: Config, db: str | None, *, must_exist: bool = False) -> Database:
    """The database of `--db`, else the config's; exit with status 1 when it cannot be used."""
    url = database_url(db, Path.cwd()) if db else database_url(config.database, config.base_dir)
    try:
        database = Database(url, config.county.name, create=False)
        if must_exist and not database.has_tables():
            raise Exit(FAILURE, f"{database.safe_url} 里还没有民情直通车的数据")
        database.create()
        load_years(config, database)
        warn_other_counties(config, database)
        return database
    except DatabaseError as e:
        raise Exit(FAILURE, str(e)) from None


def warn_other_counties(config: Config, database: Database) -> None:
    """Warn when the database holds only other counties' requests (the county renamed in the config?)."""
    others = database.other_counties()
    if not others:
        return
    held = "、".join(f"“{name}”" for name in others)
    county = config.county.name
    err.print(f"警告：数据库里没有“{county}”（配置里的县名）的诉求，却有{held}的。如果改过配置里的县名，原来的诉求、编号、"
              "提醒和三率都接不上（新诉求会从 #1 重新编号）：请把 [county] name 改回原来的名字。几个县共用这个文件、"
              "本县刚开始用时，登记第一件诉求后这条警告就不再出现。", markup=False, highlight=False)


def load_years(config: Config, database: Database) -> list[YearDays]:
    """Give the config's calendar the holiday years imported into this database (`calendar import`); returns them."""
    with database.snapshot() as tx:
        years = tx.calendar_years()
    config.policy.calendar.use_years(years)
    return years


def open_all(config: Path, db: str | None) -> tuple[Console, Config, Database]:
    """Standard output, the config and its database: what most commands start with."""
    cfg = load(config)
    return stdout(), cfg, open_database(cfg, db, must_exist=True)


def audit(database: Database, action: str, detail: dict, at: datetime | None = None) -> None:
    """Record that the operating-system user running this command did `action` (e.g. saw unmasked data)."""
    with database.transaction() as tx:
        tx.audit(at or SystemClock().now(), getpass.getuser(), action, detail)

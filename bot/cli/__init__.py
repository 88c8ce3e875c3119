"""The `minqing` command line: one table of commands, each carried out by a module of this package.

- `bot.cli.common`: exit codes, shared options, loading the config and the database;
- `bot.cli.operate`: check-config, run, backup;
- `bot.cli.simulate`: replay, demo;
- `bot.cli.requests`: list, show, rooms, failed;
- `bot.cli.people`: people, people pin, people unpin;
- `bot.cli.calendar`: calendar import, calendar show;
- `bot.cli.review`: export, report;
- `bot.cli.tagger`: tagger train, tagger eval, tagger corrections.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from typing import Annotated, NoReturn

import typer

from bot.cli import notices, operate, requests, review, simulate, usage
from bot.cli.common import BAD_CONFIG, FAILURE, Exit, err, first_line
from bot.cli.calendar import calendar_app
from bot.cli.people import people_app
from bot.cli.tagger import tagger_app
from bot.config import ConfigError
from bot.logs import setup_logging
from storage.oserrors import DAMAGED_ADVICE, damaged

app = typer.Typer(
    name="minqing",
    help="民情直通车（minqing-relay）：在村、镇、县三级微信群里登记群众诉求，按规则逐级上报、跟踪办结。",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMANDS = (
    ("check-config", operate.check_config),
    ("replay", simulate.replay),
    ("list", requests.list_requests),
    ("show", requests.show),
    ("rooms", requests.rooms),
    ("failed", requests.failed),
    ("backup", operate.backup),
    ("migrate", operate.migrate),
    ("run", operate.run),
    ("demo", simulate.demo),
    ("export", review.export_cmd),
    ("report", review.report_cmd),
    ("notices", notices.notices_cmd),
)
# `show -1` is a request number (refused with a clear message), not an unknown option
CONTEXT_SETTINGS = {"show": {"ignore_unknown_options": True}}
for _name, _command in COMMANDS:
    app.command(_name, context_settings=CONTEXT_SETTINGS.get(_name))(_command)
app.add_typer(tagger_app, name="tagger")
app.add_typer(people_app, name="people")
app.add_typer(calendar_app, name="calendar")


def version() -> str:
    """This installation's version (from the package metadata pyproject.toml gave it)."""
    try:
        return importlib.metadata.version("minqing-relay")
    except importlib.metadata.PackageNotFoundError:  # run from a source folder that was never installed
        return "未安装（源码目录）"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"minqing-relay（民情直通车）{version()}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    _version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                           help="显示版本号并退出。")] = False,
    log_level: Annotated[str | None, typer.Option(
        "--log-level", help="日志级别：debug、info、warning 或 error（run 默认 info，其他命令默认 warning）。")] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="日志格式：text 或 json（每行一个 JSON 对象）。")] = "text",
) -> None:
    """为每个命令设置日志。"""
    log_level = log_level or ("info" if ctx.invoked_subcommand == "run" else "warning")
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int) or log_format not in ("text", "json"):
        raise typer.BadParameter("--log-level 只能是 debug、info、warning、error 之一，--log-format 只能是 text 或 json")
    setup_logging(level, log_format)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `minqing` console script."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="minqing")
        if isinstance(result, int) and result:  # a typer.Exit(code) comes back as its code
            sys.exit(result)
    except Exit as e:
        if e.args and e.args[0]:
            err.print(e.args[0], markup=False, highlight=False)
        sys.exit(e.code)
    except ConfigError as e:  # found after loading, e.g. an unusable [tagging] model file
        err.print(str(e), markup=False, highlight=False)
        sys.exit(BAD_CONFIG)
    except typer.Abort:
        sys.exit(FAILURE)
    except Exception as e:
        if usage.is_usage_error(e):  # the command line is wrong: said in Chinese, exit 2
            usage.show(e)
            sys.exit(BAD_CONFIG)
        _unexpected(e)


def _unexpected(e: Exception) -> NoReturn:
    """One line about an error nobody foresaw; the traceback only at `--log-level debug`."""
    log = logging.getLogger("minqing")
    if damaged(e):  # a damaged SQLite file: say so, not the driver's words about one page
        log.error("数据库文件已损坏，无法读取：%s", first_line(e)[:120], extra={"event": "database_damaged"})
        log.error(DAMAGED_ADVICE, extra={"event": "database_damaged"})
        sys.exit(FAILURE)
    if log.isEnabledFor(logging.DEBUG):
        log.exception("出错了：%s", e, extra={"event": "failed"})
    else:
        log.error("出错了（%s）：%s（加 --log-level debug 可看到详细信息）", type(e).__name__, first_line(e),
                  extra={"event": "failed"})
    sys.exit(FAILURE)

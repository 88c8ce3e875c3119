"""Simulated groups: `replay` (chat messages from JSON Lines) and `demo` (a scripted week)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from bot.app import Relay
from bot.cli.common import BAD_CONFIG, BAD_INPUT, FAILURE, ConfigOpt, DbOpt, Exit, load, open_database, stdout
from bot.clock import ManualClock
from bot.config import Config
from storage.db import Database
from bot.sim.groups import SimulatedTransport
from bot.sim.replay import Replayer, ReplayInputError, parse_time, said_json
from storage.oserrors import reason as os_reason


def replay(
    file: Annotated[Path, typer.Argument(help="聊天消息文件，JSON Lines 格式，每行一条（'-' 表示从标准输入读）。")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="读完最后一行后，把模拟时钟继续走到这个时间（ISO 8601，例如 2026-10-16T18:00:00+08:00）。")] = None,
) -> None:
    """重放聊天消息（模拟时钟），输出机器人说的话。

    按模拟时钟把聊天消息逐条交给机器人，机器人说的话按 JSON Lines 输出到标准输出。
    """
    cfg = load(config)
    until_ts = None
    if until:
        try:
            until_ts = parse_time(until, cfg.tz)
        except ValueError as e:
            raise Exit(BAD_CONFIG, f"--until: {e}") from None
    runs: list[Relay] = []
    with _temporary_db(cfg, db) as database:
        emitted = _run_replay(cfg, database, file, until_ts, runs)
    logging.getLogger(__name__).info("重放结束：机器人共说了 %d 条消息", emitted)
    if runs and runs[0].failed:
        raise Exit(FAILURE, f"有 {runs[0].failed} 条消息没能处理（已保存在数据库里，用 minqing failed 查看）")


PROGRESS_EVERY = 500  # lines between two updates of the progress bar


def _size(stream) -> int | None:
    """The size in bytes of a replay file (None for a pipe or standard input)."""
    try:
        return os.fstat(stream.fileno()).st_size if os.path.isfile(stream.name) else None
    except (AttributeError, OSError, TypeError, ValueError):
        return None


@contextmanager
def shown_progress(stream: Iterable[bytes], total: int | None, console: Console | None = None):
    """The lines of `stream`, with a progress bar on standard error when it is a terminal (bytes read of
    `total`; without a size, the lines read so far); the lines themselves unchanged."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield stream
        return
    columns = [TextColumn("重放"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[lines]:,} 行"),
               TimeElapsedColumn(), TextColumn("剩余"), TimeRemainingColumn()] if total else [
               TextColumn("重放"), SpinnerColumn(), TextColumn("{task.fields[lines]:,} 行"), TimeElapsedColumn()]
    # what the bot said goes to standard output untouched, whatever the bar does on standard error
    with Progress(*columns, console=console, transient=False, redirect_stdout=False) as progress:
        task = progress.add_task("replay", total=total, lines=0)

        def lines() -> Iterator[bytes]:
            read = count = 0
            for line in stream:
                read += len(line)
                count += 1
                if count % PROGRESS_EVERY == 0:
                    progress.update(task, completed=read, lines=count)
                yield line
            progress.update(task, completed=read if total is None else total, lines=count)

        yield lines()


@contextmanager
def _temporary_db(cfg: Config, db: str | None):
    if db:
        database = open_database(cfg, db)
        try:
            yield database
        finally:
            database.dispose()
        return
    with tempfile.TemporaryDirectory(prefix="minqing-") as folder:
        database = open_database(cfg, str(Path(folder) / "replay.db"))
        try:
            yield database
        finally:
            database.dispose()


def _run_replay(cfg: Config, database: Database, file: Path, until: datetime | None, runs: list[Relay]) -> int:
    clock = ManualClock(datetime.fromtimestamp(0).astimezone(cfg.tz))
    emitted = 0
    held: list[str] = []  # what the bot said in the group of lines not yet committed

    def emit(said) -> None:
        held.append(said_json(said, cfg.tz) + "\n")

    def release() -> None:
        nonlocal emitted
        emitted += len(held)
        sys.stdout.write("".join(held))
        sys.stdout.flush()
        held.clear()

    relay = Relay(cfg, database, SimulatedTransport(clock, on_send=emit))
    runs.append(relay)
    replayer = Replayer(relay, clock, on_commit=release)
    if replayer.mark is not None:
        clock.set(replayer.mark)
    # read bytes and decode line by line: a bad byte is reported with its line number, and the lines
    # before it are replayed (a text stream decodes a whole buffer ahead and fails before them)
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    try:
        stream = stdin if str(file) == "-" else file.open("rb")
    except FileNotFoundError:
        raise Exit(BAD_INPUT, f"找不到文件 {file}") from None
    except OSError as e:
        raise Exit(BAD_INPUT, f"无法读取 {file}：{os_reason(e)}") from None
    try:
        with shown_progress(stream, _size(stream)) as lines:
            replayer.feed(lines)
        replayer.finish(until)
    except ReplayInputError as e:
        raise Exit(BAD_INPUT, f"{file} {e}") from None
    finally:
        if stream is not stdin:
            stream.close()
    return emitted


def demo() -> None:
    """演示：示例县模拟群里的一周。

    在示例县的模拟群里重放编好的一周，输出各群的聊天记录和诉求汇总。
    """
    from bot.sim.demo import run_demo

    # the summary table is wider than the 80 columns rich assumes when output is piped
    out = stdout()
    run_demo(Console(soft_wrap=True, width=max(out.width, 110)) if sys.stdout.isatty() else out)

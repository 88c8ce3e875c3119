"""Operating the bot: `check-config`, `run` (the live bot) and `backup`."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from datetime import tzinfo
from pathlib import Path
from typing import Annotated

import typer
from rich.tree import Tree
from sqlalchemy.exc import SQLAlchemyError

from bot.alerts import channels
from bot.app import model_problem
from bot.cli.common import (
    BAD_CONFIG, FAILURE, ConfigOpt, DbOpt, Exit, err, first_line, load, load_years, open_database, output_path_ok,
    stdout, warn_other_counties,
)
from bot.clock import SystemClock
from bot.config import calendar_warnings
from storage.db import Database, DatabaseError, database_url
from storage.migrate import ForeignDatabase, NewerSchema, upgrade


def check_config(path: Annotated[Path, typer.Argument(help="要检查的配置文件。")]) -> None:
    """检查配置文件。

    没有问题时列出县、镇、村三级和各群、各经办人；有问题时列出每一处（退出码 2）。
    """
    out = stdout()
    config = load(path)
    if problem := model_problem(config):
        raise Exit(BAD_CONFIG, problem)
    county = config.county

    def people(members) -> str:
        return "、".join(m.name + (f"({m.wechat_id})" if m.wechat_id else "") for m in members) or "—"

    tree = Tree(f"[bold]{county.name}[/]  {county.room}", guide_style="dim")
    tree.add(f"县级: {people(county.staff)}")
    for t in county.townships:
        node = tree.add(f"[bold]{t.name}[/]  {t.room}")
        node.add(f"班子群: {t.leaders_room or '—'}")
        node.add(f"工作人员: {people(t.staff)}  领导: {people(t.leaders)}")
        for v in t.villages:
            node.add(f"[bold]{v.name}[/]  {v.room}  村干部: {people(v.cadres)}")
    out.print(tree)
    p = config.policy
    out.print(f"时限: 响应 {p.sla.acknowledge}, 办结 {p.sla.resolve}; 紧急 {p.sla.urgent_acknowledge} / "
              f"{p.sla.urgent_resolve}; 提醒间隔 {p.sla.remind_every}; 评价期 {p.sla.rating_window}")
    for name, d in sorted(p.sla.category_resolve.items()):
        out.print(f"  {name}: 办结 {d}")
    for name, d in sorted(p.sla.category_acknowledge.items()):
        out.print(f"  {name}: 响应 {d}")
    auto = f"自动 {p.escalation.auto_after}" if p.escalation.auto_after else "不自动上报"
    out.print(f"上报: 提请 {p.escalation.propose_after}, {auto}; 直报镇级: "
              f"{'、'.join(sorted(p.escalation.direct_to_township)) or '—'}")
    by_name = [m for m in county.members() if not m.wechat_id]
    if by_name:
        out.print(f"按名字认定的经办人 {len(by_name)} 人（未写 wechat_id；在本单位的群里首次发言时认定微信号，"
                  "建议运行 minqing people 查出微信号后写进配置）：")
        for m in by_name:
            out.print(f"  {m.unit_name} {m.name}", markup=False, highlight=False)
    a = config.raw.alerts
    if not a.enabled:
        out.print("告警：未配置（机器人停止工作时只写日志；见配置的 [alerts]）", markup=False, highlight=False)
    else:
        found, problems = channels(a)
        named = [f"企业微信群机器人（环境变量 {a.wecom_webhook_env}）" if a.wecom_webhook_env else "",
                 f"邮件 {a.smtp_host}:{a.smtp_port} → {'、'.join(a.mail_to)}" if a.smtp_host else ""]
        out.print("告警：" + "，".join(n for n in named if n), markup=False, highlight=False)
        for p in problems:  # this shell may lack the bot's environment: a warning here, an error at `run`
            err.print(f"警告：{p}", markup=False, highlight=False)
    from bot.wechat.supervisor import data_dir_problem

    if problem := data_dir_problem(config.data_dir):  # this shell's user may not be the bot's: a warning here
        err.print(f"警告：{problem}", markup=False, highlight=False)
    _imported_years(config)
    for w in calendar_warnings(config, SystemClock().now().astimezone(config.tz).date()):
        err.print(f"警告：{w}", markup=False, highlight=False)
    out.print(f"[green]配置无误[/] {path}：{len(county.townships)} 个镇，{len(county.villages())} 个村，"
              f"{len(county.rooms)} 个群，{len(county.members())} 名经办人")


def _imported_years(config) -> None:
    """The holiday years imported into the config's database, when it exists (check-config creates nothing)."""
    url = database_url(config.database, config.base_dir)
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).exists():
        return
    try:
        database = Database(url, config.county.name, create=False)
    except (DatabaseError, SQLAlchemyError):
        return  # an old or unreachable database: the run would say so; the config itself is what is checked here
    try:
        if database.has_tables():
            load_years(config, database)
            warn_other_counties(config, database)
    except (DatabaseError, SQLAlchemyError):
        pass
    finally:
        database.dispose()


BACKUP_NAME = re.compile(r"minqing-(\d{8}-\d{6})(?:-(\d+))?\.(?:sqlite|dump)")


def backup(
    target: Annotated[Path, typer.Argument(
        help="新文件名，或文件夹（在里面按时间命名）。")],
    keep: Annotated[int | None, typer.Option(
        "--keep", min=1, help="只保留文件夹里最近的 N 份备份。")] = None,
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """备份数据库（机器人运行时也可以）。

    SQLite 用它的在线备份得到一致的副本；PostgreSQL 用 pg_dump（自定义格式，用 pg_restore 恢复）。
    写进文件夹时按时间命名（minqing-年月日-时分秒.sqlite 或 .dump）；--keep N 只保留最近的 N 份，
    更早的删除（只删本命令按时间命名的文件）。
    """
    cfg = load(config)
    if keep is not None and not target.exists() and target.parent.is_dir():
        target.mkdir()  # the first of a series of backups: their folder
    folder = target.is_dir()
    if keep is not None and not folder:
        raise Exit(BAD_CONFIG, f"--keep 只能配合文件夹使用：{target} 不是已有的文件夹")
    if not folder:
        output_path_ok(target, "备份文件")
        if target.exists():
            raise Exit(BAD_CONFIG, f"{target} 已存在：请换一个新文件名（备份从不覆盖文件）")
    database = open_database(cfg, db, must_exist=True)
    try:
        out_file = _backup_name(target, ".sqlite" if database.is_sqlite else ".dump", cfg.tz) if folder else target
        try:
            if database.is_sqlite:
                pages = database.backup_to(out_file)
                detail = f"{pages} 页"
            else:
                _pg_dump(database, out_file)
                detail = "pg_dump 自定义格式，用 pg_restore 恢复"
        except DatabaseError as e:
            raise Exit(FAILURE, str(e)) from None
    finally:
        database.dispose()
    out = stdout()
    out.print(f"已把 {database.safe_url} 备份到 {out_file}（{detail}）", markup=False, highlight=False)
    if keep is not None:
        removed = prune_backups(target, keep, out_file)
        if removed:
            out.print(f"只保留最近 {keep} 份：删除了 {len(removed)} 份旧备份（{'、'.join(p.name for p in removed)}）",
                      markup=False, highlight=False)


def _backup_name(folder: Path, suffix: str, tz: tzinfo) -> Path:
    """A new file in `folder` named by the county's local time (the config's time zone, whatever the machine's
    is set to); a second backup in the same second gets -2, -3 ..."""
    stamp = SystemClock().now().astimezone(tz).strftime("%Y%m%d-%H%M%S")
    path = folder / f"minqing-{stamp}{suffix}"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"minqing-{stamp}-{n}{suffix}"
    return path


def prune_backups(folder: Path, keep: int, written: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups this command wrote in `folder` (by the time in their names). The one
    just `written` is always kept, whatever its name says (a machine clock or time zone set differently before)."""
    found = [p for p in folder.iterdir() if p.is_file() and BACKUP_NAME.fullmatch(p.name) and p != written]
    if written is not None:
        keep -= 1
    def newest_first(p: Path) -> tuple[str, int]:
        m = BACKUP_NAME.fullmatch(p.name)
        return m.group(1), int(m.group(2) or 1)

    found.sort(key=newest_first, reverse=True)
    removed = found[keep:]
    for p in removed:
        p.unlink()
        for extra in ("-wal", "-shm", "-journal"):  # left by SQLite when someone opened that copy
            p.with_name(p.name + extra).unlink(missing_ok=True)
    return sorted(removed)


def _pg_dump(database: Database, out_file: Path) -> None:
    """Dump the PostgreSQL database with pg_dump (custom format); DatabaseError says why not."""
    exe = shutil.which("pg_dump")
    if exe is None:
        raise DatabaseError("找不到 pg_dump：请安装 PostgreSQL 客户端（Debian/Ubuntu：apt install postgresql-client）")
    url = database.engine.url.set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:  # by the environment, not the command line other users can see
        env["PGPASSWORD"] = str(url.password)
    args = [exe, "--format=custom", f"--file={out_file}"]
    # a URL that sets a search_path (options=-csearch_path=X) uses that schema alone: dump that schema
    schema = re.search(r"search_path=([\w$]+)", str(url.query.get("options", "")))
    if schema:
        args.append(f"--schema={schema.group(1)}")
    args.append(f"--dbname={url.set(password=None).render_as_string(hide_password=False)}")
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        out_file.unlink(missing_ok=True)
        raise DatabaseError(f"pg_dump 没有完成：{e}") from None
    if done.returncode != 0:
        out_file.unlink(missing_ok=True)  # a half-written dump must not pass for a backup
        last = (done.stderr.strip().splitlines() or [""])[-1]
        raise DatabaseError(f"pg_dump 失败（退出码 {done.returncode}）：{last}")


def run(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """运行机器人（接入真实微信群）。

    通过 Wechaty puppet-service 网关接入微信群，直到收到 SIGINT/SIGTERM（Ctrl+C 或 systemctl stop）为止。
    """
    from bot.wechat.supervisor import StartupError, live_settings, run_live

    cfg = load(config)
    try:
        settings = live_settings(cfg)
        database = open_database(cfg, db)
        try:
            run_live(cfg, database, settings)
        finally:
            database.dispose()
    except StartupError as e:
        # `run` speaks through its log (text or JSON lines), where operators look
        logging.getLogger("bot.wechat.supervisor").error("%s", e, extra={"event": "startup_failed"})
        raise Exit(BAD_CONFIG) from None


def migrate(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """升级数据库结构到本版本（升级前请先备份）。

    共用一个数据库的各县一起升级，本县的历史数据按本县配置补全。
    """
    cfg = load(config)
    url = database_url(db, Path.cwd()) if db else database_url(cfg.database, cfg.base_dir)
    try:
        database = Database(url, cfg.county.name, create=False)
    except DatabaseError as e:
        raise Exit(FAILURE, str(e)) from None
    try:
        before, after = upgrade(database.engine, {cfg.county.name: cfg.policy})
    except (NewerSchema, ForeignDatabase) as e:
        raise Exit(FAILURE, f"{database.safe_url}：{e}") from None
    except (DatabaseError, SQLAlchemyError) as e:
        raise Exit(FAILURE, f"升级失败，数据库未改变：{first_line(e)}") from None
    finally:
        database.dispose()
    if before is None:
        stdout().print(f"新建数据库 {database.safe_url}，版本 {after}")
    elif before == after:
        stdout().print(f"数据库 {database.safe_url} 已是最新版本 {after}")
    else:
        stdout().print(f"数据库 {database.safe_url} 已从版本 {before} 升级到 {after}")

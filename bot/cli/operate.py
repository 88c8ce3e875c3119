"""Operating the bot: `check-config`, `run` (the live bot) and `backup`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.tree import Tree
from sqlalchemy.exc import SQLAlchemyError

from bot.app import model_problem
from bot.cli.common import (
    BAD_CONFIG, FAILURE, ConfigOpt, DbOpt, Exit, err, first_line, folder_must_exist, load, open_database, stdout,
)
from bot.clock import SystemClock
from bot.config import calendar_warnings
from storage.db import Database, DatabaseError, database_url
from storage.migrate import upgrade


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
    for w in calendar_warnings(config, SystemClock().now().astimezone(config.tz).date()):
        err.print(f"警告：{w}", markup=False, highlight=False)
    out.print(f"[green]配置无误[/] {path}：{len(county.townships)} 个镇，{len(county.villages())} 个村，"
              f"{len(county.rooms)} 个群，{len(county.members())} 名经办人")


def backup(
    out_file: Annotated[Path, typer.Argument(help="备份写到哪里（一个新的 SQLite 文件）。")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """备份 SQLite 数据库。

    机器人运行时也可以备份，得到的是一致的副本；PostgreSQL 数据库请用 pg_dump 备份。
    """
    cfg = load(config)
    if out_file.exists():
        raise Exit(BAD_CONFIG, f"{out_file} 已存在：请换一个新文件名，以免覆盖原有文件")
    folder_must_exist(out_file, "备份文件")
    database = open_database(cfg, db)
    if not database.is_sqlite:
        raise Exit(BAD_CONFIG, "数据库是 PostgreSQL：请用 pg_dump 备份")
    try:
        pages = database.backup_to(out_file)
    except DatabaseError as e:
        raise Exit(FAILURE, str(e)) from None
    stdout().print(f"已把 {database.safe_url} 备份到 {out_file}（{pages} 页）")


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

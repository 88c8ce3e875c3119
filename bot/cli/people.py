"""Handlers' identities: `people` lists who was seen with their WeChat ids and pins; `people pin` and
`people unpin` correct which contact a handler's display name stands for."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import BAD_CONFIG, ConfigOpt, DbOpt, Exit, open_all
from bot.cli.listing import minute
from bot.clock import SystemClock
from bot.config import Config
from routing.org import Member
from storage.repository import LEGACY_UNIT

ROLE_NAMES = {"village_cadre": "村干部", "township_staff": "镇工作人员", "township_leader": "镇领导",
              "county_staff": "县工作人员"}

people_app = typer.Typer(help="经办人身份：群里见过的人和微信号。\n\npin/unpin 更正某个经办人名字对应的微信号。",
                         invoke_without_command=True, no_args_is_help=False)

UnitOpt = Annotated[str | None, typer.Option("--unit", help="单位：如 盘信镇 或 盘信镇楼台村（同名经办人在多个单位时必填）。")]


def role_of(m: Member) -> str:
    """A member's role as people say it: 盘信镇楼台村村干部."""
    return f"{m.unit_name}{ROLE_NAMES[m.role.value]}"


@people_app.callback()
def people(ctx: typer.Context, config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """列出在已配置的群里发过言的人、他们的微信号和角色，以及经办人名字的认定情况。"""
    if ctx.invoked_subcommand is not None:
        return
    out, cfg, database = open_all(config, db)
    roles: dict[str, list[str]] = {}
    for m in cfg.county.members():
        roles.setdefault(m.wechat_id or m.name, []).append(role_of(m))
    with database.transaction() as tx:
        seen = tx.people()
        pins = tx.pins()
    pinned = {(p.name, p.contact_id) for p in pins}
    pinned_names = {p.name for p in pins}
    table = Table("名字", "微信号", "角色", "群", "消息数", "最后发言", "备注", box=None)
    for p in seen:
        role = roles.get(p.contact_id or "", []) or roles.get(p.name, [])
        note = ""
        if (p.name, p.contact_id) in pinned:
            note = "已认定"
        elif p.name in pinned_names:
            note = "名字冲突：无权限"
        table.add_row(p.name, p.contact_id or "—", "、".join(role) or "群众", "、".join(p.rooms), str(p.messages),
                      minute(p.last_seen, cfg.tz), note)
    out.print(table)
    if pins:
        units = {m.unit: m.unit_name for m in cfg.county.members()}
        listing = Table("经办人", "单位", "认定的微信号", "认定时间", box=None, title="名字认定")
        for p in pins:
            unit = "所有单位（旧版认定）" if p.unit == LEGACY_UNIT else units.get(p.unit, p.unit)
            listing.add_row(p.name, unit, p.contact_id, minute(p.at, cfg.tz))
        out.print(listing)


def _member(cfg: Config, name: str, unit: str | None) -> Member:
    """The configured handler of that name (in that unit), or exit 2 saying what is wrong."""
    found = [m for m in cfg.county.members() if m.name == name]
    if not found:
        raise Exit(BAD_CONFIG, f"配置里没有名为“{name}”的经办人")
    with_id = [m for m in found if m.wechat_id]
    if with_id and len(with_id) == len(found):
        raise Exit(BAD_CONFIG, f"“{name}”在配置中已写明 wechat_id（{with_id[0].wechat_id}），不需要认定；要改请改配置")
    found = [m for m in found if not m.wechat_id]
    if unit is not None:
        found = [m for m in found if unit in (m.unit_name, m.unit, m.township, m.village)]
        if not found:
            raise Exit(BAD_CONFIG, f"“{name}”不在单位“{unit}”")
    units = sorted({m.unit for m in found})
    if len(units) > 1:
        raise Exit(BAD_CONFIG, f"“{name}”在多个单位都有：{'、'.join(m.unit_name for m in found)}；请用 --unit 指明")
    return found[0]


@people_app.command("pin")
def pin(
    name: Annotated[str, typer.Argument(help="经办人在配置中的名字。")],
    contact_id: Annotated[str, typer.Argument(help="他的微信号（contact id，见 minqing people）。")],
    unit: UnitOpt = None,
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """把经办人的名字认定为某个微信号（替换原来的认定；记入审计）。"""
    contact_id = contact_id.strip()
    if not contact_id or any(ch.isspace() for ch in contact_id):
        raise Exit(BAD_CONFIG, "微信号不能是空的，也不能有空格：请从 minqing people 的列表里复制")
    out, cfg, database = open_all(config, db)
    m = _member(cfg, name, unit)
    now = SystemClock().now()
    with database.transaction() as tx:
        before = tx.pinned_id(m.unit, m.name)
        tx.unpin(LEGACY_UNIT, m.name)
        tx.pin(m.unit, m.name, contact_id, now)
        tx.audit(now, getpass.getuser(), "identity_pinned", {"name": m.name, "unit": m.unit, "contact_id": contact_id,
                                                             "before": before})
    out.print(f"已将{m.unit_name}“{m.name}”认定为微信号 {contact_id}" + (f"（原为 {before}）" if before else ""))


@people_app.command("unpin")
def unpin(
    name: Annotated[str, typer.Argument(help="经办人在配置中的名字。")],
    unit: UnitOpt = None,
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
) -> None:
    """解除经办人名字的认定。

    他下次在本单位的群里发言时重新认定（记入审计）。
    """
    out, cfg, database = open_all(config, db)
    m = _member(cfg, name, unit)
    now = SystemClock().now()
    with database.transaction() as tx:
        removed = tx.unpin(m.unit, m.name) + tx.unpin(LEGACY_UNIT, m.name)
        tx.audit(now, getpass.getuser(), "identity_unpinned", {"name": m.name, "unit": m.unit, "removed": removed})
    if not removed:
        raise Exit(BAD_CONFIG, f"{m.unit_name}“{m.name}”还没有认定的微信号")
    out.print(f"已解除{m.unit_name}“{m.name}”的认定；他下次在本单位的群里发言时重新认定")

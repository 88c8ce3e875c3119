"""Looking at the record: `list`, `show`, `rooms`, `failed`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pathlib import Path

from bot.cli.common import (
    BAD_CONFIG, FAILURE, ConfigOpt, DbOpt, Exit, UnmaskOpt, audit, load, open_all, open_database, stdout,
)
from bot.cli.listing import iso, request_json
from bot.messaging.render import STATUS_NAMES, TIER_NAMES
from routing.model import Status, Tier
from routing.ports import RequestFilter
from routing.privacy import mask, mask_name

MAX_NUMBER = 2**31 - 1  # request numbers are stored in an INTEGER column (32 bits on PostgreSQL)


def list_requests(
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array (the documented listing).")] = False,
    status: Annotated[list[str] | None, typer.Option("--status", help="Only these statuses.")] = None,
    township: Annotated[str | None, typer.Option("--township")] = None,
    village: Annotated[str | None, typer.Option("--village")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="village, township or county.")] = None,
    unmask: UnmaskOpt = False,
) -> None:
    """List requests (requesters' names and the numbers in texts masked unless --unmask)."""
    out = stdout()
    cfg = load(config)
    try:
        flt = RequestFilter(
            statuses=frozenset(Status(s) for s in status) if status else None,
            tier=Tier.from_key(tier) if tier else None,
            township=township,
            village=village,
        )
    except (ValueError, KeyError) as e:
        raise Exit(BAD_CONFIG, f"bad filter: {e}") from None
    database = open_database(cfg, db)
    if unmask:
        audit(database, "list_unmasked", {"status": status, "township": township, "village": village, "tier": tier})
    with database.transaction() as tx:
        requests = tx.find(flt)
    rows = [request_json(r, cfg.tz, unmask=unmask) for r in requests]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("#", "状态", "层级", "村", "分类", "经办人", "提出人", "登记时间", "内容", box=None)
    for r, row in zip(requests, rows):
        table.add_row(
            str(r.number), STATUS_NAMES[r.status.value], TIER_NAMES[r.tier], f"{r.township}{r.village}",
            r.category + ("·紧急" if r.urgent else ""), r.handler or "—", escape(row["requester"]),
            r.created_at.astimezone(cfg.tz).strftime("%m-%d %H:%M"), escape(row["text"][:30]),
        )
    out.print(table)
    out.print(f"{len(requests)} requests")


def request_number(text: str) -> int:
    """A request number given on the command line (`12` or `#12`); exit 2 when it cannot be one."""
    try:
        number = int(text.strip().lstrip("#＃"))
    except ValueError:
        number = 0
    # checked before the database sees it: PostgreSQL's INTEGER column refuses larger numbers with an error
    if not 1 <= number <= MAX_NUMBER:
        raise Exit(BAD_CONFIG, f"{text!r} 不是诉求编号：编号是 1 到 {MAX_NUMBER} 之间的整数，例如 minqing show 12")
    return number


def show(
    number_text: Annotated[str, typer.Argument(metavar="N", help="The request number.")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    unmask: UnmaskOpt = False,
) -> None:
    """Show one request with its whole event log (the requester's name and numbers in texts masked unless --unmask)."""
    number = request_number(number_text)
    out, cfg, database = open_all(config, db)
    with database.transaction() as tx:
        r = tx.get(number)
        events = tx.events(number) if r else []
    if r is None:
        raise Exit(FAILURE, f"没有诉求 #{number}")
    if unmask:
        audit(database, "show_unmasked", {"request": number})
    out.print_json(json.dumps(request_json(r, cfg.tz, unmask=unmask), ensure_ascii=False))
    table = Table("时间", "事件", "层级", "人", "状态", "说明", box=None)
    for e in events:
        # the requester acts too (a rating): a villager's name, masked like the requester's
        actor = e.actor if unmask or e.actor != r.requester else mask_name(e.actor)
        note = " ".join(x for x in (e.rule and f"[{e.rule}]", e.note) if x)
        table.add_row(iso(e.at, cfg.tz), e.kind.value, e.tier.key, actor or "(bot)",
                      f"{e.from_status.value if e.from_status else ''}→{e.to_status.value if e.to_status else ''}",
                      escape((note if unmask else mask(note))[:60]))
    out.print(table)


def rooms(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """List the rooms (group topics) messages came from; rooms not in the config are ignored until added."""
    from bot.monitor import account_rooms, missing_rooms

    out, cfg, database = open_all(config, db)
    with database.transaction() as tx:
        seen = tx.rooms()
    table = Table("群名", "在配置中", "消息数", "首次", "最近", box=None)
    for r in seen:
        table.add_row(r.topic, "是" if r.configured else "否（忽略）", str(r.messages), iso(r.first_seen, cfg.tz)[:16],
                      iso(r.last_seen, cfg.tz)[:16])
    out.print(table)
    missing = [room for room in cfg.county.rooms if room not in {r.topic for r in seen}]
    if missing:
        out.print("配置中但还没收到过消息的群: " + "、".join(missing))
    account = account_rooms(database)
    if account is None:
        out.print("还不知道机器人账号在哪些群里（minqing run 登录后每小时核对一次）")
        return
    at, topics = account
    unseen = missing_rooms(cfg.county.rooms, topics)
    if not unseen:
        out.print(f"配置的 {len(cfg.county.rooms)} 个群都在机器人账号的群里（{iso(at, cfg.tz)[:16]} 核对）")
        return
    out.print(f"[bold red]配置了但机器人账号不在其中的群[/]（{iso(at, cfg.tz)[:16]} 核对，这些群的诉求收不到）：")
    for m in unseen:
        hint = f"  ← 最接近的群名：{m.closest}" if m.closest else "  ← 账号的群里没有相近的名字"
        out.print(f"  ✗ {m.room}{hint}", markup=False, highlight=False)


def failed(config: ConfigOpt = Path("config.toml"), db: DbOpt = None, unmask: UnmaskOpt = False) -> None:
    """List the messages the bot failed to handle because of an error of its own (kept, never lost)."""
    out, cfg, database = open_all(config, db)
    if unmask:
        audit(database, "failed_unmasked", {})
    with database.transaction() as tx:
        rows = tx.failures()
    table = Table("时间", "群", "发送人", "内容", "错误", box=None)
    shown = (lambda v: v) if unmask else mask
    for r in rows:
        table.add_row(iso(r.ts, cfg.tz)[:16], r.room, r.sender if unmask else mask_name(r.sender),
                      escape(shown(r.text)[:40]), escape(shown(r.error)[:60]))
    out.print(table)
    out.print(f"{len(rows)} failed messages")

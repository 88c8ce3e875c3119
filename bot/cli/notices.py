"""`minqing notices`: the notices sent down the tiers and each unit's acknowledgement (design, section 8)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import BAD_CONFIG, ConfigOpt, DbOpt, Exit, load, open_database, stdout
from bot.cli.listing import iso
from bot.review.period import day_bounds, parse_day
from routing.notices import Notice


def notice_json(n: Notice, tz) -> dict:
    """One notice as `minqing notices --json` shows it (a contract: shared/design.md, section 8)."""
    return {
        "id": n.number,
        "sender": n.sender,
        "scope": n.scope,
        "text": n.text,
        "urgent": n.urgent,
        "created_at": iso(n.created_at, tz),
        "units": [{
            "unit": u.name,
            "tier": u.tier.key,
            "room": u.room,
            "acknowledged_at": iso(u.acknowledged_at, tz),
            "acknowledged_by": u.acknowledged_by,
            "reminded_at": iso(u.reminded_at, tz),
        } for u in n.units],
    }


def notices_cmd(
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON 数组（每条通知一个对象，字段见 README“通知”一节）。")] = False,
    date_from: Annotated[str | None, typer.Option("--from", help="从这一天起发出的通知（YYYY-MM-DD，本地时间）。")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="到这一天为止（含这一天）。")] = None,
) -> None:
    """列出发出的通知，以及每个单位确认收到的时间和人。"""
    cfg = load(config)
    try:  # the same days as export and report take
        start, end = day_bounds(cfg, date_from and parse_day(date_from, "--from"), date_to and parse_day(date_to, "--to"))
    except ValueError as e:
        raise Exit(BAD_CONFIG, str(e)) from None
    database = open_database(cfg, db, must_exist=True)
    try:
        with database.snapshot() as tx:
            notices = tx.notices(start, end)
    finally:
        database.dispose()
    if as_json:
        sys.stdout.write(json.dumps([notice_json(n, cfg.tz) for n in notices], ensure_ascii=False, indent=2) + "\n")
        return
    out = stdout()
    if not notices:
        out.print("这段时间没有发出通知。")
        return
    for n in notices:
        done = n.acknowledged()
        when = n.created_at.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M")
        out.print(f"[bold]{'紧急' if n.urgent else ''}通知#{n.number}[/bold] {when} {escape(n.sender_unit)} "
                  f"{escape(n.sender)}（{escape(n.scope or '下属全部单位')}）：{escape(n.text[:60])}")
        out.print(f"  已收到 {len(done)}/{len(n.units)}，按时（提醒前）{sum(n.on_time(u) for u in n.units)}")
        table = Table("单位", "确认时间", "确认人", "提醒时间", box=None, padding=(0, 2))
        for u in n.units:
            table.add_row(escape(u.name),
                          u.acknowledged_at.astimezone(cfg.tz).strftime("%m-%d %H:%M") if u.acknowledged_at else "未收到",
                          escape(u.acknowledged_by or "—"),
                          u.reminded_at.astimezone(cfg.tz).strftime("%m-%d %H:%M") if u.reminded_at else "—")
        out.print(table)
    out.print(f"共 {len(notices)} 条通知")

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
    BAD_CONFIG, FAILURE, MAX_NUMBER, ConfigOpt, DbOpt, Exit, UnmaskOpt, audit, load, open_all, open_database, stdout,
)
from bot.cli.listing import minute, request_json
from bot.messaging.render import STATUS_NAMES, TIER_NAMES
from bot.review.period import unit_problem
from routing.model import EventKind, Request, Status, Tier
from routing.ports import RequestFilter
from routing.privacy import mask, mask_name

TIER_KEYS = tuple(t.name.lower() for t in Tier)


def list_requests(
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON 数组（字段见 README“list --json”一节，供其他程序读取）。")] = False,
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="只列出这些状态（可给多次）：open / acknowledged / resolved / closed / rejected")] = None,
    township: Annotated[str | None, typer.Option("--township", help="只列出这个镇的诉求。")] = None,
    village: Annotated[str | None, typer.Option("--village", help="只列出这个村的诉求。")] = None,
    tier: Annotated[str | None, typer.Option(
        "--tier", help="只列出在这一级的诉求：village（村级） / township（镇级） / county（县级）")] = None,
    unmask: UnmaskOpt = False,
) -> None:
    """列出诉求。

    提出人姓名和内容里的号码默认打码，加 --unmask 显示（会记入审计）。
    """
    out = stdout()
    cfg = load(config)
    statuses = {s.value for s in Status}
    wrong = [f"--status {s!r}" for s in status or () if s not in statuses]
    if tier and tier.lower() not in TIER_KEYS:
        wrong.append(f"--tier {tier!r}")
    if wrong:
        raise Exit(BAD_CONFIG, f"筛选条件不对（{'、'.join(wrong)}）：--status 可以是 {'、'.join(s.value for s in Status)}，"
                                f"--tier 可以是 {'、'.join(TIER_KEYS)}")
    flt = RequestFilter(
        statuses=frozenset(Status(s) for s in status) if status else None,
        tier=Tier.from_key(tier) if tier else None,
        township=township,
        village=village,
    )
    database = open_database(cfg, db, must_exist=True)
    if unmask:
        audit(database, "list_unmasked", {"status": status, "township": township, "village": village, "tier": tier})
    with database.transaction() as tx:
        requests = tx.find(flt)
    # nothing found under a name no unit of the config has: a typo, not an empty list (a unit that left the
    # config but has stored requests is listed all the same)
    problem = None if requests else unit_problem(cfg, township, village)
    if problem:
        raise Exit(BAD_CONFIG, problem)
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
    out.print(f"共 {len(requests)} 条诉求")


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


EVENT_NAMES = {
    EventKind.REGISTERED: "登记", EventKind.CLAIMED: "认领", EventKind.ESCALATED: "上报", EventKind.SENT_BACK: "退回",
    EventKind.RESOLVED: "办结", EventKind.REJECTED: "不予受理", EventKind.SATISFIED: "评价：满意",
    EventKind.UNSATISFIED: "评价：不满意", EventKind.EXPIRED: "评价期满关闭", EventKind.URGED: "催办",
    EventKind.REMINDED: "逾期提醒", EventKind.PROPOSED: "提请上报", EventKind.ALERTED: "紧急通报",
    EventKind.RECATEGORIZED: "更正分类", EventKind.RESCHEDULED: "重算时限",
}
FIELD_LABELS = {
    "id": "编号", "status": "状态", "tier": "层级", "township": "镇", "village": "村", "category": "分类",
    "urgent": "紧急", "handler": "经办人", "requester": "提出人", "text": "内容", "created_at": "登记时间",
    "acknowledged_at": "响应时间", "escalated_at": "上报时间", "resolved_at": "办结时间", "closed_at": "关闭时间",
    "rating": "评价", "reopened": "重新办理", "ack_due_at": "响应时限", "resolve_due_at": "办结时限",
}
RATING_NAMES = {"satisfied": "满意", "unsatisfied": "不满意"}


def request_fields(row: dict, r: Request) -> list[tuple[str, str]]:
    """The fields of `minqing show`, labelled in Chinese: (label, value) from the listing's row."""
    shown = {
        "id": f"#{r.number}", "status": STATUS_NAMES[r.status.value], "tier": TIER_NAMES[r.tier],
        "urgent": "是" if r.urgent else "否", "rating": RATING_NAMES.get(row["rating"] or "", "—"),
        "reopened": f"{r.reopened} 次",
    }
    out = []
    for key, label in FIELD_LABELS.items():
        value = shown.get(key, row[key])
        if key.endswith("_at"):
            value = value[:16].replace("T", " ") if value else None
        out.append((label, "—" if value is None or value == "" else str(value)))
    return out


def show(
    number_text: Annotated[str, typer.Argument(metavar="N", help="诉求编号。")],
    config: ConfigOpt = Path("config.toml"),
    db: DbOpt = None,
    unmask: UnmaskOpt = False,
) -> None:
    """显示一条诉求和它的全部办理记录。

    提出人姓名和内容里的号码默认打码，加 --unmask 显示（会记入审计）。
    """
    number = request_number(number_text)
    out, cfg, database = open_all(config, db)
    with database.transaction() as tx:
        r = tx.get(number)
        events = tx.events(number) if r else []
    if r is None:
        raise Exit(FAILURE, f"没有诉求 #{number}")
    if unmask:
        audit(database, "show_unmasked", {"request": number})
    fields = Table.grid(padding=(0, 2))
    for label, value in request_fields(request_json(r, cfg.tz, unmask=unmask), r):
        fields.add_row(label, escape(value))
    out.print(fields)
    table = Table("时间", "事件", "层级", "人", "状态", "说明", box=None, title="办理记录", title_justify="left")
    for e in events:
        # the requester acts too (a rating): a villager's name, masked like the requester's
        actor = e.actor if unmask or e.actor != r.requester else mask_name(e.actor)
        note = " ".join(x for x in (e.rule and f"[{e.rule}]", e.note) if x)
        table.add_row(minute(e.at, cfg.tz), EVENT_NAMES[e.kind], TIER_NAMES[e.tier],
                      escape(actor or "系统"),
                      f"{STATUS_NAMES[e.from_status.value] if e.from_status else ''}→"
                      f"{STATUS_NAMES[e.to_status.value] if e.to_status else ''}",
                      escape((note if unmask else mask(note))[:60]))
    out.print(table)


def rooms(config: ConfigOpt = Path("config.toml"), db: DbOpt = None) -> None:
    """列出收到过消息的群。

    不在配置里的群，其中的消息一律忽略，写进配置后才处理；也列出配置了但还没收到过消息的群。
    """
    from bot.monitor import account_rooms, missing_rooms

    out, cfg, database = open_all(config, db)
    with database.transaction() as tx:
        seen = tx.rooms()
    table = Table("群名", "在配置中", "消息数", "首次", "最近", box=None)
    for r in seen:
        table.add_row(r.topic, "是" if r.configured else "否（忽略）", str(r.messages), minute(r.first_seen, cfg.tz),
                      minute(r.last_seen, cfg.tz))
    out.print(table)
    missing = [room for room in cfg.county.rooms if room not in {r.topic for r in seen}]
    if missing:
        out.print("配置中但还没收到过消息的群：" + "、".join(missing))
    account = account_rooms(database)
    if account is None:
        out.print("还不知道机器人账号在哪些群里（minqing run 登录后每小时核对一次）")
        return
    at, topics = account
    unseen = missing_rooms(cfg.county.rooms, topics)
    if not unseen:
        out.print(f"配置的 {len(cfg.county.rooms)} 个群都在机器人账号的群里（{minute(at, cfg.tz)} 核对）")
        return
    out.print(f"[bold red]配置了但机器人账号不在其中的群[/]（{minute(at, cfg.tz)} 核对，这些群的诉求收不到）：")
    for m in unseen:
        hint = f"  ← 最接近的群名：{m.closest}" if m.closest else "  ← 账号的群里没有相近的名字"
        out.print(f"  ✗ {m.room}{hint}", markup=False, highlight=False)


def failed(config: ConfigOpt = Path("config.toml"), db: DbOpt = None, unmask: UnmaskOpt = False) -> None:
    """列出机器人因自身出错而没能处理的消息。

    这些消息都保存在数据库里，不会丢。
    """
    out, cfg, database = open_all(config, db)
    if unmask:
        audit(database, "failed_unmasked", {})
    with database.transaction() as tx:
        rows = tx.failures()
    table = Table("时间", "群", "发送人", "内容", "错误", box=None)
    shown = (lambda v: v) if unmask else mask
    for r in rows:
        table.add_row(minute(r.ts, cfg.tz), r.room, r.sender if unmask else mask_name(r.sender),
                      escape(shown(r.text)[:40]), escape(shown(r.error)[:60]))
    out.print(table)
    out.print(f"共 {len(rows)} 条未处理的消息")

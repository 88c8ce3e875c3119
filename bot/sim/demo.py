"""`minqing demo`: a scripted week in the example county, on simulated groups and a simulated clock."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime
from importlib import resources
from pathlib import Path

from rich import box
from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.app import Relay
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.messaging.render import STATUS_NAMES, TIER_NAMES, WEEKDAY_NAMES
from bot.sim.replay import Replayer, parse_line
from bot.sim.groups import Said, SimulatedTransport
from routing.ports import RequestFilter
from storage.db import Database

SCRIPT = "week.jsonl"


def example_config_path() -> Path:
    """The documented example config: in the source tree, or where the package installed it."""
    source_tree = Path(__file__).resolve().parents[2] / "config.example.toml"
    if source_tree.exists():
        return source_tree
    installed = Path(sys.prefix) / "share" / "minqing-relay" / "config.example.toml"
    if installed.exists():
        return installed
    raise FileNotFoundError("config.example.toml is neither in the source tree nor installed")


def script_lines() -> list[str]:
    """The scripted week, as JSON Lines."""
    return resources.files(__package__).joinpath(SCRIPT).read_text(encoding="utf-8").splitlines()


def _stamp(t: datetime, config: Config) -> str:
    local = t.astimezone(config.tz)
    return f"{local:%m-%d} 周{WEEKDAY_NAMES[local.weekday()]} {local:%H:%M}"


def run_demo(console: Console) -> None:
    """Replay the week and print the transcript by room, then a summary of every request."""
    config = load_config(example_config_path())
    lines = script_lines()
    people: list[tuple[datetime, str, str, str]] = []
    for i, raw in enumerate(lines, 1):
        line = parse_line(raw, i, config.tz, config.policy.bot_name)
        if line and line.message:
            m = line.message
            people.append((m.ts, m.room, m.sender, m.text))

    with tempfile.TemporaryDirectory(prefix="minqing-demo-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'demo.db'}", config.county.name)
        first = json.loads(lines[0])["ts"]
        clock = ManualClock(datetime.fromisoformat(first))
        transport = SimulatedTransport(clock)
        replayer = Replayer(Relay(config, db, transport), clock)
        replayer.feed(lines)
        with db.transaction() as tx:
            requests = tx.find(RequestFilter())
        db.dispose()

    said = transport.said
    console.print(Rule(f"[bold]民情直通车 演示：{config.county.name}的一周（模拟群聊）[/]"))
    console.print(f"{len(people)} 条群消息，机器人回复 {len(said)} 条。按群列出：\n")
    for room in config.county.rooms:
        entries: list[tuple[datetime, int, str, str]] = []
        entries += [(t, 0, s, x) for t, r, s, x in people if r == room]
        entries += [(s.ts, 1, config.policy.bot_name, _with_mentions(s)) for s in said if s.room == room]
        if not entries:
            continue
        console.print(Rule(f"[bold cyan]{room}[/]", align="left"))
        for t, is_bot, who, text in sorted(entries, key=lambda e: (e[0], e[1])):
            head = Text(f"[{_stamp(t, config)}] ", style="dim")
            head.append(who, style="bold green" if is_bot else "bold")
            head.append("：")
            body = Text(text, style="green" if is_bot else "")
            console.print(head + body if "\n" not in text else head, soft_wrap=True)
            if "\n" in text:
                for part in text.splitlines():
                    console.print(Text("    " + part, style="green"), soft_wrap=True)
        console.print()
    console.print(_summary(requests, config))


def _with_mentions(s: Said) -> str:
    prefix = "".join(f"@{m.name} " for m in s.mentions)
    return prefix + s.text


def _summary(requests, config: Config) -> Table:
    table = Table(title="诉求汇总", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("#", "村", "分类", "状态", "层级", "经办人", "登记", "办结", "评价", "重办"):
        table.add_column(col, no_wrap=True)

    def short(t: datetime | None) -> str:
        return t.astimezone(config.tz).strftime("%m-%d %H:%M") if t else "—"

    for r in requests:
        table.add_row(
            str(r.number), r.village, r.category + ("·急" if r.urgent else ""),
            STATUS_NAMES[r.status.value].split("，")[0], TIER_NAMES[r.tier], r.handler or "—",
            short(r.created_at), short(r.resolved_at),
            {"satisfied": "满意", "unsatisfied": "不满意"}.get(r.rating.value if r.rating else "", "—"),
            str(r.reopened),
        )
    return table

"""Rendering outbound messages: every sentence the bot says is a jinja2 template in templates/."""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context

from routing.model import Tier
from routing.ports import Outbound
from routing.privacy import mask

TIER_NAMES = {Tier.VILLAGE: "村级", Tier.TOWNSHIP: "镇级", Tier.COUNTY: "县级"}
STATUS_NAMES = {
    "open": "待认领",
    "acknowledged": "办理中",
    "resolved": "已办结，待评价",
    "closed": "已关闭",
    "rejected": "不予受理",
}
WEEKDAY_NAMES = "一二三四五六日"
MASKED = "_masked"  # context flag: the message leaves the origin village room


def templates_dir() -> Path:
    """The folder of the shipped templates."""
    return Path(str(resources.files("templates")))


def span(delta: timedelta | None) -> str:
    """A duration as people say it: 2天3小时, 3小时20分钟, 45分钟."""
    if delta is None:
        return ""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "不到1分钟"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins}分钟" if mins else f"{hours}小时"
    return f"{mins}分钟"


def clip(text: str, limit: int = 120) -> str:
    """Text cut to `limit` characters with an ellipsis, on one line."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@pass_context
def _clip(context, text: str, limit: int = 120) -> str:
    # mask before cutting: a phone number cut in half no longer looks like one to mask()
    return clip(mask(text) if context.get(MASKED) else text, limit)


class Renderer:
    """Turns an Outbound (template + context) into the text the bot sends."""

    def __init__(self, tz: ZoneInfo, folder: Path | None = None) -> None:
        self.tz = tz
        self.env = Environment(
            loader=FileSystemLoader(str(folder or templates_dir())),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(
            t=self.moment,
            day=self.day,
            span=span,
            clip=_clip,
            tier=lambda tier: TIER_NAMES[tier],
            status=lambda status: STATUS_NAMES[getattr(status, "value", status)],
            pct=lambda value: "—" if value is None else f"{value * 100:.0f}%",
        )

    def moment(self, when: datetime | None) -> str:
        """A local time as 10月9日(周五) 17:30."""
        if when is None:
            return "—"
        local = when.astimezone(self.tz)
        return f"{local.month}月{local.day}日(周{WEEKDAY_NAMES[local.weekday()]}) {local:%H:%M}"

    def day(self, when: datetime | None) -> str:
        """A local date as 10月9日."""
        if when is None:
            return "—"
        local = when.astimezone(self.tz)
        return f"{local.month}月{local.day}日"

    def render(self, out: Outbound, masked: bool = False) -> str:
        """The text of one outbound message; `masked` hides personal data in the texts it quotes."""
        text = self.env.get_template(out.template).render(**out.context, **{MASKED: masked})
        # templates lay out their logic over several lines; a chat message has no empty lines
        return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())

    def text(self, template: str, **context) -> str:
        """Render a template that is not a chat message (CLI output, digests)."""
        return self.render(Outbound("", template, context))

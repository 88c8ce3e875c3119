"""Rendering: every sentence the bot says, and every page it writes, is a jinja2 template in templates/.

One jinja environment serves chat messages, digests, the export's notes and the HTML report:
the same filters, times shown in the configured timezone, HTML templates (`*.html.j2`) escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, pass_context

from routing.model import Tier
from routing.ports import Outbound
from routing.privacy import mask, masked

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


_NUMBERISH = frozenset("0123456789０１２３４５６７８９*＊Xx")  # digits and the stars of a masked number


def clip(text: str, limit: int = 120) -> str:
    """Text cut to `limit` characters with an ellipsis, on one line; never inside a number (a phone number
    cut in half reads as another number): the cut moves to before it, or, when the text starts with it,
    after it."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = limit - 1
    if text[cut - 1] in _NUMBERISH and text[cut] in _NUMBERISH:
        start = cut
        while start > 0 and text[start - 1] in _NUMBERISH:
            start -= 1
        if start > 0:
            cut = start
        else:
            while cut < len(text) and text[cut] in _NUMBERISH:
                cut += 1
    return text[:cut].rstrip() + "…"


@pass_context
def _clip(context, text: str, limit: int = 120) -> str:
    # mask before cutting: a phone number cut in half no longer looks like one to mask()
    return clip(mask(text) if context.get(MASKED) else text, limit)


def pct(value: float | None, digits: int = 0) -> str:
    """A rate as a percentage (— when there is none): 83%, or 83.3% with digits=1."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    """A number with `digits` decimals (— when there is none)."""
    return "—" if value is None else f"{value:.{digits}f}"


def local(tz: ZoneInfo, show: Callable[[datetime], str]) -> Callable[[datetime | None], str]:
    """A filter showing a moment in `tz` with `show` (— when there is none)."""
    return lambda when: "—" if when is None else show(when.astimezone(tz))


def environment(tz: ZoneInfo, folder: Path | None = None) -> Environment:
    """The templates with every filter they use, times shown in `tz`."""
    env = Environment(
        loader=FileSystemLoader(str(folder or templates_dir())),
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # the shipped templates do not change while the bot runs: no stat() per message
    )
    env.filters.update({
        # 10月9日(周五) 17:30 in chat; 10月9日; 2026年10月9日; 2026-10-09 10:00 and 10-09 10:00 in reports
        "t": local(tz, lambda d: f"{d.month}月{d.day}日(周{WEEKDAY_NAMES[d.weekday()]}) {d:%H:%M}"),
        "day": local(tz, lambda d: f"{d.month}月{d.day}日"),
        "fullday": local(tz, lambda d: f"{d.year}年{d.month}月{d.day}日"),
        "month": local(tz, lambda d: f"{d.year}年{d.month}月"),
        "moment": local(tz, lambda d: d.strftime("%Y-%m-%d %H:%M")),
        "short": local(tz, lambda d: d.strftime("%m-%d %H:%M")),
        "span": span,
        "clip": _clip,
        "mask": mask,
        "masked_text": lambda r: masked(r.text, r.masked_text, r.masked_by),  # a request's text, masked
        "tier": lambda tier: TIER_NAMES[tier],
        "status": lambda status: STATUS_NAMES[getattr(status, "value", status)],
        "pct": pct,
        "num": num,
    })
    return env


class Renderer:
    """Turns an Outbound (template + context) into the text the bot sends."""

    def __init__(self, tz: ZoneInfo, folder: Path | None = None) -> None:
        self.tz = tz
        self.env = environment(tz, folder)
        self._templates: dict[str, Template] = {}  # the chat templates by name, loaded once (they never change)

    def render(self, out: Outbound, masked: bool = False) -> str:
        """The text of one outbound message; `masked` hides personal data in the texts it quotes."""
        template = self._templates.get(out.template)
        if template is None:
            template = self._templates[out.template] = self.env.get_template(out.template)
        text = template.render(**out.context, **{MASKED: masked})
        # templates lay out their logic over several lines; a chat message has no empty lines
        return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())

    def text(self, template: str, **context) -> str:
        """Render a template that is not a chat message (CLI output, digests)."""
        return self.render(Outbound("", template, context))

    def page(self, template: str, **context) -> str:
        """Render a document (the HTML report, the export's notes) as the template lays it out."""
        return self.env.get_template(template).render(**context)

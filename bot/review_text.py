"""The words of exports and reports: the jinja2 environment of their templates, and the export's notes."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.config import Config
from bot.export import NO_RESPONDER_NAMES
from bot.render import STATUS_NAMES, TIER_NAMES, clip, span, templates_dir
from routing.privacy import mask
from routing.review import NoResponder, Scope


def environment() -> Environment:
    """The templates of reports: HTML ones escaped, with the filters they use."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=lambda v: "—" if v is None else f"{v * 100:.1f}%",
        num=lambda v, digits=2: "—" if v is None else f"{v:.{digits}f}",
        tier=lambda t: TIER_NAMES[t],
        status=lambda s: STATUS_NAMES[getattr(s, "value", s)],
        span=span,
        clip=clip,
        mask=mask,
        handler=lambda k: NO_RESPONDER_NAMES[k] if isinstance(k, NoResponder) else k,
    )
    return env


def _time_filters(tz: ZoneInfo):
    """Filters that show times in the configured timezone."""

    def moment(when: datetime | None) -> str:
        """2026-10-09 10:00."""
        return "—" if when is None else when.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    def short(when: datetime | None) -> str:
        """10-09 10:00."""
        return "—" if when is None else when.astimezone(tz).strftime("%m-%d %H:%M")

    def day(when: datetime | None) -> str:
        """2026年10月9日."""
        if when is None:
            return "—"
        d = when.astimezone(tz)
        return f"{d.year}年{d.month}月{d.day}日"

    return moment, short, day


def render(env: Environment, cfg: Config, template: str, **context) -> str:
    """A template rendered with times shown in the configured timezone."""
    moment, short, day = _time_filters(cfg.tz)
    env.filters.update(moment=moment, short=short, day=day)
    return env.get_template(template).render(**context)


def period_context(cfg: Config, scope: Scope) -> dict:
    """What the templates say about a scope: county, first and last day, filters."""
    return {
        "county": cfg.county.name,
        "first_day": scope.start,
        "last_day": scope.end - timedelta(days=1),
        "scope": scope,
    }


def notes_lines(cfg: Config, scope: Scope, now: datetime, *, unmask: bool) -> list[str]:
    """The notes sheet of an XLSX export: period, filters and the definitions, one line each."""
    text = render(environment(), cfg, "export_notes.j2", now=now, unmask=unmask,
                  hours_per_day=cfg.policy.calendar.hours_per_day, **period_context(cfg, scope))
    return [line.strip() for line in text.splitlines() if line.strip()]

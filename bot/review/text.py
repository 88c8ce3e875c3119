"""The words of exports and reports: their templates rendered in the shared environment, and the export's notes."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Config
from bot.messaging.render import Renderer
from bot.review.export import credit_name
from routing.review import Scope


def renderer(cfg: Config) -> Renderer:
    """The shared templates, with the filter that names a per-handler entry."""
    r = Renderer(cfg.tz)
    r.env.filters["handler"] = lambda k: credit_name(k, cfg.county.name)
    return r


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
    text = renderer(cfg).page("export_notes.j2", now=now, unmask=unmask,
                              hours_per_day=cfg.policy.calendar.hours_per_day, **period_context(cfg, scope))
    return [line.strip() for line in text.splitlines() if line.strip()]

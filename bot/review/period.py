"""The period and units a review covers, checked against the config, and the review read from one snapshot.

What `--from/--to` select: the requests registered from the start of `--from` to the end of
`--to` (both inclusive), as local dates in the configured timezone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.clock import check_year
from bot.config import Config
from bot.review.numeric import numpy_spread
from routing.review import Review, Scope
from storage.db import Database
from storage.reports import review_requests, stray_ratings


def parse_day(text: str, option: str) -> date:
    """A day given on the command line as YYYY-MM-DD, within the years the bot knows (ValueError says what is wrong)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r}：日期的写法是 YYYY-MM-DD，例如 2026-10-01") from None
    check_year(day, f"{option} {day}")
    return day


def day_bounds(cfg: Config, first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """[start of `first`, end of `last`) in the configured timezone (None stays None); ValueError when last < first."""
    if first and last and last < first:
        raise ValueError(f"--to {last} 早于 --from {first}")
    midnight = datetime.min.time()
    return (datetime.combine(first, midnight, cfg.tz) if first else None,
            datetime.combine(last + timedelta(days=1), midnight, cfg.tz) if last else None)


def parse_period(cfg: Config, date_from: str, date_to: str) -> tuple[datetime, datetime]:
    """[start of --from, end of --to) in the configured timezone (ValueError says what is wrong)."""
    return day_bounds(cfg, parse_day(date_from, "--from"), parse_day(date_to, "--to"))


def make_scope(cfg: Config, date_from: str, date_to: str, township: str | None = None, village: str | None = None,
               category: str | None = None) -> Scope:
    """The scope the options describe, checked against the config (ValueError says what is wrong)."""
    start, end = parse_period(cfg, date_from, date_to)
    problem = unit_problem(cfg, township, village)
    if problem:
        raise ValueError(problem)
    return Scope(start, end, township or None, village or None, category or None)


def unit_problem(cfg: Config, township: str | None, village: str | None) -> str | None:
    """What is wrong with --township / --village, when they name no unit of the config."""
    county = cfg.county
    if township is not None and township not in {t.name for t in county.townships}:
        return f"--township {township!r} 不是配置里{county.name}的镇（有：{'、'.join(t.name for t in county.townships)}）"
    if village is not None and village not in {v.name for v in county.villages()
                                               if township is None or v.township == township}:
        return f"--village {village!r} 不是配置里{township or county.name}的村"
    return None


def collect(database: Database, scope: Scope, cfg: Config, as_of: datetime, *, overdue_listed: int | None = None):
    """The review of a scope, read from one snapshot (for the report; the export streams instead)."""
    kw = {} if overdue_listed is None else {"overdue_listed": overdue_listed}
    review = Review(scope, cfg.policy.calendar, as_of, spread=numpy_spread, **kw)
    with database.snapshot() as tx:
        for rec in review_requests(tx, scope):
            review.add(rec)
        for rec in stray_ratings(tx, scope):
            review.add_rating(rec)
    return review

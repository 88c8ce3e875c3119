"""`minqing report`: a 通报 of a period as one self-contained HTML file: the units ranked by composite
score with the change against the previous period, the units below the thresholds named, the hottest
categories, the 三率, times, weekly trend, overdue list and charts (each sorted by its value).

Charts are drawn by matplotlib as SVG with text kept as text (`svg.fonttype = none`) and put
inline in the page: the reader's browser draws the Chinese with its own fonts, so the machine
that makes the report needs no Chinese font, and the page loads nothing from anywhere. Every
Chinese word of the report, the charts' included, is in templates/ (report.html.j2,
report_labels.j2); the export's notes are in export_notes.j2.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import matplotlib
import matplotlib.ticker
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from bot.config import Config
from bot.review.export import OVERDUE_SHEET, units
from bot.review.text import period_context, renderer
from routing.bulletin import Hot, Standing, flags, hottest, previous_period, standings, whole_month
from routing.model import Tier
from routing.rates import Rates
from routing.review import Review, Scope, Spread, UnitSummary, histogram, slowest

# fonts the reader's browser may have, Chinese first; the SVG names them and the browser picks one
CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB",
             "WenQuanYi Micro Hei", "SimHei", "DejaVu Sans"]
RESOLUTION_EDGES = (0, 1, 2, 3, 5, 10, 20, 40)  # working days
SLOWEST_LISTED = 10
OVERDUE_LISTED = 200  # rows of the report's overdue table; the export's 逾期 sheet holds them all
TREND_MIN_WEEKS = 4  # a shorter period has too few points for a trend chart: its table alone says it
COLORS = {"response": "#3a7bbf", "resolution": "#e08a2c", "satisfaction": "#4a9b5f", "bars": "#9db8d6",
          "median": "#3a7bbf", "p90": "#c9d9ec"}
_RC = {
    "svg.fonttype": "none",  # text stays text: the browser renders the Chinese
    "svg.hashsalt": "minqing",  # the same data gives the same file
    "font.family": "sans-serif",
    "font.sans-serif": CJK_FONTS,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
A4_WIDTH_IN = 7.0  # the text width of an A4 page with the margins of the report's CSS


# --- charts ---------------------------------------------------------------------------
def _svg(fig: Figure) -> str:
    """The figure as an inline <svg> element: text as text, no XML prologue, scaled to the page."""
    buf = io.StringIO()
    FigureCanvasSVG(fig)
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # the XML declaration and DOCTYPE do not belong inside HTML
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r'\1 class="chart" preserveAspectRatio="xMidYMid meet"',
                 svg, count=1)
    return svg


class _Quiet:
    """Draw with the report's settings, without matplotlib's complaints about glyphs it lacks."""

    def __enter__(self):
        self._rc = matplotlib.rc_context(_RC)
        self._rc.__enter__()
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        # no Chinese font here is expected: the reader's browser has one
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        self._log = logging.getLogger("matplotlib.font_manager")
        self._level = self._log.level
        self._log.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        self._log.setLevel(self._level)
        self._warnings.__exit__(*exc)
        self._rc.__exit__(*exc)


def _percent_axis(ax, axis: str = "y") -> None:
    formatter = matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=0)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def ranking_chart(ranked: Sequence[Standing], labels: dict) -> str:
    """Horizontal bars: the composite score of each ranked unit, best at the top."""
    with _Quiet():
        n = len(ranked)
        fig = Figure(figsize=(A4_WIDTH_IN, 0.24 * n + 0.8))
        ax = fig.add_subplot()
        ys = list(range(n))[::-1]
        bars = ax.barh(ys, [s.score for s in ranked], 0.62, color=COLORS["response"])
        ax.bar_label(bars, labels=[f"{s.score * 100:.1f}" for s in ranked], padding=2, fontsize=7)
        ax.set_yticks(ys, [f"{s.place}. {s.name}" for s in ranked])
        ax.set_xlim(0, 1.08)
        _percent_axis(ax, "x")
        ax.set_xlabel(labels["score"])
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return _svg(fig)


def hot_chart(hot: Sequence[Hot], labels: dict) -> str:
    """Horizontal bars: requests of the hottest categories, most at the top."""
    with _Quiet():
        n = len(hot)
        fig = Figure(figsize=(A4_WIDTH_IN, 0.3 * n + 0.8))
        ax = fig.add_subplot()
        ys = list(range(n))[::-1]
        bars = ax.barh(ys, [h.count for h in hot], 0.6, color=COLORS["resolution"])
        ax.bar_label(bars, padding=2, fontsize=7)
        ax.set_yticks(ys, [h.name for h in hot])
        ax.set_xlabel(labels["requests"])
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.margins(x=0.12)
        return _svg(fig)


def histogram_chart(bins: Sequence[tuple[str, int]], labels: dict) -> str:
    """Bars: how many requests were resolved within each span of working days."""
    with _Quiet():
        fig = Figure(figsize=(A4_WIDTH_IN, 2.6))
        ax = fig.add_subplot()
        xs = range(len(bins))
        counts = [c for _, c in bins]
        bars = ax.bar(xs, counts, 0.7, color=COLORS["bars"])
        ax.bar_label(bars, padding=2, fontsize=8)
        ax.set_xticks(xs, [name for name, _ in bins])
        ax.set_xlabel(labels["resolution_days"])
        ax.set_ylabel(labels["requests"])
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.margins(y=0.15)
        return _svg(fig)


def trend_chart(weeks, labels: dict) -> str:
    """Requests registered per week (bars) and that week's 响应率 and 解决率 (lines)."""
    with _Quiet():
        fig = Figure(figsize=(A4_WIDTH_IN, 2.8))
        ax = fig.add_subplot()
        xs = list(range(len(weeks)))
        ax.bar(xs, [w.requests for w in weeks], 0.7, color=COLORS["bars"], label=labels["registered"])
        ax.set_ylabel(labels["requests"])
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        right = ax.twinx()
        right.spines["right"].set_visible(True)
        for attr, color in (("response", COLORS["response"]), ("resolution", COLORS["resolution"])):
            points = [(x, getattr(w.rates, attr)) for x, w in zip(xs, weeks) if getattr(w.rates, attr) is not None]
            right.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=2.5, linewidth=1.2,
                       color=color, label=labels[attr])
        right.set_ylim(0, 1.05)
        _percent_axis(right)
        step = max(1, len(weeks) // 12)
        ticks = xs[::step]
        ax.set_xticks(ticks, [f"{weeks[i].start.month}/{weeks[i].start.day}" for i in ticks])
        ax.set_xlabel(labels["week_of"])
        handles = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], ncols=3, loc="lower center",
                  bbox_to_anchor=(0.5, 1.0), frameon=False)
        return _svg(fig)


def slowest_chart(units: Sequence[UnitSummary], labels: dict) -> str:
    """Horizontal bars: median and 90th percentile of resolution time of the slowest categories."""
    with _Quiet():
        n = len(units)
        fig = Figure(figsize=(A4_WIDTH_IN, 0.32 * n + 0.9))
        ax = fig.add_subplot()
        ys = list(range(n))[::-1]
        ax.barh(ys, [u.resolution.p90 for u in units], 0.6, color=COLORS["p90"], label=labels["p90"])
        ax.barh(ys, [u.resolution.median for u in units], 0.6, color=COLORS["median"], label=labels["median"])
        ax.set_yticks(ys, [str(u.key) for u in units])
        ax.set_xlabel(labels["resolution_days"])
        ax.legend(ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
        return _svg(fig)


# --- the report ------------------------------------------------------------------------
def histogram_bins(review: Review, labels: dict) -> list[tuple[str, int]]:
    """The resolution-time bins with their names, e.g. ("1–2", 17)."""
    counts = histogram(review.resolution_days(), RESOLUTION_EDGES)
    edges = RESOLUTION_EDGES
    names = [labels["bin"].format(a=a, b=b) for a, b in zip(edges, edges[1:])]
    names.append(labels["bin_last"].format(a=edges[-1]))
    return list(zip(names, counts, strict=True))


def render_report(review: Review, cfg: Config, previous: Review | None = None) -> str:
    """The report's HTML; `previous`: the review of the period before (previous_scope), for the changes."""
    pages = renderer(cfg)
    labels = pages.env.get_template("report_labels.j2").module.chart
    county = cfg.county
    scoring = cfg.policy.scoring
    scope = review.scope
    dimension = "village" if scope.township else "township"  # within one township: its villages ranked

    def name(key) -> str:
        return key[1] if dimension == "village" else str(key)

    ranking = standings(every_unit(review, dimension, cfg), previous.by(dimension) if previous else [], scoring,
                        name)
    ranked = [s for s in ranking if s.place is not None]
    villages: dict[str, list[UnitSummary]] = {}
    for v in units(review, "village", county):
        villages.setdefault(v.key[0], []).append(v)
    hot = hottest(review.by("category"), previous.by("category") if previous else [])
    slow = slowest(review.by("category"), SLOWEST_LISTED)
    bins = histogram_bins(review, labels)
    weeks = review.weeks()
    charts = {
        "ranking": ranking_chart(ranked, labels) if ranked else "",
        "hot": hot_chart(hot, labels) if hot else "",
        "histogram": histogram_chart(bins, labels),
        "trend": trend_chart(weeks, labels) if len(weeks) >= TREND_MIN_WEEKS else "",
        "slowest": slowest_chart(slow, labels) if slow else "",
    }
    overall = review.overall()
    before = previous.scope if previous else None
    return pages.page(
        "report.html.j2",
        generated=review.as_of,
        issuer=cfg.issuer,
        whole_month=whole_month(scope.start, scope.end, cfg.tz),
        overall=overall,
        overall_before=previous.overall() if previous else None,
        previous_first_day=before.start if before else None,
        previous_last_day=before.end - timedelta(days=1) if before else None,
        unit_word="村" if dimension == "village" else "乡镇",
        ranking=ranking,
        ranked=ranked,
        unranked=[s for s in ranking if s.place is None],
        flags=flags(ranked, scoring),
        thresholds=dict(zip(("response", "resolution", "satisfaction"), scoring.thresholds, strict=True)),
        weights=scoring.weights,
        hot=hot,
        villages=villages,
        tiers=[(t, *review.tier_spreads()[t]) for t in Tier],
        bins=bins,
        resolved_total=sum(c for _, c in bins),
        weeks=weeks,
        overdue=review.overdue()[:OVERDUE_LISTED],
        overdue_count=review.overdue_count,
        overdue_sheet=OVERDUE_SHEET,
        slowest=slow,
        handlers=units(review, "handler", county),
        charts=charts,
        hours_per_day=cfg.policy.calendar.hours_per_day,
        **period_context(cfg, scope),
    )


def every_unit(review: Review, dimension: str, cfg: Config) -> list[UnitSummary]:
    """The townships (or, within a township, its villages) of the config with their figures: a unit without
    any request in the period is there too (with no figure, it is ranked last and said so)."""
    found = {u.key: u for u in units(review, dimension, cfg.county)}
    township = review.scope.township
    if dimension == "township":
        keys = [t.name for t in cfg.county.townships]
    else:
        keys = [(v.township, v.name) for v in cfg.county.villages() if v.township == township]
    none = Spread(0, None, None)
    return [found.get(k) or UnitSummary(k, 0, 0, 0, 0, Rates(), none, none) for k in keys] + [
        u for k, u in found.items() if k not in set(keys)]


def previous_scope(review_scope: Scope, cfg: Config) -> Scope:
    """The scope the report compares with: the previous calendar month, or the same number of days before."""
    start, end = previous_period(review_scope.start, review_scope.end, cfg.tz)
    return Scope(start, end, review_scope.township, review_scope.village, review_scope.category)


def write_report(review: Review, cfg: Config, out: Path, previous: Review | None = None) -> None:
    """Write the report, replacing `out` only once it is complete."""
    write_page(render_report(review, cfg, previous), out)


def write_page(html: str, out: Path) -> None:
    """Write an HTML page, replacing `out` only once it is complete."""
    tmp = out.with_name(f".{out.name}.partial")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)

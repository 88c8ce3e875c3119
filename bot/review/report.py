"""`minqing report`: one self-contained HTML file with the 三率, times, weekly trend, overdue list and charts.

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
from pathlib import Path

import matplotlib
import matplotlib.ticker
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from bot.config import Config
from bot.review.export import units
from bot.review.text import period_context, renderer
from routing.model import Tier
from routing.review import Review, UnitSummary, histogram, slowest

# fonts the reader's browser may have, Chinese first; the SVG names them and the browser picks one
CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB",
             "WenQuanYi Micro Hei", "SimHei", "DejaVu Sans"]
RESOLUTION_EDGES = (0, 1, 2, 3, 5, 10, 20, 40)  # working days
SLOWEST_LISTED = 10
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


def rates_chart(units: Sequence[UnitSummary], names: Sequence[str], labels: dict) -> str:
    """Grouped bars: 响应率, 解决率 and 满意率 of each unit."""
    with _Quiet():
        n = len(units)
        fig = Figure(figsize=(A4_WIDTH_IN, 3.0))
        ax = fig.add_subplot()
        width = 0.26
        for i, (attr, color) in enumerate((("response", COLORS["response"]), ("resolution", COLORS["resolution"]),
                                           ("satisfaction", COLORS["satisfaction"]))):
            xs = [j + (i - 1) * width for j in range(n)]
            values = [getattr(u.rates, attr) for u in units]
            bars = ax.bar([x for x, v in zip(xs, values) if v is not None], [v for v in values if v is not None],
                          width, label=labels[attr], color=color)
            if n <= 6:  # few units: print the figures on the bars (a 0% bar is otherwise invisible)
                ax.bar_label(bars, labels=[f"{v * 100:.0f}%" for v in values if v is not None], padding=1,
                             fontsize=7)
        ax.set_xticks(range(n), names, rotation=45 if n > 8 else 0, ha="right" if n > 8 else "center")
        ax.set_ylim(0, 1.12)
        _percent_axis(ax)
        ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([0, 0.2, 0.4, 0.6, 0.8, 1.0]))
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
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


def render_report(review: Review, cfg: Config) -> str:
    """The report's HTML."""
    pages = renderer(cfg)
    labels = pages.env.get_template("report_labels.j2").module.chart
    county = cfg.county
    townships = units(review, "township", county)
    villages: dict[str, list[UnitSummary]] = {}
    for v in units(review, "village", county):
        villages.setdefault(v.key[0], []).append(v)
    slow = slowest(review.by("category"), SLOWEST_LISTED)
    bins = histogram_bins(review, labels)
    weeks = review.weeks()
    charts = {
        "townships": rates_chart(townships, [str(t.key) for t in townships], labels) if townships else "",
        "histogram": histogram_chart(bins, labels),
        "trend": trend_chart(weeks, labels) if weeks else "",
        "slowest": slowest_chart(slow, labels) if slow else "",
    }
    overall = review.overall()
    return pages.page(
        "report.html.j2",
        generated=review.as_of,
        overall=overall,
        townships=townships,
        villages=villages,
        tiers=[(t, *review.tier_spreads()[t]) for t in Tier],
        bins=bins,
        resolved_total=sum(c for _, c in bins),
        weeks=weeks,
        overdue=review.overdue(),
        overdue_count=review.overdue_count,
        slowest=slow,
        handlers=units(review, "handler", county),
        charts=charts,
        hours_per_day=cfg.policy.calendar.hours_per_day,
        **period_context(cfg, review.scope),
    )


def write_report(review: Review, cfg: Config, out: Path) -> None:
    """Write the report, replacing `out` only once it is complete."""
    html = render_report(review, cfg)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)

"""`minqing report`: the HTML report's sections and figures against the hand-worked history."""

import re
import warnings

import pytest

from bot.review.report import render_report
from routing.review import Review
from storage.db import Database
from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE
from tests.review_fixture import AS_OF, PERIOD, history, store

CFG = str(EXAMPLE)
SECTIONS = ["overview", "townships", "villages", "distribution", "trend", "overdue", "slowest", "handlers"]


def make_review(cfg, stories):
    rv = Review(PERIOD, cfg.policy.calendar, AS_OF)
    for story in stories:
        if story.r.number != 6:
            rv.add(story.record)
    rv.add_rating(stories[5].record)
    return rv


@pytest.fixture(scope="module")
def html(example_config):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = render_report(make_review(example_config, history(example_config.policy)), example_config)
    assert not [w for w in caught if "Glyph" in str(w.message)]  # no Chinese font here is fine
    return page


def section(html, name):
    start = html.index(f'<section id="{name}"')
    return html[start:html.index("</section>", start)]


def text(fragment):
    """The visible text of an HTML fragment, tags and SVG left out."""
    fragment = re.sub(r"<svg.*?</svg>", "", fragment, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def test_all_sections_in_order_in_chinese(html):
    assert [m for m in re.findall(r'<section id="(\w+)"', html)] == SECTIONS
    assert '<html lang="zh-CN">' in html and "松桃县民情诉求办理情况报告" in html
    assert "统计期间：2026年9月29日 — 2026年10月31日" in html
    for heading in ("一、各乡镇三率", "二、各村三率", "三、办结用时分布", "四、每周趋势", "五、逾期未办结清单",
                    "六、办结最慢的分类", "七、各经办人"):
        assert heading in html


def test_self_contained_with_text_kept_as_text_in_the_charts(html):
    assert html.count("<svg") == 4
    assert not re.search(r"<(link|script|img|iframe)\b", html)
    assert not re.search(r"\b(src|href)\s*=\s*[\"']?(https?:)?//", html) and "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)  # only references inside the page: url(#clip)
    assert set(re.findall(r"https?://[^\"'\s>]+", html)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    charts = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert all("<text" in c for c in charts)
    assert "响应率" in charts[0] and "盘信镇" in charts[0] and "Noto Sans CJK SC" in charts[0]
    assert "办结用时（工作日）" in charts[1]


def test_prints_on_a4(html):
    assert "@page { size: A4" in html and "break-before: page" in html and "table-header-group" in html


def test_overview_figures(html):
    s = text(section(html, "overview"))
    assert "登记诉求 4 已办结 2，在办 1，不予受理 1" in s
    assert "响应率 75.0% 3/4 按时响应" in s and "解决率 75.0% 3/4 按时办结" in s and "满意率 75.0% 3/4 满意" in s
    assert "响应用时（工作小时） 4 2.0 9.7" in s and "办结用时（工作日） 2 2.5 3.3" in s
    assert "村级 4 2.0 9.7 3 0.31 1.23" in s  # handled 1 h, 2 h, 9.5 h at the village
    assert "镇级 1 11.5 11.5 1 3.15 3.15" in s and "县级 0 — — 0 — —" in s


def test_township_and_village_rates(html):
    s = text(section(html, "townships"))
    assert "盘信镇 3 100.0% （3/3） 100.0% （3/3） 75.0% （3/4） 2.0 2.5 3.3" in s
    assert "普觉镇 1 0.0% （0/1） 0.0% （0/1） — 13.0 — —" in s
    v = text(section(html, "villages"))
    assert v.index("盘信镇") < v.index("楼台村") < v.index("民主村") < v.index("普觉镇") < v.index("茶园村")
    assert "民主村 1 100.0% （1/1） 100.0% （1/1） 66.7% （2/3） 2.0 3.5 3.5" in v


def test_distribution_trend_overdue_and_slowest(html):
    d = text(section(html, "distribution"))
    assert "已办结的 2 件" in d
    assert "诉求数 0 1 0 1 0 0 0 0" in d and "占比 0.0% 50.0% 0.0% 50.0%" in d  # 1.46 and 3.46 working days
    t = text(section(html, "trend"))
    assert "2026年9月28日 1 1 — — 100.0% （1/1） 1.5" in t
    assert "2026年10月12日 2 0 50.0% （1/2） 100.0% （1/1） 66.7% （2/3） —" in t
    assert "2026年10月26日 0 0 — 0.0% （0/1） — —" in t
    o = text(section(html, "overdue"))
    assert "有 1 件超过时限仍未办结" in o
    assert "#3 普觉镇 茶园村 城乡建设 村级 办理中 代驻村 10-12 10:00 10-26 10:00 4.3 产业路被冲坏" in o
    slow = text(section(html, "slowest"))
    assert slow.index("民政 1") < slow.index("城乡建设 2") and "其他" not in slow


def test_text_people_wrote_is_escaped_and_masked(example_config):
    stories = history(example_config.policy)
    stories[2].r.text = "<b>路</b> 13812345678"
    page = render_report(make_review(example_config, stories), example_config)
    assert "&lt;b&gt;路&lt;/b&gt; 138****5678" in page and "<b>路</b>" not in page
    stories[2].r.text = "<b>路</b> 产业路冲坏 13812345678 请尽快修"  # cut inside the number
    page = render_report(make_review(example_config, stories), example_config)
    assert "13812345" not in page and "138****5…" in page


def test_an_empty_period_still_makes_a_report(example_config):
    empty = Review(PERIOD, example_config.policy.calendar, AS_OF)
    page = render_report(empty, example_config)
    assert "统计期间内没有诉求" in page and "没有逾期未办结的" in page and page.count("<svg") == 2


def test_cli_writes_the_report(tmp_path, example_config):
    db = tmp_path / "county.db"
    database = Database(f"sqlite:///{db}", example_config.county.name)
    store(database, history(example_config.policy))
    database.dispose()
    out = tmp_path / "report.html"
    r = run("report", "-c", CFG, "--db", str(db), "--from", "2026-09-29", "--to", "2026-10-31", "--out", str(out))
    assert r.code == 0, r.err
    assert "4 requests" in r.out
    page = out.read_text(encoding="utf-8")
    assert "盘信镇" in page and page.count("<svg") == 4
    r = run("report", "-c", CFG, "--db", str(db), "--from", "2026-09-29", "--to", "2026-10-31", "--township", "普觉镇",
            "--out", str(out))
    assert r.code == 0 and "1 requests" in r.out and "范围：普觉镇" in out.read_text(encoding="utf-8")
    assert run("report", "-c", CFG, "--db", str(db), "--from", "x", "--to", "2026-10-31", "--out", str(out)).code == 2


def test_the_overdue_table_is_bounded_and_points_to_the_export(example_config):
    rv = Review(PERIOD, example_config.policy.calendar, AS_OF, overdue_listed=0)
    for story in history(example_config.policy):
        if story.r.number != 6:
            rv.add(story.record)
    o = text(section(render_report(rv, example_config), "overdue"))
    assert "有 1 件超过时限仍未办结" in o and "列出逾期最久的 0 件" in o and "minqing export" in o
    assert "#3" not in o

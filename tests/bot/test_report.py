"""`minqing report`: the HTML report's sections and figures against the hand-worked history."""

import re
import warnings

import pytest

from bot.review.report import previous_scope, render_report
from routing.review import Review
from storage.db import Database
from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE
from tests.review_fixture import AS_OF, PERIOD, history, store

CFG = str(EXAMPLE)
SECTIONS = ["overview", "ranking", "hot", "villages", "distribution", "trend", "overdue", "slowest", "handlers"]


def make_review(cfg, stories):
    rv = Review(PERIOD, cfg.policy.calendar, AS_OF)
    for story in stories:
        if story.r.number != 6:
            rv.add(story.record)
    rv.add_rating(stories[5].record)
    return rv


def make_previous(cfg, stories):
    """The review of the period before PERIOD (26 Aug - 28 Sept: as many days), over the same history."""
    rv = Review(previous_scope(PERIOD, cfg), cfg.policy.calendar, AS_OF, weeks=False)
    for story in stories:
        rv.add(story.record)
    return rv


@pytest.fixture(scope="module")
def html(example_config):
    stories = history(example_config.policy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = render_report(make_review(example_config, stories), example_config,
                             make_previous(example_config, stories))
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
    assert '<html lang="zh-CN">' in html and "<h1>松桃县民情诉求办理情况通报</h1>" in html
    assert "（2026年9月29日至2026年10月31日）" in html
    # the issuing unit (config: [report] issuer) and the date, under the title and at the end
    assert html.count("松桃县网络问政工作领导小组办公室") == 2 and "2026年10月30日</p>" in html
    for heading in ("一、各乡镇综合排名", "二、诉求热点", "三、各村三率", "四、办结用时分布", "五、每周趋势",
                    "六、逾期未办结清单", "七、办结最慢的分类", "八、各经办人"):
        assert heading in html


def test_self_contained_with_text_kept_as_text_in_the_charts(html):
    assert html.count("<svg") == 5
    assert not re.search(r"<(link|script|img|iframe)\b", html)
    assert not re.search(r"\b(src|href)\s*=\s*[\"']?(https?:)?//", html) and "@import" not in html
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)  # only references inside the page: url(#clip)
    assert set(re.findall(r"https?://[^\"'\s>]+", html)) <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    charts = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert all("<text" in c for c in charts)
    assert "综合得分" in charts[0] and "1. 盘信镇" in charts[0] and "Noto Sans CJK SC" in charts[0]
    # sorted by value: the labels are written top to bottom, the best unit first
    assert charts[0].index("1. 盘信镇") < charts[0].index("2. 普觉镇")
    assert "城乡建设" in charts[1] and "办结用时（工作日）" in charts[2]


def test_prints_on_a4_with_page_numbers_and_no_forced_page_breaks(html):
    assert "size: A4" in html and 'counter(page) " 页 / 共 " counter(pages)' in html and "table-header-group" in html
    assert "break-before: page" not in html  # sections follow one another: no half-empty pages


def test_overview_figures(html):
    s = text(section(html, "overview"))
    assert "登记诉求 4 已办结 2，在办 1，不予受理 1" in s
    assert "响应率 75.0% 3/4 按时响应" in s and "解决率 75.0% 3/4 按时办结" in s and "满意率 75.0% 3/4 满意" in s
    assert "响应用时（工作小时） 4 2.0 9.7" in s and "办结用时（工作日） 2 2.5 3.3" in s
    assert "村级 4 2.0 9.7 3 0.31 1.23" in s  # handled 1 h, 2 h, 9.5 h at the village
    assert "镇级 1 11.5 11.5 1 3.15 3.15" in s and "县级 0 — — 0 — —" in s


def test_townships_ranked_by_composite_score_with_the_change_and_the_flags(html):
    s = text(section(html, "ranking"))
    # 盘信镇: 0.3 × 100 % + 0.4 × 100 % + 0.3 × 75 % = 92.5. The period before (27 Aug - 28 Sept): 响应 100 %
    # (#6 answered in time), 解决 0 % (#6 due 20 Sept, resolved 28 Sept), no rating: 0.3 / 0.7 = 42.9 → ↑49.6
    assert "1 盘信镇 92.5 ↑49.6 100.0% （3/3） 持平 100.0% （3/3） ↑100.0 75.0% （3/4） 3 0" in s
    assert "2 普觉镇 0.0 0.0% （0/1） 0.0% （0/1） — （0/0） 1 1" in s  # no figure before: no change shown
    assert "权重见配置 [report] weights" in s
    assert "响应率低于90%的乡镇有1个：普觉镇（0.0%），请查找原因、限期整改。" in s
    assert "解决率低于80%的乡镇有1个：普觉镇（0.0%）" in s and "满意率低于85%的乡镇有1个：盘信镇（75.0%）" in s
    assert section(html, "ranking").count('class="n below"') == 3
    v = text(section(html, "villages"))
    assert v.index("盘信镇") < v.index("楼台村") < v.index("民主村") < v.index("普觉镇") < v.index("茶园村")
    assert "民主村 1 100.0% （1/1） 100.0% （1/1） 66.7% （2/3） 2.0 3.5 3.5" in v


def test_overview_compares_with_the_period_before(html):
    s = text(section(html, "overview"))
    assert "与上期（2026年8月27日至2026年9月28日）相比，登记数增加2件，响应率下降25.0个百分点" in s
    assert "仍有1件超过时限未办结" in s


def test_hottest_categories_with_the_change(html):
    s = text(section(html, "hot"))
    assert "城乡建设 2 1 ↑1件 其他 1 0 ↑1件 民政 1 1 持平" in s


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
    assert "#3 普觉镇 茶园村 城乡建设 村级 办理中 代驻村 2026-10-12 10:00 2026-10-26 10:00 4.3 产业路被冲坏" in o
    assert "“逾期”工作表" in o
    slow = text(section(html, "slowest"))
    assert slow.index("民政 1") < slow.index("城乡建设 2") and "其他" not in slow


def test_text_people_wrote_is_escaped_and_masked(example_config):
    stories = history(example_config.policy)
    stories[2].r.text = "<b>路</b> 13812345678"
    page = render_report(make_review(example_config, stories), example_config)
    assert "&lt;b&gt;路&lt;/b&gt; 138****5678" in page and "<b>路</b>" not in page
    stories[2].r.text = "<b>路</b> 产业路冲坏了好几处，车过不去，老人看病也难 13812345678 请尽快修"
    page = render_report(make_review(example_config, stories), example_config)
    # 40 characters would end inside the number: the text is cut before it, never through it
    assert "13812345" not in page and "138****5" not in page and "车过不去，老人看病也难…" in page


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
    assert "4 件诉求" in r.out
    page = out.read_text(encoding="utf-8")
    assert "盘信镇" in page and page.count("<svg") == 5
    r = run("report", "-c", CFG, "--db", str(db), "--from", "2026-09-29", "--to", "2026-10-31", "--township", "普觉镇",
            "--out", str(out))
    assert r.code == 0 and "1 件诉求" in r.out and "（2026年9月29日至2026年10月31日　普觉镇）" in out.read_text(encoding="utf-8")
    assert run("report", "-c", CFG, "--db", str(db), "--from", "x", "--to", "2026-10-31", "--out", str(out)).code == 2


def test_the_overdue_table_is_bounded_and_points_to_the_export(example_config):
    rv = Review(PERIOD, example_config.policy.calendar, AS_OF, overdue_listed=0)
    for story in history(example_config.policy):
        if story.r.number != 6:
            rv.add(story.record)
    o = text(section(render_report(rv, example_config), "overdue"))
    assert "有 1 件超过时限仍未办结" in o and "列出逾期最久的 0 件" in o and "minqing export" in o
    assert "#3" not in o


def test_the_period_before_is_the_previous_month_or_as_many_days():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from routing.bulletin import previous_period
    tz = ZoneInfo("Asia/Shanghai")

    def day(y, m, d):
        return datetime(y, m, d, tzinfo=tz)

    assert previous_period(day(2026, 10, 1), day(2026, 11, 1), tz) == (day(2026, 9, 1), day(2026, 10, 1))
    assert previous_period(day(2026, 3, 1), day(2026, 4, 1), tz) == (day(2026, 2, 1), day(2026, 3, 1))  # 28 days
    assert previous_period(day(2026, 1, 1), day(2026, 2, 1), tz) == (day(2025, 12, 1), day(2026, 1, 1))
    assert previous_period(day(2026, 3, 10), day(2026, 3, 17), tz) == (day(2026, 3, 3), day(2026, 3, 10))
    assert previous_period(day(2026, 10, 1), day(2027, 1, 1), tz) == (day(2026, 7, 1), day(2026, 10, 1))  # 92 days


def test_within_a_township_its_villages_are_ranked_and_units_without_figures_come_last(example_config):
    from routing.review import Scope
    scope = Scope(PERIOD.start, PERIOD.end, "盘信镇")
    rv = Review(scope, example_config.policy.calendar, AS_OF)
    for story in history(example_config.policy):
        if story.r.township == "盘信镇" and story.r.number != 1:
            rv.add(story.record)
    s = text(section(render_report(rv, example_config), "ranking"))
    assert "一、各村综合排名" in s and "名次 村 综合得分" in s
    # 民主村: 100 % / 100 % / 66.7 % → 90.0; 楼台村 has #4 (rejected: no figure) and #5 (in time) → 100
    assert s.index("1 楼台村 100.0") < s.index("2 民主村 90.0")
    assert "↑" not in s and "↓" not in s  # no previous period given: no changes shown


def test_a_unit_without_any_figure_is_listed_last_and_said_so(example_config):
    from tests.fakes import local
    as_of = local("2026-10-12 12:00")  # #3 (普觉镇) registered at 10:00: none of its deadlines has come
    rv = Review(PERIOD, example_config.policy.calendar, as_of)
    for story in history(example_config.policy):
        if story.r.number != 6 and story.r.created_at < as_of:
            rv.add(story.record)
    s = text(section(render_report(rv, example_config), "ranking"))
    assert "— 普觉镇 — — （0/0） — （0/0） — （0/0） 1 1" in s
    assert "普觉镇本期没有响应、办结或评价数据，不参与排名，列在最后。" in s
    assert s.index("1 盘信镇") < s.index("— 普觉镇")


def test_one_requests_timeline(tmp_path, example_config):
    db = tmp_path / "county.db"
    database = Database(f"sqlite:///{db}", example_config.county.name)
    store(database, history(example_config.policy))
    database.dispose()
    out = tmp_path / "r2.html"
    r = run("report", "-c", CFG, "--db", str(db), "--request", "2", "--out", str(out))
    assert r.code == 0, r.err
    page = out.read_text(encoding="utf-8")
    assert "诉求 #2 办理过程" in page and not re.search(r"<(link|script|img)\b", page)
    tiers = text(section(page, "tiers"))
    # #2: 2.0 h at the village (registered 9 Oct 09:00, escalated 11:00), 20.5 h at the township (tests/review_fixture)
    assert "村级 2026-10-09 09:00 2.0 2.0 0.31" in tiers and "镇级 2026-10-09 11:00 11.5 20.5 3.15" in tiers
    stints = text(section(page, "stints"))
    assert "1 村级 2026-10-09 09:00 登记 2026-10-10 09:00" in stints
    assert "3 镇级 2026-10-14 09:00 不满意，重新办理" in stints and "2026-10-21 09:00" in stints
    events = text(section(page, "events"))
    assert events.count("2026-10-") >= 7  # every event, with its year
    assert "滕主任上报至镇级" in events and "第1期：响应 2026-10-10 09:00" in events
    assert "龙老汉" not in page and "龙**" in page  # the requester masked
    assert run("report", "-c", CFG, "--db", str(db), "--request", "99", "--out", str(out)).code == 1
    assert run("report", "-c", CFG, "--db", str(db), "--request", "2", "--from", "2026-10-01",
               "--out", str(out)).code == 2
    assert run("report", "-c", CFG, "--db", str(db), "--out", str(out)).code == 2  # neither a period nor a request

"""`minqing export`: every column and summary figure against the hand-worked history (tests/review_fixture.py)."""

import csv
import getpass
import io
from datetime import datetime

import openpyxl
import pytest
from sqlmodel import select

from bot.review import export as exporting
from bot.review.export import REQUEST_COLUMNS, SUMMARY_COLUMNS, RowLimitError, export, summary_path
from bot.review.text import notes_lines
from routing.review import Review
from storage.db import Database
from storage.reports import review_requests, stray_ratings
from storage.tables import AuditRow
from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE
from tests.review_fixture import AS_OF, PERIOD, history, store

CFG = str(EXAMPLE)
ARGS = ("--from", "2026-09-29", "--to", "2026-10-31")

ROWS = [
    ["1", "盘信镇", "楼台村", "城乡建设", "否", "唐**", "二组路灯坏了，电话138****5678", "已关闭", "村级",
     "2026-09-30 16:00", "2026-10-08 09:00", "", "2026-10-09 10:00", "2026-10-12 09:00", "村级", "石支书",
     "石支书", "2.00", "1.46", "2.00", "1.46", "", "", "", "", "2026-10-08 16:00", "2026-10-20 16:00", "是",
     "是", "满意", "0"],
    ["2", "盘信镇", "民主村", "民政", "否", "龙**", "低保申请没有回音", "已关闭", "镇级", "2026-10-09 09:00",
     "2026-10-09 11:00", "2026-10-09 11:00", "2026-10-14 11:00", "2026-10-15 09:00", "镇级", "滕主任", "杨主任",
     "2.00", "3.46", "2.00", "0.31", "11.50", "3.15", "", "", "2026-10-10 09:00", "2026-10-21 09:00", "是",
     "是", "满意", "1"],
    ["3", "普觉镇", "茶园村", "城乡建设", "否", "麻**", "产业路被冲坏", "办理中", "村级", "2026-10-12 10:00",
     "2026-10-14 10:00", "", "", "", "", "代驻村", "", "13.00", "", "13.00", "14.31", "", "", "", "",
     "2026-10-13 10:00", "2026-10-26 10:00", "否", "否", "", "0"],
    ["4", "盘信镇", "楼台村", "其他", "否", "吴*", "你好", "不予受理", "村级", "2026-10-13 09:00",
     "2026-10-13 10:00", "", "", "2026-10-13 10:00", "", "杨主任", "", "1.00", "", "1.00", "0.15", "", "", "",
     "", "2026-10-14 09:00", "2026-10-20 09:00", "是", "不计", "", "0"],
]

SUMMARY = [
    ["全部", "全部", "4", "2", "1", "1", "4", "3", "75.0%", "4", "3", "75.0%", "4", "3", "75.0%", "2.00",
     "9.70", "2.46", "3.26"],
    ["乡镇", "盘信镇", "3", "2", "1", "0", "3", "3", "100.0%", "3", "3", "100.0%", "4", "3", "75.0%", "2.00",
     "2.00", "2.46", "3.26"],
    ["乡镇", "普觉镇", "1", "0", "0", "1", "1", "0", "0.0%", "1", "0", "0.0%", "0", "0", "", "13.00", "13.00",
     "", ""],
    ["村", "盘信镇/楼台村", "2", "1", "1", "0", "2", "2", "100.0%", "2", "2", "100.0%", "1", "1", "100.0%",
     "1.50", "1.90", "1.46", "1.46"],
    ["村", "盘信镇/民主村", "1", "1", "0", "0", "1", "1", "100.0%", "1", "1", "100.0%", "3", "2", "66.7%",
     "2.00", "2.00", "3.46", "3.46"],
    ["村", "普觉镇/茶园村", "1", "0", "0", "1", "1", "0", "0.0%", "1", "0", "0.0%", "0", "0", "", "13.00",
     "13.00", "", ""],
    ["分类", "城乡建设", "2", "1", "0", "1", "2", "1", "50.0%", "3", "2", "66.7%", "1", "1", "100.0%", "7.50",
     "11.90", "1.46", "1.46"],
    ["分类", "其他", "1", "0", "1", "0", "1", "1", "100.0%", "0", "0", "", "0", "0", "", "1.00", "1.00", "",
     ""],
    ["分类", "民政", "1", "1", "0", "0", "1", "1", "100.0%", "1", "1", "100.0%", "3", "2", "66.7%", "2.00",
     "2.00", "3.46", "3.46"],
    # per handler: 响应 to the first responder, 解决 to whoever reported the standing result, a miss to the
    # holder at the deadline; 登记数 counts the requests a handler is credited with in the period
    ["经办人", "杨主任", "2", "1", "0", "0", "1", "1", "100.0%", "1", "1", "100.0%", "2", "1", "50.0%", "1.00", "1.00",
     "3.46", "3.46"],
    ["经办人", "滕主任", "2", "0", "0", "0", "1", "1", "100.0%", "0", "0", "", "1", "1", "100.0%", "2.00", "2.00",
     "", ""],
    ["经办人", "石支书", "2", "1", "0", "0", "1", "1", "100.0%", "2", "2", "100.0%", "1", "1", "100.0%", "2.00",
     "2.00", "1.46", "1.46"],
    ["经办人", "代驻村", "1", "0", "0", "1", "1", "0", "0.0%", "1", "0", "0.0%", "0", "0", "", "13.00", "13.00",
     "", ""],
]


@pytest.fixture
def db_path(tmp_path, example_config):
    path = tmp_path / "county.db"
    database = Database(f"sqlite:///{path}", example_config.county.name)
    store(database, history(example_config.policy))
    database.dispose()
    return path


@pytest.fixture
def database(db_path, example_config):
    database = Database(f"sqlite:///{db_path}", example_config.county.name)
    yield database
    database.dispose()


def do_export(database, cfg, out, fmt, *, unmask=False, max_rows=exporting.XLSX_MAX_ROWS):
    review = Review(PERIOD, cfg.policy.calendar, AS_OF)
    with database.snapshot() as tx:
        return export(review, review_requests(tx, PERIOD), stray_ratings(tx, PERIOD), out, fmt, county=cfg.county,
                      unmask=unmask, notes=notes_lines(cfg, PERIOD, AS_OF, unmask=unmask), max_rows=max_rows)


def read_csv(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    assert b"\r\n" in raw
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_rows_have_every_figure(database, example_config, tmp_path):
    out = tmp_path / "review.csv"
    result = do_export(database, example_config, out, "csv")
    assert result.rows == 4 and result.files == (out, tmp_path / "review-summary.csv")
    rows = read_csv(out)
    assert rows[0] == [c.header for c in REQUEST_COLUMNS]
    for want, got in zip(ROWS, rows[1:], strict=True):
        assert dict(zip(rows[0], got)) == dict(zip(rows[0], want))


def test_csv_summary_has_every_figure(database, example_config, tmp_path):
    out = tmp_path / "review.csv"
    do_export(database, example_config, out, "csv")
    rows = read_csv(summary_path(out))
    assert rows[0] == [c.header for c in SUMMARY_COLUMNS]
    assert rows[1:] == SUMMARY


def test_xlsx_is_typed_frozen_and_sized(database, example_config, tmp_path):
    out = tmp_path / "review.xlsx"
    result = do_export(database, example_config, out, "xlsx")
    assert result.rows == 4 and result.files == (out,)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["诉求明细", "汇总", "逾期", "通知明细", "通知响应率", "说明"]
    ws = wb["诉求明细"]
    assert ws.freeze_panes == "C2"  # the header, 编号 and 乡镇 stay in view
    headers = [c.value for c in ws[1]]
    assert headers == [c.header for c in REQUEST_COLUMNS] and ws["A1"].font.bold
    col = {h: i + 1 for i, h in enumerate(headers)}
    assert ws.column_dimensions["G"].width == 40  # 内容
    first = {h: ws.cell(row=2, column=col[h]) for h in headers}
    assert first["编号"].value == 1
    assert first["登记时间"].value == datetime(2026, 9, 30, 16, 0)  # local time, a real date
    assert first["登记时间"].number_format == "yyyy-mm-dd hh:mm"
    assert first["响应用时(工作小时)"].value == 2 and first["响应用时(工作小时)"].number_format == "0.00"
    resolution = first["办结用时(工作日)"]
    assert resolution.value == pytest.approx(9.5 / 6.5) and resolution.number_format == "0.00"
    assert first["首次上报时间"].value is None and first["提出人"].value == "唐**"
    assert first["内容"].value == "二组路灯坏了，电话138****5678"
    # every row as text equals the CSV's
    for want, cells in zip(ROWS, ws.iter_rows(min_row=2), strict=True):
        assert [_as_csv(c) for c in cells] == want
    summary = wb["汇总"]
    assert summary.freeze_panes == "C2"
    total = [c.value for c in summary[2]]
    assert total[:8] == ["全部", "全部", 4, 2, 1, 1, 4, 3]
    assert total[8] == pytest.approx(0.75) and summary.cell(row=2, column=9).number_format == "0.0%"
    assert [[_as_csv(c) for c in cells] for cells in summary.iter_rows(min_row=2)] == SUMMARY
    notes = [r[0].value for r in wb["说明"].iter_rows()]
    assert any("2026年9月29日 至 2026年10月31日" in n for n in notes)
    assert any(n.startswith("响应率 =") for n in notes) and any("已脱敏" in n for n in notes)


def test_xlsx_prints_filters_and_marks_rates_below_thresholds(database, example_config, tmp_path):
    out = tmp_path / "review.xlsx"
    do_export(database, example_config, out, "xlsx")
    wb = openpyxl.load_workbook(out)
    for name, last in (("诉求明细", "AE5"), ("汇总", "S14"), ("逾期", "M2")):
        ws = wb[name]
        assert ws.auto_filter.ref == f"A1:{last}", name
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.print_title_rows == "$1:$1"  # the header on every printed page
    summary = wb["汇总"]
    rules = {str(rng.sqref): [(r.operator, r.formula) for r in rules]
             for rng, rules in summary.conditional_formatting._cf_rules.items()}
    # thresholds of the example config: 响应率 90 %, 解决率 80 %, 满意率 85 %
    assert rules == {"I2:I14": [("lessThan", ["0.9"])], "L2:L14": [("lessThan", ["0.8"])],
                     "O2:O14": [("lessThan", ["0.85"])]}
    assert summary["I2"].number_format == "0.0%"


def test_xlsx_overdue_sheet_holds_every_overdue_request(database, example_config, tmp_path):
    out = tmp_path / "review.xlsx"
    review = Review(PERIOD, example_config.policy.calendar, AS_OF, overdue_listed=exporting.XLSX_MAX_ROWS)
    with database.snapshot() as tx:
        export(review, review_requests(tx, PERIOD), stray_ratings(tx, PERIOD), out, "xlsx",
               county=example_config.county, unmask=False, notes=[])
    ws = openpyxl.load_workbook(out)["逾期"]
    assert ws.freeze_panes == "C2"
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][:3] == ["编号", "乡镇", "村"] and len(rows) == 1 + review.overdue_count == 2
    assert rows[1][:8] == [3, "普觉镇", "茶园村", "城乡建设", "否", "村级", "办理中", "代驻村"]
    assert rows[1][11] == "麻**"  # masked as in the rows sheet


def _as_csv(cell) -> str:
    """A cell as the CSV writes it, to compare the two formats."""
    v = cell.value
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if cell.number_format == "0.0%":
        return f"{v * 100:.1f}%"
    if cell.number_format == "0.00":
        return f"{v:.2f}"
    return str(v)


def test_unmasked_export_shows_names_and_numbers(database, example_config, tmp_path):
    out = tmp_path / "review.csv"
    do_export(database, example_config, out, "csv", unmask=True)
    first = read_csv(out)[1]
    assert first[5] == "唐命学" and first[6] == "二组路灯坏了，电话13812345678"


def test_xlsx_beyond_its_row_limit_stops_and_leaves_nothing(database, example_config, tmp_path):
    out = tmp_path / "review.xlsx"
    with pytest.raises(RowLimitError, match="最多 3 行"):
        do_export(database, example_config, out, "xlsx", max_rows=4)  # a header and three rows fit; four do not
    assert [p.name for p in tmp_path.iterdir() if "review" in p.name] == []  # no file, not even a partial one
    assert do_export(database, example_config, out, "xlsx", max_rows=5).rows == 4


# --- the command line ---------------------------------------------------------------
def audits(db_path, county):
    database = Database(f"sqlite:///{db_path}", county)
    try:
        with database.transaction() as tx:
            return list(tx.session.exec(select(AuditRow).where(AuditRow.county == county)))
    finally:
        database.dispose()


def test_cli_exports_csv_masked_without_audit(db_path, tmp_path, example_config):
    out = tmp_path / "out.csv"
    r = run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--format", "csv", "--out", str(out))
    assert r.code == 0, r.err
    assert "4 件诉求" in r.out
    rows = read_csv(out)
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4"] and rows[1][5] == "唐**"
    assert read_csv(tmp_path / "out-summary.csv")[1][:3] == ["全部", "全部", "4"]
    assert audits(db_path, example_config.county.name) == []


def test_cli_unmask_is_audited_with_the_os_user(db_path, tmp_path, example_config):
    out = tmp_path / "out.xlsx"
    r = run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--township", "盘信镇", "--out", str(out), "--unmask")
    assert r.code == 0, r.err
    ws = openpyxl.load_workbook(out)["诉求明细"]
    assert [c.value for c in ws["A"]][1:] == [1, 2, 4] and ws["F2"].value == "唐命学"
    (audit,) = audits(db_path, example_config.county.name)
    assert audit.who == getpass.getuser() and audit.action == "export_unmasked"
    assert audit.detail["township"] == "盘信镇" and audit.detail["format"] == "xlsx"
    assert audit.detail["out"] == str(out.resolve())


def test_cli_filters_by_village_and_category(db_path, tmp_path):
    out = tmp_path / "v.csv"
    assert run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--village", "民主村", "--out", str(out)).code == 0
    assert [row[0] for row in read_csv(out)[1:]] == ["2"]
    assert run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--category", "城乡建设", "--out", str(out)).code == 0
    assert [row[0] for row in read_csv(out)[1:]] == ["1", "3"]


def test_cli_category_must_be_one_a_request_could_have(db_path, tmp_path, example_config):
    out = tmp_path / "c.csv"
    r = run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--category", "城建", "--out", str(out))
    assert r.code == 2 and "--category '城建' 不是已知的分类" in r.err and "城乡建设" in r.err and "其他" in r.err
    assert not out.exists()
    # a known category with no request in the period is an empty export, not an error
    r = run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--category", "交通运输", "--out", str(out))
    assert r.code == 0, r.err
    # a category only a stored request has (from a model used before) is accepted
    database = Database(f"sqlite:///{db_path}", example_config.county.name)
    with database.transaction() as tx:
        tx.raw.run("UPDATE requests SET category = '旧模型的分类' WHERE number = 2 AND county = :c",
                   {"c": example_config.county.name})
    database.dispose()
    r = run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--category", "旧模型的分类", "--out", str(out))
    assert r.code == 0, r.err
    assert [row[0] for row in read_csv(out)[1:]] == ["2"]



def test_a_category_export_does_not_need_the_model_file(db_path, tmp_path):
    # the config and database copied to another computer, without the model file: a built-in category exports
    cfg = tmp_path / "county.toml"
    cfg.write_text(EXAMPLE.read_text(encoding="utf-8").replace('model = ""', 'model = "不在这里.npz"'),
                   encoding="utf-8")
    out = tmp_path / "c.csv"
    r = run("export", "-c", str(cfg), "--db", str(db_path), *ARGS, "--category", "城乡建设", "--out", str(out))
    assert r.code == 0, r.err
    assert [row[0] for row in read_csv(out)[1:]] == ["1", "3"]
    r = run("export", "-c", str(cfg), "--db", str(db_path), *ARGS, "--category", "城建", "--out", str(out))
    assert r.code == 2 and "不是已知的分类" in r.err and "城乡建设" in r.err


def test_cli_xlsx_row_limit_is_a_clear_error(db_path, tmp_path, monkeypatch):
    monkeypatch.setattr(exporting, "XLSX_MAX_ROWS", 4)
    out = tmp_path / "big.xlsx"
    r = run("export", "-c", CFG, "--db", str(db_path), *ARGS, "--out", str(out))
    assert r.code == 2 and "放不进一张 XLSX 工作表" in r.err and "--format csv" in r.err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (("--from", "2026-10-32", "--to", "2026-10-31"), "YYYY-MM-DD"),
    (("--from", "2026-10-31", "--to", "2026-10-01"), "早于 --from"),
    ((*ARGS, "--township", "不存在镇"), "不是配置里松桃县的镇"),
    ((*ARGS, "--township", "普觉镇", "--village", "民主村"), "不是配置里普觉镇的村"),
    ((*ARGS, "--format", "pdf"), "只能是 csv 或 xlsx"),
])
def test_cli_bad_usage_exits_2(db_path, tmp_path, args, message):
    r = run("export", "-c", CFG, "--db", str(db_path), *args, "--out", str(tmp_path / "x.csv"))
    assert r.code == 2 and message in r.err, r.err


def test_cli_missing_database_or_folder(tmp_path):
    r = run("export", "-c", CFG, "--db", str(tmp_path / "none.db"), *ARGS, "--out", str(tmp_path / "x.csv"))
    assert r.code == 1 and "里还没有民情直通车的数据" in r.err
    assert not (tmp_path / "none.db").exists()  # asking made no empty database file
    r = run("notices", "-c", CFG, "--db", str(tmp_path / "none.db"))
    assert r.code == 1 and "里还没有民情直通车的数据" in r.err and not (tmp_path / "none.db").exists()
    r = run("export", "-c", CFG, "--db", str(tmp_path / "none.db"), *ARGS, "--out", str(tmp_path / "no" / "x.csv"))
    assert r.code == 2 and "不存在" in r.err


def test_text_people_wrote_never_becomes_a_formula(example_config, tmp_path):
    stories = history(example_config.policy)
    stories[0].r.text, stories[0].r.requester = "=HYPERLINK(\"x\")", "@唐"
    database = Database(f"sqlite:///{tmp_path / 'f.db'}", example_config.county.name)
    store(database, stories)
    try:
        do_export(database, example_config, tmp_path / "f.csv", "csv", unmask=True)
        do_export(database, example_config, tmp_path / "f.xlsx", "xlsx", unmask=True)
    finally:
        database.dispose()
    first = read_csv(tmp_path / "f.csv")[1]
    assert (first[5], first[6]) == ("'@唐", "'=HYPERLINK(\"x\")")
    cell = openpyxl.load_workbook(tmp_path / "f.xlsx")["诉求明细"]["G2"]
    assert (cell.value, cell.data_type) == ("=HYPERLINK(\"x\")", "s")


def test_an_empty_period_exports_headers_and_an_empty_summary(db_path, tmp_path):
    out = tmp_path / "empty.csv"
    r = run("export", "-c", CFG, "--db", str(db_path), "--from", "2025-01-01", "--to", "2025-01-31", "--out", str(out))
    assert r.code == 0 and "0 件诉求" in r.out
    assert read_csv(out) == [[c.header for c in REQUEST_COLUMNS]]
    summary = read_csv(tmp_path / "empty-summary.csv")
    nothing = ["全部", "全部", "0", "0", "0", "0", "0", "0", "", "0", "0", "", "0", "0", "", "", "", "", ""]
    assert summary[1:] == [nothing]


@pytest.mark.parametrize("rules_offset, shown", [(0, "（登记时遮蔽的文本）"), (-1, "二组路灯坏了，电话138****5678")])
def test_export_reads_the_text_masked_at_registration_when_masked_by_todays_rules(
        database, example_config, tmp_path, rules_offset, shown):
    from sqlalchemy import text as sql

    from routing.privacy import MASK_RULES

    with database.transaction() as tx:  # what registration stored (or older rules did)
        tx.session.execute(sql("UPDATE requests SET masked_text = :m, masked_by = :v WHERE county = :c AND number = 1"),
                           {"m": "（登记时遮蔽的文本）", "v": MASK_RULES + rules_offset, "c": tx.county})
    out = tmp_path / "review.csv"
    do_export(database, example_config, out, "csv")
    assert read_csv(out)[1][6] == shown


def test_registration_stores_the_text_masked(tmp_path, example_config):
    from routing.privacy import MASK_RULES
    from tests.conftest import LT
    from tests.fakes import make_chat

    database = Database(f"sqlite:///{tmp_path / 'new.db'}", example_config.county.name)
    chat = make_chat(example_config, database)
    chat.say(LT, "唐命学", "@民情直通车 路灯坏了，电话 138 1234 5678")
    with database.snapshot() as tx:
        r = tx.get(1)
    database.dispose()
    assert (r.masked_text, r.masked_by) == ("路灯坏了，电话 138 **** 5678", MASK_RULES)


@pytest.mark.parametrize("unmask", [False, True])
def test_the_fast_csv_cells_are_the_column_table_cell_for_cell(database, example_config, unmask):
    from bot.review.export import Row, _csv_formats, request_cells
    from routing.model import Rating

    tz = example_config.tz
    formats = _csv_formats(tz)
    cells = request_cells(tz)
    review = Review(PERIOD, example_config.policy.calendar, AS_OF, weeks=False)
    with database.snapshot() as tx:
        records = list(review_requests(tx, PERIOD))
    assert len(records) >= 4
    for rec in records:
        for rating in (rec.request.rating, Rating.UNSATISFIED, None):  # every kind of cell, filled and empty
            rec.request.rating = rating
            row = Row(review.add(rec), unmask)
            assert cells(row) == [formats[c.kind](c.value(row)) for c in REQUEST_COLUMNS]

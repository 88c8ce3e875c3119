"""The report on paper: printed to PDF by headless Chromium, pages rendered by pdftoppm and their ink measured.

Chromium and poppler-utils come from Debian packages (.ci/run installs them when missing). Under CI a
missing one is a failure; elsewhere the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from bot.review.period import collect
from bot.review.report import previous_scope, render_report
from bot.review.timeline import render_timeline
from routing.review import Scope
from storage.db import Database
from tests.bot.test_digest_phone import big_county, twenty_open
from tests.fakes import local, make_chat
from tests.review_fixture import AS_OF, PERIOD, history, store

DPI = 30
A4_MM = (210, 297)
MARGIN_MM = (14, 16)  # top and bottom margins of the report's @page; the page number sits in the bottom one
INK = 200  # a pixel darker than this (of 255) is ink


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    why = f"{' or '.join(names)} is not installed (Debian: apt-get install chromium poppler-utils)"
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


def print_pdf(html: str, folder: Path) -> Path:
    """The page printed to A4 PDF by headless Chromium, as a browser's "print" would."""
    chromium = _tool("chromium", "chromium-browser", "google-chrome")
    page, pdf = folder / "page.html", folder / "page.pdf"
    page.write_text(html, encoding="utf-8")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--no-default-browser-check", f"--user-data-dir={folder / 'profile'}", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return pdf


def filled(pdf: Path, folder: Path) -> list[float]:
    """Per page, how far down its text area the ink goes (0: empty, 1: to the bottom margin)."""
    _tool("pdftoppm")
    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", "-png", str(pdf), str(folder / "p")], check=True,
                   timeout=120)
    out = []
    for png in sorted(folder.glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1])):
        im = Image.open(png).convert("L")
        w, h = im.size
        top, bottom = (round(mm / A4_MM[1] * h) for mm in MARGIN_MM)
        area = im.crop((0, top, w, h - bottom))
        px = area.load()
        inked = [y for y in range(area.size[1]) if any(px[x, y] < INK for x in range(w))]
        out.append((inked[-1] + 1) / area.size[1] if inked else 0.0)
    return out


def page_numbers(pdf: Path) -> str:
    _tool("pdftotext")
    return subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def check_pages(html: str, folder: Path, pages: range) -> list[float]:
    pdf = print_pdf(html, folder)
    fill = filled(pdf, folder)
    assert len(fill) in pages, fill
    assert all(f >= 1 / 3 for f in fill[:-1]), [round(f, 2) for f in fill]  # no mostly empty page but the last
    text = page_numbers(pdf).replace(" ", "")
    assert all(f"第{i}页/共{len(fill)}页" in text for i in range(1, len(fill) + 1))
    return fill


def test_the_hand_worked_report_prints_on_a4_without_mostly_empty_pages(example_config, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'county.db'}", example_config.county.name)
    store(db, history(example_config.policy))
    review = collect(db, PERIOD, example_config, AS_OF)
    before = collect(db, previous_scope(PERIOD, example_config), example_config, AS_OF)
    db.dispose()
    check_pages(render_report(review, example_config, before), tmp_path, range(3, 7))


def test_a_county_of_twenty_townships_prints_on_a4_without_mostly_empty_pages(tmp_path):
    cfg = big_county()
    db = Database(f"sqlite:///{tmp_path / 'big.db'}", cfg.county.name)
    chat = make_chat(cfg, db, "2026-10-12 08:00")
    twenty_open(chat)
    chat.at("2026-10-30 12:00")
    scope = Scope(local("2026-10-01 00:00"), local("2026-11-01 00:00"))
    review = collect(db, scope, cfg, local("2026-10-30 12:00"))
    html = render_report(review, cfg, collect(db, previous_scope(scope, cfg), cfg, local("2026-10-30 12:00")))
    assert "（2026年10月）" in html  # a whole month is named as one
    # every township is in the ranking: the eleven without a request last, and said so
    assert html.count('<tr class="nofig">') == 11 and "平头镇本期没有响应、办结或评价数据" not in html
    assert "本期没有响应、办结或评价数据，不参与排名，列在最后" in html
    check_pages(html, tmp_path, range(4, 10))
    records = []
    with db.snapshot() as tx:
        records = tx.records_of([1])
        events = tx.events(1)
    db.dispose()
    timeline = tmp_path / "timeline"
    timeline.mkdir()
    check_pages(render_timeline(records[0], events, cfg, local("2026-10-30 12:00")), timeline, range(1, 3))

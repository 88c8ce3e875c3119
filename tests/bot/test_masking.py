"""Personal data appears only in the origin village room; every other room sees it masked."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Relay, shown_outside_origin
from bot.clock import ManualClock
from bot.config import load_config
from bot.sim.groups import SimulatedTransport
from routing.model import Inbound
from routing.ports import Outbound
from storage.db import Database

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
TZ = ZoneInfo("Asia/Shanghai")
VILLAGE = "楼台村干群连心群"
OTHER_VILLAGE = "民主村干群连心群"
TOWNSHIP = "盘信镇二级工作群"
SECRET = "13812345678"


@pytest.fixture
def relay(tmp_path):
    config = load_config(EXAMPLE)
    start = datetime(2026, 10, 9, 9, 0, tzinfo=TZ)
    clock = ManualClock(start)
    db = Database(f"sqlite:///{tmp_path / 'relay.db'}", config.county.name)
    transport = SimulatedTransport(clock)
    relay = Relay(config, db, transport)
    yield relay, clock, transport
    db.dispose()


def _say(relay, clock, room, sender, text, n):
    clock.set(clock.now() + timedelta(minutes=1))
    relay.receive(Inbound(clock.now(), room, sender, text, f"m{n}", mentions_bot=text.startswith("@")))
    relay.flush(clock.now())


def test_urgent_request_is_masked_in_the_township_room_only(relay):
    relay, clock, transport = relay
    _say(relay, clock, VILLAGE, "杨老三", f"@民情直通车 3组着火了，我电话{SECRET}，家住楼台村3组12号", 1)
    said = transport.take()
    township = [s.text for s in said if s.room == TOWNSHIP]
    assert township, "an urgent request is posted to the township room"
    assert all(SECRET not in t and "12号" not in t for t in township)
    assert any("138****5678" in t and "3组**号" in t for t in township)

    # in its own village room the request reads as written
    _say(relay, clock, VILLAGE, "杨老三", "进度 #1", 2)
    assert any(SECRET in s.text for s in transport.take() if s.room == VILLAGE)


def test_another_village_room_would_see_the_request_masked(relay):
    relay, clock, transport = relay
    _say(relay, clock, VILLAGE, "杨老三", f"@民情直通车 路灯坏了，电话{SECRET}", 1)
    with relay.db.transaction() as tx:
        req = tx.get(1)
    county = relay.config.county
    assert not shown_outside_origin(Outbound(VILLAGE, "progress.j2", {"r": req}), county.place(VILLAGE))
    assert shown_outside_origin(Outbound(OTHER_VILLAGE, "progress.j2", {"r": req}), county.place(OTHER_VILLAGE))
    assert shown_outside_origin(Outbound(OTHER_VILLAGE, "todo.j2", {"items": [req]}), county.place(OTHER_VILLAGE))
    assert shown_outside_origin(Outbound(TOWNSHIP, "progress.j2", {"r": req}), county.place(TOWNSHIP))
    assert shown_outside_origin(Outbound("某个群", "help.j2", {}), None)
    assert not shown_outside_origin(Outbound(OTHER_VILLAGE, "help.j2", {}), county.place(OTHER_VILLAGE))


def test_a_number_cut_by_a_length_limit_is_masked_before_it_is_cut(chat):
    from tests.bot.test_dialogs import register
    from tests.conftest import LT, PX

    # the escalation post quotes at most 200 characters: put a phone number right across the cut
    text = "报修 " + "路" * 190 + " 13812345678 请回电"  # the cut at 199 characters falls inside the number
    n = register(chat, text)
    said = chat.say(LT, "唐驻村", f"上报 #{n}")
    post = [s.text for s in said if s.room == PX][0]
    # masked before the cut, and the cut moved to before the number: no part of a number is quoted
    assert "138" not in post and "路…" in post


def test_every_variant_of_the_corpus_is_masked_wherever_it_leaves_the_village_room(chat, tmp_path, example_config):
    """Township and county rooms, the CSV and XLSX exports and the HTML report: the corpus, end to end."""
    import html
    import re

    import openpyxl

    from bot.messaging.render import clip
    from bot.review.period import collect, make_scope
    from bot.review.report import render_report
    from routing.privacy import mask
    from tests.bot.cli_helpers import run
    from tests.conftest import CTY, LT, PX
    from tests.routing.test_privacy_corpus import POSITIVE

    wanted = {}  # request number -> (as written, as masked)
    for text, expected in POSITIVE:
        written = f"{text}，3组着火了"
        masked = mask(written)
        # in a sentence the variant hides at least what it hides alone (a digit of the sentence may read on)
        assert not [i for i, ch in enumerate(expected) if ch == "*" and masked[i] != "*"], (written, masked)
        said = chat.say(LT, "王大妈", f"@民情直通车 {written}")
        n = int(next(s.text for s in said if "已登记为 #" in s.text).split("已登记为 #")[1].split("。")[0])
        wanted[n] = (written, masked)
        township = [s.text for s in said if s.room == PX]  # urgent: posted to the township at once
        up = [s.text for s in chat.say(PX, "杨主任", f"上报 #{n}") + chat.say(PX, "杨主任", f"上报 #{n}")
              if s.room in (PX, CTY)]
        quoted = " ".join(masked.split())  # chat messages quote text on one line
        assert len(township) == 1 and quoted in township[0] and any(quoted in p for p in up), (text, township + up)
        for post in township + up:
            assert " ".join(written.split()) not in post, (text, post)

    db = str(tmp_path / "test.db")
    period = ("--from", "2026-10-01", "--to", "2026-10-31")
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"review.{fmt}"
        assert run("export", "-c", str(EXAMPLE), "--db", db, *period, "--out", str(out)).code == 0
        if fmt == "csv":
            shown = {int(row.split(",")[0]): row for row in out.read_text(encoding="utf-8-sig").splitlines()[1:]}
        else:
            sheet = openpyxl.load_workbook(out)["诉求明细"]
            shown = {row[0]: row[6] for row in sheet.iter_rows(min_row=2, values_only=True)}
        for n, (written, masked) in wanted.items():
            assert masked in shown[n] and written not in shown[n], (fmt, shown[n])

    review = collect(chat.relay.db, make_scope(example_config, "2026-10-01", "2026-10-31"), example_config,
                     datetime(2026, 11, 1, tzinfo=TZ), overdue_listed=len(wanted))
    page = html.unescape(re.sub(r"<svg.*?</svg>", "", render_report(review, example_config), flags=re.S))
    # the overdue table quotes 40 characters (templates/report.html.j2)
    for written, masked in wanted.values():
        assert clip(masked, 40) in page and clip(written, 40) not in page, (written, masked)

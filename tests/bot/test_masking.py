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
    assert "13812" not in post and "138**…" in post

"""分类 #N 类别: a handler corrects a request's category; replies, progress, listings and exports follow it."""

from __future__ import annotations

import csv

import pytest

from routing.model import EventKind
from routing.tagging import Decision
from tests.bot.cli_helpers import run
from tests.bot.test_dialogs import register, request
from tests.conftest import EXAMPLE, LT, MZ, PX
from tests.fakes import make_chat

CFG = str(EXAMPLE)


def test_a_village_cadre_corrects_the_category_with_an_event_and_the_deadlines_stay(chat):
    n = register(chat)  # 路灯: 城乡建设
    before, _ = request(chat, n)
    chat.later(minutes=5)
    said = chat.say(LT, "石支书", f"分类 #{n} 经济管理")
    assert len(said) == 1 and said[0].room == LT and said[0].mentions == ("石支书",)
    assert "由“城乡建设”更正为“经济管理”" in said[0].text and "时限不变" in said[0].text
    req, events = request(chat, n)
    assert req.category == "经济管理"
    assert [e.kind for e in events] == [EventKind.REGISTERED, EventKind.RECATEGORIZED]
    assert events[-1].actor == "石支书" and events[-1].data == {"from": "城乡建设", "to": "经济管理"}
    # a relabel only: the deadlines (城乡建设 has 10 workdays in the example config) are not recomputed
    assert (req.ack_due_at, req.resolve_due_at) == (before.ack_due_at, before.resolve_due_at)
    assert req.acknowledged_at is None and req.status is before.status
    with chat.relay.db.transaction() as tx:
        stints = tx.stints(n)
    assert len(stints) == 1 and stints[0].resolve_due_at == before.resolve_due_at
    # the request's line everywhere shows the corrected category
    progress = chat.say(LT, "唐命学", f"进度 #{n}")
    assert "经济管理" in progress[0].text and "石支书更正分类：城乡建设→经济管理" in progress[0].text


def test_a_township_handler_can_correct_a_closed_request_too(chat):
    n = register(chat)
    chat.script([
        (LT, "石支书", f"认领 #{n}", [(LT, "已由石支书认领")]),
        (LT, "石支书", f"办结 #{n} 已修好", [(LT, "已办结")]),
        (LT, "唐命学", "满意", [(LT, "感谢评价")]),
        (PX, "杨主任", f"分类 #{n} 改成 经济管理", [(PX, "更正为“经济管理”")]),
    ])
    assert request(chat, n)[0].category == "经济管理"


@pytest.mark.parametrize("written, name", [("交通运输类", "交通运输"), ("“民政”", "民政"), ("改为农村农业", "农村农业")])
def test_the_category_may_be_written_loosely(chat, written, name):
    n = register(chat)
    chat.say(LT, "石支书", f"分类 #{n} {written}")
    assert request(chat, n)[0].category == name


def test_an_unknown_category_gets_the_list_of_valid_ones_and_changes_nothing(chat):
    n = register(chat)
    said = chat.say(LT, "石支书", f"分类 #{n} 路灯")
    assert len(said) == 1
    text = said[0].text
    assert "没有“路灯”这个分类" in text and "未更改" in text
    for name in ("城乡建设", "交通运输", "民政", "农村农业", "其他"):
        assert name in text
    req, events = request(chat, n)
    assert req.category == "城乡建设" and [e.kind for e in events] == [EventKind.REGISTERED]


def test_the_same_category_is_no_change(chat):
    n = register(chat)
    said = chat.say(LT, "石支书", f"分类 #{n} 城乡建设")
    assert "已经是“城乡建设”" in said[0].text
    assert [e.kind for e in request(chat, n)[1]] == [EventKind.REGISTERED]


def test_anyone_but_a_handler_of_the_request_gets_a_polite_refusal(chat):
    n = register(chat)
    chat.script([
        (LT, "王大妈", f"分类 #{n} 民政", [(LT, "抱歉，“分类”只能由负责")]),  # a villager
        (LT, "唐命学", f"分类 #{n} 民政", [(LT, "抱歉")]),  # the requester
        (MZ, "滕主任", f"分类 #{n} 民政", [(MZ, "抱歉")]),  # another village's cadre
    ])
    said = chat.say(None, "石支书", f"分类 #{n} 民政")  # handlers act in their work groups, not privately
    assert len(said) == 1 and "请在工作群里办理" in said[0].text
    assert request(chat, n)[0].category == "城乡建设"


def test_malformed_category_commands_are_explained(chat):
    n = register(chat)
    chat.script([
        (LT, "石支书", f"分类 #{n}", [(LT, "请写明正确的分类，例如：分类 #12 交通运输")]),
        (LT, "石支书", "分类", [(LT, "请带上诉求编号，例如：分类 #12")]),
        (LT, "石支书", "分类 #999 民政", [(LT, "没有找到诉求 #999")]),
    ])
    assert request(chat, n)[0].category == "城乡建设"


def test_a_relabel_never_makes_or_unmakes_a_confidential_request(chat):
    n = register(chat)
    said = chat.say(LT, "石支书", f"分类 #{n} 纪检监察")
    assert "保密分类" in said[0].text
    assert request(chat, n)[0].category == "城乡建设"


def test_exports_listings_and_the_corrections_file_use_the_corrected_category(chat, tmp_path):
    n = register(chat, "@民情直通车 二组的路灯坏了，联系电话13812345678")
    register(chat, "@民情直通车 村里的班车太少了")  # not corrected: not a training row
    chat.say(LT, "石支书", f"分类 #{n} 经济管理")
    db = chat.relay.db.url
    listed = run("list", "-c", CFG, "--db", db, "--json")
    assert listed.code == 0, listed.err
    assert {r["id"]: r["category"] for r in __import__("json").loads(listed.out)}[n] == "经济管理"
    out = tmp_path / "export.csv"
    done = run("export", "-c", CFG, "--db", db, "--from", "2026-10-01", "--to", "2026-10-31", "--format", "csv",
               "--out", str(out))
    assert done.code == 0, done.err
    with out.open(encoding="utf-8-sig") as f:
        rows = {r["编号"]: r for r in csv.DictReader(f)}
    assert rows[str(n)]["分类"] == "经济管理"
    corrections = tmp_path / "corrections.csv"
    done = run("tagger", "corrections", "-c", CFG, "--db", db, "--out", str(corrections))
    assert done.code == 0, done.err
    assert "1 条" in done.out
    with corrections.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    # only the corrected request, its text masked, with the corrected label
    assert rows == [["text", "label"], ["二组的路灯坏了，联系电话138****5678", "经济管理"]]


def test_corrections_to_an_unwritable_place_exit_with_a_clear_error(chat, tmp_path):
    done = run("tagger", "corrections", "-c", CFG, "--db", chat.relay.db.url, "--out", str(tmp_path / "no" / "x.csv"))
    assert done.code == 2 and "不存在" in done.err


class _Unsure:
    """A classifier that always guesses, with a probability below any threshold."""

    classes = ["城乡建设", "交通运输"]

    def decide(self, text: str) -> Decision:
        return Decision("交通运输", 0.41, False)


class _Sure(_Unsure):
    def decide(self, text: str) -> Decision:
        return Decision("交通运输", 0.97, True)


def _with_model(example_config, db, model):
    chat = make_chat(example_config, db)
    chat.relay.service.tagger.model = model
    chat.relay.service.tagger.overrides = {}  # the example config's own keywords would decide these messages
    return chat


def test_a_guessed_category_says_so_and_asks_the_village_cadres_to_confirm(example_config, db):
    chat = _with_model(example_config, db, _Unsure())
    said = chat.say(LT, "唐命学", "@民情直通车 村口那个东西又坏了", mention=True)
    assert len(said) == 1
    line = said[0]
    assert "分类：交通运输（系统猜测，待确认）" in line.text
    assert "村干部请核对分类：不对请回复“分类 #1 正确类别”" in line.text
    assert line.mentions == ("唐命学", "唐驻村", "石支书")
    _, events = request(chat, 1)
    assert events[0].data["guess"] is True and events[0].data["probability"] == 0.41
    # the cadre confirms by correcting
    said = chat.say(LT, "石支书", "分类 #1 城乡建设")
    assert "更正为“城乡建设”" in said[0].text


def test_a_sure_category_is_stated_plainly(example_config, db):
    chat = _with_model(example_config, db, _Sure())
    said = chat.say(LT, "唐命学", "@民情直通车 村里的班车太少了", mention=True)
    assert "分类：交通运输\n" in said[0].text and "猜测" not in said[0].text
    assert said[0].mentions == ("唐命学",)
    _, events = request(chat, 1)
    assert "guess" not in events[0].data and events[0].data["probability"] == 0.97


def test_help_lists_the_category_command_for_handlers(chat):
    said = chat.say(LT, "石支书", "帮助")
    assert "分类 #编号 类别" in said[0].text
    assert "分类 #编号" not in chat.say(LT, "王大妈", "帮助")[0].text


def test_reminders_and_the_township_digest_show_the_corrected_category(chat):
    from tests.conftest import PXL
    from tests.fakes import local

    n = register(chat)
    chat.say(LT, "石支书", f"分类 #{n} 经济管理")
    chat.run_jobs_until(local("2026-10-14 09:00"))  # nobody claims it: overdue, reminded, in Wednesday's digest
    said = chat.take()
    lines = [s for s in said if f"#{n} 楼台村·" in s.text]
    assert {s.room for s in lines} >= {LT}, said
    assert all(f"#{n} 楼台村·经济管理" in s.text for s in lines)
    # the township digest lists it as overdue (a phone digest shows number, village and handler, not the category)
    assert any(f"#{n} 楼台村 超时" in s.text for s in said if s.room == PXL), said

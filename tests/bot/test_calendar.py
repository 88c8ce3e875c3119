"""`minqing calendar import|show`: a year's holidays from the notice (or .ics) into the database, and the
deadlines of a guessed year worked out again when its year is imported."""

from __future__ import annotations

from datetime import date

import pytest

from bot.calendar_files import parse_ics
from routing.holidays import NoticeError
from routing.model import EventKind
from storage.db import Database
from tests.bot.cli_helpers import run
from tests.conftest import EXAMPLE, LT, config_with
from tests.fakes import local, make_chat
from tests.routing.test_holidays import notice

NOTICE_2099 = ("国务院办公厅关于2099年部分节假日安排的通知\n\n一、元旦：1月1日（周四）放假1天。\n"
               "二、春节：1月19日（周一）至27日（周二）放假调休，共9天。1月17日（周六）上班。\n")

ICS_2027 = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//holidays//CN\r
BEGIN:VEVENT\r
UID:1\r
DTSTART;VALUE=DATE:20261231\r
DTEND;VALUE=DATE:20270102\r
SUMMARY:元旦 休\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:2\r
DTSTART;VALUE=DATE:20270205\r
DTEND;VALUE=DATE:20270212\r
SUMMARY:春节 休\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:3\r
DTSTART;VALUE=DATE:20270213\r
DTEND;VALUE=DATE:20270214\r
SUMMARY:春节 补班\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:4\r
DTSTART;VALUE=DATE:20270301\r
DTEND;VALUE=DATE:20270302\r
SUMMARY:学雷锋纪念日\r
END:VEVENT\r
END:VCALENDAR\r
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_then_show_prints_one_line_a_day(tmp_path):
    db = str(tmp_path / "c.db")
    path = tmp_path / "2026.txt"
    path.write_text(notice(2026), encoding="utf-8")
    r = run("calendar", "import", str(path), "-c", str(EXAMPLE), "--db", db)
    assert r.code == 0, r.err
    assert "已导入 2026 年放假安排" in r.out and "放假 33 天" in r.out and "调休上班 6 天" in r.out
    shown = run("calendar", "show", "2026", "-c", str(EXAMPLE), "--db", db)
    assert shown.code == 0 and "导入的 2026.txt" in shown.err
    lines = shown.out.splitlines()
    assert lines[:4] == ["2026-01-01 休", "2026-01-02 休", "2026-01-03 休", "2026-01-04 班"]
    assert len(lines) == 39 and "2026-02-14 班" in lines and "2026-02-15 休" in lines
    again = run("calendar", "import", str(path), "-c", str(EXAMPLE), "--db", db)
    assert "已更新 2026 年" in again.out  # imported twice: replaced, not doubled
    assert run("calendar", "show", "2026", "-c", str(EXAMPLE), "--db", db).out.splitlines() == lines


def test_show_a_year_nobody_imported_warns_that_it_is_a_guess(tmp_path):
    r = run("calendar", "show", "2027", "-c", str(EXAMPLE), "--db", str(tmp_path / "c.db"))
    assert r.code == 0
    assert "2027 年的放假安排是推测的" in r.err and "minqing calendar import" in r.err
    assert r.out.splitlines()[:5] == ["2027-01-01 休", "2027-02-05 休", "2027-02-06 休", "2027-02-07 休",
                                      "2027-02-08 休"]
    known = run("calendar", "show", "2025", "-c", str(EXAMPLE), "--db", str(tmp_path / "c.db"))
    assert "chinese_calendar" in known.err and "2025-01-28 休" in known.out


def test_an_ics_file_gives_the_days_of_its_main_year(tmp_path):
    parsed = parse_ics(ICS_2027)
    assert parsed.year == 2027
    assert parsed.off == {date(2027, 1, 1)} | {date(2027, 2, d) for d in range(5, 12)}  # DTEND is exclusive
    assert parsed.work == {date(2027, 2, 13)}
    r = run("calendar", "import", str(write(tmp_path, "holidays.ics", ICS_2027)), "-c", str(EXAMPLE),
            "--db", str(tmp_path / "c.db"))
    assert r.code == 0, r.err
    shown = run("calendar", "show", "2027", "-c", str(EXAMPLE), "--db", str(tmp_path / "c.db"))
    assert "推测" not in shown.err and "2027-02-13 班" in shown.out and "2027-02-11 休" in shown.out


@pytest.mark.parametrize("name, content, why", [
    ("x.txt", "随便写的一段话", "找不到通知的年份"),
    ("x.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "没有标题含"),
    ("x.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:2027\r\nEND:VCALENDAR", "iCalendar"),
    ("x.bin", b"\xff\xfe\x00\x00\x81", "不是文本文件"),
    ("x.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:2027XXXX\r\nSUMMARY:元旦 休\r\n"
              "END:VEVENT\r\nEND:VCALENDAR\r\n", "日期读不出来"),
])
def test_a_file_that_cannot_be_imported_exits_3_and_changes_nothing(tmp_path, name, content, why):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    r = run("calendar", "import", str(path), "-c", str(EXAMPLE), "--db", str(tmp_path / "c.db"))
    assert r.code == 3 and why in r.err, r.err
    missing = run("calendar", "import", str(tmp_path / "none.txt"), "-c", str(EXAMPLE), "--db", str(tmp_path / "c.db"))
    assert missing.code == 3 and "读不了" in missing.err
    assert run("calendar", "show", "1999x", "-c", str(EXAMPLE)).code == 2


def test_a_make_up_working_day_titled_with_tiao_xiu_is_a_working_day():
    parsed = parse_ics("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20290101\r\nSUMMARY:元旦 休\r\n"
                       "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:2\r\nDTSTART;VALUE=DATE:20290106\r\nSUMMARY:调休上班\r\n"
                       "END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert parsed.off == {date(2029, 1, 1)} and parsed.work == {date(2029, 1, 6)}


def test_ics_with_an_event_of_no_kind_is_refused_when_nothing_else_is_there():
    with pytest.raises(NoticeError):
        parse_ics("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART;VALUE=DATE:20270301\r\n"
                  "SUMMARY:植树节\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def guessed(tmp_path):
    """A request registered on Thu 15 January 2099, a year nobody imported: its deadlines are a guess."""
    config = config_with()
    db = Database(f"sqlite:///{tmp_path / 'g.db'}", config.county.name)
    chat = make_chat(config, db, "2099-01-15 10:00")
    chat.say(LT, "唐命学", "@民情直通车 产业路不通，希望修一条")
    with db.snapshot() as tx:
        req = tx.get(1)
    # by the holiday law: 20-23 January off (除夕 to 初三); 1 workday to answer, 10 to resolve (城乡建设)
    assert (req.ack_due_at, req.resolve_due_at) == (local("2099-01-16 10:00"), local("2099-02-04 10:00"))
    assert req.current.provisional
    yield config, db, chat
    db.dispose()


def test_importing_the_year_recomputes_the_deadlines_not_yet_passed_each_with_an_event(tmp_path, guessed):
    config, db, chat = guessed
    r = run("calendar", "import", str(write(tmp_path, "2099.txt", NOTICE_2099)), "-c", str(EXAMPLE),
            "--db", str(tmp_path / "g.db"))
    assert r.code == 0, r.err
    assert "重算了 1 件诉求的时限" in r.out
    with db.snapshot() as tx:
        req, events = tx.get(1), tx.events(1)
    # the notice: 19-27 January off, Saturday 17 January a working day
    assert (req.ack_due_at, req.resolve_due_at) == (local("2099-01-16 10:00"), local("2099-02-06 10:00"))
    assert req.first_ack_due_at == local("2099-01-16 10:00")
    assert not req.current.provisional
    assert req.current.resolve_due_at == local("2099-02-06 10:00")
    last = events[-1]
    assert last.kind is EventKind.RESCHEDULED and last.data["year"] == 2099
    assert last.data["resolve_due_at"] == [local("2099-02-04 10:00").isoformat(), local("2099-02-06 10:00").isoformat()]
    shown = run("show", "1", "-c", str(EXAMPLE), "--db", str(tmp_path / "g.db"))
    assert "rescheduled" in shown.out or "重算时限" in shown.out
    again = run("calendar", "import", str(write(tmp_path, "2099.txt", NOTICE_2099)), "-c", str(EXAMPLE),
                "--db", str(tmp_path / "g.db"))
    assert "重算了 0 件" in again.out  # no longer provisional: recomputed once


def test_a_deadline_already_passed_is_left_as_it_was(guessed):
    config, db, chat = guessed
    from routing.holidays import parse_notice
    config.policy.calendar.use_years([parse_notice(NOTICE_2099)])
    with db.transaction() as tx:
        changed = chat.relay.service.reschedule_provisional(tx, local("2099-01-16 12:00"))
    assert [r.number for r in changed] == [1]
    with db.snapshot() as tx:
        req, events = tx.get(1), tx.events(1)
    assert req.ack_due_at == local("2099-01-16 10:00")  # passed at 12:00: the figures counted it as it was
    assert req.resolve_due_at == local("2099-02-06 10:00")
    assert events[-1].data["ack_due_at"] == [local("2099-01-16 10:00").isoformat()] * 2
    with db.transaction() as tx:
        assert chat.relay.service.reschedule_provisional(tx, local("2099-01-31 12:00")) == []


def test_deadlines_still_in_a_guessed_year_are_left_and_nothing_is_written(guessed):
    config, db, chat = guessed
    with db.transaction() as tx:
        assert chat.relay.service.reschedule_provisional(tx, local("2099-01-15 12:00")) == []
    with db.snapshot() as tx:
        assert [e.kind for e in tx.events(1)] == [EventKind.REGISTERED]
        assert tx.get(1).current.provisional


def test_the_bot_recomputes_at_start_what_was_registered_before_an_import(guessed):
    """A year imported while the bot ran: requests it registered meanwhile by the guess are recomputed at the
    next start (the operator restarts the bot after an import)."""
    import asyncio

    from bot.clock import ManualClock
    from bot.wechat.supervisor import LiveBot
    from routing.holidays import parse_notice
    from tests.bot.test_live import FakeGateway, settings, stop_now

    config, db, chat = guessed
    config.policy.calendar.use_years([parse_notice(NOTICE_2099)])  # what `minqing run` loads from the database
    live = LiveBot(config, db, settings(), ManualClock(local("2099-01-15 12:00")),
                   lambda listener: FakeGateway(listener, [stop_now]), jobs_paused=True)
    asyncio.run(live.run())
    with db.snapshot() as tx:
        req, events = tx.get(1), tx.events(1)
    assert events[-1].kind is EventKind.RESCHEDULED and req.resolve_due_at == local("2099-02-06 10:00")


@pytest.mark.parametrize("args", [("show", "1800"), ("show", "3000"), ("import", "any.txt", "--year", "1800")])
def test_a_year_out_of_range_on_the_command_line_is_a_usage_error(tmp_path, args):
    r = run("calendar", *args, "-c", str(EXAMPLE), "--db", str(tmp_path / "c.db"))
    assert r.code == 2 and "不是合理的年份（2000–2200）" in r.err

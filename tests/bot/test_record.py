"""A record officials can be judged by: a period's figures never change afterwards, a time-driven job never
overwrites a claim it did not see, digests add up, and a time-driven message can never be queued twice."""

from __future__ import annotations

from datetime import timedelta


from routing.model import EventKind, Status
from storage.db import Database
from tests.bot.cli_helpers import run
from tests.conftest import CY, EXAMPLE, LT, MZ, PX
from tests.fakes import local, make_chat, tick_with_a_message_between

CFG = str(EXAMPLE)


def register(chat, text, sender="唐命学", room=LT):
    said = chat.say(room, sender, text)
    reply = [s for s in said if "已登记为 #" in s.text]
    assert reply, said
    return int(reply[0].text.split("已登记为 #")[1].split("。")[0])


def summary(db_path, out, *period):
    r = run("export", "-c", CFG, "--db", str(db_path), "--from", period[0], "--to", period[1], "--out", str(out))
    assert r.code == 0, r.err
    return out.with_name(f"{out.stem}-summary.csv").read_bytes()


def test_a_months_export_never_changes_after_the_month(tmp_path, example_config):
    path = tmp_path / "county.db"
    db = Database(f"sqlite:///{path}", example_config.county.name)
    chat = make_chat(example_config, db, start="2026-10-12 08:00")
    numbers = [register(chat, f"@民情直通车 {i}组的路灯坏了") for i in range(1, 6)]
    chat.at("2026-10-12 09:00")
    for n in numbers:
        chat.say(LT, "石支书", f"认领 #{n}")
    chat.at("2026-10-13 10:00")
    for n in numbers[:3]:
        chat.say(LT, "石支书", f"办结 #{n} 已修好")
    chat.say(LT, "唐命学", f"满意 #{numbers[0]}")
    chat.at("2026-10-30 10:00")
    chat.say(LT, "石支书", f"办结 #{numbers[3]} 已修好")  # late: 城乡建设 has 10 workdays
    october = ("2026-10-01", "2026-10-31")
    before = summary(path, tmp_path / "a.csv", *october)

    # November: the overdue one is escalated, sent back and resolved late; a resolved one is reopened
    chat.at("2026-11-02 09:00")
    chat.say(LT, "唐命学", f"不满意 #{numbers[3]} 还是不亮")
    chat.say(LT, "石支书", f"上报 #{numbers[4]} 需要镇里协调")
    chat.say(PX, "杨主任", f"退回 #{numbers[4]} 村里先处理")
    chat.at("2026-11-20 09:00")
    chat.say(LT, "石支书", f"办结 #{numbers[4]} 终于修好")
    chat.say(LT, "唐命学", f"满意 #{numbers[1]}")  # a November rating of an October resolution
    after = summary(path, tmp_path / "b.csv", *october)
    assert after == before
    november = summary(path, tmp_path / "c.csv", "2026-11-01", "2026-11-30")
    assert november != before
    db.dispose()


def test_octobers_figures_count_what_had_happened_by_its_end(tmp_path, example_config):
    path = tmp_path / "county.db"
    db = Database(f"sqlite:///{path}", example_config.county.name)
    chat = make_chat(example_config, db, start="2026-10-12 08:00")
    n = register(chat, "@民情直通车 路灯坏了")
    chat.at("2026-10-12 09:00")
    chat.say(LT, "石支书", f"认领 #{n}")
    chat.at("2026-11-02 09:00")
    chat.say(LT, "石支书", f"办结 #{n} 已修好")  # after its deadline (26 Oct) and after October
    r = run("export", "-c", CFG, "--db", str(path), "--from", "2026-10-01", "--to", "2026-10-31",
            "--out", str(tmp_path / "oct.csv"))
    assert r.code == 0, r.err
    rows = (tmp_path / "oct-summary.csv").read_text(encoding="utf-8-sig").splitlines()
    total = rows[1].split(",")
    # 登记数 1, 已办结 0 (as of 31 Oct), 在办 1; 应办结 1, 按时办结 0
    assert total[2:6] == ["1", "0", "0", "1"] and total[9:11] == ["1", "0"]
    db.dispose()


# --- a time-driven job and a chat command at the same moment, on real PostgreSQL ----------------
def test_a_claim_that_commits_between_the_ticks_scan_and_its_write_is_kept(pg_database, example_config,
                                                                           monkeypatch):
    """The tick scans the timer index, a cadre claims the request, then the tick decides: on a fresh, locked
    copy, so the claim stands and the proposal that was due for an unclaimed request is not made."""
    chat = make_chat(example_config, pg_database, start="2026-10-12 09:00")
    n = register(chat, "@民情直通车 路灯坏了")
    due = local("2026-10-13 09:00")  # the acknowledge deadline and the escalation proposal are both due
    tick_with_a_message_between(chat, monkeypatch, "due", due, lambda: chat.say(LT, "石支书", f"认领 #{n}"))
    with pg_database.transaction() as tx:
        req, events = tx.get(n), tx.events(n)
        proposals = [r for r in tx.outbox(statuses=("queued", "sending", "sent")) if (r.key or "").startswith("propose:")]
    assert req.status is Status.ACKNOWLEDGED and req.handler == "石支书"
    assert [e.kind for e in events] == [EventKind.REGISTERED, EventKind.CLAIMED]
    assert proposals == []


# --- digests add up ---------------------------------------------------------------------------------
def test_digest_counts_are_distinct_requests_and_add_up_over_a_replayed_month(example_config, db):
    chat = make_chat(example_config, db, start="2026-10-12 08:00")
    rooms = [(LT, "石支书"), (MZ, "滕主任"), (CY, "代驻村")]
    numbers = []
    for day in range(12, 31):
        if local(f"2026-10-{day} 09:00").weekday() >= 5:
            continue
        chat.at(f"2026-10-{day} 09:00")
        for i, (room, cadre) in enumerate(rooms):
            if (day + i) % 2:
                numbers.append((register(chat, f"@民情直通车 第{day}天的诉求{i}", room=room), room, cadre))
        chat.at(f"2026-10-{day} 10:00")
        for n, room, cadre in numbers[-3:]:
            chat.say(room, cadre, f"认领 #{n}")
            if n % 3 == 0:
                chat.say(room, cadre, f"办结 #{n} 已处理")
                chat.say(room, "唐命学", f"不满意 #{n} 还没好")  # reopened: a second resolution follows
                chat.say(room, cadre, f"办结 #{n} 这次好了")
    chat.at("2026-11-02 09:30")
    digests = []
    with db.transaction() as tx:
        for row in tx.outbox(("sent",)):
            if row.key and row.key.startswith("digest:"):
                digests.append(row)
    assert digests
    # every township digest's villages add up to it (the numbers are checked on the objects it is made from)
    service = chat.relay.service
    with db.transaction() as tx:
        now = local("2026-10-30 17:00")
        start = local("2026-10-12 00:00")
        townships = service._township_digests(tx, start, now)
        county = service._county_digest(tx, start, now, None)
        resolved_events = [e for e in tx.events_between(start, now) if e.kind is EventKind.RESOLVED]
    for t in townships:
        for field in ("new", "claimed", "escalated", "resolved", "rejected"):
            assert getattr(t.activity, field) == sum(getattr(v.activity, field) for v in t.villages)
    for field in ("new", "claimed", "escalated", "resolved", "rejected"):
        assert getattr(county.activity, field) == sum(getattr(t.activity, field) for t in townships)
    # a request resolved twice counts once
    assert county.activity.resolved == len({e.number for e in resolved_events}) < len(resolved_events)
    assert county.month.due_ack == sum(t.month.due_ack for t in townships)
    assert county.ranking and "综合得分" in county.ranking
    # the county weekly names every township once: in full (top and bottom), on the middle line, or unranked
    assert county.top + county.middle + county.bottom + county.unranked == county.townships


def test_a_quiet_week_is_one_short_line(chat):
    chat.at("2026-10-19 09:01")
    weekly = [line.text for line in chat.take() if "每周简报" in line.text]
    assert weekly[-1] == "【松桃县每周简报】10月19日：10月12日以来全县无新诉求，无逾期。"


def test_the_weekly_digest_says_what_it_ranks_by(chat):
    chat.at("2026-10-12 09:30")
    n = register(chat, "@民情直通车 路灯坏了")
    chat.say(LT, "石支书", f"认领 #{n}")
    chat.at("2026-10-19 09:01")
    weekly = [line for line in chat.take() if "每周简报" in line.text and "10月19日" in line.text]
    assert weekly and "按本月综合得分排名（响应30%、解决40%、满意30%，缺项按其余折算）" in weekly[0].text


# --- stable keys --------------------------------------------------------------------------------------
def test_time_driven_messages_are_keyed_by_what_they_are_about(example_config, db):
    chat = make_chat(example_config, db, start="2026-10-12 09:00")
    n = register(chat, "@民情直通车 路灯坏了")
    chat.at("2026-10-16 09:00")  # proposal, automatic escalation, then township reminders
    with db.transaction() as tx:
        keys = [row.key for row in tx.outbox(("sent", "queued")) if row.key and not row.key.startswith("digest")]
    assert f"propose:{n}:1" in keys and f"auto:{n}:1" in keys
    reminders = [k for k in keys if k.startswith("remind:")]
    assert reminders and all(k.startswith(f"remind:{n}.2@") for k in reminders)
    # a reminder's key names the moment its reminder fell due, not the moment a tick ran
    with db.transaction() as tx:
        req = tx.get(n)
    assert any(req.ack_due_at.isoformat() in k for k in reminders)


def test_a_reminder_for_the_same_due_moment_is_never_queued_twice(example_config, db):
    chat = make_chat(example_config, db, start="2026-10-12 09:00")
    n = register(chat, "@民情直通车 路灯坏了", room=LT)
    chat.say(LT, "石支书", f"认领 #{n}")
    due = local("2026-10-26 09:00")  # the resolve deadline (城乡建设: 10 workdays)
    with db.transaction() as tx:
        req = tx.get(n)
    assert req.resolve_due_at <= due + timedelta(hours=1)
    relay = chat.relay
    late = req.resolve_due_at + timedelta(minutes=5)
    assert relay.tick(req.resolve_due_at) >= 1
    assert relay.tick(late) == 0  # a later tick finds the reminder done; its key would refuse it anyway
    with db.transaction() as tx:
        keys = [row.key for row in tx.outbox(("queued", "sent")) if row.key and row.key.startswith("remind:")]
    assert len(keys) == len(set(keys)) == 1


def test_the_running_month_tally_is_a_fresh_count_every_day(example_config, db):
    """The township digests keep the month's counts between days (reading again only what changed); each
    day they equal a count made afresh from every record, including requests changed after they had settled."""
    from routing.rates import RunningTally, Tally, outcome

    chat = make_chat(example_config, db, start="2026-10-08 08:00")
    running = RunningTally()
    month = local("2026-10-01 00:00")
    numbers = []
    compared = 0
    for day in range(8, 31):
        chat.at(f"2026-10-{day:02d} 09:00")
        if local(f"2026-10-{day:02d} 09:00").weekday() < 5:
            numbers.append(register(chat, f"@民情直通车 第{day}天的诉求"))
            chat.at(f"2026-10-{day:02d} 10:00")
            if day % 3:
                chat.say(LT, "石支书", f"认领 #{numbers[-1]}")
            if len(numbers) > 3 and day % 2:
                old = numbers[-4]  # days old, its deadlines may have passed: it changes after it settled
                chat.say(LT, "石支书", f"办结 #{old} 已处理")
                chat.say(LT, "唐命学", f"{'满意' if day % 4 else '不满意 还没好'} #{old}")
        for hour in ("12:30", "17:45"):
            chat.at(f"2026-10-{day:02d} {hour}")
            now = chat.clock.now()
            with db.snapshot() as tx:
                kept = running.tally(tx, month, now, lambda rec: rec.request.township)
                fresh = Tally()
                for rec in tx.records(month, now):
                    fresh.add((rec.request.township,), outcome(rec, month, now, now))
            assert kept.units == fresh.units, (day, hour)
            compared += bool(fresh.units)
    assert compared > 20

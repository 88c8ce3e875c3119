"""The real-time driver: ticks on a fake clock, and the APScheduler jobs it sets up (never run here)."""

from apscheduler.schedulers.background import BackgroundScheduler

from bot.messaging.scheduler import NEXT_JOB, SAFETY_JOB, JobRunner
from tests.bot.test_dialogs import register
from tests.conftest import MZ
from tests.fakes import local, make_chat


def test_run_now_ticks_and_reports_the_next_due_time(chat):
    register(chat, "@民情直通车 低保申请没回音", room=MZ, sender="龙老汉")
    runner = JobRunner(chat.relay, chat.clock)
    woke = []
    runner.on_queued = lambda: woke.append(True)
    chat.clock.set(local("2026-10-12 08:30"))
    assert runner.run_now() == local("2026-10-12 09:00")  # the county's weekly digest
    chat.clock.set(local("2026-10-13 08:30"))
    runner.run_now()
    assert woke  # the daily digest was queued
    chat.relay.flush(chat.clock.now())
    assert any("每日简报" in s.text for s in chat.take())


def test_start_schedules_a_tick_now_every_minute_and_at_the_next_due_time(example_config, db):
    chat = make_chat(example_config, db, "2026-10-12 08:00")
    scheduler = BackgroundScheduler(timezone="UTC")
    runner = JobRunner(chat.relay, chat.clock, scheduler)
    runner.start(paused=True)
    try:
        jobs = {j.id: j for j in scheduler.get_jobs()}
        assert set(jobs) == {SAFETY_JOB, NEXT_JOB}
        assert jobs[NEXT_JOB].trigger.run_date == local("2026-10-12 08:00")
        runner.run_now()
        assert scheduler.get_job(NEXT_JOB).trigger.run_date == local("2026-10-12 08:30")
        register(chat, "@民情直通车 路灯坏了")
        runner.poke()
        assert scheduler.get_job(NEXT_JOB).trigger.run_date == local("2026-10-12 08:30")
    finally:
        runner.stop()
    assert not scheduler.running

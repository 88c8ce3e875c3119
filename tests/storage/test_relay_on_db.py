"""The whole relay on each database: a request's life, the digests, and the jobs lock."""

from routing.model import Status
from storage.db import Database
from tests.bot.test_dialogs import register, request
from tests.conftest import LT, PX, PXL
from tests.fakes import make_chat


def test_a_request_from_registration_to_rating_and_the_digest(example_config, database):
    chat = make_chat(example_config, database, "2026-10-12 09:00")
    n = register(chat)
    chat.say(LT, "唐驻村", f"上报 #{n} 需要镇里")
    chat.say(PX, "杨主任", f"认领 #{n}")
    chat.say(PX, "杨主任", f"办结 #{n} 修好了")
    chat.say(LT, "唐命学", "满意")
    chat.at("2026-10-13 08:30")
    digest = [s.text for s in chat.take() if s.room == PXL][0]
    assert "新登记1件，办结1件，认领1件，上报1件" in digest and "满意100%（1/1）" in digest
    req, events = request(chat, n)
    assert req.status is Status.CLOSED and len(events) == 5


def test_only_one_process_holds_the_jobs_lock(database):
    with database.transaction() as a:
        assert a.try_lock_jobs()
        other = Database(database.url, database.county, create=False)
        try:
            if database.is_sqlite:
                return  # SQLite serialises writers with BEGIN IMMEDIATE instead
            with other.transaction() as b:
                assert not b.try_lock_jobs()
        finally:
            other.dispose()
    with database.transaction() as c:
        assert c.try_lock_jobs()  # released at commit

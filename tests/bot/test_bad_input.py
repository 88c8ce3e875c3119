"""No text crashes the dispatcher: arbitrary Unicode, huge messages, unknown rooms and senders."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.model import Status
from routing.ports import RequestFilter
from tests.conftest import CTY, CY, LT, PJ, PX
from tests.fakes import make_chat

ROOMS = [LT, CY, PX, PJ, CTY, "陌生群", ""]
SENDERS = ["唐命学", "石支书", "杨主任", "吴科长", "张书记", "", "路人🙂", "x" * 300]
VERBS = ["认领", "上报", "确认上报", "办结", "退回", "无效", "催办", "进度", "待办", "满意", "不满意", "帮助",
         "@民情直通车", "求助", "反映", "＃", "#", "１", "99999999999"]

commandish = st.builds(
    lambda verb, sep, num, arg: f"{verb}{sep}{num}{arg}",
    st.sampled_from(VERBS), st.sampled_from(["", " ", "#", "＃", "\u2005", "\n"]),
    st.one_of(st.just(""), st.integers(-5, 10**12).map(str)), st.text(max_size=40),
)
texts = st.one_of(st.text(max_size=200), commandish, st.text(alphabet="🙏😀👍🔥💧", max_size=30),
                  st.just("路" * 10_000), st.text(alphabet="报修路灯\x00\ud800\udfff坏了 ", max_size=20))


def assert_nothing_failed(chat) -> None:
    """No message was recorded as failed (`minqing failed` would list it): the bot handled every one."""
    with chat.relay.db.transaction() as tx:
        failures = [(f.text[:40], f.error) for f in tx.failures()]
    assert failures == [] and chat.relay.failed == 0, failures


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(ROOMS), st.sampled_from(SENDERS), texts), min_size=1, max_size=8))
def test_arbitrary_messages_never_crash_and_keep_the_database_consistent(example_config, tmp_path_factory, steps):
    from storage.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}", example_config.county.name)
    chat = make_chat(example_config, db)
    try:
        for room, sender, text in steps:
            said = chat.say(room, sender, text)
            for s in said:
                assert s.text.strip(), "the bot never says an empty message"
                assert s.room in example_config.county.rooms
            chat.later(minutes=7)
        assert_nothing_failed(chat)
        with db.transaction() as tx:
            requests = tx.find(RequestFilter())
            numbers = [r.number for r in requests]
            assert numbers == list(range(1, len(numbers) + 1))
            for r in requests:
                events = tx.events(r.number)
                assert events and events[0].kind.value == "registered"
                assert events[-1].to_status is r.status  # the log ends where the request is
                if r.status is Status.ACKNOWLEDGED:
                    assert r.handler is not None
                if r.status in (Status.CLOSED, Status.REJECTED):
                    assert r.closed_at is not None
    finally:
        db.dispose()


def test_the_fuzz_check_fails_when_the_service_raises(example_config, db, monkeypatch):
    chat = make_chat(example_config, db)

    def broken(tx, msg):
        raise ValueError("a bug")

    monkeypatch.setattr(chat.relay.service, "handle", broken)
    chat.say(LT, "王大妈", "@民情直通车 路灯坏了")
    with pytest.raises(AssertionError):
        assert_nothing_failed(chat)


@pytest.mark.parametrize("text, name", [
    ("报修 水管坏了\x00漏水", "唐命学"),  # NUL: PostgreSQL refuses it in text
    ("报修 路灯坏了 \ud83d", "唐命学"),  # a lone surrogate: no UTF-8 for it
    ("报修 路灯坏了", "名" * 3000),  # longer than an index entry may be
])
def test_text_a_database_cannot_store_is_stored_in_a_form_it_can(database, example_config, text, name):
    chat = make_chat(example_config, database)
    said = chat.say(LT, name, text, sender_id=name[:20] + "x" * 200)
    assert any("已登记为 #1" in s.text for s in said), said
    assert_nothing_failed(chat)
    with database.transaction() as tx:
        req = tx.get(1)
    assert "\x00" not in req.text and not any("\ud800" <= ch <= "\udfff" for ch in req.text)
    assert ("\u2400" in req.text) == ("\x00" in text) and ("\ufffd" in req.text) == ("\ud83d" in text)
    assert len(req.requester) <= 128 and req.requester_id.startswith("sha256:")

"""No text crashes the dispatcher: arbitrary Unicode, huge messages, unknown rooms and senders."""

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
                  st.just("路" * 10_000))


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

"""Messages that arrive together are stored with one disk flush (group commit), each in its own savepoint."""

from sqlalchemy import event

from routing.model import Inbound
from routing.ports import RequestFilter
from tests.conftest import LT
from tests.fakes import break_on, make_chat


def _burst(chat, texts: list[str]) -> list[Inbound]:
    now = chat.clock.now()
    return [Inbound(ts=now, room=LT, sender=f"村民{i}", text=text, msg_id=f"burst-{i}", sender_id=f"wxid_v{i}",
                    mentions_bot=True) for i, text in enumerate(texts)]


def test_a_burst_is_one_commit_and_a_failing_message_fails_alone(database, example_config, monkeypatch):
    chat = make_chat(example_config, database)
    break_on(chat, monkeypatch, "坏消息")
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda conn: commits.append(1))
    burst = _burst(chat, ["@民情直通车 二组路灯坏了", "@民情直通车 坏消息", "@民情直通车 自来水管爆了"])
    queued = chat.relay.receive_all(burst)
    assert len(commits) == 1  # three messages, one transaction
    assert chat.relay.failed == 1
    with database.transaction() as tx:
        requests = tx.find(RequestFilter())
        failures = tx.failures()
    assert [(r.number, r.text) for r in requests] == [(1, "二组路灯坏了"), (2, "自来水管爆了")]  # arrival order
    assert [f.text for f in failures] == ["@民情直通车 坏消息"]
    chat.relay.flush(chat.clock.now())
    said = chat.take()
    assert queued == len(said)
    assert [s.text.split("。")[0] for s in said if "已登记为" in s.text] == ["收到，已登记为 #1", "收到，已登记为 #2"]


def test_a_burst_delivered_again_registers_nothing_twice(database, example_config):
    chat = make_chat(example_config, database)
    burst = _burst(chat, ["@民情直通车 二组路灯坏了", "@民情直通车 自来水管爆了"])
    chat.relay.receive_all(burst)
    chat.relay.receive_all(burst)  # the gateway delivers the same messages again
    with database.transaction() as tx:
        assert tx.get(2) is not None and tx.get(3) is None

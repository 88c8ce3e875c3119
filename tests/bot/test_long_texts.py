"""Any text costs time in proportion to its length: 100,000-character adversarial messages register.

What a regular expression with nested or unbounded repetitions does to a long run of digits or
repeated keywords (a 30,000-digit message once took 35 s in the urgency rules, inside the write
transaction) must never come back: every message below goes through registration, tagging, urgency,
the intake filters, masking and storage, and the whole test must finish well within its limit.
"""

from __future__ import annotations

import random
import time

import pytest

from bot.app import Relay
from bot.sim.groups import SimulatedTransport
from routing.privacy import mask
from routing.tagging import Tagger
from tests.conftest import LT, PX
from tests.fakes import Chat, FakeClock, local

SIZE = 100_000
LIMIT_SECONDS = 30  # generous: measured at a few seconds; quadratic behaviour takes minutes


def _fill(pattern: str, size: int = SIZE) -> str:
    return (pattern * (size // len(pattern) + 1))[:size]


ADVERSARIAL = {
    "digit run": "@民情直通车 " + _fill("1"),
    "digit run after a danger word": "报修 停水" + _fill("7"),
    "repeated danger word": "报修 " + _fill("着火"),
    "repeated negated danger word": "报修 " + _fill("没有人受伤"),
    "repeated days without water": "报修 停水" + _fill("3天"),
    "repeated missing child": "报修 " + _fill("孩子"),
    "repeated separators": "报修 路灯坏了" + _fill(" - ., /"),
    "digits and spaces": "报修 " + _fill("1 "),
    "digits and dashes": "报修 " + _fill("1-"),
    "digits and dots": "报修 " + _fill("0."),
    "bracketed zeros": "报修 " + _fill("(0"),
    "zero-width between digits": "报修 " + _fill("1\u200b"),
    "numerals and spaces": "报修 " + _fill("一三八 "),
    "repeated addresses": "报修 " + _fill("和平路1号"),
    "village and numerals": "报修 " + _fill("村一二三"),
    "repeated keywords before digits": "报修 " + _fill("身份证电话卡号1"),
    "repeated mobiles": "报修 " + _fill("13812345678 "),
    "repeated chat words": "报修 路灯坏了" + _fill("谢谢"),
    "many mentions": "@民情直通车 " + _fill("@a ") + " 路灯坏了",
    "random digits and separators": "报修 " + "".join(random.Random(7).choice("0123456789 -.,/") for _ in range(SIZE)),
}


@pytest.fixture
def chats(example_config, db, model):
    """The example county twice: with the keyword tagger, and with a trained model (its regexes and word cutting)."""
    def make(tagger):
        clock = FakeClock(local("2026-10-12 09:00"))
        transport = SimulatedTransport(clock)
        return Chat(Relay(example_config, db, transport, tagger), clock, transport)

    keywords = make(None)
    trained = make(Tagger(example_config.category_keywords, example_config.raw.urgency.keywords, model))
    return keywords, trained


@pytest.fixture(scope="module")
def model():
    """A small classifier trained in the test (the same code path as `minqing tagger train`)."""
    from bot.tagging.training import train

    rng = random.Random(5)
    topics = {"交通运输": ["班车", "公交", "车站", "司机"], "环境保护": ["污染", "排污", "臭味", "噪音"]}
    texts, labels = [], []
    for label, ws in topics.items():
        for _ in range(20):
            texts.append("".join(rng.sample(ws, 3)) + "的问题希望解决")
            labels.append(label)
    return train(texts, labels)


def test_long_adversarial_messages_register_in_linear_time(chats):
    keywords, trained = chats
    started = time.monotonic()
    for n, (name, text) in enumerate(ADVERSARIAL.items()):
        chat = trained if n % 2 else keywords
        said = chat.say(LT, "王大妈", text, msg_id=f"long-{n}")
        assert any("已登记为 #" in s.text for s in said), (name, said)
        for s in said:
            if s.room != LT:
                assert s.text == mask(s.text), name  # already masked outside the village room
    elapsed = time.monotonic() - started
    assert elapsed < LIMIT_SECONDS, f"{len(ADVERSARIAL)} messages of {SIZE} characters took {elapsed:.1f}s"


def test_an_urgent_long_message_reaches_the_township_masked(chat):
    text = "报修 3组着火了，我电话138 1234 5678，" + _fill("1 - ") + " 身份证522228 19900101 0019"
    said = chat.say(LT, "王大妈", text)
    township = [s.text for s in said if s.room == PX]
    assert township and "138 **** 5678" in township[0] and "1234" not in township[0]

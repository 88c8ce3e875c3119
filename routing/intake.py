"""Which village-room messages register a request, and with what text."""

from __future__ import annotations

import re

from routing.grammar import normalize, strip_leading_mentions
from routing.policy import Intake

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)

# After a trigger word these mean the speaker is talking about a request, not making one.
_CHAT_AFTER_TRIGGER = (
    "很快", "挺快", "真快", "好快", "的事", "过了", "了吗", "了没", "完了", "好了", "解决了", "处理了",
    "谢谢", "感谢", "收到", "知道了", "哈哈", "一下就", "有用", "没用", "的人", "什么",
)


def request_text(text: str, intake: Intake, bot_name: str, mentioned: bool) -> str | None:
    """The request's text if this message registers one, else None.

    `""` means the bot was mentioned but nothing was asked: the caller asks for a description.
    """
    body = strip_leading_mentions(text.strip(), bot_name)
    if mentioned and intake.on_mention:
        return _without_bot_mentions(body, bot_name)
    folded = strip_leading_mentions(normalize(text), bot_name)
    for trigger in intake.triggers:
        if folded.startswith(trigger):
            rest = folded[len(trigger):]
            if is_request_after_trigger(rest):
                return body
            return None
    return None


def is_request_after_trigger(rest: str) -> bool:
    """True when what follows a trigger word asks for something rather than chats about it."""
    content = _PUNCT.sub("", rest)
    if len(content) < 2:
        return False
    head = content[:6]
    return not any(head.startswith(p) or p in head[:4] for p in _CHAT_AFTER_TRIGGER)


def _without_bot_mentions(text: str, bot_name: str) -> str:
    return re.sub(r"@" + re.escape(bot_name) + r"[\s\u2005]*", "", text).strip() if bot_name else text


def has_content(text: str) -> bool:
    """True when text has any letter, digit or ideograph (not only emoji or punctuation)."""
    return bool(_PUNCT.sub("", text))

"""Which village-room messages register a request, and with what text."""

from __future__ import annotations

import re

from routing.grammar import normalize, strip_leading_mentions
from routing.policy import Intake
from routing.text import analysed

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)

# After a trigger word, these say the speaker is chatting about a request rather than making one:
# thanks and praise, a report that it was dealt with, a verdict on the process, laughter.
_CHAT = re.compile(
    r"谢谢|感谢|多谢|谢了|辛苦|点赞|给力|厉害|效率|很快|挺快|真快|好快|太快|快啊|神速|及时|方便|有用|没用|管用|不错"
    r"|满意|舒服|哈哈|呵呵|嘿嘿|收到|知道了|好的|算了|解决了|处理了|处理好了|处理得|修好了|弄好了|搞定|办好了|好了"
    r"|师傅来了|人来了|就来了|已经来了|到账了|到了(?![吗么没])|找到了|成功|有效|好用|功能|这个群|本群"
)
# ...unless the problem is back or still there, or the message asks for something after all.
_STILL = re.compile(
    r"又|还没|还是|仍然|仍旧|一直|再次|没人管|没人来|没人修|不亮|坏了|漏|断了|停水|停电|没水|危险|请|希望|帮忙|麻烦|尽快"
)
# The trigger word used as a noun or in the past (反映的…, 反映了…, 反映过…, 反映人…): only a request
# when a problem or a question follows.
_ABOUT = re.compile(r"(?:的|了|过|得|完|人|啥|什么|吗|群|帖|书)")
_ASKS = re.compile(
    r"坏|漏|断|停|不亮|不通|没人|没修|还没|又|一直|还是|危险|太差|太吵|很臭|乱|过期|欠|不发|不给|没到账|丢|偷|咬|塌|堵"
    r"|污染|排污|请|希望|帮|麻烦|需要|要求|尽快|怎么|如何|什么时候|何时|哪里|在哪|多少|能不能|能否|可不可以"
)


def request_text(text: str, intake: Intake, bot_name: str, mentioned: bool) -> str | None:
    """The request's text if this message registers one, else None.

    `""` means the message was addressed to the bot (a mention or a trigger word) but asks for
    nothing (你好, 在吗, 谢谢, 测试一下, 收到, an emoji, the trigger word alone): the caller says how to ask.
    """
    body = strip_leading_mentions(text.strip(), bot_name)
    if mentioned and intake.on_mention:
        asked = _without_bot_mentions(body, bot_name)
        return asked if asks_for_something(asked) else ""
    folded = strip_leading_mentions(normalize(analysed(text)), bot_name)
    for trigger in intake.triggers:
        if folded.startswith(trigger):
            rest = folded[len(trigger):]
            if not _PUNCT.sub("", rest):
                return ""  # the trigger word alone: say how to ask
            if asks_for_something(rest) and is_request_after_trigger(rest):
                return body
            return None
    return None


# Greetings, thanks, tests and acknowledgements: a message of nothing but these asks for nothing.
_FILLER = sorted((
    "你好", "您好", "大家好", "哈喽", "嗨", "hello", "hi", "在吗", "在么", "在不在", "有人吗", "有人在吗", "谢谢", "感谢",
    "多谢", "谢了", "辛苦了", "辛苦", "测试一下", "测试", "试一下", "试试", "试一试", "test", "收到", "好的", "好",
    "ok", "嗯", "哦", "行", "可以", "知道了", "明白", "了解", "哈", "呵", "早上好", "上午好", "中午好", "下午好",
    "晚上好", "早", "晚安", "你们", "你", "您", "大家", "小助手", "助手", "机器人", "一下", "啊", "呀", "吧", "呢",
    "了", "的", "吗", "么", "哟", "噢", "哇",
), key=len, reverse=True)
_FILLER_RE = re.compile("|".join(re.escape(w) for w in _FILLER))


def asks_for_something(text: str) -> bool:
    """False when text is nothing but greetings, thanks, tests, acknowledgements, emoji and punctuation."""
    words = _PUNCT.sub("", analysed(text).lower())
    return bool(_FILLER_RE.sub("", words))


def is_request_after_trigger(rest: str) -> bool:
    """True when what follows a trigger word asks for something rather than chats about it."""
    content = _PUNCT.sub("", analysed(rest))
    if len(content) < 2:
        return False
    if _CHAT.search(content) and not _STILL.search(content):
        return False
    if _ABOUT.match(content) and not _ASKS.search(content):
        return False
    return True


def _without_bot_mentions(text: str, bot_name: str) -> str:
    return re.sub(r"@" + re.escape(bot_name) + r"[\s\u2005]*", "", text).strip() if bot_name else text

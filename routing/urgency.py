"""Urgency: does a chat message report danger to life or property happening now?

Rules, not a model: a danger cue (fire, collapse, flood, injury, electrocution, drowning, a
missing child, gas, violence, someone trapped, no water for days) makes a message urgent unless
its own clause negates it (没有人受伤), the clause puts it in the past, in the future or as a mere
risk (去年着火, 明天停水, 火灾隐患), or the message says the danger is over or there is no hurry
(火已经扑灭了, 不着急).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from routing.text import analysed

# a count of days is short: a bounded \d{1,3} keeps the scan linear on a long run of digits (\d+ tried
# every start in the run, to its end: quadratic)
_NUM = r"(?:\d{1,3}|[两二三四五六七八九十几]|好几|十几|半)"
_DAYS = rf"(?:{_NUM}\s{{0,3}}(?:天|日|周|个?星期|个?礼拜|个?月)|一周|一个?星期|一个?月|半个月|好多天|多天|几天几夜)"
_NO_WATER = r"(?:停水|断水|没水|没有水|没得水|无水|吃不上水|喝不上水|没水喝|没有水喝|不来水|没来水)"

# kind -> pattern; the first kind that matches (and is not negated) names the reason
DANGER: dict[str, str] = {
    "fire": r"着火|起火|失火|火灾|烧起来|燃起来|火烧|大火|火势|烧着了|冒浓烟",
    "collapse": r"塌方|垮塌|倒塌|坍塌|塌陷|塌了|垮了|要塌|快塌|要倒了|快倒了|滑坡|泥石流|落石|地震",
    "flood": r"洪水|山洪|被淹|淹了|淹到|涨大水|决堤|溃坝|冲走|冲垮|内涝|进水了",
    "electrocution": (
        r"触电|被电到|被电打|漏电|电线掉|电线断|电线垂|电线落|电杆倒|电线杆倒|高压线断|高压线掉|压到电线|压断电线"
        r"|电线冒火|冒火花|电线着火"
    ),
    "drowning": r"溺水|落水|掉进河|掉进水|掉河里|掉塘里|掉水里|掉进塘",
    "injury": (
        r"受伤|受了伤|摔伤|烧伤|砸伤|撞伤|咬伤|刺伤|割伤|打伤|重伤|流血|出血|骨折|昏迷|晕倒|晕过去|不省人事"
        r"|车祸|撞了人|被车撞|生命危险|快不行了|没有呼吸|没呼吸|抢救|急救|打120|叫120|起不来|爬不起来"
    ),
    "self-harm": r"跳河|跳楼|喝农药|喝了农药|上吊|寻死|自杀|轻生",
    "missing person": (
        r"(?:孩子|小孩|娃|儿子|女儿|孙子|孙女|老人|老人家|爷爷|奶奶|外公|外婆)\S{0,4}"
        r"(?:不见了|丢了|走丢|找不到|失踪|失联|没回家|没有回家|没回来|一夜未归)|走失|失踪|走丢"
    ),
    "gas": r"煤气泄漏|燃气泄漏|天然气泄漏|液化气泄漏|漏气|煤气味|中毒|一氧化碳",
    "violence": r"砍人|持刀|拿刀|行凶|杀人|打人了|在打架|打架了|打起来了|要杀",
    "trapped": r"被困|困在|关在电梯|卡在电梯",
    "no water for days": rf"{_NO_WATER}\S{{0,6}}?{_DAYS}|{_DAYS}\S{{0,6}}?{_NO_WATER}",
}

DANGER_ANY = "|".join(DANGER.values())

# Just before a cue in its clause: 没有人受伤, 未造成人员受伤, 不会淹 (不 reaches one word only:
# in 房子不牢固要塌了 it does not negate 要塌).
_NEGATION = re.compile(r"(?:没有|没|未|无|并未|并非)\S{0,4}$|(?:不会|不是|不|别)\S?$")
# Negative words that do not negate the danger after them: 不小心摔伤, 没人管的电线掉了.
_NOT_NEGATION = re.compile(
    r"(?:不小心|不知道|不停|不断|不得了|不行了|没想到|没多久|没过多久|没一会|不一会|没人管|没有人管|没人修|没人理"
    r"|没办法|没有办法)\S{0,4}$"
)

# In the cue's clause: the event is over, in the past, planned, or only a risk.
_PAST = r"去年|前年|以前|上个月|上次|几年前|多年前|那年|当年|曾经|小时候|往年|早年"
_NOT_NOW = (
    _PAST + r"|隐患|担心|害怕|怕是|万一|如果|假如|防止|预防|以防|防范|避免|容易|可能会|会不会|演练|培训|宣传|知识"
    r"|明天|下周|下个月|计划|预计|将于|将要|通知|演习"
)
# Words that bring a past event back to now (去年塌的桥今天又塌了).
_NOW = r"正在|刚刚|刚才|马上|赶紧|快来|救命|紧急|立刻|今天又|又"
# Anywhere in the message: the danger is over, or the sender says there is no hurry.
_OVER = (
    r"不着急|不急|不紧急|不用急|不是急事|不要紧|慢慢来|有空再|有时间再|方便的时候"
    r"|已经扑灭|扑灭了|火灭了|已经灭了|已经救出|救出来了|已经找到|找到了|脱离危险|没事了|已经修好|已经恢复|恢复供水|来水了"
)

_CLAUSE = re.compile(r"[，,。！？!?；;\n]+|\s{2,}")


@dataclass(frozen=True, slots=True)
class Urgency:
    """Whether a message is urgent, and the words and kind of danger that show it."""

    urgent: bool
    reason: str | None = None
    kind: str | None = None


NOT_URGENT = Urgency(False)


class UrgencyRules:
    """The built-in danger cues plus a county's own urgency keywords, compiled once."""

    def __init__(self, extra_keywords: Sequence[str] = ()) -> None:
        kinds = dict(DANGER)
        extra = [re.escape(k) for k in extra_keywords if k and not re.fullmatch(f"(?:{DANGER_ANY})", k)]
        if extra:
            kinds["keyword"] = "|".join(sorted(extra, key=len, reverse=True))
        self._cues = [(kind, re.compile(pattern)) for kind, pattern in kinds.items()]
        self._any = re.compile("|".join(f"(?:{p})" for p in kinds.values()))
        self._over = re.compile(_OVER)
        self._not_now = re.compile(_NOT_NOW)
        self._now = re.compile(_NOW)

    def assess(self, text: str) -> Urgency:
        """Urgency of a chat message (its first ANALYSED_CHARS characters: routing.text)."""
        text = analysed(text)
        if not self._any.search(text):
            return NOT_URGENT  # the common case, kept cheap
        if self._over.search(text):
            return NOT_URGENT
        for clause in _CLAUSE.split(text):
            found = self._in_clause(clause)
            if found:
                return found
        return NOT_URGENT

    def _in_clause(self, clause: str) -> Urgency | None:
        if self._not_now.search(clause) and not self._now.search(clause):
            return None
        for kind, pattern in self._cues:
            for m in pattern.finditer(clause):
                if not negated(clause, m.start()):
                    return Urgency(True, m.group(0), kind)
        return None


_DEFAULT = UrgencyRules()


def negated(text: str, start: int) -> bool:
    """True when the words just before position `start` (in the same clause) negate what follows."""
    before = text[max(0, start - 6):start]
    return bool(_NEGATION.search(before)) and not _NOT_NEGATION.search(before)


def assess(text: str, extra_keywords: Sequence[str] = ()) -> Urgency:
    """Urgency of a chat message with the built-in cues and any extra keywords."""
    rules = UrgencyRules(extra_keywords) if extra_keywords else _DEFAULT
    return rules.assess(text)

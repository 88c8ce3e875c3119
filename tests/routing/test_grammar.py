"""The command grammar: verbs, numbers, arguments, and what is not a command."""

import pytest

from routing.grammar import Malformed, Parsed, Problem, fold, normalize, parse, strip_leading_mentions
from routing.service import COMMANDS

BOT = "民情直通车"


def p(text):
    return parse(text, COMMANDS, BOT)


@pytest.mark.parametrize("text, verb, number, arg", [
    ("认领 #3", "认领", 3, ""),
    ("认领#3", "认领", 3, ""),
    ("认领3", "认领", 3, ""),
    ("认领 ＃３", "认领", 3, ""),
    ("＠民情直通车　认领＃１２", "认领", 12, ""),
    ("@民情直通车认领 12", "认领", 12, ""),
    ("@民情直通车\u2005@唐驻村\u2005认领 12", "认领", 12, ""),
    ("确认上报 #4", "确认上报", 4, ""),
    ("上报 #4 需要镇里协调", "上报", 4, "需要镇里协调"),
    ("办结 #12 路灯已修好，谢谢！", "办结", 12, "路灯已修好，谢谢！"),
    ("办结12：已修好", "办结", 12, "已修好"),
    ("退回 #2 属村级事务", "退回", 2, "属村级事务"),
    ("无效 #2 重复", "无效", 2, "重复"),
    ("催办 #7", "催办", 7, ""),
    ("进度 #7", "进度", 7, ""),
    ("查询 7", "查询", 7, ""),
    ("待办", "待办", None, ""),
    ("帮助", "帮助", None, ""),
    ("满意", "满意", None, ""),
    ("满意 #3", "满意", 3, ""),
    ("不满意 #3 还是漏水", "不满意", 3, "还是漏水"),
    ("不满意，还是漏水", "不满意", None, "还是漏水"),
])
def test_commands(text, verb, number, arg):
    result = p(text)
    assert isinstance(result, Parsed), result
    assert (result.verb, result.number, result.arg) == (verb, number, arg)


@pytest.mark.parametrize("text, problem", [
    ("认领", Problem.MISSING_NUMBER),
    ("认领 #", Problem.BAD_NUMBER),
    ("办结 #abc 好了", Problem.BAD_NUMBER),
    ("上报 13812345678", Problem.BAD_NUMBER),
    ("办结 #3", Problem.MISSING_ARG),
    ("退回 3", Problem.MISSING_ARG),
    ("上报 #1e5", Problem.BAD_NUMBER),
    ("上报 #1、#2 需要镇里协调", Problem.SEVERAL_NUMBERS),
    ("满意 #1 #2", Problem.SEVERAL_NUMBERS),
    ("办结 #1、#2 都修好了", Problem.SEVERAL_NUMBERS),
])
def test_malformed(text, problem):
    result = p(text)
    assert isinstance(result, Malformed) and result.problem is problem


@pytest.mark.parametrize("text", [
    "认领了吗", "上报的事情怎么样了", "帮助他们一下", "待办事项有哪些", "今天开会", "", "🙂🙂", "#3",
    "大家好 认领 #3",
])
def test_not_commands(text):
    assert p(text) is None


def test_fold_keeps_a_map_to_the_original():
    folded, origin = fold("Ａ　　Ｂ")
    assert folded == "A B"
    assert [origin[0], origin[2]] == [0, 3]


def test_fold_removes_invisible_format_characters():
    folded, origin = fold("认\u200b领 #1\u200d2\ufeff")
    assert folded == "认领 #12"
    assert origin == [0, 2, 3, 4, 5, 7]
    assert p("认\u200b领 #1\u200b2").number == 12


def test_the_quick_check_of_fold_knows_every_format_character():
    import sys
    import unicodedata

    from routing.text import _FORMAT

    missing = [hex(c) for c in range(sys.maxunicode + 1)
               if unicodedata.category(chr(c)) == "Cf" and not _FORMAT.match(chr(c))]
    assert missing == []


def test_normalize_and_strip_mentions():
    assert normalize("  认领\u3000＃１ ") == "认领 #1"
    assert strip_leading_mentions("@民情直通车 @张三 你好", BOT) == "你好"
    assert strip_leading_mentions("@民情直通车你好", BOT) == "你好"


@pytest.mark.parametrize("text, verb, arg", [
    ("认领 #1 " + "1" * 60 + "x", "认领", ""),
    ("办结 #3 " + " ".join(str(i) for i in range(1, 60)) + "号楼的灯都换了",
     "办结", " ".join(str(i) for i in range(1, 60)) + "号楼的灯都换了"),
    ("上报 #5 13812345678 13987654321 13711112222 13611112222 户主张三",
     "上报", "13812345678 13987654321 13711112222 13611112222 户主张三"),
])
def test_long_runs_of_digits_after_a_number_are_read_at_once(text, verb, arg):
    # the second-number patterns are possessive: with backtracking, these lines took minutes to hours
    result = p(text)
    assert isinstance(result, Parsed) and (result.verb, result.number, result.arg) == (verb, int(text.split("#")[1][0]),
                                                                                        arg)

"""Urgency on a table of hand-written chat messages: danger now is urgent; negated, past, planned or risk is not."""

from __future__ import annotations

import pytest

from routing.tagging import Tagger
from routing.urgency import UrgencyRules, assess, negated

URGENT = [
    # fire
    "3组杨家着火了，快来人",
    "村口的柴房起火了！",
    "救命 后山失火了 烟很大",
    "学校旁边的仓库火烧起来了",
    "刚刚厨房起火，火势很大",
    # collapse
    "通组路那边塌方了，车过不去",
    "老屋的墙垮塌了，压到人了",
    "下大雨堡坎垮了，房子后面全是泥",
    "我家房子裂缝越来越大，快塌了",
    "公路上面滑坡了，石头滚下来",
    # flood
    "河水涨大水了，下面几户被淹了",
    "山洪下来了，田全冲垮了",
    "楼台村一组进水了，水到膝盖",
    "桥被洪水冲走了，学生过不了河",
    # injury
    "路上有人摔伤了，一直流血",
    "工地上砸伤一个人，快叫120",
    "我爸被狗咬伤了，村医不在",
    "车祸了，在盘信路口，有人昏迷",
    "老人晕倒在田里了",
    "不小心摔伤了腿，骨折了走不动",
    # electrocution
    "电线掉在路上了，冒火花",
    "有人触电了！",
    "大风把电线杆刮倒了，电线断在地上",
    "水泵漏电，刚才电到人了",
    # drowning
    "有个小孩掉进河里了",
    "塘里有人溺水",
    # missing person
    "我家孩子不见了，从中午到现在",
    "奶奶走丢了，穿蓝色衣服",
    "儿子放学没回家，电话也打不通",
    "邻居家老人失联两天了",
    # gas
    "闻到很大的煤气味，好像漏气了",
    "一家人煤气中毒了",
    # violence / trapped
    "村口有人拿刀砍人",
    "有人被困在电梯里了",
    # no water for days
    "停水三天了，老人孩子没水喝",
    "我们组已经一个星期没有水喝了",
    "两天没水了，什么时候来水",
    "断水好几天了，牛都渴死了",
    "大风把树刮倒了，压到电线",
    "地震了，房子在晃",
    "隔壁两家在打架，拿着锄头",
    "奶奶在院子里摔倒了，起不来",
    "有个女的说要喝农药，在桥上",
    # time words that bring it to now
    "去年塌的那段路今天又塌了",
]

NOT_URGENT = [
    # negation
    "不着急，路灯坏了有空来修一下",
    "没有受伤，就是车刮了一下",
    "摔了一跤，没有人受伤",
    "这次暴雨未造成人员伤亡，田冲了一点",
    "没着火，是在烧秸秆冒烟",
    "房子不会塌吧，想请人来看看",
    # past / over
    "去年着火烧掉的房子，想申请补助",
    "以前发过洪水，河堤一直没修",
    "上次塌方的路，什么时候能修好",
    "昨晚的火已经扑灭了，想问问保险怎么赔",
    "孩子找到了，谢谢大家",
    "已经修好了，来水了",
    # planned / risk
    "明天停水，请大家提前储水",
    "下周计划停电一天",
    "村小的电线老化，存在火灾隐患",
    "担心下大雨会塌方，请安排人看看",
    "学校组织消防演练",
    "请加强防溺水宣传",
    # ordinary requests and chat
    "停水了，什么时候来水",
    "路灯坏了三个，晚上很黑",
    "反映一下3组的路坑坑洼洼",
    "低保什么时候发",
    "垃圾好几天没人清运了",
    "停电两个小时了",
    "家里水管漏水，麻烦派人修一下",
    "火车站的班车太少了",
    "想咨询一下新农合怎么交",
    "这个事情真伤脑筋",
    "村里广场舞太吵了",
    "想问一下地震保险怎么买",
    "以前有人在这里打架，现在好了",
    "我家牛跑丢了",
    "学校门口的路口车太多，很危险",
]


def _confusion(rules: UrgencyRules) -> tuple[int, int, int, list[str]]:
    tp = fp = fn = 0
    wrong = []
    for text in URGENT:
        if rules.assess(text).urgent:
            tp += 1
        else:
            fn += 1
            wrong.append(f"missed: {text}")
    for text in NOT_URGENT:
        if rules.assess(text).urgent:
            fp += 1
            wrong.append(f"false alarm: {text}")
    return tp, fp, fn, wrong


def test_table_is_big_enough_and_balanced():
    assert len(URGENT) + len(NOT_URGENT) >= 60
    assert len(set(URGENT) | set(NOT_URGENT)) == len(URGENT) + len(NOT_URGENT)
    assert min(len(URGENT), len(NOT_URGENT)) >= 25


def test_precision_and_recall_on_the_table():
    tp, fp, fn, wrong = _confusion(UrgencyRules())
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    print(f"urgency: precision {precision:.3f}, recall {recall:.3f} on {len(URGENT) + len(NOT_URGENT)} messages")
    assert precision >= 0.95, wrong
    assert recall >= 0.95, wrong


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("3组杨家着火了", "fire", "着火"),
        ("停水三天了", "no water for days", "停水三天"),
        ("我家孩子不见了", "missing person", "孩子不见了"),
        ("有人触电了", "electrocution", "触电"),
    ],
)
def test_reason_names_the_words_and_kind(text, kind, reason):
    u = assess(text)
    assert (u.urgent, u.kind, u.reason) == (True, kind, reason)


def test_negation_reaches_only_its_own_clause():
    assert assess("房子着火了，没有人受伤").urgent
    assert not assess("没有人受伤").urgent


def test_no_hurry_anywhere_in_the_message_wins():
    assert not assess("路边电线掉了，不着急，明天来看看就行").urgent


def test_negated_helper():
    assert negated("没有人受伤", 3)
    assert negated("不会淹", 2)
    assert not negated("不小心摔伤", 3)
    assert not negated("房子不牢固要塌了", 5)


def test_county_keywords_are_cues_with_the_same_rules():
    rules = UrgencyRules(["蜂窝"])
    assert rules.assess("教室门口有个大蜂窝").urgent
    assert not rules.assess("去年教室门口有个大蜂窝").urgent
    assert not assess("教室门口有个大蜂窝").urgent


def test_tagger_uses_the_rules_with_its_keywords():
    tagger = Tagger(urgency_keywords=["马蜂"])
    assert tagger.tag("我家孩子被马蜂蛰了").urgent
    assert tagger.tag("3组着火了").urgency_reason == "着火"
    assert not tagger.tag("没有人受伤").urgent

"""Personal data as villagers write it: a corpus of variants, each masked exactly, and numbers that are not.

Every positive is written with what it must become: anything else is a leak (a digit that should be
hidden still shows) or damage (a character of the text changed that is no personal data). The
negatives are numbers of everyday requests that must stay as written. The ID and card numbers
have valid check digits unless a comment says otherwise.
"""

from __future__ import annotations

import pytest

from routing.privacy import find, mask
from routing.text import fold

ZW = "\u200b"  # zero-width space
KEYCAP = "\ufe0f\u20e3"

# (as written, as it must leave the village room)
POSITIVE = [
    # mobiles: written together, in groups, with any separators, one digit at a time, in Chinese numerals
    ("我的电话13812345678", "我的电话138****5678"),
    ("电话 138 1234 5678", "电话 138 **** 5678"),
    ("手机：139-8765-4321", "手机：139-****-4321"),
    ("139.1009.7063", "139.****.7063"),
    ("打 138 - 1234 - 5678 找我", "打 138 - **** - 5678 找我"),
    ("138 -1234- 5678", "138 -****- 5678"),
    ("138 1234-5678", "138 ****-5678"),
    ("138，1234，5678", "138，****，5678"),
    ("138、1234、5678", "138、****、5678"),
    ("138/1234/5678", "138/****/5678"),
    ("138--1234--5678", "138--****--5678"),
    ("138 . 1234 . 5678", "138 . **** . 5678"),
    (f"138{ZW}1234{ZW}5678", f"138{ZW}****{ZW}5678"),
    (ZW.join("13812345678"), ZW.join("138****5678")),
    ("手机\ufeff15912345678", "手机\ufeff159****5678"),
    ("电话1 3 8 1 2 3 4 5 6 7 8", "电话1 3 8 * * * * 5 6 7 8"),
    ("1-3-8-1-2-3-4-5-6-7-8", "1-3-8-*-*-*-*-5-6-7-8"),
    ("1 3 8 - 1 2 3 4 - 5 6 7 8", "1 3 8 - * * * * - 5 6 7 8"),
    ("一 三 八，一 二 三 四，五 六 七 八", "一 三 八，* * * *，五 六 七 八"),
    ("138\u00a01234\u00a05678", "138\u00a0****\u00a05678"),
    ("１３８１２３４５６７８", "１３８****５６７８"),
    ("１３８－１２３４－５６７８", "１３８－****－５６７８"),
    ("1３８1234５678", "1３８****５678"),
    ("一三八一二三四五六七八", "一三八****五六七八"),
    ("幺三八幺二三四五六七八", "幺三八****五六七八"),
    ("电话一三八零零一三八零零零", "电话一三八****八零零零"),
    ("一五九〇〇〇〇一二三四", "一五九****一二三四"),
    ("一三八两两三三四四五五", "一三八****四四五五"),
    ("打138一二三四5678", "打138****5678"),
    ("一三八 一二三四 五六七八", "一三八 **** 五六七八"),
    ("一三八-一二三四-五六七八", "一三八-****-五六七八"),
    ("壹叁捌壹贰叁肆伍陆柒捌", "壹叁捌****伍陆柒捌"),
    ("张三13812345678", "张三138****5678"),
    ("我是张三一三八一二三四五六七八", "我是张三一三八****五六七八"),  # 三 of 张三 is glued to the numerals
    ("打一三八一二三四五六七八一下", "打一三八****五六七八一下"),  # and 一 of 一下
    ("电话一三八一二三四五六七八两次都没人接", "电话一三八****五六七八两次都没人接"),
    ("老三 13812345678", "老三 138****5678"),
    ("+86 138-1234-5678", "+86 138-****-5678"),
    ("+8613812345678", "+86138****5678"),
    ("0086 138 1234 5678", "0086 138 **** 5678"),
    ("联系人老杨 138.1234.5678 随时打", "联系人老杨 138.****.5678 随时打"),
    ("两个号码：13812345678、13987654321", "两个号码：138****5678、139****4321"),
    ("电话：13812345678，谢谢", "电话：138****5678，谢谢"),
    ("".join(d + KEYCAP for d in "13812345678"), "".join(d + KEYCAP for d in "138****5678")),
    # resident ID numbers
    ("身份证522228199001010019", "身份证522228********0019"),
    ("522228 19900101 0019", "522228 ******** 0019"),
    ("522228-19900101-0019", "522228-********-0019"),
    ("身份证号11010519491231002X", "身份证号110105********002X"),
    ("110105 19491231 002x", "110105 ******** 002x"),
    ("430102198512251239", "430102********1239"),
    ("身份证522228199001010018号码对不上", "身份证522228********0018号码对不上"),  # wrong check digit after 身份证
    ("身份证号码：522228 1990 0101 0018", "身份证号码：522228 **** **** 0018"),  # likewise
    ("老身份证110105491231002", "老身份证110105*****1002"),  # the 15-digit first generation
    ("110105491231002", "110105*****1002"),
    ("五二二二二八一九九零零一零一零零一九", "五二二二二八********零零一九"),
    ("５２２２２８１９９００１０１００１９", "５２２２２８********００１９"),
    (f"522228{ZW}19900101{ZW}0019", f"522228{ZW}********{ZW}0019"),
    ("证件号 522228.19900101.0019", "证件号 522228.********.0019"),
    # bank cards
    ("工资卡6222021234567890128没到账", "工资卡6222***********0128没到账"),
    ("卡号 6217 0012 3456 7893", "卡号 6217 **** **** 7893"),
    ("4367-4201-2345-6781", "4367-****-****-6781"),
    (f"6217{ZW}0012{ZW}3456{ZW}7893", f"6217{ZW}****{ZW}****{ZW}7893"),
    ("卡号：6222 0212 3456 7890 123", "卡号：6222 **** **** ***0 123"),  # no Luhn, but after 卡号
    ("银行卡622202123456789012", "银行卡6222**********9012"),
    ("第一6222021234567890128", "第一6222***********0128"),  # not 16222…: the longer reading is the card
    # landlines
    ("座机0856-2345678", "座机0856-*****78"),
    ("村委会电话(0856)2345678", "村委会电话(0856)*****78"),
    ("(0856) 234-5678", "(0856) ***-**78"),
    ("010-12345678", "010-******78"),
    ("0755 8234 5678", "0755 **** **78"),
    ("021.6234.5678", "021.****.**78"),
    ("+86 856 2345678", "+86 856 *****78"),
    ("办公室电话：2345678", "办公室电话：*****78"),
    ("电话 234 5678", "电话 *** **78"),
    ("〇八五六二三四五六七八", "〇八五六*****七八"),
    ("打08562345678转12", "打0856*****78转12"),
    # addresses
    ("住在和平路15号", "住在和平路**号"),
    ("楼台村3组12号的杨老三家", "楼台村3组**号的杨老三家"),
    ("住在和平路１５号", "住在和平路**号"),
    # several in one message
    ("我是杨老三，身份证522228 19900101 0019，电话139.1009.7063",
     "我是杨老三，身份证522228 ******** 0019，电话139.****.7063"),
]

NEGATIVE = [
    # request numbers and commands
    "认领 #12",
    "进度 #123",
    "办结 #1234 已修好",
    "#12和#13都没人管",
    # dates and times
    "2026年10月9日开会",
    "二〇二六年十月九日",
    "2026-10-09 09:15 来的",
    "2026.10.9",
    "2026/10/09 2026/10/10 两天停电",
    "1990-1-19, 1990-2-3 出生的",
    "10月12号开会",
    "09:30到12:00",
    "8:30-12:00, 14:30-17:30",
    "下午3点半",
    # amounts, counts and measures
    "补贴发了3000元",
    "3,000元",
    "欠了12,000.50元",
    "每亩补贴300元，共5亩",
    "一共138元",
    "身高175，体重65",
    "温度-5度到10度",
    "3组有15户没通水",
    "路灯坏了3个",
    "第1、2、3组",
    # rooms, buildings, lines, documents
    "302室的灯坏了",
    "3楼302房间",
    "会议室在301",
    "5栋楼之间的路",
    "坐3号线到火车站",
    "按1号文件执行",
    # numbers people say that are no one's
    "12345热线打不通",
    "拨打120急救",
    "一二三四五六七八九十",
    "三五成群",
    "电话打了好几次",
    "订单号1234567890123456",  # fails the Luhn check, no 卡号 before it
    "编号522228199001010018对不上",  # wrong check digit, no 身份证 before it
    "522228199013010019",  # no 13th month
]


def _leaks(text: str, masked: str, expected: str) -> int:
    """Digits hidden in `expected` that still show in `masked` (mask keeps each character's place)."""
    return sum(1 for got, want in zip(masked, expected) if want == "*" and got != "*") + abs(len(masked) - len(expected))


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_personal_data_is_masked_exactly(text, expected):
    assert mask(text) == expected
    assert find(text)


@pytest.mark.parametrize("text", NEGATIVE)
def test_numbers_that_are_no_personal_data_stay(text):
    assert find(text) == []
    assert mask(text) == text


def test_corpus_figures():
    leaks = sum(_leaks(text, mask(text), expected) for text, expected in POSITIVE)
    damaged = sum(mask(text) != expected for text, expected in POSITIVE) + sum(mask(t) != t for t in NEGATIVE)
    print(f"personal data corpus: {len(POSITIVE)} positive and {len(NEGATIVE)} negative variants, "
          f"{leaks} digits leaked, {damaged} texts masked otherwise than expected")
    assert len(POSITIVE) + len(NEGATIVE) >= 80
    assert leaks == 0 and damaged == 0


def test_masking_keeps_every_character_in_its_place():
    # what the leak count relies on: each hidden character becomes one *
    for text, _ in POSITIVE:
        assert len(mask(text)) == len(text)


def test_the_normaliser_is_the_one_of_the_project():
    # zero-width characters are gone before anything reads the text, commands included
    assert fold(f"认领{ZW} #1{ZW}2").text == "认领 #12"

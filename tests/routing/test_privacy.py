"""Personal data on a table of positive and negative cases: what is found, and how it is masked."""

from __future__ import annotations

import pytest

from routing.privacy import Kind, contains_personal_data, find, luhn, mask

# (text, kind found) -- hand-written; the ID and card numbers have valid check digits
POSITIVE = [
    ("我的电话13812345678", Kind.MOBILE),
    ("联系 138 1234 5678 杨", Kind.MOBILE),
    ("手机：139-8765-4321", Kind.MOBILE),
    ("+86 15912345678 找老唐", Kind.MOBILE),
    ("打１８６１２３４５６７８就行", Kind.MOBILE),
    ("座机0856-2345678", Kind.LANDLINE),
    ("村委会电话(0856)2345678", Kind.LANDLINE),
    ("打08562345678转12", Kind.LANDLINE),
    ("办公室电话：2345678", Kind.LANDLINE),
    ("身份证522228199001010019", Kind.ID_NUMBER),
    ("身份证号11010519491231002X，帮查一下", Kind.ID_NUMBER),
    ("身份证522228199001010018号码对不上", Kind.ID_NUMBER),  # a wrong check digit right after 身份证 is still one
    ("我儿子522228201203151231还没上户口", Kind.ID_NUMBER),
    ("工资卡6222021234567890128没到账", Kind.BANK_CARD),
    ("卡号 6217 0012 3456 7893", Kind.BANK_CARD),
    ("打到4367-4201-2345-6781这张卡", Kind.BANK_CARD),
    ("住在和平路15号", Kind.ADDRESS),
    ("蓼皋街道民族路23号3栋2单元501", Kind.ADDRESS),
    ("楼台村3组12号的杨老三家", Kind.ADDRESS),
    ("幸福小区5栋302室漏水", Kind.ADDRESS),
    ("人民大道188号门口的坑", Kind.ADDRESS),
    ("翠湖花园二栋一单元", Kind.ADDRESS),
    ("盘信镇新街三号", Kind.ADDRESS),
]

NEGATIVE = [
    "认领 #12",
    "办结 #1234 已修好",
    "补贴发了12000元",
    "2026-10-09 09:15 来的",
    "10月12号开会",
    "我们村3号开会",
    "坐3号线到火车站",
    "按1号文件执行",
    "编号522228199001010018对不上",  # wrong check digit, and no 身份证 before it
    "522228199013010019",  # no 13th month
    "订单号1234567890123456",  # fails the Luhn check
    "电话打了好几次",
    "路灯坏了3个",
    "12345热线打不通",
    "3组有15户没通水",
    "2栋楼之间的路",
    "一共138元",
    "第二期工程",
    "每亩补贴300元，共5亩",
    "5月1号以前要修好",
]


@pytest.mark.parametrize(("text", "kind"), POSITIVE)
def test_personal_data_is_found(text, kind):
    assert [f.kind for f in find(text)] == [kind]


@pytest.mark.parametrize("text", NEGATIVE)
def test_other_numbers_are_left_alone(text):
    assert find(text) == []
    assert mask(text) == text


def test_table_figures():
    found = sum(1 for text, kind in POSITIVE if [f.kind for f in find(text)] == [kind])
    false_alarms = sum(1 for text in NEGATIVE if contains_personal_data(text))
    recall = found / len(POSITIVE)
    precision = found / (found + false_alarms)
    print(f"personal data: recall {recall:.3f}, precision {precision:.3f} "
          f"on {len(POSITIVE)} positive and {len(NEGATIVE)} negative cases")
    assert recall == 1.0 and precision == 1.0


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我的电话13812345678", "我的电话138****5678"),
        ("联系 138 1234 5678", "联系 138 **** 5678"),
        ("+86 15912345678", "+86 159****5678"),
        ("座机0856-2345678", "座机0856-*****78"),
        ("身份证522228199001010019", "身份证522228********0019"),
        ("身份证11010519491231002X", "身份证110105********002X"),
        ("卡号6222021234567890128", "卡号6222***********0128"),
        ("卡号 6217 0012 3456 7893", "卡号 6217 **** **** 7893"),
        ("住在和平路15号", "住在和平路**号"),
        ("民族路23号3栋2单元501", "民族路**号*栋*单元***"),
        ("楼台村3组12号", "楼台村3组**号"),
        ("幸福小区5栋302室漏水", "幸福小区*栋***室漏水"),
        ("电话１３８１２３４５６７８", "电话１３８****５６７８"),
    ],
)
def test_masking_keeps_the_layout_and_hides_the_middle(text, masked):
    assert mask(text) == masked


def test_several_kinds_in_one_message():
    text = "我是杨老三，身份证522228199001010019，电话13812345678，住楼台村3组12号"
    assert [f.kind for f in find(text)] == [Kind.ID_NUMBER, Kind.MOBILE, Kind.ADDRESS]
    masked = mask(text)
    for secret in ("199001010", "1234", "12号"):
        assert secret not in masked
    assert masked.startswith("我是杨老三，身份证522228********0019，电话138****5678，住楼台村3组**号")


def test_luhn():
    assert luhn("6222021234567890128")
    assert not luhn("6222021234567890129")

"""The not-a-request filter on a table of hand-written village-room messages that start with a trigger word."""

from __future__ import annotations

import pytest

from routing.intake import is_request_after_trigger, request_text
from routing.policy import Intake

BOT = "民情直通车"

REQUESTS = [
    "反映一下，3组的路灯坏了三天了",
    "反映：村口垃圾好久没人清运",
    "反映 我们组停水了",
    "反映个问题，广场舞太吵了晚上睡不着",
    "反映下我们组的饮水问题，水是黄的",
    "反映 3组到4组的桥栏杆断了很危险",
    "反映，狗咬人了没人管",
    "反映我们村的网络信号太差",
    "反映：修好的路又坏了",
    "反映的问题一直没人管，路灯还是不亮",
    "反映了好几次都没人来修",
    "反映很快就要秋收了，机耕道还没修好",
    "反映，洪水来了，桥快淹了",
    "求助，我家老人走丢了",
    "求助 家里房子漏雨，能不能帮忙看看",
    "求助！孩子发高烧，卫生室没人",
    "求助 谁能帮我看看补贴为什么没到账",
    "求助 牛丢了",
    "报修 3组水管爆了",
    "报修：学校门口路灯不亮",
    "报修 电线杆歪了",
    "报修 村委会的电脑坏了",
    "投诉 村口小卖部卖过期食品",
    "投诉，隔壁养猪场臭得很",
    "投诉村医乱收费",
    "投诉 快递总是不送到村里",
    "投诉的那个养殖场又开始排污了",
    "咨询一下新农合怎么交",
    "咨询：低保申请需要什么材料",
    "咨询 养老保险一年交多少",
    "咨询下村里什么时候发粮食补贴",
    "咨询 退役军人优待证在哪里办",
    "申请 危房改造补助",
    "申请低保，家里两个老人没劳动力",
    "申请一下，我家想修个圈舍",
    "诉求：产业路不通，希望修一条",
    "诉求 请派人清理河道",
    "反映 村里的自来水有股怪味",
    "求助：婆婆住院了，医保报销不了",
    "报修 篮球场的灯全坏了",
    "投诉 收购烤烟压级压价",
    "咨询 孩子转学要办什么手续",
    "申请 残疾证",
    "诉求 组里的通组路要硬化",
    "反映一下 河边有人电鱼",
    "求助 地里的庄稼被野猪拱了",
    "投诉：班车司机乱收费",
    "反映，小学旁边的网吧让小孩进去",
    "咨询，今年的耕地地力补贴标准是多少",
    "报修 公厕门锁坏了",
    "反映 低保评得不公平",
    "申请 把我家纳入易地搬迁",
    "投诉 工地晚上施工吵得睡不着",
    "反映 我家的补贴被人冒领了",
    "求助，房子被风吹掉了瓦",
]

CHAT = [
    "反映很快啊",
    "投诉的事解决了谢谢",
    "反映了也没用",
    "反映的路灯已经修好了，谢谢",
    "反映过了",
    "反映了，等着吧",
    "反映得好！",
    "反映一下就来了，效率高",
    "反映啥呀，都解决了",
    "反映哈哈",
    "反映的人太多了吧",
    "反映人是谁？",
    "反映的事情处理得不错",
    "求助成功了，感谢",
    "求助群真方便",
    "求助的那个老人找到了",
    "求助帖已收到",
    "报修的师傅来了",
    "报修好快，半天就来了",
    "报修的水管修好了",
    "投诉完了心里舒服多了",
    "投诉有用，点赞",
    "投诉？算了吧",
    "投诉的结果我满意",
    "咨询过了，知道了",
    "咨询了吗？",
    "申请好了",
    "申请的补助到了，谢谢政府",
    "诉求已经办好了",
    "诉求都解决了，辛苦大家",
    "反映这个功能好",
    "投诉的回复收到了",
    "求助这个群里有人管吗",
    "反映完了，睡觉",
    "报修的那个事，谢谢唐书记",
    "反映的人多了就好了",
    "咨询完毕",
    "申请过了，在等审批",
    "求助有效，大家也可以试试",
    "反映什么都没用",
    "投诉这么快就有人回了，点赞",
]


def _registers(text: str) -> bool:
    return request_text(text, Intake(), BOT, mentioned=False) is not None


def test_table_is_big_enough():
    assert len(REQUESTS) + len(CHAT) >= 60
    triggers = Intake().triggers
    assert all(t.startswith(triggers) for t in REQUESTS + CHAT)


def test_precision_and_recall_on_the_table():
    registered_requests = [t for t in REQUESTS if _registers(t)]
    registered_chat = [t for t in CHAT if _registers(t)]
    precision = len(registered_requests) / (len(registered_requests) + len(registered_chat))
    recall = len(registered_requests) / len(REQUESTS)
    print(f"not-a-request filter: precision {precision:.3f}, recall {recall:.3f} "
          f"on {len(REQUESTS)} requests and {len(CHAT)} chat messages")
    missed = [t for t in REQUESTS if t not in registered_requests]
    assert precision > 0.95, registered_chat
    assert recall >= 0.95, missed


@pytest.mark.parametrize("text", ["反映很快啊", "投诉的事解决了谢谢"])
def test_the_issue_examples_are_chat(text):
    assert not _registers(text)


def test_a_mention_always_registers():
    assert request_text("@民情直通车 反映很快啊", Intake(), BOT, mentioned=True) == "反映很快啊"


def test_too_short_is_not_a_request():
    assert not is_request_after_trigger("")
    assert not is_request_after_trigger("！")
    assert not is_request_after_trigger("啊")

"""Dialogs in the example county: what people write, and what the bot answers where."""

from __future__ import annotations

import pytest

from routing.model import EventKind, Status, Tier
from routing.ports import RequestFilter
from tests.conftest import CTY, CY, LT, MZ, PJ, PX, PXL, config_with
from tests.fakes import break_on, make_chat


def register(chat, text="@民情直通车 二组的路灯坏了三盏，晚上看不见", sender="唐命学", room=LT):
    """Register a request and return its number."""
    said = chat.say(room, sender, text)
    reply = [s for s in said if "已登记为 #" in s.text]
    assert reply, said
    return int(reply[0].text.split("已登记为 #")[1].split("。")[0])


def request(chat, number):
    with chat.relay.db.transaction() as tx:
        return tx.get(number), tx.events(number)


def test_registration_by_mention_replies_with_number_category_and_deadline(chat):
    said = chat.say(LT, "唐命学", "@民情直通车 二组的路灯坏了三盏，晚上看不见", mention=True)
    assert len(said) == 1
    line = said[0]
    assert line.room == LT
    assert line.mentions == ("唐命学",)
    assert "已登记为 #1" in line.text
    assert "分类：城乡建设" in line.text
    # Monday 08:00 is before work: the clock starts at 08:30, 1 workday later is Tuesday 08:30
    assert "10月13日(周二) 08:30前响应" in line.text
    req, events = request(chat, 1)
    assert req.text == "二组的路灯坏了三盏，晚上看不见"
    assert req.status is Status.OPEN and req.tier is Tier.VILLAGE
    assert [e.kind for e in events] == [EventKind.REGISTERED]


def test_registration_by_trigger_word_keeps_the_text_as_posted(chat):
    number = register(chat, "报修：组上水管爆了，全组停水", sender="王大妈")
    req, _ = request(chat, number)
    assert req.text == "报修：组上水管爆了，全组停水"
    assert req.requester == "王大妈" and req.village == "楼台村" and req.township == "盘信镇"


def test_chat_that_only_starts_with_a_trigger_word_is_ignored(chat):
    chat.script([
        (LT, "王大妈", "反映很快啊", []),
        (LT, "王大妈", "投诉的事解决了谢谢", []),
        (LT, "王大妈", "今天天气真好", []),
        (PX, "杨主任", "求助 大家看一下这个文件", []),  # trigger words register only in village rooms
    ])


def test_mention_without_text_asks_for_a_description(chat):
    chat.script([(LT, "王大妈", "@民情直通车", [(LT, "请@我并写下您要反映的事情")])])
    chat.script([(LT, "王大妈", "@民情直通车 🙏🙏🙏", [(LT, "请@我并写下")])])


def test_non_text_message_mentioning_the_bot_asks_for_text(chat):
    said = chat.say(LT, "王大妈", "[图片]", mention=True, is_text=False)
    assert len(said) == 1 and "我只能读文字" in said[0].text
    assert chat.say(LT, "王大妈", "[语音]", is_text=False) == []


def test_claim_and_resolve_in_the_village_and_rate(chat):
    n = register(chat)
    chat.script([
        (LT, "石支书", f"认领 #{n}", [(LT, "已由石支书认领")]),
        (LT, "石支书", f"办结 #{n} 已更换三盏路灯", [(LT, "已办结：已更换三盏路灯")]),
        (LT, "唐命学", "满意", [(LT, "感谢评价")]),
    ])
    req, events = request(chat, n)
    assert req.status is Status.CLOSED and req.rating.value == "satisfied"
    assert req.handler == "石支书" and req.resolved_at and req.closed_at
    assert [e.kind for e in events] == [
        EventKind.REGISTERED, EventKind.CLAIMED, EventKind.RESOLVED, EventKind.SATISFIED]


def test_resolution_in_the_village_room_is_one_message_mentioning_both(chat):
    n = register(chat)
    chat.say(LT, "石支书", f"认领 #{n}")
    said = chat.say(LT, "石支书", f"办结 #{n} 修好了")
    assert len(said) == 1
    assert said[0].mentions == ("石支书", "唐命学")
    assert f"满意 #{n}" in said[0].text


def test_escalation_by_a_resident_cadre_posts_in_the_township_room(chat):
    n = register(chat, "反映：产业路被泥石堵了，电话13812345678，身份证522228199001010019")
    chat.at("2026-10-12 10:05")
    said = chat.say(LT, "唐驻村", f"上报 #{n} 需要镇里协调挖机")
    post = [s for s in said if s.room == PX]
    assert len(post) == 1
    text = post[0].text
    assert "楼台村" in text and "城乡建设" in text and "已等待：2小时5分钟" in text
    assert "需要镇里协调挖机" in text
    # personal data is masked outside the village room
    assert "138****5678" in text and "13812345678" not in text
    assert "522228********0019" in text
    assert post[0].mentions == ("杨主任", "龙干事")
    # the village room is told too, with the data unmasked there
    assert any(s.room == LT and "已上报盘信镇" in s.text for s in said)
    req, _ = request(chat, n)
    assert req.tier is Tier.TOWNSHIP and req.status is Status.OPEN and req.handler is None
    assert req.escalated_at == chat.clock.now() and req.acknowledged_at == chat.clock.now()


def test_township_claims_and_resolves_the_villager_hears_it(chat):
    n = register(chat)
    chat.say(LT, "唐驻村", f"上报 #{n}")
    chat.script([
        (PX, "杨主任", f"认领＃{n}", [(PX, "已由杨主任认领"), (LT, "已由盘信镇杨主任认领")]),
        (PX, "杨主任", f"办结 #{n} 已协调挖机清理", [(PX, "已办结"), (LT, "已协调挖机清理")]),
        (LT, "唐命学", f"不满意 #{n} 还有一半没清", [(LT, "已重新交杨主任办理"), (PX, "还有一半没清")]),
    ])
    req, _ = request(chat, n)
    assert req.status is Status.ACKNOWLEDGED and req.tier is Tier.TOWNSHIP
    assert req.handler == "杨主任" and req.reopened == 1 and req.resolved_at is None
    assert req.rating.value == "unsatisfied"


def test_escalation_to_the_county_and_send_back(chat):
    n = register(chat)
    chat.say(LT, "唐驻村", f"上报 #{n}")
    chat.script([
        (PX, "杨主任", f"上报 #{n} 需要县里资金", [(CTY, "需要县里资金"), (PX, "已上报县里")]),
        (CTY, "吴科长", f"上报 #{n}", [(CTY, "已是最高一级")]),
        (CTY, "吴科长", f"退回 #{n} 属镇级事权，请镇里先办", [(CTY, "已退回镇级"), (PX, "属镇级事权")]),
        (PX, "杨主任", f"退回 #{n} 请村里先核实", [(LT, "请村里先核实")]),
        (LT, "唐驻村", f"退回 #{n} 不行", [(LT, "村干部不能使用")]),
    ])
    req, events = request(chat, n)
    assert req.tier is Tier.VILLAGE and req.status is Status.OPEN
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.ESCALATED) == 2 and kinds.count(EventKind.SENT_BACK) == 2


def test_send_back_from_the_village_tier_is_explained(chat):
    n = register(chat)
    chat.script([(PX, "杨主任", f"退回 #{n} 理由", [(PX, "已在村级")])])


def test_reject_tells_the_requester_why_and_village_cadres_cannot(chat):
    n = register(chat)
    chat.script([
        (LT, "石支书", f"无效 #{n} 重复反映", [(LT, "村干部不能使用")]),
        (PX, "杨主任", f"无效 #{n} 与 #1 重复", [(PX, "不予受理"), (LT, "与 #1 重复")]),
    ])
    req, _ = request(chat, n)
    assert req.status is Status.REJECTED and req.closed_at is not None


def test_direct_to_township_category_skips_the_village(db):
    cfg = config_with(replace={'direct_to_township = ["纪检监察"]': 'direct_to_township = ["民政"]'})
    chat = make_chat(cfg, db)
    said = chat.say(MZ, "田大哥", "申请 低保，家里两个老人没有劳动力")
    assert any(s.room == MZ and "直接交盘信镇办理" in s.text for s in said)
    assert any(s.room == PX and "【新诉求】" in s.text for s in said)
    req, events = request(chat, 1)
    assert req.tier is Tier.TOWNSHIP and req.category == "民政" and not req.confidential
    assert events[0].rule == "direct_to_township"


def test_urgent_request_is_shown_to_the_township_at_once(chat):
    chat.at("2026-10-17 23:30")  # Saturday night
    said = chat.say(CY, "麻大爷", "求助 屋后山体滑坡，老伴被砸受伤了")
    reply = [s for s in said if s.room == CY][0]
    assert "紧急" in reply.text and "已同时通报普觉镇" in reply.text
    # urgent clocks are calendar time: 2 hours, even on a Saturday night
    assert "10月18日(周日) 01:30前响应" in reply.text
    alert = [s for s in said if s.room == PJ]
    assert len(alert) == 1 and "【紧急】" in alert[0].text
    assert set(alert[0].mentions) == {"罗主任", "欧书记"}
    req, events = request(chat, 1)
    assert req.urgent and req.tier is Tier.VILLAGE
    assert [e.kind for e in events] == [EventKind.REGISTERED, EventKind.ALERTED]
    # the township can act on it where it is
    chat.script([(PJ, "罗主任", "认领 #1", [(PJ, "已由罗主任认领"), (CY, "已由普觉镇罗主任认领")])])


def test_refusals_change_nothing(chat):
    n = register(chat)
    chat.script([
        (LT, "唐命学", f"办结 #{n} 我自己修好了", [(LT, "只能由负责")]),
        (LT, "王大妈", f"认领 #{n}", [(LT, "只能由负责")]),
        (MZ, "滕主任", f"认领 #{n}", [(MZ, "只能由负责")]),  # a cadre of another village
        (PJ, "罗主任", f"认领 #{n}", [(PJ, "只能由负责")]),  # staff of another township
        (LT, "王大妈", f"满意 #{n}", [(LT, "只有 #1 的提出人可以评价")]),
        (MZ, "龙老汉", f"进度 #{n}", [(MZ, "本群不能查看")]),
        (PJ, "罗主任", f"进度 #{n}", [(PJ, "本群不能查看")]),
        (LT, "王大妈", "待办", [(LT, "只对本群负责的经办人员开放")]),
        (LT, "王大妈", f"催办 #{n}", [(LT, "只有提出人或上级经办人员")]),
        (LT, "石支书", f"催办 #{n}", [(LT, "只有提出人或上级经办人员")]),  # same tier cannot urge
    ])
    req, events = request(chat, n)
    assert req.status is Status.OPEN and req.handler is None
    assert [e.kind for e in events] == [EventKind.REGISTERED]


def test_commands_on_requests_in_the_wrong_state(chat):
    n = register(chat)
    chat.script([
        (LT, "石支书", f"认领 #{n}", [(LT, "已由石支书认领")]),
        (LT, "唐驻村", f"认领 #{n}", [(LT, "现在是“办理中”，不能“认领”"), (LT, "经办人：石支书")]),
        (LT, "唐命学", f"满意 #{n}", [(LT, "不能“满意”")]),
        (LT, "石支书", "认领 #999", [(LT, "没有找到诉求 #999")]),
    ])


def test_malformed_commands_get_a_clear_answer(chat):
    chat.script([
        (LT, "石支书", "认领", [(LT, "请带上诉求编号")]),
        (LT, "石支书", "办结 #abc", [(LT, "没看懂编号")]),
        (LT, "石支书", "办结 #1", [(LT, "请写明办理结果")]),
        (PX, "杨主任", "退回 #1", [(PX, "请写明理由")]),
        (LT, "石支书", "认领了吗", []),
        (LT, "石支书", "认领 #1 #2", [(LT, "一条消息只能办一件诉求"), (LT, "认领 #12，再发一条 认领 #13")]),
        (LT, "石支书", "上报 #1e5", [(LT, "没看懂编号")]),
        (PX, "杨主任", "收到 通知#-1", [(PX, "没看懂通知编号")]),
    ])


def test_parser_tolerates_full_width_spaces_mentions_and_missing_hash(chat):
    n = register(chat)
    said = chat.say(LT, "石支书", f"@民情直通车\u2005认领　{n}")
    assert any("已由石支书认领" in s.text for s in said)
    said = chat.say(LT, "石支书", "＠民情直通车 办结＃１ 已修好，谢谢大家！")
    assert any("已修好，谢谢大家！" in s.text for s in said)
    req, _ = request(chat, n)
    assert req.result == "已修好，谢谢大家！"  # the result is kept as written, not folded


def test_urge_by_requester_and_by_higher_tier(chat):
    n = register(chat)
    chat.at("2026-10-12 15:00")
    chat.script([
        (LT, "唐命学", f"催办 #{n}", [(LT, "【催办】")]),
        (LT, "唐命学", f"催办 #{n}", [(LT, "已催办过")]),
        (PX, "杨主任", f"催办 #{n}", [(LT, "杨主任催办"), (PX, "已向村级催办")]),
    ])
    said = chat.say(LT, "唐命学", f"进度 #{n}")
    assert "杨主任催办" in said[0].text


def test_progress_shows_status_and_history_in_any_room_of_the_branch(chat):
    n = register(chat)
    chat.say(LT, "石支书", f"认领 #{n}")
    for room, who, wxid in ((LT, "王大妈", "auto"), (PX, "龙干事", "auto"), (PXL, "张书记", "wxid_zhang"),
                            (CTY, "麻干事", "auto")):
        said = chat.say(room, who, f"进度 #{n}", sender_id=wxid)
        assert len(said) == 1 and "办理中" in said[0].text and "石支书认领" in said[0].text, said


def test_todo_lists_this_rooms_tier_and_branch(chat):
    a = register(chat)
    b = register(chat, "@民情直通车 低保的事情想问一下", room=MZ, sender="龙老汉")
    chat.say(LT, "唐驻村", f"上报 #{a}")
    said = chat.say(PX, "杨主任", "待办")
    assert f"#{a} 楼台村" in said[0].text and f"#{b}" not in said[0].text
    said = chat.say(MZ, "滕主任", "待办")
    assert f"#{b} 民主村" in said[0].text
    said = chat.say(LT, "石支书", "待办")
    assert "没有待办" in said[0].text


def test_rating_without_number_with_two_waiting_asks_which(chat):
    a = register(chat)
    b = register(chat, "@民情直通车 水沟堵了")
    for n in (a, b):
        chat.say(LT, "石支书", f"认领 #{n}")
        chat.say(LT, "石支书", f"办结 #{n} 好了")
    chat.script([
        (LT, "唐命学", "满意", [(LT, "您有2件诉求待评价")]),
        (LT, "唐命学", f"满意 #{a}", [(LT, "感谢评价")]),
        (LT, "唐命学", "不满意 水沟还是堵的", [(LT, f"#{b} 已重新交石支书办理")]),
        (LT, "王大妈", "满意", []),  # nothing to rate: just chat
    ])


def test_help_lists_commands_for_villagers_and_handlers(chat):
    villager = chat.say(LT, "王大妈", "帮助")[0].text
    handler = chat.say(PX, "杨主任", "帮助")[0].text
    assert "反映诉求" in villager and "认领" not in villager
    assert "认领 #编号" in handler


def test_mention_in_a_township_room_gets_a_hint(chat):
    chat.script([(PX, "杨主任", "@民情直通车 你好", [(PX, "请在各村的干群连心群里提交")])])


def test_unknown_rooms_are_ignored(chat):
    assert chat.say("某个无关的群", "路人", "@民情直通车 求助 路坏了") == []


def test_duplicate_delivery_registers_once(chat):
    first = chat.say(LT, "唐命学", "@民情直通车 路灯坏了", msg_id="dup-1")
    again = chat.say(LT, "唐命学", "@民情直通车 路灯坏了", msg_id="dup-1")
    assert len(first) == 1 and again == []
    with chat.relay.db.transaction() as tx:
        assert tx.count() == 1


def test_handler_matched_by_configured_wechat_id_only(chat):
    n = register(chat)
    chat.say(LT, "唐驻村", f"上报 #{n}")
    # 张书记 is configured with wechat_id wxid_zhang: the name alone gives no rights
    said = chat.say(PX, "张书记", f"认领 #{n}", sender_id="wxid_someone")
    assert any("只能由负责" in s.text for s in said)
    assert any(s.room == PX and "不是已登记的微信号" in s.text for s in said)
    said = chat.say(PX, "张书记", f"认领 #{n}", sender_id="wxid_zhang")
    assert any("已由张书记认领" in s.text for s in said)


def unpinned(example_config, db, start="2026-10-12 08:00"):
    """A chat where no handler's name is pinned yet."""
    return make_chat(example_config, db, start, pinned=False)


def test_display_name_is_pinned_to_the_first_contact_id_in_the_handlers_own_room(example_config, db):
    chat = unpinned(example_config, db)
    n = register(chat)
    said = chat.say(LT, "石支书", "大家好", sender_id="wxid_real")  # first seen in his own village's room
    pinned = [s for s in said if s.room == PX]
    assert len(pinned) == 1 and "wxid_real" in pinned[0].text and "盘信镇楼台村的“石支书”" in pinned[0].text
    said = chat.say(LT, "石支书", f"认领 #{n}", sender_id="wxid_impostor")
    assert any("只能由负责" in s.text for s in said)
    clash = [s for s in said if s.room == PX]
    assert len(clash) == 1 and "wxid_impostor" in clash[0].text
    # reported once, not on every message
    said = chat.say(LT, "石支书", f"认领 #{n}", sender_id="wxid_impostor")
    assert not any(s.room == PX for s in said)
    said = chat.say(LT, "石支书", f"认领 #{n}", sender_id="wxid_real")
    assert any("已由石支书认领" in s.text for s in said)


def test_an_impostor_who_speaks_first_elsewhere_takes_nothing(example_config, db):
    chat = unpinned(example_config, db)
    n = register(chat)
    # the impostor renames himself 石支书 and speaks first, in another village's room and the township's
    for room in (MZ, PX):
        said = chat.say(room, "石支书", f"认领 #{n}", sender_id="wxid_fake")
        assert not any("已由石支书认领" in s.text for s in said) and not any("身份认定" in s.text for s in said)
    # the real cadre speaks in his own village's room: he is the one pinned, and he can act
    said = chat.say(LT, "石支书", f"认领 #{n}", sender_id="wxid_real")
    assert any("身份认定" in s.text and "wxid_real" in s.text for s in said)
    assert any("已由石支书认领" in s.text for s in said)
    said = chat.say(LT, "石支书", f"办结 #{n} 好了", sender_id="wxid_fake")
    assert any("只能由负责" in s.text for s in said) and any("wxid_fake" in s.text and s.room == PX for s in said)


def test_namesakes_in_two_townships_are_two_people(db):
    cfg = config_with(replace={'staff = [{ name = "罗主任" }]': 'staff = [{ name = "罗主任" }, { name = "杨主任" }]'})
    chat = unpinned(cfg, db)
    px_request = register(chat)
    pj_request = register(chat, room=CY, sender="麻大姐")
    chat.say(LT, "唐驻村", f"上报 #{px_request}", sender_id="wxid_tang")
    chat.say(CY, "代驻村", f"上报 #{pj_request}", sender_id="wxid_dai")
    said = chat.say(PX, "杨主任", f"认领 #{px_request}", sender_id="wxid_yang_px")
    assert any("已由杨主任认领" in s.text for s in said)
    said = chat.say(PJ, "杨主任", f"认领 #{pj_request}", sender_id="wxid_yang_pj")  # another person, same title
    assert any("已由杨主任认领" in s.text for s in said)
    assert not any("wxid_yang_pj" in s.text and "不是已认定" in s.text for s in said)
    # each one's rights are his own township's: 普觉镇's 杨主任 cannot act in 盘信镇
    said = chat.say(PX, "杨主任", f"办结 #{px_request} 好了", sender_id="wxid_yang_pj")
    assert not any("已办结" in s.text for s in said)


def test_one_person_with_two_roles(tmp_path, db):
    cfg = config_with(replace={'staff = [{ name = "杨主任" }, { name = "龙干事" }]':
                               'staff = [{ name = "杨主任" }, { name = "龙干事" }, { name = "唐驻村" }]'})
    chat = make_chat(cfg, db)
    n = register(chat)
    chat.say(LT, "唐驻村", f"上报 #{n}")
    said = chat.say(PX, "唐驻村", f"退回 #{n} 村里先核实")  # as township staff
    assert any("已退回村级" in s.text for s in said)


def test_an_error_of_ours_keeps_the_message_apologises_and_carries_on(chat, monkeypatch):
    break_on(chat, monkeypatch, "boom")
    said = chat.say(LT, "王大妈", "@民情直通车 boom 路灯坏了")
    assert len(said) == 1 and "出错" in said[0].text
    with chat.relay.db.transaction() as tx:
        kept = tx.failures()
    assert [(f.text, f.error) for f in kept] == [("@民情直通车 boom 路灯坏了", "ValueError: a bug")]
    assert "已登记为 #1" in chat.say(LT, "王大妈", "@民情直通车 路灯坏了")[0].text


def test_rooms_seen_are_remembered_configured_or_not(chat):
    chat.say("别的群", "路人", "你好")
    chat.say("别的群", "路人", "你好")
    chat.say(LT, "王大妈", "你好")
    with chat.relay.db.transaction() as tx:
        rooms = {r.topic: (r.configured, r.messages) for r in tx.rooms()}
    assert rooms == {"别的群": (False, 2), LT: (True, 1)}


@pytest.mark.parametrize("text", [
    "@民情直通车 你好", "@民情直通车 在吗", "@民情直通车 谢谢", "@民情直通车 测试一下", "@民情直通车 收到",
    "@民情直通车 好的👍", "@民情直通车 🙏🙏", "@民情直通车", "@民情直通车 您好，在吗？", "@民情直通车 test",
    "求助", "反映！", "投诉 🙏",
])
def test_a_message_that_asks_for_nothing_registers_nothing_and_gets_one_short_answer(chat, text):
    said = chat.say(LT, "王大妈", text)
    assert len(said) == 1 and "请@我并写下您要反映的事情" in said[0].text
    with chat.relay.db.transaction() as tx:
        assert tx.find(RequestFilter()) == []


def test_chat_after_a_trigger_word_gets_no_answer(chat):
    for text in ("申请好了", "反映哈哈", "投诉 你好", "报修 测试一下"):
        assert chat.say(LT, "王大妈", text) == [], text


def test_a_greeting_before_a_request_does_not_hide_it(chat):
    said = chat.say(LT, "王大妈", "@民情直通车 你好，三组的路灯坏了")
    assert any("已登记为 #1" in s.text for s in said)

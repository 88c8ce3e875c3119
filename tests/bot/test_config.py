"""Config loading: the example is valid; every kind of mistake is reported with its key path."""

from datetime import date

import pytest

from bot.config import ConfigError, calendar_warnings, load_config, parse_config
from routing.durations import Unit
from routing.model import Role
from tests.conftest import EXAMPLE, config_with

TEXT = EXAMPLE.read_text(encoding="utf-8")


def problems(text):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def test_example_builds_the_county_and_policy(example_config):
    county = example_config.county
    assert county.name == "松桃县"
    assert [t.name for t in county.townships] == ["盘信镇", "普觉镇"]
    assert len(county.villages()) == 4
    assert county.place("楼台村干群连心群").village == "楼台村"
    assert county.place("普觉镇楼台村干群连心群").township == "普觉镇"
    assert {m.role for m in county.members()} == set(Role)
    sla = example_config.policy.sla
    assert sla.resolve_for("城乡建设", False).amount == 10
    assert sla.resolve_for("城乡建设", True).unit is Unit.WORKDAYS
    assert sla.acknowledge_for("劳动和社会保障", False).unit is Unit.WORKHOURS
    assert example_config.policy.escalation.direct_to_township == {"纪检监察"}


@pytest.mark.parametrize("old, new, path, reason", [
    ('timezone = "Asia/Shanghai"', 'timezone = "Asia/Nowhere"', "bot.timezone", "未知的时区"),
    ('acknowledge = "1 workdays"', 'acknowledge = "1 weeks"', "sla.acknowledge", "单位 'weeks' 不认识"),
    ('resolve = "10 workdays"', 'resolve = "ten days"', "sla.category[0].resolve", "不是时长"),
    ('township_daily = "08:30"', 'township_daily = "25:00"', "digest.township_daily", "不是一天中的时刻"),
    ('county_weekly = "MON 09:00"', 'county_weekly = "someday 09:00"', "digest.county_weekly", "不是“星期 时刻”的写法"),
    ('work_hours = ["08:30-12:00", "14:30-17:30"]', 'work_hours = ["12:00-08:30"]', "calendar.work_hours[0]",
     "结束时刻不晚于开始时刻"),
    ('work_hours = ["08:30-12:00", "14:30-17:30"]', 'work_hours = ["14:30-17:30", "08:30-12:00"]',
     "calendar.work_hours", "排在它前面"),
    ('extra_holidays = []', 'extra_holidays = ["2026-13-01"]', "calendar.extra_holidays[0]", "不是 YYYY-MM-DD 格式的日期"),
    ('resolve = "5 workdays"', 'resolve = "99999999 days"', "sla.resolve", "太长：days 最多 365"),
    ('acknowledge = "4 workhours"', 'acknowledge = "2001 workhours"', "sla.category[1].acknowledge",
     "workhours 最多 2000"),
    ('propose_after = "1 workdays"', 'propose_after = "251 workdays"', "escalation.propose_after",
     "workdays 最多 250"),
    ('auto_after = "1 workdays"', 'auto_after = "8761 hours"', "escalation.auto_after", "hours 最多 8760"),
    ('room_interval_seconds = 2.0', 'room_interval_seconds = inf', "sending.room_interval_seconds", "应是有限的数字"),
    ('per_minute = 20', 'per_minute = 9223372036854775807', "sending.per_minute", "应不大于 1000"),
    ('workdays = "chinese"', 'workdays = "lunar"', "calendar.workdays", "只能是 'chinese' 或 'weekdays'"),
    ('on_mention = true', 'on_mention = true\nsilly = 1', "intake.silly", "未知的配置项"),
    ('name = "盘信镇"\n', 'nom = "盘信镇"\n', "townships[0].name", "缺少必填项"),
    ('room = "民主村干群连心群"', 'room = "楼台村干群连心群"', "townships[0].villages[1].room", "已在 townships[0].villages[0].room 用过"),
    ('name = "民主村"', 'name = "楼台村"', "townships[0].villages[1].name", "盘信镇的村 '楼台村' 已在"),
    ('direct_to_township = ["纪检监察"]', 'direct_to_township = ["不存在的类"]', "escalation.direct_to_township[0]",
     "未知的分类 '不存在的类'"),
    ('plugin_port = 8790', 'plugin_port = 80', "wechaty.plugin_port", "应不小于 1024"),
    ('on_mention = true', 'on_mention = "maybe"', "intake.on_mention", "应是 true 或 false"),
    ('per_minute = 20', 'per_minute = "x"', "sending.per_minute", "应是整数"),
    ('max_attempts = 5', 'max_attempts = 2.5', "sending.max_attempts", "应是整数，不能带小数"),
    ('cadres = [{ name = "滕主任" }]', 'cadres = "滕主任"', "townships[0].villages[1].cadres", "应是列表"),
    ('keywords = ["着火", "失火", "火灾", "塌方"', 'keywords = [1, "失火", "火灾", "塌方"', "urgency.keywords[0]",
     "应是字符串"),
    ('satisfaction = 85 }', 'satisfaction = 185 }', "report.thresholds.satisfaction", "应不大于 100"),
    ('weights = { response = 30, resolution = 40, satisfaction = 30 }',
     'weights = { response = 0, resolution = 0, satisfaction = 0 }', "report.weights", "至少要有一项大于 0"),
    ('weights = { response = 30,', 'weights = { response = -1,', "report.weights.response", "应不小于 0"),
    ('weights = { response = 30,', 'weights = { responce = 30,', "report.weights.responce", "未知的配置项"),
])
def test_mistakes_are_reported_with_key_path_and_reason(old, new, path, reason):
    assert old in TEXT
    found = problems(TEXT.replace(old, new, 1))
    assert any(p == path and reason in r for p, r in found), found


def test_report_weights_and_thresholds(example_config):
    assert example_config.issuer == "松桃县网络问政工作领导小组办公室"
    assert example_config.policy.scoring.weights == (0.3, 0.4, 0.3)
    assert example_config.policy.scoring.thresholds == (0.9, 0.8, 0.85)
    cfg = parse_config(TEXT.replace('issuer = "松桃县网络问政工作领导小组办公室"', 'issuer = ""').replace(
        "thresholds = { response = 90,", "thresholds = { response = 0,").replace(
        "weights = { response = 30, resolution = 40, satisfaction = 30 }", "weights = { satisfaction = 50 }"))
    assert cfg.issuer == "松桃县"  # no issuer: the county's name
    assert cfg.policy.scoring.thresholds == (None, 0.8, 0.85)  # 0: not checked
    assert cfg.policy.scoring.weights == (0.3, 0.4, 0.5)  # keys left out keep their defaults


def test_a_room_used_twice_anywhere():
    found = problems(TEXT.replace('leaders_room = "普觉镇党政班子群"', 'leaders_room = "松桃县网络问政工作群"'))
    assert found == [("townships[1].leaders_room", "群 '松桃县网络问政工作群' 已在 county.room 用过（每个群只能配置一次）")]


def test_token_is_never_read_from_the_file():
    found = problems(TEXT.replace('token_env = "WECHATY_PUPPET_SERVICE_TOKEN"', 'token = "secret"'))
    assert found[0][0] == "wechaty.token" and "环境变量 WECHATY_PUPPET_SERVICE_TOKEN" in found[0][1]


def test_token_comes_from_the_named_environment_variable(example_config):
    assert example_config.token({"WECHATY_PUPPET_SERVICE_TOKEN": "abc"}) == "abc"
    assert example_config.token({}) is None


def test_bad_toml_and_missing_file(tmp_path):
    assert "不是有效的 TOML" in problems("[bot\nname=1")[0][1]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "找不到配置文件" in str(info.value)


def test_unreadable_files_say_why(tmp_path):
    def problem(path):
        with pytest.raises(ConfigError) as info:
            load_config(path)
        return info.value.problems[0][1]

    bad = tmp_path / "gbk.toml"
    bad.write_bytes(TEXT.encode("utf-8") + "\n# 注释\n".encode("gbk"))
    assert problem(bad) == f"第 {TEXT.count(chr(10)) + 2} 行不是 UTF-8 文本：配置文件请用 UTF-8 编码保存"
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000, encoding="utf-8")
    assert "嵌套层数太多" in problem(deep)
    assert problem(tmp_path) == "这是文件夹，不是配置文件"
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    assert load_config(bom).county.name == "松桃县"


def test_several_problems_are_all_reported():
    text = TEXT.replace('acknowledge = "1 workdays"', 'acknowledge = "x"').replace('rating_window = "3 days"',
                                                                                   'rating_window = 3')
    paths = {p for p, _ in problems(text)}
    assert {"sla.acknowledge", "sla.rating_window"} <= paths


def test_every_problem_is_reported_at_once_whatever_kind():
    # a token in the file, values the model refuses and problems between keys: one report, not one stage
    # after another
    text = (TEXT.replace('token_env = "WECHATY_PUPPET_SERVICE_TOKEN"', 'token = "secret"')
            .replace('acknowledge = "1 workdays"', 'acknowledge = "x"', 1)
            .replace('rating_window = "3 days"', 'rating_window = "99999999 days"')
            .replace('extra_holidays = []', 'extra_holidays = ["2026-13-01", "2026-10-01", "昨天"]')
            .replace('extra_workdays = []', 'extra_workdays = ["2026-10-01"]')
            .replace('room = "民主村干群连心群"', 'room = "楼台村干群连心群"')
            .replace('direct_to_township = ["纪检监察"]', 'direct_to_township = ["不存在的类"]')
            .replace('{ name = "田镇长" }', '{ name = "田镇长", wechat_id = "wxid_zhang" }')
            .replace('name = "茶园村"', 'name = ""'))
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="c.toml")
    paths = [p for p, _ in info.value.problems]
    assert paths == ["wechaty.token", "calendar.extra_holidays[0]", "calendar.extra_holidays[2]", "sla.acknowledge",
                     "sla.rating_window", "townships[1].villages[0].name", "townships[0].villages[1].room",
                     "townships[0].leaders[1].wechat_id", "escalation.direct_to_township[0]", "calendar"], paths
    assert str(info.value).startswith("c.toml：配置有 10 处问题\n  wechaty.token：")


def test_durations_up_to_the_documented_caps_are_accepted():
    config = parse_config(TEXT.replace('resolve = "10 workdays"', 'resolve = "250 workdays"')
                          .replace('rating_window = "3 days"', 'rating_window = "365 days"')
                          .replace('urgent_acknowledge = "2 hours"', 'urgent_acknowledge = "8760 hours"')
                          .replace('acknowledge = "4 workhours"', 'acknowledge = "2000 workhours"'))
    assert config.policy.sla.resolve_for("城乡建设", False).amount == 250
    for cap in ("250 workdays", "2000 workhours", "8760 hours", "365 days"):
        assert cap in TEXT  # documented in the example config


def test_a_name_listed_twice_in_one_list():
    found = problems(TEXT.replace('cadres = [{ name = "滕主任" }]', 'cadres = [{ name = "滕主任" }, { name = "滕主任" }]'))
    assert found[0][0] == "townships[0].villages[1].cadres[1]"


def test_one_wechat_id_for_two_names():
    found = problems(TEXT.replace('{ name = "田镇长" }', '{ name = "田镇长", wechat_id = "wxid_zhang" }'))
    assert found[0][0] == "townships[0].leaders[1].wechat_id"


def test_relative_database_and_model_paths_are_taken_from_the_config_folder(example_config):
    assert example_config.data_dir == EXAMPLE.parent
    assert example_config.model_path() is None


def test_calendar_warning_for_years_chinese_calendar_does_not_know(example_config):
    assert calendar_warnings(example_config, date(2026, 11, 28))  # next year is 2027
    assert "2027" in calendar_warnings(example_config, date(2026, 11, 28))[0]
    assert calendar_warnings(example_config, date(2025, 3, 1)) == []


def test_the_next_years_guess_is_warned_of_from_1_november_and_not_once_it_is_imported():
    from routing.holidays import YearDays, statutory_days

    config = config_with()
    assert calendar_warnings(config, date(2026, 10, 31)) == []
    (warning,) = calendar_warnings(config, date(2026, 11, 1))
    assert "2027 年的放假安排是推测的" in warning
    config.policy.calendar.use_years([YearDays(2027, statutory_days(2027), frozenset())])
    assert calendar_warnings(config, date(2026, 11, 1)) == []
    assert "2028" in calendar_warnings(config, date(2028, 1, 5))[0]


@pytest.mark.parametrize("every, ok", [("0.01 hours", False), ("0.5 workhours", False), ("1 hours", True),
                                       ("1 workhours", True), ("1 workdays", True)])
def test_reminders_repeat_at_most_hourly(every, ok):
    text = TEXT.replace('remind_every = "1 workdays"', f'remind_every = "{every}"')
    assert f'remind_every = "{every}"' in text
    if ok:
        assert str(parse_config(text).policy.sla.remind_every) == every
    else:
        (found,) = problems(text)
        assert found[0] == "sla.remind_every" and "至少隔 1 小时" in found[1]


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused(url):
    (found,) = problems(TEXT.replace('database = "sqlite:///minqing.db"', f'database = "{url}"'))
    assert found[0] == "bot.database" and "内存数据库" in found[1]

"""Loading and validating the TOML config; building the domain's county and policy from it."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from routing.durations import Duration, DurationError, Unit
from routing.model import Role
from routing.notices import NoticeRules
from routing.org import County, Member, Township, Village
from routing.policy import DigestSchedule, Escalation, Intake, Policy, Sla
from routing.rates import Scoring
from routing.taxonomy import BUILTIN_CATEGORIES, OTHER
from routing.workcal import WorkCalendar, guess_warning
from storage.oserrors import reason as os_reason

WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}


class ConfigError(Exception):
    """A config that cannot be used; `problems` lists (key path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}：配置有 {len(problems)} 处问题"]
        lines += [f"  {path}：{reason}" if path else f"  {reason}" for path, reason in problems]
        super().__init__("\n".join(lines))


def _duration(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("应是一个时长字符串，例如 \"1 workdays\"")
    try:
        Duration.parse(value)
    except DurationError as e:
        raise ValueError(str(e)) from None
    return value


def _clock(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError(f"{value!r} 不是 HH:MM 格式的时刻，例如 \"08:30\"")
    hh, mm = (int(x) for x in value.strip().split(":"))
    if hh > 23 or mm > 59:
        raise ValueError(f"{value!r} 不是一天中的时刻（小时 0–23，分钟 0–59）")
    return value.strip()


def _nonblank(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("不能为空")
    return value


def _date(value: Any) -> str:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} 不是 YYYY-MM-DD 格式的日期，例如 \"2026-10-01\"") from None
    return value


def _period_times(value: str) -> tuple[time, time]:
    m = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", value)
    if not m:
        raise ValueError(f"{value!r} 不是 HH:MM-HH:MM 格式的时段，例如 \"08:30-12:00\"")
    return _parse_time(_clock(m.group(1))), _parse_time(_clock(m.group(2)))


def _period(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} 不是 HH:MM-HH:MM 格式的时段，例如 \"08:30-12:00\"")
    start, end = _period_times(value)
    if start >= end:
        raise ValueError(f"{value!r} 的结束时刻不晚于开始时刻")
    return value


DurationStr = Annotated[str, BeforeValidator(_duration)]


def _repeat(value: Any) -> str:
    """A repeating interval: at least an hour, or every overdue request would be reminded of in its group again
    and again (and a WeChat account that posts that often is soon restricted)."""
    value = _duration(value)
    d = Duration.parse(value)
    if d.unit in (Unit.HOURS, Unit.WORKHOURS) and d.amount < 1:
        raise ValueError(f"时长 {value!r} 太短：重复提醒至少隔 1 小时，否则群里会被反复刷屏")
    return value


RepeatStr = Annotated[str, BeforeValidator(_repeat)]
DateStr = Annotated[str, BeforeValidator(_date)]
PeriodStr = Annotated[str, BeforeValidator(_period)]
ClockStr = Annotated[str, BeforeValidator(_clock)]
Name = Annotated[str, BeforeValidator(_nonblank)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonCfg(_Section):
    name: Name
    wechat_id: Name | None = None


class BotCfg(_Section):
    name: Name = "民情直通车"
    timezone: Name = "Asia/Shanghai"
    database: Name = "sqlite:///minqing.db"
    data_dir: str = ""

    @field_validator("database")
    @classmethod
    def _database(cls, v: str) -> str:
        backend = v.split(":", 1)[0].lower()
        if backend not in ("sqlite", "postgresql", "postgresql+psycopg"):
            raise ValueError(f"不支持的数据库 {backend!r}：写 sqlite:///文件名.db，或 postgresql+psycopg://用户@主机/库名")
        if backend == "sqlite" and v.split("://", 1)[-1].lstrip("/") in ("", ":memory:"):
            raise ValueError("这是内存数据库：机器人一停，所有诉求就都没了；请写 sqlite:///文件名.db")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"未知的时区 {v!r}（中国用 \"Asia/Shanghai\"）") from None
        return v


class WechatyCfg(_Section):
    endpoint: Name = "127.0.0.1:8788"
    token_env: Name = "WECHATY_PUPPET_SERVICE_TOKEN"
    plugin_port: int = Field(default=8790, ge=1024, le=65535)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", v):
            raise ValueError(f"{v!r} 不是“主机:端口”的写法，例如 \"127.0.0.1:8788\"")
        return v


class SendingCfg(_Section):
    # upper bounds: beyond them the numbers are typing mistakes (and an infinite interval would
    # overflow the sender's clock arithmetic at start-up)
    room_interval_seconds: float = Field(default=2.0, ge=0, le=3600, allow_inf_nan=False)
    per_minute: int = Field(default=20, ge=1, le=1000)
    max_attempts: int = Field(default=5, ge=1, le=100)


class AlertsCfg(_Section):
    """Where the operator is told that the bot stopped working: a WeCom group robot and/or e-mail."""

    wecom_webhook_env: str = ""  # the env var holding the robot's webhook URL (its key is a secret)
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True  # port 465: TLS from the start (SMTPS) instead
    smtp_user: str = ""
    smtp_password_env: str = "MINQING_SMTP_PASSWORD"
    mail_from: str = ""
    mail_to: list[Name] = []
    qr_wait_minutes: int = Field(default=10, ge=1, le=1440)
    gateway_down_minutes: int = Field(default=15, ge=1, le=1440)

    @model_validator(mode="after")
    def _mail(self) -> AlertsCfg:
        if self.smtp_host and (not self.mail_from or not self.mail_to):
            raise ValueError("写了 smtp_host，还要写发件人 mail_from 和收件人 mail_to")
        return self

    @property
    def enabled(self) -> bool:
        """True when any channel is configured."""
        return bool(self.wecom_webhook_env or self.smtp_host)


class IntakeCfg(_Section):
    on_mention: bool = True
    triggers: list[Name] = list(Intake().triggers)


class CalendarCfg(_Section):
    workdays: Literal["chinese", "weekdays"] = "chinese"
    extra_holidays: list[DateStr] = []
    extra_workdays: list[DateStr] = []
    work_hours: list[PeriodStr] = ["08:30-12:00", "14:30-17:30"]

    @field_validator("work_hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("至少写一个上班时段，例如 \"08:30-12:00\"")
        previous = None
        for period in v:
            start, end = _period_times(period)
            if previous is not None and start < previous:
                raise ValueError(f"{period!r} 与前一个时段重叠，或排在它前面（时段请按时间先后写）")
            previous = end
        return v


class SlaCategoryCfg(_Section):
    name: Name
    acknowledge: DurationStr | None = None
    resolve: DurationStr | None = None


class SlaCfg(_Section):
    acknowledge: DurationStr = "1 workdays"
    resolve: DurationStr = "5 workdays"
    urgent_acknowledge: DurationStr = "2 hours"
    urgent_resolve: DurationStr = "1 workdays"
    remind_every: RepeatStr = "1 workdays"
    rating_window: DurationStr = "3 days"
    category: list[SlaCategoryCfg] = []


class EscalationCfg(_Section):
    propose_after: DurationStr = "1 workdays"
    auto_after: str = "1 workdays"
    direct_to_township: list[Name] = []

    @field_validator("auto_after")
    @classmethod
    def _auto(cls, v: str) -> str:
        return v if v.strip() == "" else _duration(v)


class DigestCfg(_Section):
    township_daily: str = "08:30"
    county_weekly: str = "MON 09:00"

    @field_validator("township_daily")
    @classmethod
    def _daily(cls, v: str) -> str:
        return v if v.strip() == "" else _clock(v)

    @field_validator("county_weekly")
    @classmethod
    def _weekly(cls, v: str) -> str:
        if v.strip() == "":
            return v
        parts = v.split()
        if len(parts) != 2 or parts[0].upper() not in WEEKDAYS:
            raise ValueError(f"{v!r} 不是“星期 时刻”的写法，例如 \"MON 09:00\"（星期用 MON、TUE、WED、THU、FRI、SAT、SUN）")
        _clock(parts[1])
        return v


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class RateWeightsCfg(_Section):
    response: Percent = 30
    resolution: Percent = 40
    satisfaction: Percent = 30


class RateThresholdsCfg(_Section):
    response: Percent = 90
    resolution: Percent = 80
    satisfaction: Percent = 85


class ReportCfg(_Section):
    issuer: str = ""
    weights: RateWeightsCfg = RateWeightsCfg()
    thresholds: RateThresholdsCfg = RateThresholdsCfg()

    @field_validator("weights")
    @classmethod
    def _some_weight(cls, v: RateWeightsCfg) -> RateWeightsCfg:
        if v.response + v.resolution + v.satisfaction <= 0:
            raise ValueError("三项权重至少要有一项大于 0")
        return v


class NoticesCfg(_Section):
    remind_after: DurationStr = "4 workhours"
    report_after: DurationStr = "1 workdays"
    urgent_remind_after: DurationStr = "1 hours"
    urgent_report_after: DurationStr = "3 hours"


class TaggingCfg(_Section):
    model: str = ""


class CategoryCfg(_Section):
    name: Name
    keywords: list[Name] = Field(min_length=1)


class PrivacyCfg(_Section):
    confidential: list[Name] = ["纪检监察"]


class UrgencyCfg(_Section):
    keywords: list[Name] = ["着火", "失火", "火灾", "塌方", "垮塌", "洪水", "受伤", "触电", "溺水"]


class CountyCfg(_Section):
    name: Name
    room: Name
    staff: list[PersonCfg] = []


class VillageCfg(_Section):
    name: Name
    room: Name
    cadres: list[PersonCfg] = []


class TownshipCfg(_Section):
    name: Name
    room: Name
    leaders_room: Name | None = None
    staff: list[PersonCfg] = []
    leaders: list[PersonCfg] = []
    villages: list[VillageCfg] = Field(min_length=1)


class ConfigFile(_Section):
    bot: BotCfg = BotCfg()
    wechaty: WechatyCfg = WechatyCfg()
    sending: SendingCfg = SendingCfg()
    alerts: AlertsCfg = AlertsCfg()
    intake: IntakeCfg = IntakeCfg()
    calendar: CalendarCfg = CalendarCfg()
    sla: SlaCfg = SlaCfg()
    escalation: EscalationCfg = EscalationCfg()
    digest: DigestCfg = DigestCfg()
    notices: NoticesCfg = NoticesCfg()
    tagging: TaggingCfg = TaggingCfg()
    categories: list[CategoryCfg] = []
    urgency: UrgencyCfg = UrgencyCfg()
    privacy: PrivacyCfg = PrivacyCfg()
    report: ReportCfg = ReportCfg()
    county: CountyCfg
    townships: list[TownshipCfg] = Field(min_length=1)


def _parse_time(text: str) -> time:
    hh, mm = (int(x) for x in text.split(":"))
    return time(hh, mm)


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_PYDANTIC_REASONS = {
    "extra_forbidden": "未知的配置项（拼写错了，或放错了小节）",
    "missing": "缺少必填项",
    "string_type": "应是字符串（用英文双引号括起来）",
    "int_type": "应是整数",
    "int_parsing": "应是整数",
    "int_from_float": "应是整数，不能带小数",
    "float_type": "应是数字",
    "float_parsing": "应是数字",
    "finite_number": "应是有限的数字",
    "bool_type": "应是 true 或 false",
    "bool_parsing": "应是 true 或 false",
    "list_type": "应是列表，例如 [\"a\", \"b\"]",
    "model_type": "应是一个表（小节）",
    "model_attributes_type": "应是一个表（小节）",
    "dict_type": "应是一个表（小节）",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "too_short": "至少要有 {min_length} 项",
    "literal_error": "只能是 {expected}",
}


def _reason(err: dict) -> str:
    if err["type"] in _PYDANTIC_REASONS:
        try:
            ctx = {k: str(v).replace(" or ", " 或 ") for k, v in err.get("ctx", {}).items()}  # literal_error's list
            return _PYDANTIC_REASONS[err["type"]].format(**ctx)
        except (KeyError, IndexError):
            pass
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


@dataclass(slots=True)
class Config:
    """A loaded, validated config and the domain objects built from it."""

    source: str
    raw: ConfigFile
    county: County
    policy: Policy
    base_dir: Path

    @property
    def tz(self) -> ZoneInfo:
        """The configured timezone."""
        return self.policy.calendar.tz

    @property
    def issuer(self) -> str:
        """The unit that issues the 通报: `[report] issuer`, or the county's name."""
        return self.raw.report.issuer.strip() or self.county.name

    @property
    def database(self) -> str:
        """The database URL or path, relative paths taken from the config's folder."""
        return self.raw.bot.database

    @property
    def data_dir(self) -> Path:
        """Where the bot keeps its files (the SDK cache, logs): `[bot] data_dir` or the config's folder."""
        d = self.raw.bot.data_dir.strip()
        return (self.base_dir / Path(d).expanduser()) if d else self.base_dir

    @property
    def category_keywords(self) -> dict[str, list[str]]:
        """The config's own `[[categories]]`."""
        return {c.name: list(c.keywords) for c in self.raw.categories}

    def model_path(self) -> Path | None:
        """The trained classifier file named by `[tagging] model`, if any."""
        m = self.raw.tagging.model.strip()
        return (self.base_dir / Path(m).expanduser()) if m else None

    def token(self, environ: dict[str, str] | None = None) -> str | None:
        """The puppet-service token, from the environment variable the config names (never the file)."""
        env = os.environ if environ is None else environ
        return env.get(self.raw.wechaty.token_env) or None


def load_config(path: str | Path) -> Config:
    """Read, validate and build a config file (ConfigError names every problem)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), [("", "找不到配置文件")]) from None
    except IsADirectoryError:
        raise ConfigError(str(p), [("", "这是文件夹，不是配置文件")]) from None
    except OSError as e:
        raise ConfigError(str(p), [("", f"无法读取配置文件：{os_reason(e)}")]) from None
    try:
        text = data.decode("utf-8-sig")  # Notepad starts UTF-8 files with a byte order mark
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(str(p), [("", f"第 {line} 行不是 UTF-8 文本：配置文件请用 UTF-8 编码保存")]) from None
    return parse_config(text, source=str(p), base_dir=p.resolve().parent)


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate config text and build the domain objects (ConfigError names every problem)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [("", f"不是有效的 TOML：{e}")]) from None
    except RecursionError:
        raise ConfigError(source, [("", "TOML 嵌套层数太多，不是本程序的配置")]) from None
    problems: list[tuple[str, str]] = []
    wechaty = data.get("wechaty")
    if isinstance(wechaty, dict) and "token" in wechaty:
        token_env = wechaty.get("token_env", "WECHATY_PUPPET_SERVICE_TOKEN")
        problems.append((
            "wechaty.token",
            f"token 不能写在配置文件里（程序不会读它）：请删掉这一行，改为设置环境变量 {token_env}",
        ))
        data = {**data, "wechaty": {k: v for k, v in wechaty.items() if k != "token"}}  # said once, not twice
    raw: ConfigFile | None = None
    try:
        raw = ConfigFile.model_validate(data)
    except ValidationError as e:
        problems += [(_loc(err["loc"]), _reason(err)) for err in e.errors()]
    # the cross-checks read the TOML data itself, so that they run even when some values are invalid
    # and one report names every problem (fixing some must not reveal others)
    problems += _cross_check(data)
    if problems or raw is None:
        raise ConfigError(source, list(dict.fromkeys(problems)))
    return _build(raw, source, base_dir or Path.cwd())


def _table(data: Any, key: str) -> dict:
    """The TOML table under `key`, or {} when it is absent or not a table (the model reports that)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _tables(value: Any) -> list[tuple[int, dict]]:
    """The tables of an array of tables with their indexes, skipping anything else (the model reports it)."""
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _name(table: Any, key: str) -> str | None:
    """A name as the model holds it (stripped), or None when absent, blank or not a string."""
    value = table.get(key) if isinstance(table, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _names(value: Any) -> list[tuple[int, str]]:
    """The names in a TOML array with their indexes, as the model holds them."""
    return [(i, v.strip()) for i, v in enumerate(value) if isinstance(v, str) and v.strip()] \
        if isinstance(value, list) else []


def _cross_check(data: dict) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    rooms: dict[str, str] = {}

    def room(path: str, name: str | None) -> None:
        if name is None:
            return
        if name in rooms:
            problems.append((path, f"群 {name!r} 已在 {rooms[name]} 用过（每个群只能配置一次）"))
        else:
            rooms[name] = path

    room("county.room", _name(_table(data, "county"), "room"))
    towns: dict[str, str] = {}
    for i, t in _tables(data.get("townships")):
        tp = f"townships[{i}]"
        town = _name(t, "name")
        if town is not None and town in towns:
            problems.append((f"{tp}.name", f"镇 {town!r} 已在 {towns[town]} 定义过"))
        if town is not None:
            towns.setdefault(town, tp)
        room(f"{tp}.room", _name(t, "room"))
        room(f"{tp}.leaders_room", _name(t, "leaders_room"))
        villages: dict[str, str] = {}
        for j, v in _tables(t.get("villages")):
            vp = f"{tp}.villages[{j}]"
            village = _name(v, "name")
            if village is not None and village in villages:
                problems.append((f"{vp}.name",
                                 f"{town}的村 {village!r} 已在 {villages[village]} 定义过"))
            if village is not None:
                villages.setdefault(village, vp)
            room(f"{vp}.room", _name(v, "room"))

    problems += _check_people(data)

    categories = [(i, _name(c, "name")) for i, c in _tables(data.get("categories"))]
    known = set(BUILTIN_CATEGORIES) | {name for _, name in categories if name} | {OTHER}
    hint = "、".join(sorted(known))
    for i, c in _tables(_table(data, "sla").get("category")):
        name = _name(c, "name")
        if name is not None and name not in known:
            problems.append((f"sla.category[{i}].name", f"未知的分类 {name!r}；现有分类：{hint}"))
        if "acknowledge" not in c and "resolve" not in c:
            problems.append((f"sla.category[{i}]", "请写 acknowledge 或 resolve（或两个都写）"))
    for i, name in _names(_table(data, "escalation").get("direct_to_township")):
        if name not in known:
            problems.append((f"escalation.direct_to_township[{i}]", f"未知的分类 {name!r}；现有分类：{hint}"))
    for i, name in _names(_table(data, "privacy").get("confidential")):
        if name not in known or name == OTHER:
            problems.append((f"privacy.confidential[{i}]", f"未知的分类 {name!r}；现有分类：{hint}"))
    seen_cats: set[str] = set()
    for i, name in categories:
        if name is not None and name in seen_cats:
            problems.append((f"categories[{i}].name", f"分类 {name!r} 定义了两次"))
        if name is not None:
            seen_cats.add(name)
    calendar = _table(data, "calendar")
    holidays, workdays = (
        {d for _, d in _names(calendar.get(key))} for key in ("extra_holidays", "extra_workdays"))
    overlap = holidays & workdays
    if overlap:
        problems.append(("calendar", f"这些日期既写在 extra_holidays 又写在 extra_workdays：{'、'.join(sorted(overlap))}"))
    return problems


def _people(data: dict):
    county = _table(data, "county")
    yield "county.staff", county.get("staff")
    for i, t in _tables(data.get("townships")):
        yield f"townships[{i}].staff", t.get("staff")
        yield f"townships[{i}].leaders", t.get("leaders")
        for j, v in _tables(t.get("villages")):
            yield f"townships[{i}].villages[{j}].cadres", v.get("cadres")


def _check_people(data: dict) -> list[tuple[str, str]]:
    # One name in several places is one person with several roles (a resident cadre is often
    # township staff too); give wechat_id to tell apart two people who share a display name.
    problems = []
    ids: dict[str, tuple[str, str]] = {}
    for path, people in _people(data):
        listed: set[str] = set()
        for k, person in _tables(people):
            pp = f"{path}[{k}]"
            name, wechat_id = _name(person, "name"), _name(person, "wechat_id")
            if name is None:
                continue
            if name in listed:
                problems.append((pp, f"{name!r} 列了两次"))
            listed.add(name)
            if wechat_id:
                prev = ids.get(wechat_id)
                if prev and prev[1] != name:
                    problems.append((f"{pp}.wechat_id",
                                     f"wechat_id {wechat_id!r} 已属于 {prev[0]} 的 {prev[1]!r}"))
                ids.setdefault(wechat_id, (pp, name))
    return problems


def _members(people: list[PersonCfg], role: Role, township: str | None = None, village: str | None = None):
    return tuple(Member(p.name, role, township, village, p.wechat_id) for p in people)


def _build(raw: ConfigFile, source: str, base_dir: Path) -> Config:
    townships = tuple(
        Township(
            name=t.name, room=t.room, leaders_room=t.leaders_room,
            staff=_members(t.staff, Role.TOWNSHIP_STAFF, t.name),
            leaders=_members(t.leaders, Role.TOWNSHIP_LEADER, t.name),
            villages=tuple(
                Village(v.name, t.name, v.room, _members(v.cadres, Role.VILLAGE_CADRE, t.name, v.name))
                for v in t.villages
            ),
        )
        for t in raw.townships
    )
    county = County(raw.county.name, raw.county.room, _members(raw.county.staff, Role.COUNTY_STAFF), townships)
    tz = ZoneInfo(raw.bot.timezone)
    cal = raw.calendar
    calendar = WorkCalendar(
        tz=tz,
        mode=cal.workdays,
        extra_holidays=frozenset(date.fromisoformat(d) for d in cal.extra_holidays),
        extra_workdays=frozenset(date.fromisoformat(d) for d in cal.extra_workdays),
        work_hours=tuple(_period_times(p) for p in cal.work_hours),
    )
    s = raw.sla
    sla = Sla(
        acknowledge=Duration.parse(s.acknowledge),
        resolve=Duration.parse(s.resolve),
        urgent_acknowledge=Duration.parse(s.urgent_acknowledge),
        urgent_resolve=Duration.parse(s.urgent_resolve),
        remind_every=Duration.parse(s.remind_every),
        rating_window=Duration.parse(s.rating_window),
        category_acknowledge={c.name: Duration.parse(c.acknowledge) for c in s.category if c.acknowledge},
        category_resolve={c.name: Duration.parse(c.resolve) for c in s.category if c.resolve},
    )
    e = raw.escalation
    escalation = Escalation(
        propose_after=Duration.parse(e.propose_after),
        auto_after=Duration.parse(e.auto_after) if e.auto_after.strip() else None,
        direct_to_township=frozenset(e.direct_to_township),
        confidential=frozenset(raw.privacy.confidential),
    )
    d = raw.digest
    weekly = d.county_weekly.split()
    digest = DigestSchedule(
        township_daily=_parse_time(d.township_daily) if d.township_daily.strip() else None,
        county_weekday=WEEKDAYS[weekly[0].upper()] if weekly else 0,
        county_time=_parse_time(weekly[1]) if weekly else None,
    )
    policy = Policy(
        bot_name=raw.bot.name,
        calendar=calendar,
        intake=Intake(raw.intake.on_mention, tuple(raw.intake.triggers)),
        sla=sla,
        escalation=escalation,
        digest=digest,
        scoring=_scoring(raw.report),
        notices=NoticeRules(
            remind_after=Duration.parse(raw.notices.remind_after),
            report_after=Duration.parse(raw.notices.report_after),
            urgent_remind_after=Duration.parse(raw.notices.urgent_remind_after),
            urgent_report_after=Duration.parse(raw.notices.urgent_report_after),
        ),
    )
    return Config(source, raw, county, policy, base_dir)


def _scoring(r: ReportCfg) -> Scoring:
    """Weights and thresholds of `[report]`, in percent, as fractions; a threshold of 0 is never checked."""
    w, t = r.weights, r.thresholds
    return Scoring(
        weights=(w.response / 100, w.resolution / 100, w.satisfaction / 100),
        thresholds=tuple(x / 100 if x else None for x in (t.response, t.resolution, t.satisfaction)),
    )


def calendar_warnings(config: Config, today: date) -> list[str]:
    """Warnings about this year and the next when their days off are a guess (neither in chinese_calendar nor
    imported with `minqing calendar import`); the next year only from 1 November, when its notice is due."""
    calendar = config.policy.calendar
    years = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    return [guess_warning(y) for y in years if calendar.uses_fallback(y)]

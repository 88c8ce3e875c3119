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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from routing.durations import Duration, DurationError
from routing.model import Role
from routing.org import County, Member, Township, Village
from routing.policy import DigestSchedule, Escalation, Intake, Policy, Sla
from routing.taxonomy import BUILTIN_CATEGORIES, OTHER
from routing.workcal import WorkCalendar, chinese_calendar_years

WEEKDAYS = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}


class ConfigError(Exception):
    """A config that cannot be used; `problems` lists (key path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s) in the config"]
        lines += [f"  {path}: {reason}" if path else f"  {reason}" for path, reason in problems]
        super().__init__("\n".join(lines))


def _duration(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string such as \"1 workdays\"")
    try:
        Duration.parse(value)
    except DurationError as e:
        raise ValueError(str(e)) from None
    return value


def _clock(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError(f"{value!r} is not a time of day in the form HH:MM")
    hh, mm = (int(x) for x in value.strip().split(":"))
    if hh > 23 or mm > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return value.strip()


def _nonblank(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
    return value


DurationStr = Annotated[str, BeforeValidator(_duration)]
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

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (e.g. \"Asia/Shanghai\")") from None
        return v


class WechatyCfg(_Section):
    endpoint: Name = "127.0.0.1:8788"
    token_env: Name = "WECHATY_PUPPET_SERVICE_TOKEN"
    plugin_port: int = Field(default=8790, ge=1024, le=65535)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", v):
            raise ValueError(f"{v!r} is not host:port")
        return v


class SendingCfg(_Section):
    room_interval_seconds: float = Field(default=2.0, ge=0)
    per_minute: int = Field(default=20, ge=1)
    max_attempts: int = Field(default=5, ge=1)


class IntakeCfg(_Section):
    on_mention: bool = True
    triggers: list[Name] = list(Intake().triggers)


class CalendarCfg(_Section):
    workdays: Literal["chinese", "weekdays"] = "chinese"
    extra_holidays: list[str] = []
    extra_workdays: list[str] = []
    work_hours: list[str] = ["08:30-12:00", "14:30-17:30"]

    @field_validator("extra_holidays", "extra_workdays")
    @classmethod
    def _dates(cls, v: list[str]) -> list[str]:
        for d in v:
            try:
                date.fromisoformat(d)
            except (TypeError, ValueError):
                raise ValueError(f"{d!r} is not a date in the form YYYY-MM-DD") from None
        return v

    @field_validator("work_hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list at least one working period, e.g. \"08:30-12:00\"")
        previous = None
        for period in v:
            m = re.fullmatch(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", period)
            if not m:
                raise ValueError(f"{period!r} is not a period in the form HH:MM-HH:MM")
            start, end = _parse_time(_clock(m.group(1))), _parse_time(_clock(m.group(2)))
            if start >= end:
                raise ValueError(f"{period!r} ends before it starts")
            if previous is not None and start < previous:
                raise ValueError(f"{period!r} overlaps or comes before the previous period")
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
    remind_every: DurationStr = "1 workdays"
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
            raise ValueError(f"{v!r} is not a weekday and a time, e.g. \"MON 09:00\"")
        _clock(parts[1])
        return v


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
    intake: IntakeCfg = IntakeCfg()
    calendar: CalendarCfg = CalendarCfg()
    sla: SlaCfg = SlaCfg()
    escalation: EscalationCfg = EscalationCfg()
    digest: DigestCfg = DigestCfg()
    tagging: TaggingCfg = TaggingCfg()
    categories: list[CategoryCfg] = []
    urgency: UrgencyCfg = UrgencyCfg()
    privacy: PrivacyCfg = PrivacyCfg()
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
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _reason(err: dict) -> str:
    if err["type"] in _PYDANTIC_REASONS:
        return _PYDANTIC_REASONS[err["type"]]
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
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), [("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(str(p), [("", f"cannot read: {e}")]) from None
    return parse_config(text, source=str(p), base_dir=p.resolve().parent)


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate config text and build the domain objects (ConfigError names every problem)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [("", f"not valid TOML: {e}")]) from None
    if isinstance(data.get("wechaty"), dict) and "token" in data["wechaty"]:
        token_env = data["wechaty"].get("token_env", "WECHATY_PUPPET_SERVICE_TOKEN")
        raise ConfigError(source, [(
            "wechaty.token",
            f"the token is never read from the file; remove it and set the environment variable {token_env}",
        )])
    try:
        raw = ConfigFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(source, [(_loc(err["loc"]), _reason(err)) for err in e.errors()]) from None
    problems = _cross_check(raw)
    if problems:
        raise ConfigError(source, problems)
    return _build(raw, source, base_dir or Path.cwd())


def _cross_check(raw: ConfigFile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    rooms: dict[str, str] = {}

    def room(path: str, name: str) -> None:
        if name in rooms:
            problems.append((path, f"room {name!r} is already used at {rooms[name]}"))
        else:
            rooms[name] = path

    room("county.room", raw.county.room)
    towns: dict[str, str] = {}
    for i, t in enumerate(raw.townships):
        tp = f"townships[{i}]"
        if t.name in towns:
            problems.append((f"{tp}.name", f"township {t.name!r} is already defined at {towns[t.name]}"))
        towns.setdefault(t.name, tp)
        room(f"{tp}.room", t.room)
        if t.leaders_room:
            room(f"{tp}.leaders_room", t.leaders_room)
        villages: dict[str, str] = {}
        for j, v in enumerate(t.villages):
            vp = f"{tp}.villages[{j}]"
            if v.name in villages:
                problems.append((f"{vp}.name", f"village {v.name!r} is already defined in {t.name} at {villages[v.name]}"))
            villages.setdefault(v.name, vp)
            room(f"{vp}.room", v.room)

    problems += _check_people(raw)

    known = set(BUILTIN_CATEGORIES) | {c.name for c in raw.categories} | {OTHER}
    hint = "、".join(sorted(known))
    for i, c in enumerate(raw.sla.category):
        if c.name not in known:
            problems.append((f"sla.category[{i}].name", f"unknown category {c.name!r}; known: {hint}"))
        if c.acknowledge is None and c.resolve is None:
            problems.append((f"sla.category[{i}]", "give acknowledge or resolve (or both)"))
    for i, name in enumerate(raw.escalation.direct_to_township):
        if name not in known:
            problems.append((f"escalation.direct_to_township[{i}]", f"unknown category {name!r}; known: {hint}"))
    for i, name in enumerate(raw.privacy.confidential):
        if name not in known or name == OTHER:
            problems.append((f"privacy.confidential[{i}]", f"unknown category {name!r}; known: {hint}"))
    seen_cats: set[str] = set()
    for i, c in enumerate(raw.categories):
        if c.name in seen_cats:
            problems.append((f"categories[{i}].name", f"category {c.name!r} is defined twice"))
        seen_cats.add(c.name)
    overlap = set(raw.calendar.extra_holidays) & set(raw.calendar.extra_workdays)
    if overlap:
        problems.append(("calendar", f"dates both extra holiday and extra workday: {', '.join(sorted(overlap))}"))
    return problems


def _people(raw: ConfigFile):
    yield "county.staff", raw.county.staff
    for i, t in enumerate(raw.townships):
        yield f"townships[{i}].staff", t.staff
        yield f"townships[{i}].leaders", t.leaders
        for j, v in enumerate(t.villages):
            yield f"townships[{i}].villages[{j}].cadres", v.cadres


def _check_people(raw: ConfigFile) -> list[tuple[str, str]]:
    # One name in several places is one person with several roles (a resident cadre is often
    # township staff too); give wechat_id to tell apart two people who share a display name.
    problems = []
    ids: dict[str, tuple[str, str]] = {}
    for path, people in _people(raw):
        listed: set[str] = set()
        for k, person in enumerate(people):
            pp = f"{path}[{k}]"
            if person.name in listed:
                problems.append((pp, f"{person.name!r} is listed twice"))
            listed.add(person.name)
            if person.wechat_id:
                prev = ids.get(person.wechat_id)
                if prev and prev[1] != person.name:
                    problems.append((f"{pp}.wechat_id",
                                     f"wechat_id {person.wechat_id!r} already belongs to {prev[1]!r} at {prev[0]}"))
                ids.setdefault(person.wechat_id, (pp, person.name))
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
        work_hours=tuple(
            (_parse_time(a.strip()), _parse_time(b.strip())) for a, b in (p.split("-") for p in cal.work_hours)
        ),
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
    )
    return Config(source, raw, county, policy, base_dir)


def calendar_warnings(config: Config, today: date) -> list[str]:
    """Warnings about the calendar for this year and the next (chinese_calendar's coverage)."""
    calendar = config.policy.calendar
    if calendar.mode != "chinese":
        return []
    last = chinese_calendar_years()[1]
    year = today.year
    if year + 1 <= last:
        return []
    first_missing = max(year, last + 1)
    return [
        f"chinese_calendar knows statutory holidays up to {last} only: from {first_missing} the calendar falls "
        "back to Mon-Fri with 1 Jan, 1 May and 1-3 Oct off; list that year's holidays and make-up working days "
        "in [calendar] extra_holidays / extra_workdays, or upgrade chinese_calendar when a new release is out"
    ]

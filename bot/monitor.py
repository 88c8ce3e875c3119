"""What the live bot watches for the operator: logout, a QR code nobody scans, a gateway that stays down,
messages given up or failed, configured rooms the account is not in, and holiday years still a guess."""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts import Alerter
from bot.config import Config, calendar_warnings
from storage.db import Database

log = logging.getLogger(__name__)

ACCOUNT_ROOMS = "live.account_rooms"  # meta: the groups the account was in at the last check (JSON)
ROOMS_EVERY = timedelta(hours=1)
DATA_EVERY = timedelta(minutes=1)  # how often the database is looked at for given-up and failed messages


@dataclass(frozen=True, slots=True)
class MissingRoom:
    """A configured room the account is not in, and the account's group whose name is closest, if any."""

    room: str
    closest: str | None


def missing_rooms(configured: Iterable[str], account: Iterable[str]) -> list[MissingRoom]:
    """Configured rooms the account is not in, each with the closest name among the account's groups (difflib)."""
    topics = sorted(set(account))
    out = []
    for room in configured:
        if room in topics:
            continue
        close = difflib.get_close_matches(room, topics, n=1, cutoff=0.6)
        out.append(MissingRoom(room, close[0] if close else None))
    return out


def store_account_rooms(db: Database, topics: Sequence[str], at: datetime) -> None:
    """Remember the account's groups (for `minqing rooms`)."""
    with db.transaction() as tx:
        tx.set_meta(ACCOUNT_ROOMS, json.dumps({"at": at.isoformat(), "rooms": sorted(set(topics))},
                                              ensure_ascii=False))


def account_rooms(db: Database) -> tuple[datetime, list[str]] | None:
    """The account's groups at the last check, and when; None before any."""
    with db.snapshot() as tx:
        value = tx.get_meta(ACCOUNT_ROOMS)
    if not value:
        return None
    data = json.loads(value)
    return datetime.fromisoformat(data["at"]), list(data["rooms"])


class Monitor:
    """Turns what the live bot sees into alerts (see bot.alerts: at most one per cause an hour)."""

    def __init__(self, config: Config, db: Database, alerter: Alerter) -> None:
        self.config = config
        self.db = db
        self.alerter = alerter
        a = config.raw.alerts
        self.qr_wait = timedelta(minutes=a.qr_wait_minutes)
        self.down_after = timedelta(minutes=a.gateway_down_minutes)
        self.scan_since: datetime | None = None
        self.down_since: datetime | None = None
        self.down_reason = ""
        self.rooms_checked: datetime | None = None
        self.data_checked: datetime | None = None
        self._failed: int | None = None  # counts at the last look (None: not looked yet; what was there is old)
        self._given_up: int | None = None

    def _when(self, t: datetime) -> str:
        return t.astimezone(self.config.tz).strftime("%m月%d日 %H:%M")

    # --- the gateway's events ------------------------------------------------------------
    def logged_in(self) -> None:
        """The account is logged in: no QR code waits, the gateway is up."""
        self.scan_since = self.down_since = None

    def logged_out(self, now: datetime, reason: str) -> None:
        """The account logged out of WeChat."""
        self.alerter.alert("logout", "微信账号已退出登录",
                           f"{self._when(now)} 机器人的微信账号退出了登录（{reason}）。在重新登录前，群里的消息机器人都收不到。"
                           "请在网关上重新扫码登录。")

    def scanning(self, now: datetime) -> None:
        """The gateway shows a QR code to scan (the first one of a wait starts the clock)."""
        if self.scan_since is None:
            self.scan_since = now

    def offline(self, now: datetime, reason: str) -> None:
        """The gateway could not be reached, or the connection broke (the first failure starts the clock)."""
        if self.down_since is None:
            self.down_since = now
        self.down_reason = reason

    def connected(self) -> None:
        """A session with the gateway began (it may still wait for a login)."""
        self.down_since = None

    # --- checks ------------------------------------------------------------------------
    def check(self, now: datetime) -> None:
        """The time-driven alerts: a QR code waiting, the gateway down, too long."""
        if self.scan_since is not None and now - self.scan_since >= self.qr_wait:
            minutes = int((now - self.scan_since).total_seconds() // 60)
            self.alerter.alert("qr_wait", "等待扫码登录",
                               f"网关上的微信账号从 {self._when(self.scan_since)} 起等待扫码登录，已经 {minutes} 分钟。"
                               "请尽快用机器人的微信扫码，否则群里的消息都收不到。")
        if self.down_since is not None and now - self.down_since >= self.down_after:
            minutes = int((now - self.down_since).total_seconds() // 60)
            self.alerter.alert("gateway_down", "连不上网关",
                               f"从 {self._when(self.down_since)} 起连不上 Wechaty 网关 {self.config.raw.wechaty.endpoint}，"
                               f"已经 {minutes} 分钟（{self.down_reason}）。请检查网关进程和网络。")

    def check_data(self, now: datetime) -> None:
        """Messages given up or failed since the last look, and the holiday years (at most once a minute)."""
        if self.data_checked is not None and now - self.data_checked < DATA_EVERY:
            return
        self.data_checked = now
        with self.db.snapshot() as tx:
            failed, given_up = tx.trouble_counts()
        if self._failed is not None and failed > self._failed:
            self.alerter.alert("message_failed", "有消息处理出错",
                               f"又有 {failed - self._failed} 条群消息机器人处理时出错（消息已保存）。"
                               "请运行 minqing failed 查看，并把错误报告给维护人员。")
        if self._given_up is not None and given_up > self._given_up:
            self.alerter.alert("message_given_up", "有消息没能发出",
                               f"又有 {given_up - self._given_up} 条机器人要发的消息多次发送失败或发送中断，已放弃，"
                               "不会再发。请检查网关和账号状态。")
        self._failed, self._given_up = failed, given_up
        for warning in calendar_warnings(self.config, now.astimezone(self.config.tz).date()):
            year = warning[:4]
            self.alerter.alert(f"calendar:{year}", f"{year} 年放假安排还没导入", warning)

    def check_rooms(self, now: datetime, topics: Sequence[str]) -> list[MissingRoom]:
        """Compare the configured rooms with the account's groups: log and alert each missing one."""
        self.rooms_checked = now
        store_account_rooms(self.db, topics, now)
        missing = missing_rooms(self.config.county.rooms, topics)
        for m in missing:
            hint = f"，账号所在的群里最接近的是“{m.closest}”" if m.closest else ""
            log.warning("配置里的群“%s”不在机器人微信账号的 %d 个群里%s", m.room, len(set(topics)), hint,
                        extra={"event": "room_missing"})
            self.alerter.alert(f"room_missing:{m.room}", "配置的群找不到",
                               f"配置里的群“{m.room}”不在机器人微信账号的群里{hint}。"
                               "这个群里的诉求现在收不到：请核对配置里的群名（一字不差），或把机器人拉进这个群。")
        return missing

    def rooms_due(self, now: datetime) -> bool:
        """True when the hourly room check is due."""
        return self.rooms_checked is None or now - self.rooms_checked >= ROOMS_EVERY

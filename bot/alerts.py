"""Alerts to the operator when the bot stops working: a WeCom (企业微信) group robot and/or e-mail.

At most one alert per cause an hour. Sending happens on a thread of its own: an alert never
blocks the bot, and a channel that fails (network down, rate limit, a wrong webhook) is logged,
never raised.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from bot.clock import Clock
from bot.config import AlertsCfg

log = logging.getLogger(__name__)

EVERY = timedelta(hours=1)  # at most one alert per cause in this time
TIMEOUT = 10.0  # seconds a channel may take to answer
WECOM_LIMIT = 2048  # bytes of text.content the WeCom robot takes
# what the WeCom robot's errcodes mean (its documentation's global error codes)
WECOM_ERRORS = {45009: "调用太频繁（每个机器人每分钟最多 20 条）", 93000: "webhook 地址无效（机器人被删除或 key 错误）",
                93004: "机器人已被停用", 40008: "消息类型不对", 44004: "内容为空"}


class AlertError(Exception):
    """A channel could not deliver an alert (the message says why, in Chinese)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: its cause (the key of the hourly limit), a title and the text."""

    cause: str
    title: str
    text: str
    at: datetime


class Channel(Protocol):
    """Somewhere an alert can go."""

    name: str

    def send(self, alert: Alert, county: str) -> None:
        """Deliver it or raise AlertError."""


class WeComRobot:
    """A WeCom group robot: POST {"msgtype": "text", "text": {"content": ...}} to its webhook URL."""

    name = "企业微信群机器人"

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout

    def send(self, alert: Alert, county: str) -> None:
        """Post the alert; AlertError on a network error, an HTTP error or an errcode other than 0."""
        content = clip(f"【民情直通车·{county}】{alert.title}\n{alert.text}", WECOM_LIMIT)
        body = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode("utf-8")
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the operator's URL
                answer = json.loads(resp.read().decode("utf-8") or "{}")
        except urllib.error.HTTPError as e:
            raise AlertError(f"HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise AlertError(f"连不上：{getattr(e, 'reason', e)}") from None
        except ValueError:
            raise AlertError("回答不是 JSON") from None
        code = answer.get("errcode") if isinstance(answer, dict) else None
        if code != 0:
            meaning = WECOM_ERRORS.get(code, "")
            raise AlertError(f"errcode {code} {answer.get('errmsg', '') if isinstance(answer, dict) else ''}"
                             + (f"：{meaning}" if meaning else ""))


def clip(text: str, limit: int) -> str:
    """The text cut to at most `limit` UTF-8 bytes (whole characters), with … when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode("utf-8", "ignore") + "…"


class Mail:
    """E-mail through an SMTP server (STARTTLS, or TLS from the start on port 465)."""

    name = "邮件"

    def __init__(self, host: str, port: int, sender: str, to: Sequence[str], user: str = "", password: str = "",
                 starttls: bool = True, timeout: float = TIMEOUT) -> None:
        self.host, self.port, self.sender, self.to = host, port, sender, list(to)
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def send(self, alert: Alert, county: str) -> None:
        """Send one mail to every address; AlertError when the server cannot be used."""
        msg = EmailMessage()
        msg["Subject"] = f"【民情直通车·{county}】{alert.title}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(f"{alert.text}\n\n（{alert.at:%Y-%m-%d %H:%M:%S %z}，原因代码 {alert.cause}）")
        try:
            if self.port == 465:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls and self.port != 465:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as e:
            raise AlertError(f"{type(e).__name__}: {e}") from None


def channels(cfg: AlertsCfg, environ: Mapping[str, str] | None = None) -> tuple[list[Channel], list[str]]:
    """The channels the config asks for, and the problems that keep one from being used (in Chinese)."""
    env = os.environ if environ is None else environ
    found: list[Channel] = []
    problems = []
    if cfg.wecom_webhook_env:
        url = env.get(cfg.wecom_webhook_env, "").strip()
        if not url.startswith(("https://", "http://")):
            problems.append(f"[alerts] wecom_webhook_env：环境变量 {cfg.wecom_webhook_env} 里应是企业微信群机器人的 "
                            "webhook 地址（https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…）")
        else:
            found.append(WeComRobot(url))
    if cfg.smtp_host:
        password = env.get(cfg.smtp_password_env, "") if cfg.smtp_user else ""
        if cfg.smtp_user and not password:
            problems.append(f"[alerts] smtp_user 已设置，但环境变量 {cfg.smtp_password_env} 里没有密码")
        else:
            found.append(Mail(cfg.smtp_host, cfg.smtp_port, cfg.mail_from, cfg.mail_to, cfg.smtp_user, password,
                              cfg.smtp_starttls))
    return found, problems


class Alerter:
    """Sends alerts to every channel, at most one per cause per hour, never blocking its caller."""

    def __init__(self, county: str, channel_list: Sequence[Channel], clock: Clock, *, background: bool = True,
                 every: timedelta = EVERY) -> None:
        self.county = county
        self.channels = list(channel_list)
        self.clock = clock
        self.every = every
        self.background = background
        self._last: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered: list[tuple[str, str]] = []  # (channel, cause) of each delivery, for the log and tests

    def alert(self, cause: str, title: str, text: str) -> bool:
        """Queue an alert; False when one of this cause went out less than an hour ago (or there is no channel)."""
        now = self.clock.now()
        with self._lock:
            last = self._last.get(cause)
            if last is not None and now - last < self.every:
                return False
            self._last[cause] = now
        log.warning("alert %s: %s: %s", cause, title, text, extra={"event": "alert", "cause": cause})
        if not self.channels:
            return False
        item = Alert(cause, title, text, now)
        if not self.background:
            self._deliver(item)
            return True
        self._start()
        self._queue.put(item)
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="minqing-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(item)
            finally:
                self._queue.task_done()

    def _deliver(self, item: Alert) -> None:
        for channel in self.channels:
            try:
                channel.send(item, self.county)
                self.delivered.append((channel.name, item.cause))
            except AlertError as e:
                log.error("alert %s could not be sent by %s: %s", item.cause, channel.name, e,
                          extra={"event": "alert_failed", "cause": item.cause})
            except Exception:  # a channel's bug must not stop the bot or the other channels
                log.exception("alert %s: channel %s failed", item.cause, channel.name,
                              extra={"event": "alert_failed", "cause": item.cause})

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (waiting at most `timeout` seconds), then stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

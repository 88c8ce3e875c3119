"""Logging: one line per event, as text or as JSON, always to standard error."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("event", "room", "request", "msg_id"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: int = logging.WARNING, fmt: str = "text") -> None:
    """Send logs to standard error, one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # the libraries are chatty at INFO; their warnings still come through
    for noisy in ("jieba", "apscheduler", "matplotlib", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class Redact(logging.Filter):
    """Replaces secrets (a gateway token) in log records, their arguments and tracebacks."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [x for x in secrets if x]

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def redact(*secrets: str) -> None:
    """Never write these strings to the log: every handler of the root logger hides them."""
    flt = Redact(list(secrets))
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)

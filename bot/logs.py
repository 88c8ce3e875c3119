"""Logging: one line per event, as text or as JSON, always to standard error.

No log line carries what people wrote, at any level: the bot's own lines name messages by id, room
and sender, never by text; the Wechaty SDK's loggers, whose INFO and DEBUG lines quote texts, stay at
WARNING; and a database error is described by its kind, SQLSTATE, constraint, table and column, and
its SQL statement (whose values are bound, and hidden: storage.db sets hide_parameters), never by the
driver's message, which may quote the row it refused (PostgreSQL: "DETAIL: Failing row contains
(…)", "Key (…)=(…)", "invalid input syntax for type integer: \"…\""). This holds for the lines'
arguments and for the tracebacks of `log.exception`.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import sys
import traceback
from datetime import UTC, datetime

from sqlalchemy.exc import StatementError

SQL_SHOWN = 300  # how much of a failed statement a log line shows
_SQLITE_PLAIN = re.compile(
    r"(?:NOT NULL|UNIQUE|CHECK|FOREIGN KEY) constraint failed(?:: [\w.]+(?:, [\w.]+)*)?|database (?:table )?is locked"
    r"|disk I/O error|database or disk is full|database disk image is malformed|no such (?:table|column): [\w.]+"
)


def _driver_error(e: BaseException) -> bool:
    # psycopg's errors carry a SQLSTATE; sqlite3's are of their own family
    return isinstance(e, sqlite3.Error) or (type(e).__module__.startswith("psycopg") and hasattr(e, "sqlstate"))


def database_error(e: BaseException) -> str | None:
    """A database error's message without the values it may quote; None for any other exception."""
    statement = None
    if isinstance(e, StatementError):
        statement, e = e.statement, e.orig
    if not _driver_error(e):
        return None if statement is None else f"({_name(e)}) [SQL: {statement[:SQL_SHOWN]}]"
    if isinstance(e, sqlite3.Error):
        # SQLite's own messages name a constraint or the trouble; a trigger's RAISE() may say anything
        message = str(e)
        told = " ".join(x for x in (getattr(e, "sqlite_errorname", None),
                                    message if _SQLITE_PLAIN.fullmatch(message) else None) if x)
    else:
        diag = getattr(e, "diag", None)
        told = ", ".join([f"SQLSTATE {e.sqlstate}"] + [
            f"{what} {value}" for what, value in (
                ("constraint", getattr(diag, "constraint_name", None)), ("table", getattr(diag, "table_name", None)),
                ("column", getattr(diag, "column_name", None)))
            if value])
    return f"({_name(e)}) {told}" + ("" if statement is None else f" [SQL: {statement[:SQL_SHOWN]}]")


def _name(e: BaseException) -> str:
    return f"{type(e).__module__}.{type(e).__qualname__}"


def safe_traceback(exc_info) -> str:
    """A traceback as `logging` shows it, with every database error in its chain described by `database_error`."""
    _, exc, tb = exc_info
    if exc is None:
        return "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    chain: list[BaseException] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    lines: list[str] = []
    for n, e in enumerate(reversed(chain)):
        if n:
            later = chain[len(chain) - 1 - n]
            lines.append("\nThe above exception was the direct cause of the following exception:\n\n"
                         if later.__cause__ is not None else
                         "\nDuring handling of the above exception, another exception occurred:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(e.__traceback__))
        told = database_error(e)
        if told is None:
            lines.extend(traceback.format_exception_only(type(e), e))
        else:
            lines.append(f"{_name(e)}: {told.removeprefix(f'({_name(e)}) ')}\n")
    return "".join(lines).rstrip("\n")


class NoUserText(logging.Filter):
    """Describes database errors passed as a log line's arguments by `database_error` (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, BaseException) for a in args):
            record.args = tuple(database_error(a) or a if isinstance(a, BaseException) else a for a in args)
        return True


class TextFormatter(logging.Formatter):
    """The text lines: time, level, logger, message; tracebacks as `safe_traceback` writes them."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        """The traceback, database errors described without the values they quote."""
        return safe_traceback(ei)


class JsonFormatter(TextFormatter):
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
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(NoUserText())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # the libraries are chatty at INFO; their warnings still come through
    # (sqlalchemy: at DEBUG its engine would log the rows it reads, people's texts among them)
    for noisy in ("alembic", "apscheduler", "matplotlib", "urllib3", "sqlalchemy"):
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
            record.exc_text = safe_traceback(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def redact(*secrets: str) -> None:
    """Never write these strings to the log: every handler of the root logger hides them."""
    flt = Redact(list(secrets))
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)

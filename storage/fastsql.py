"""Statements run straight on the database driver, inside the session's transaction: the per-message path.

SQLAlchemy builds, caches and types each statement at a cost of tens of microseconds; a message
runs a dozen of them. Here each statement is a fixed string with `:name` parameters (turned into
psycopg's `%(name)s` once), and values are converted the way the tables' SQLAlchemy types store
them, so rows written here and rows written through SQLAlchemy read the same on both databases:
times as naive UTC (SQLite: `YYYY-MM-DD HH:MM:SS.ffffff` text), JSON as text, booleans as 0/1
on SQLite.
"""

from __future__ import annotations

import functools
import json
import re
import itertools
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_PG_SQL: dict[str, str] = {}
_STREAMS = itertools.count(1)  # names of server-side cursors


class Raw:
    """The driver connection under a SQLAlchemy connection, with the conversions the tables use."""

    __slots__ = ("conn", "pg", "_cursor")

    def __init__(self, connection: Connection) -> None:
        self.conn = connection.connection.driver_connection
        self.pg = connection.dialect.name == "postgresql"
        self._cursor = None

    def run(self, sql: str, params: Mapping[str, Any] | None = None):
        """Execute one statement; returns the cursor (its rows, rowcount)."""
        if self.pg:
            sql = _PG_SQL.get(sql) or _PG_SQL.setdefault(sql, _PARAM.sub(r"%(\1)s", sql))
        cur = self.conn.cursor()
        cur.execute(sql, params or {})
        return cur

    def stream(self, sql: str, params: Mapping[str, Any] | None, size: int) -> Iterator[list[tuple]]:
        """The rows of a query in lists of `size`, without holding them all: a server-side cursor on PostgreSQL."""
        if self.pg:
            sql = _PG_SQL.get(sql) or _PG_SQL.setdefault(sql, _PARAM.sub(r"%(\1)s", sql))
            cur = self.conn.cursor(name=f"minqing_stream_{next(_STREAMS)}")
            cur.itersize = size
        else:
            cur = self.conn.cursor()
        try:
            cur.execute(sql, params or {})
            while rows := cur.fetchmany(size):
                yield rows
        finally:
            cur.close()

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple | None:
        """The first row, or None."""
        return self.run(sql, params).fetchone()

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self.run(sql, params).fetchone()
        return row[0] if row else None

    def column(self, sql: str, params: Mapping[str, Any] | None = None) -> list:
        """The first column of every row."""
        return [row[0] for row in self.run(sql, params).fetchall()]

    # --- values in -------------------------------------------------------------------
    def time(self, t: datetime | None) -> Any:
        """A time as the UTCDateTime columns store it."""
        if t is None:
            return None
        return _pg_time(t) if self.pg else _sqlite_time(t)

    def json(self, value: Any) -> Any:
        """A value for a JSON column."""
        if self.pg:
            from psycopg.types.json import Json  # only on PostgreSQL

            return Json(value)
        return json.dumps(value, ensure_ascii=False)

    def flag(self, value: bool | None) -> Any:
        """A value for a Boolean column."""
        if value is None:
            return None
        return bool(value) if self.pg else int(bool(value))

    # --- values out ------------------------------------------------------------------
    @staticmethod
    def read_time(value: Any) -> datetime | None:
        """A stored time as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value + "+00:00")  # parsed aware at once: replace() costs more than parsing
        return value.replace(tzinfo=UTC)

    @staticmethod
    def read_json(value: Any) -> Any:
        """A stored JSON value."""
        return json.loads(value) if isinstance(value, str) else value


def _naive_utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime given to the database; times must carry a timezone")
    return t.astimezone(UTC).replace(tzinfo=None)


@functools.lru_cache(maxsize=256)  # a message's time is written several times (its event, its request, its reply)
def _sqlite_time(t: datetime) -> str:
    return _naive_utc(t).isoformat(" ", "microseconds")


@functools.lru_cache(maxsize=256)
def _pg_time(t: datetime) -> datetime:
    return _naive_utc(t)


def placeholders(names: Iterable[str]) -> str:
    """`:a, :b, ...` for an INSERT's VALUES."""
    return ", ".join(f":{n}" for n in names)

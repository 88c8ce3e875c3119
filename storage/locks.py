"""The county's send lock: one process at a time sends a county's messages, another stands by.

PostgreSQL: a session-level advisory lock held on a connection of its own; SQLite: an OS file
lock on a file next to the database (a process-local lock for an in-memory database). Either
way the operating system or the server frees it when its holder dies, so a stand-by process
can take over without anyone cleaning up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import text as text_sql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

try:
    import fcntl
except ImportError:  # not a POSIX system: only the in-memory lock works there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def advisory_key(purpose: str, county: str) -> int:
    """A PostgreSQL advisory-lock key (signed 64-bit) for one purpose of one county."""
    return int.from_bytes(hashlib.sha256(f"minqing-{purpose}:{county}".encode()).digest()[:8], "big", signed=True)


class SendLock(Protocol):
    """Held by the one process that sends a county's messages."""

    def acquire(self) -> bool:
        """Take the lock if it is free (never waits); True when this object holds it."""

    def held(self) -> bool:
        """True while the lock is still ours (its connection or file is alive)."""

    def release(self) -> None:
        """Let the lock go (nothing happens when it is not held)."""


class AdvisorySendLock:
    """A PostgreSQL session-level advisory lock on a connection used for nothing else."""

    def __init__(self, engine: Engine, county: str) -> None:
        self.engine = engine
        self.key = advisory_key("send", county)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free (never waits); True when this object holds it."""
        if self._conn is not None:
            return self.held()
        # autocommit: the lock belongs to the session, and an idle open transaction would hold
        # back vacuum and may be killed by idle_in_transaction_session_timeout
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(conn.execute(text_sql("select pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except BaseException:
            self._discard(conn)
            raise
        if not taken:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """True while the lock's connection is alive (the server frees the lock when it ends)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text_sql("select 1"))
        except DBAPIError as e:
            log.warning("the connection that holds the send lock failed: %s", e.orig)
            self._discard(self._conn)
            self._conn = None
            return False
        return True

    def release(self) -> None:
        """Let the lock go."""
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        # closing the session frees the lock even if the unlock below fails; a connection that
        # held it never goes back to the pool
        try:
            conn.execute(text_sql("select pg_advisory_unlock(:k)"), {"k": self.key})
        except DBAPIError as e:
            log.warning("could not release the send lock cleanly (its connection is closed anyway): %s", e.orig)
        self._discard(conn)

    @staticmethod
    def _discard(conn: Connection) -> None:
        try:
            conn.invalidate()
        finally:
            conn.close()


class FileSendLock:
    """An exclusive flock on a file next to the SQLite database (freed by the OS when its holder dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if it is free (never waits); True when this object holds it."""
        if self._fd is not None:
            return self.held()
        if fcntl is None:
            raise OSError("a file lock needs a POSIX system (fcntl)")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def held(self) -> bool:
        """True while we hold the lock on the file that is at the path now."""
        if self._fd is None:
            return False
        # a lock file deleted or replaced under us would let another process lock a new file
        try:
            same = os.fstat(self._fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            log.warning("the send lock file %s was removed or replaced", self.path)
            self.release()
        return same

    def release(self) -> None:
        """Let the lock go."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)  # closing the only descriptor frees the flock


class LocalSendLock:
    """A lock within this process (an in-memory database is private to its process anyway)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._held = False

    def acquire(self) -> bool:
        """Take the lock if it is free (never waits); True when this object holds it."""
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._held

    def release(self) -> None:
        """Let the lock go."""
        if self._held:
            self._held = False
            self._lock.release()

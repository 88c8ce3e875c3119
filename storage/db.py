"""Engine and transactions: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlmodel import create_engine

from storage import migrate
from storage.locks import AdvisorySendLock, FileSendLock, LocalSendLock, SendLock
from storage.oserrors import DAMAGED_ADVICE, damaged
from storage.oserrors import reason as os_reason
from storage.repository import SqlRepository
from storage.tallies import Tallies

log = logging.getLogger(__name__)
_SNAPSHOT = "minqing_snapshot"  # execution option of a read-only snapshot transaction


class DatabaseError(RuntimeError):
    """The database cannot be opened or is not this program's."""


class SchemaOutdated(DatabaseError):
    """The database was written by an earlier version: `minqing migrate` upgrades it."""


def database_url(value: str, base: Path | None = None) -> str:
    """A SQLAlchemy URL from a URL or a file path (relative paths are taken from `base`)."""
    value = value.strip()
    if "://" not in value:
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return f"sqlite:///{path}"
    if value.startswith("postgresql://") or value.startswith("postgres://"):
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    if value.startswith("sqlite:///") and base is not None:
        raw = value[len("sqlite:///"):]
        if raw and raw != ":memory:" and not raw.startswith("/"):
            return f"sqlite:///{(base / raw)}"
    return value


SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that exists but is no SQLite database: empty, another kind of file, or a folder.

    SQLite itself would take an empty file for a new database (the data someone expected there is
    gone unnoticed) and report a foreign file only at the first query.
    """
    if path.is_dir():
        raise DatabaseError(f"{path} 是文件夹，不是数据库文件")
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return  # a new database: created on first use
    except OSError as e:
        raise DatabaseError(f"无法读取数据库文件 {path}：{os_reason(e)}") from None
    # a database this program creates is empty only until its first connection sets WAL mode, which
    # writes the header: a second process starting in that instant is refused and can be run again
    if not head:
        raise DatabaseError(f"数据库文件 {path} 是空文件（0 字节），不能当作新数据库使用：如果要新建数据库，"
                            "请删除这个文件或换一个文件名；如果它应当有数据，请用备份恢复")
    if head != SQLITE_HEADER:
        raise DatabaseError(f"{path} 不是 SQLite 数据库文件（可能已损坏，或者选错了文件）")


SYNCHRONOUS = ("FULL", "NORMAL")
_SAVEPOINTS = itertools.count(1)


def _sqlite_setup(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        # let SQLAlchemy drive transactions so that BEGIN IMMEDIATE below takes effect
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a registration is on disk before its number is announced, so a power cut can never
        # undo it and give its number again (NORMAL may lose the last commits; benchmarks/intake.py
        # measures the difference)
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        # checkpoint every ~40 MB of log rather than 4 MB: a checkpoint flushes the disk even with NORMAL,
        # and a message writes several pages (benchmarks/intake.py)
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        if conn.connection.driver_connection.in_transaction:
            return  # the writer's transaction, begun on the driver (Database.transaction): SQLAlchemy joins it
        if conn.get_execution_options().get(_SNAPSHOT):
            conn.exec_driver_sql("BEGIN")  # read only: a long report must not hold the write lock
            return
        # take the write lock at the start: a read that later writes cannot deadlock
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One database, shared by one or many counties; opens transactions for one county."""

    def __init__(self, url: str, county: str, *, create: bool = True, synchronous: str = "FULL") -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous is one of {SYNCHRONOUS}")
        self.url = url
        self.county = county
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise DatabaseError(f"不是数据库 URL：{url!r}（{e}）") from None
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise DatabaseError(f"不支持的数据库 {parsed.get_backend_name()!r}：民情直通车用 SQLite（文件路径或 "
                                "sqlite:///文件名.db）或 PostgreSQL（postgresql+psycopg://用户@主机/库名）")
        self._file: Path | None = None  # the SQLite database's file (None: in memory, or not SQLite)
        self._local_send_lock = threading.Lock()
        self._batch: tuple[int, Connection] | None = None  # (thread, connection) of a group commit
        # SQLite has one writer at a time: its write transactions share one connection, kept open (see transaction)
        self._writer: Connection | None = None
        self._writer_lock = threading.Lock()
        self._writer_thread: int | None = None
        self.tallies = Tallies()  # rooms' and people's message counts not yet written (storage.tallies)
        self._batch_undo: list = []  # how to undo the tally changes of a group commit's savepoints (storage.tallies)
        kwargs: dict = {}
        if self.is_sqlite:
            db = parsed.database
            if db and db != ":memory:":
                path = Path(db).expanduser()
                if not path.parent.exists():
                    raise DatabaseError(f"数据库所在的文件夹 {path.parent} 不存在")
                if not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
                    raise DatabaseError(f"没有权限在文件夹 {path.parent} 里建数据库文件：请换一个位置，"
                                        "或让运行机器人的用户能写这个文件夹")
                check_sqlite_file(path)
                self._file = path.resolve()
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            # hide_parameters: an error's message never carries what people wrote (logs stay free of it)
            self.engine = create_engine(url, hide_parameters=True, **kwargs)
        except Exception as e:  # the driver's own errors differ per backend
            raise DatabaseError(f"无法打开数据库 {self.safe_url}：{e}") from None
        if self.is_sqlite:
            _sqlite_setup(self.engine, synchronous)
        if create:
            self.create()

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def create(self) -> None:
        """Create a new database at the newest schema; refuse one that needs `minqing migrate` first."""
        try:
            with self.engine.connect() as conn:
                st = migrate.state(conn)
                if tables := migrate.foreign_tables(conn, st):
                    raise DatabaseError(f"{self.safe_url}：{migrate.ForeignDatabase(tables)}")
            if st.empty:
                try:
                    migrate.create(self.engine)
                except (OperationalError, ProgrammingError, IntegrityError):
                    # another process created it at the same moment: look again
                    with self.engine.connect() as conn:
                        if migrate.state(conn).empty:
                            raise
                return
            if not st.current:
                if st.revision not in migrate.known_revisions():
                    raise DatabaseError(f"{self.safe_url} 由更新版本的民情直通车写入（数据库版本 {st.revision}），"
                                        "请先升级本程序")
                raise SchemaOutdated(f"{self.safe_url} 的数据库结构是旧版本（{st.revision}），"
                                     f"请先运行 `minqing migrate` 升级到 {migrate.head()}（升级前请先备份）")
            with self.engine.connect() as conn:
                if migrate.county_pending(conn, self.county):
                    raise SchemaOutdated(f"{self.safe_url} 已升级，但{self.county}的历史数据还没有补全：请用本县的配置"
                                         "运行 `minqing migrate --config 配置文件`")
        except SQLAlchemyDatabaseError as e:  # OperationalError, and a file SQLite finds corrupt
            raise self._unopenable(e) from None

    def _unopenable(self, e: SQLAlchemyDatabaseError) -> DatabaseError:
        said = str(e.orig).lower()
        if self.is_sqlite and ("unable to open database file" in said or "readonly database" in said):
            return DatabaseError(f"无法打开数据库 {self.safe_url}：数据库文件或它所在的文件夹没有写权限（SQLite 还要在同一"
                                 "文件夹里写日志文件），请让运行机器人的用户能写它们")
        if damaged(e):
            return DatabaseError(f"无法打开数据库 {self.safe_url}：数据库文件已损坏（{e.orig}）。{DAMAGED_ADVICE}")
        return DatabaseError(f"无法打开数据库 {self.safe_url}：{e.orig}")

    def other_counties(self) -> list[str]:
        """On a SQLite file with no request of this county: the (first five) counties whose requests it holds (a
        county renamed in the config finds its own history under the old name). Empty otherwise; PostgreSQL
        databases are shared by counties on purpose, where a county that has just started has none. Read on a
        snapshot (no write lock), by index seeks only: a few, whatever the number of requests."""
        if not self.is_sqlite:
            return []
        with self.engine.connect() as conn:
            conn.execution_options(**{_SNAPSHOT: True})
            with conn.begin() as read:
                try:
                    if not inspect(conn).has_table("requests") or conn.execute(
                            text("SELECT 1 FROM requests WHERE county = :c LIMIT 1"), {"c": self.county}).first():
                        return []
                    found: list[str] = []
                    after = ""
                    while len(found) < 5:  # the next county name after the last: one seek in the county index
                        after = conn.execute(text("SELECT MIN(county) FROM requests WHERE county > :a"),
                                             {"a": after}).scalar()
                        if after is None:
                            break
                        found.append(after)
                    return found
                finally:
                    read.rollback()

    def send_lock(self) -> SendLock:
        """A new handle on this county's send lock (see storage.locks); not yet taken."""
        if not self.is_sqlite:
            return AdvisorySendLock(self.engine, self.county)
        if self._file is None:
            return LocalSendLock(self._local_send_lock)
        tag = hashlib.sha256(self.county.encode()).hexdigest()[:12]  # one lock per county sharing the file
        return FileSendLock(self._file.with_name(f"{self._file.name}.send-{tag}.lock"))

    def has_tables(self) -> bool:
        """True when the database already holds this program's tables (a SQLite file that is not there is not made
        by asking)."""
        if self._file is not None and not self._file.exists():
            return False
        try:
            return inspect(self.engine).has_table("requests")
        except SQLAlchemyDatabaseError as e:  # OperationalError, and a file SQLite finds corrupt
            raise self._unopenable(e) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[SqlRepository]:
        """A read-only repository on one consistent snapshot that does not block the bot's writes (reports)."""
        batch = self._batch_connection()
        if batch is not None:  # inside a group commit: read what it has written
            repo = SqlRepository(batch, self.county, self.tallies)
            try:
                yield repo
            finally:
                repo.close()
            return
        if self.is_sqlite:
            options: dict = {_SNAPSHOT: True}  # WAL: readers see one snapshot and never block writers
        else:
            options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        with self.engine.connect() as conn:
            conn.execution_options(**options)
            with conn.begin() as read:
                repo = SqlRepository(conn, self.county, self.tallies)
                try:
                    yield repo
                finally:
                    repo.close()
                    read.rollback()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqlRepository]:
        """A repository inside one transaction: committed on success, rolled back on error.

        Inside `batch()` it is a savepoint of the batch's transaction: rolled back alone on error,
        committed with the batch.
        """
        batch = self._batch_connection()
        if batch is not None:
            # a savepoint said straight to the driver: the batch's statements all go there too, and
            # SQLAlchemy's bookkeeping of a nested transaction would cost more than the statements
            name = f"minqing_{next(_SAVEPOINTS)}"
            cur = batch.connection.driver_connection.cursor()
            cur.execute(f"SAVEPOINT {name}")
            repo = SqlRepository(batch, self.county, self.tallies)
            try:
                yield repo
                repo.flush()
            except BaseException:
                repo.close()
                cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
                cur.execute(f"RELEASE SAVEPOINT {name}")
                repo.rollback_tallies()
                raise
            repo.close()
            cur.execute(f"RELEASE SAVEPOINT {name}")
            self._batch_undo.extend(repo.undo)  # undone if the group commit rolls back
            return
        repo: SqlRepository | None = None
        try:
            with self._write() as conn:
                repo = SqlRepository(conn, self.county, self.tallies)
                try:
                    yield repo
                    repo.flush()
                finally:
                    repo.close()
        except BaseException:
            if repo is not None:
                repo.rollback_tallies()  # rolled back (or its commit failed)
            raise

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """The connection of one write transaction: SQLite's writer, or one from the pool (PostgreSQL, and SQLite
        in memory); committed when the block ends, rolled back on error."""
        if self._file is not None:
            with self._sqlite_write() as conn:
                yield conn
        else:
            with self.engine.connect() as conn, conn.begin():
                yield conn

    @contextlib.contextmanager
    def _sqlite_write(self) -> Iterator[Connection]:
        """One write transaction on the SQLite file, on the writer's connection.

        SQLite lets one transaction write at a time, so the process's write transactions take turns
        on one connection kept open, and BEGIN IMMEDIATE and COMMIT go straight to the driver: taking
        a connection from the pool and SQLAlchemy's bookkeeping of each transaction cost more than a
        message's statements (benchmarks/intake.py). Whatever uses SQLAlchemy inside (the ORM
        session, Core statements) joins this transaction; the commit goes through SQLAlchemy then,
        so that it knows the transaction has ended.
        """
        if self._writer_lock.locked() and self._writer_thread == threading.get_ident():
            raise RuntimeError("a write transaction inside another on the same thread (use batch() to group them)")
        with self._writer_lock:
            self._writer_thread = threading.get_ident()
            try:
                conn = self._writer
                if conn is None or conn.closed or conn.invalidated:
                    conn = self._writer = self.engine.connect()
                driver = conn.connection.driver_connection
                driver.execute("BEGIN IMMEDIATE")  # the write lock at the start: a read that later writes cannot deadlock
                try:
                    yield conn
                except BaseException:
                    self._writer = None  # after an error, a fresh connection: this one may be in any state
                    try:
                        if conn.in_transaction():
                            conn.rollback()
                        elif driver.in_transaction:
                            driver.rollback()
                    finally:
                        conn.close()
                    raise
                if conn.in_transaction():
                    conn.commit()
                else:
                    driver.commit()
            finally:
                self._writer_thread = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit for one thread: every transaction it opens meanwhile is a savepoint of one transaction,
        committed (one disk flush) when the batch ends. Whoever uses it must announce nothing of the batch
        before then (replay prints what the bot said only after the commit)."""
        if self._batch_connection() is not None:
            yield
            return
        self._batch_undo = []
        try:
            with self._write() as conn:
                self._batch = (threading.get_ident(), conn)
                try:
                    yield
                finally:
                    self._batch = None
        except BaseException:
            for undo in reversed(self._batch_undo):  # the group commit rolled back: so did its tally changes
                undo()
            raise
        finally:
            self._batch_undo = []

    def _batch_connection(self) -> Connection | None:
        batch = self._batch
        return batch[1] if batch is not None and batch[0] == threading.get_ident() else None

    def backup_to(self, target: Path) -> int:
        """Copy a SQLite database to a new file `target` with SQLite's online backup; returns the pages copied.
        The copy is checked (`PRAGMA quick_check`): a damaged database is never passed off as a backup."""
        existed = target.exists()
        source = self.engine.raw_connection()
        try:
            dest = sqlite3.connect(str(target))
            try:
                with dest:
                    source.driver_connection.backup(dest)
                problems = [row[0] for row in dest.execute("PRAGMA quick_check(5)")]
                pages = dest.execute("PRAGMA page_count").fetchone()[0]
            finally:
                dest.close()
        except (OSError, sqlite3.Error) as e:
            if not existed:  # a half-written copy must not pass for a backup
                target.unlink(missing_ok=True)
            if not damaged(e):
                said = os_reason(e) if isinstance(e, OSError) else str(e)
                raise DatabaseError(f"无法写入备份文件 {target}：{said}") from None
            problems = [str(e)]  # too damaged even to be checked
        finally:
            source.close()
        if problems != ["ok"]:
            if not existed:
                target.unlink(missing_ok=True)
            raise DatabaseError(
                f"数据库 {self.safe_url} 已损坏（SQLite 完整性检查：{'；'.join(str(x).replace(chr(10), ' ') for x in problems)[:300]}），没有写备份，"
                f"也没有删除旧备份。{DAMAGED_ADVICE}")
        return pages

    def dispose(self) -> None:
        """Write the message counts not yet written (storage.tallies), then close every connection."""
        if self.tallies.pending():
            try:
                with self.transaction() as tx:
                    tx.write_tallies()
            except Exception as e:  # closing must not fail for the sake of a count
                log.warning("could not write the rooms' and people's message counts: %s", e,
                            extra={"event": "tallies_lost"})
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()

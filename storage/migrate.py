"""Schema versions: a new database is created at the newest revision; an older one is upgraded with
Alembic by `minqing migrate`, and nothing else runs on it until then.

One version per database: all counties sharing a PostgreSQL database upgrade together (the
upgrade takes an advisory lock, so two processes never run it at once). A database written by
version 0.1.0 has no version table: it is recognised by its tables and taken as revision 0001.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

from routing.policy import Policy
from storage import backfill

log = logging.getLogger(__name__)

BASELINE = "0001"  # the schema of version 0.1.0
_LOCK = 0x6D696E71696E67  # the advisory lock of upgrades on PostgreSQL


def alembic_config(connection: Connection | None = None, policies: Mapping[str, Policy] | None = None) -> Config:
    """Alembic's config: the revisions shipped in storage/migrations, run on `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", "storage:migrations")
    cfg.attributes["connection"] = connection
    cfg.attributes["policies"] = dict(policies or {})
    return cfg


def head() -> str:
    """The newest revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    """Every revision this version knows."""
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


class NewerSchema(Exception):
    """The database was written by a newer version of the program."""


@dataclass(frozen=True, slots=True)
class State:
    """Where a database stands: empty, or at a revision, and whether that is the newest."""

    revision: str | None  # None: no tables of this program at all

    @property
    def empty(self) -> bool:
        """True when the database holds none of this program's tables."""
        return self.revision is None

    @property
    def current(self) -> bool:
        """True when the schema is the newest."""
        return self.revision == head()


BASELINE_COLUMNS = {"county", "number", "status", "tier", "village", "township"}  # 0.1.0's requests table has these


def state(conn: Connection) -> State:
    """The schema revision of a database (0.1.0's, which had no version table, is the baseline)."""
    revision = MigrationContext.configure(conn).get_current_revision()
    if revision is not None:
        return State(revision)
    insp = inspect(conn)
    if insp.has_table("requests") and BASELINE_COLUMNS <= {c["name"] for c in insp.get_columns("requests")}:
        return State(BASELINE)
    return State(None)


def foreign_tables(conn: Connection, current: State) -> list[str]:
    """On a SQLite file holding none of this program's tables (`current`, as `state` read it): the tables another
    program put there (creating ours beside them would mix two programs' data in one file). PostgreSQL databases are
    shared on purpose: none."""
    if conn.dialect.name != "sqlite" or not current.empty:
        return []
    return sorted(inspect(conn).get_table_names())


class ForeignDatabase(Exception):
    """A SQLite file that holds another program's tables."""

    def __init__(self, tables: list[str]) -> None:
        shown = "、".join(tables[:5]) + (f" 等 {len(tables)} 张表" if len(tables) > 5 else "")
        super().__init__(f"这个文件里已有别的程序的表（{shown}），不是民情直通车的数据库：请换一个新文件名，"
                         "或用民情直通车建的数据库")


def create(engine: Engine) -> None:
    """Create a new database's tables at the newest revision."""
    with engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
        command.stamp(alembic_config(conn), "head")


def upgrade(engine: Engine, policies: Mapping[str, Policy]) -> tuple[str | None, str]:
    """Upgrade to the newest revision; counties in `policies` get their history filled in at once.

    Returns (revision before, revision after). For a county whose history is still to be filled
    in (the database was upgraded with another county's config), it is done now.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        before = state(conn)
        if tables := foreign_tables(conn, before):
            raise ForeignDatabase(tables)
        if before.empty:
            SQLModel.metadata.create_all(conn)
            command.stamp(alembic_config(conn), "head")
            return None, head()
        if before.revision not in known_revisions():
            raise NewerSchema(f"数据库由更新版本的民情直通车写入（数据库版本 {before.revision}），这个版本不能降级它："
                              "请先升级本程序")
        cfg = alembic_config(conn, policies)
        if MigrationContext.configure(conn).get_current_revision() is None:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        for county, policy in policies.items():
            if backfill.pending(conn, county):
                backfill.backfill(conn, county, policy)
    log.info("database upgraded from %s to %s", before.revision, head())
    return before.revision, head()


def county_pending(conn: Connection, county: str) -> bool:
    """True when a county's history is still to be filled in by `minqing migrate` with its config."""
    return backfill.pending(conn, county)

"""Shared fixtures: the example config, databases (SQLite, and PostgreSQL when configured), chats."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from bot.config import load_config, parse_config
from storage.db import Database
from tests.fakes import make_chat

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.toml"
PG_URL = os.environ.get("MINQING_TEST_DATABASE_URL")

LT, MZ, CY = "楼台村干群连心群", "民主村干群连心群", "茶园村干群连心群"
PX, PXL, PJ, CTY = "盘信镇二级工作群", "盘信镇党政班子群", "普觉镇二级工作群", "松桃县网络问政工作群"


@pytest.fixture(scope="session")
def example_config():
    """The documented example county."""
    return load_config(EXAMPLE)


def config_with(extra_toml: str = "", replace: dict[str, str] | None = None):
    """The example config text with some lines replaced and TOML appended, parsed."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_config(text + "\n" + extra_toml, base_dir=ROOT)


@pytest.fixture(scope="session")
def pg_schema():
    """A private schema in the test PostgreSQL, dropped at the end."""
    if not PG_URL:
        yield None
        return
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path, pg_schema):
    """A fresh database: SQLite, and PostgreSQL too when MINQING_TEST_DATABASE_URL is set."""
    county = f"松桃县-{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        if not PG_URL:
            if os.environ.get("CI") == "true":
                pytest.fail("CI must run the PostgreSQL tests: set MINQING_TEST_DATABASE_URL (.ci/run does)")
            pytest.skip("PostgreSQL tests need MINQING_TEST_DATABASE_URL (the CI script sets it)")
        url = _pg_url(pg_schema)
    yield url, county


@pytest.fixture
def pg_only(tmp_path, pg_schema):
    """A fresh county in the test PostgreSQL (for what only PostgreSQL can show, e.g. two writers at once)."""
    if not PG_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the PostgreSQL tests: set MINQING_TEST_DATABASE_URL (.ci/run does)")
        pytest.skip("PostgreSQL tests need MINQING_TEST_DATABASE_URL (the CI script sets it)")
    yield _pg_url(pg_schema), f"松桃县-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg_database(pg_only):
    """PostgreSQL only, a county of its own: for a race, which needs two transactions at once (SQLite serialises
    all writers)."""
    url, county = pg_only
    db = Database(url, county)
    yield db
    db.dispose()


@pytest.fixture
def database(any_db):
    """A fresh database of its own county, on each backend `any_db` gives."""
    url, county = any_db
    db = Database(url, county)
    yield db
    db.dispose()


def lose(database: Database, lock) -> None:
    """Take a send lock away from under its holder: its connection is killed, or its lock file removed."""
    from sqlalchemy import create_engine, text

    from storage.locks import FileSendLock, advisory_key

    if isinstance(lock, FileSendLock):
        lock.path.unlink()
        return
    key = advisory_key("send", database.county)
    engine = create_engine(database.url)
    with engine.begin() as conn:  # the timeout waits until the backend has ended (and freed its locks)
        killed = conn.execute(text(
            "select pg_terminate_backend(pid, 5000) from pg_locks where locktype = 'advisory' and granted "
            "and classid = :hi and objid = :lo and objsubid = 1"),
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).scalars().all()
    engine.dispose()
    assert killed == [True]


@pytest.fixture
def db(tmp_path, example_config):
    """A fresh SQLite database for the example county."""
    database = Database(f"sqlite:///{tmp_path / 'test.db'}", example_config.county.name)
    yield database
    database.dispose()


@pytest.fixture
def chat(example_config, db):
    """Simulated groups of the example county, Monday 12 October 2026 08:00."""
    return make_chat(example_config, db)

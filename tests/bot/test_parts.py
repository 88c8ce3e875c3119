"""A review read in parts by processes of their own gives exactly what one process gives, on SQLite and
PostgreSQL; when the record changes while the parts begin, the review is read again."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

import pytest

from bot.review import export as exporting
from bot.review import parts
from routing.lifecycle import register
from routing.model import PersonRef
from storage.db import Database
from storage.reports import record_mark
from tests.review_fixture import AS_OF, PERIOD, stored_history
from tests.storage.test_repository import make_request


@pytest.fixture
def database(any_db, example_config):
    yield from stored_history(any_db, example_config.policy)


@pytest.fixture
def small_parts(monkeypatch):
    """Parts of one request number each: six requests make several processes."""
    monkeypatch.setattr(parts, "MIN_PART", 1)


def figures(review) -> tuple:
    """Everything a review shows, comparable."""
    return (review.overall(), {d: review.by(d) for d in ("township", "village", "category", "handler")},
            [(w.start, w.requests, w.resolved, w.rates, w.resolution_median) for w in review.weeks()],
            review.overdue(), review.overdue_count, review.tier_spreads(), sorted(review.resolution_days()))


def test_ranges_cover_every_number_once():
    assert parts.ranges(1, 10, 1) == [(None, None)]
    assert parts.ranges(1, 2 * parts.MIN_PART - 1, 4) == [(None, None)]  # too few for two parts
    cuts = parts.ranges(7, 7 + 4 * parts.MIN_PART, 3)
    assert len(cuts) == 3 and cuts[0][0] is None and cuts[-1][1] is None  # what came before or since too
    assert all(b[0] == a[1] + 1 for a, b in zip(cuts, cuts[1:]))


def test_parts_give_the_review_of_one_process(database, example_config, small_parts):
    one = parts.read(database, example_config, PERIOD, AS_OF, jobs=1)
    three = parts.read(database, example_config, PERIOD, AS_OF, jobs=3)
    assert (one.processes, three.processes) == (1, 3)
    assert figures(three.review) == figures(one.review)
    rates = three.review.overall().rates
    assert (rates.responded_in_time, rates.due_ack, rates.resolved_in_time, rates.due_resolve,
            rates.satisfied, rates.rated) == (3, 4, 3, 4, 3, 4)  # the hand-worked figures, the stray rating included


def _export(database, cfg, out: Path, jobs: int) -> bytes:
    def rows_into(path: Path):
        got = parts.read(database, cfg, PERIOD, AS_OF, jobs=jobs, weeks=False, rows=path)
        return got.review, got.rows

    result = exporting.export_csv(rows_into, out, cfg.county, cfg.tz, unmask=False)
    assert result.rows == 4
    return out.read_bytes() + exporting.summary_path(out).read_bytes()


def test_csv_in_parts_is_the_csv_of_one_process(database, example_config, small_parts, tmp_path):
    assert _export(database, example_config, tmp_path / "three.csv", 3) == _export(
        database, example_config, tmp_path / "one.csv", 1)
    assert sorted(p.name for p in tmp_path.iterdir() if "three" in p.name) == ["three-summary.csv", "three.csv"]


# --- the record changes while the parts begin -----------------------------------------------------
# Forked processes inherit these: the first part's snapshot has begun (set after its record_mark),
# and the flag file says whether the change was made already (only in the first try).
_BEGUN = multiprocessing.get_context("fork").Event() if "fork" in multiprocessing.get_all_start_methods() else None
_real_mark = record_mark
_real_read_part = parts.read_part
_FLAG = Path("/nonexistent")  # set by the test before the processes fork


def _mark_then_tell(tx):
    mark = _real_mark(tx)
    _BEGUN.set()
    return mark


def _change_then_read(part, database=None):
    if part.numbers[0] is not None and not _FLAG.exists():
        assert _BEGUN.wait(timeout=60), "the first part never began"
        _FLAG.touch()
        writer = Database(part.url, part.county, create=False)
        try:
            with writer.transaction() as tx:  # the bot registers a request meanwhile
                r = make_request(tx.next_number())
                tx.add(r, register(r, PersonRef("唐命学", "wxid_a")))
        finally:
            writer.dispose()
    return _real_read_part(part, database)


@pytest.mark.skipif(_BEGUN is None, reason="needs processes forked from this one")
def test_a_change_while_the_parts_begin_is_read_again(database, example_config, small_parts, monkeypatch, tmp_path,
                                                      caplog):
    global _FLAG
    _FLAG = tmp_path / "changed"
    _BEGUN.clear()
    monkeypatch.setattr(parts, "record_mark", _mark_then_tell)
    monkeypatch.setattr(parts, "read_part", _change_then_read)
    out = tmp_path / "out.csv"

    def rows_into(path: Path):
        got = parts.read(database, example_config, PERIOD, AS_OF, jobs=3, weeks=False, rows=path)
        return got.review, got.rows

    with caplog.at_level(logging.INFO, logger="bot.review.parts"):
        result = exporting.export_csv(rows_into, out, example_config.county, example_config.tz, unmask=False)
    assert _FLAG.exists()
    assert "review_parts_differ" in caplog.text  # the first try saw two records, and was read again
    monkeypatch.undo()
    again = tmp_path / "again.csv"
    # nothing twice, nothing lost
    assert _export_all(database, example_config, again).decode().splitlines() == out.read_text().splitlines()
    assert result.rows == len(out.read_text(encoding="utf-8-sig").splitlines()) - 1


def _export_all(database, cfg, out: Path) -> bytes:
    def rows_into(path: Path):
        got = parts.read(database, cfg, PERIOD, AS_OF, jobs=1, weeks=False, rows=path)
        return got.review, got.rows

    exporting.export_csv(rows_into, out, cfg.county, cfg.tz, unmask=False)
    return out.read_bytes()

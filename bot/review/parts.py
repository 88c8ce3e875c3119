"""A review read in parts by processes of their own: the request numbers split in ranges, several per process.

A review costs tens of microseconds of Python per request; a million requests on one core take
minutes. Each part reads its range of request numbers from a snapshot of its own, counts them in
a review of its own and, for a CSV export, writes their rows to a file of its own (each process
takes the next part when it is done with one: ranges of numbers differ in cost); the parts'
reviews are then merged and their rows joined in number order, which gives exactly what one
process reading everything would give.

Each snapshot notes the record's last event as it begins (`storage.reports.record_mark`): every
change of a request appends to its log, so parts that noted the same event saw the same record.
When they did not (the bot registered or changed something in between), the review is read again;
after `TRIES` tries, in one process, which is one snapshot by construction.

Processes are forked where the system can (they start at once, with everything imported) and
spawned elsewhere. The database's pooled connections are closed before: a connection must never
be shared by two processes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.config import Config
from bot.review.numeric import numpy_spread
from routing.review import OVERDUE_LISTED, Review, Scope
from storage.db import Database
from storage.reports import number_range, record_mark, review_requests, stray_ratings

log = logging.getLogger(__name__)

MIN_PART = 50_000  # request numbers per part at least: below that a process costs more than it saves
PARTS_PER_PROCESS = 4
TRIES = 3


def default_jobs() -> int:
    """How many processes a review uses unless told: the processors this process may run on, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


@dataclass(frozen=True, slots=True)
class Part:
    """What one process reads: a range of request numbers of a review, and where its CSV rows go."""

    url: str
    county: str
    cfg: Config
    scope: Scope
    as_of: datetime
    numbers: tuple[int | None, int | None]  # the first and last number read (None: no bound)
    strays: bool  # this part also counts the ratings of requests the query does not return
    weeks: bool
    overdue_listed: int
    rows: Path | None  # append the CSV rows of the part's requests to this file
    unmask: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """What a part found: the record it saw, its review, how many rows it wrote, its peak memory."""

    mark: int
    review: Review
    rows: int
    peak_mib: float
    pid: int = 0  # the process that read it


def _peak_mib() -> float:
    """This process's peak resident memory (Linux), or NaN."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def read_part(part: Part, database: Database | None = None) -> Done:
    """Read one part from a snapshot of its own (on `database`, or on a connection of its own)."""
    own = database is None
    if database is None:
        database = Database(part.url, part.county, create=False)
    review = Review(part.scope, part.cfg.policy.calendar, part.as_of, weeks=part.weeks,
                    overdue_listed=part.overdue_listed, spread=numpy_spread)
    try:
        with database.snapshot() as tx:
            mark = record_mark(tx)  # first: the statement that fixes what the snapshot sees
            records = review_requests(tx, part.scope, numbers=part.numbers)
            strays = stray_ratings(tx, part.scope) if part.strays else ()
            if part.rows is not None:
                from bot.review.export import write_rows
                rows = write_rows(review, records, strays, part.rows, part.unmask)
            else:
                rows = 0
                for rec in records:
                    review.add(rec)
                for rec in strays:
                    review.add_rating(rec)
    finally:
        if own:
            database.dispose()
    return Done(mark, review, rows, _peak_mib(), os.getpid())


def ranges(first: int, last: int, jobs: int) -> list[tuple[int | None, int | None]]:
    """Request numbers cut in at most `jobs` ranges of about the same length, none shorter than MIN_PART,
    that cover [first, last]; the first has no lower bound and the last no upper one, so that together
    they hold every request, however the record has grown since first and last were read."""
    n = max(1, min(jobs, (last - first + 1) // MIN_PART))
    size = -(-(last - first + 1) // n)
    cuts: list[tuple[int | None, int | None]] = [(lo, lo + size - 1) for lo in range(first, last + 1, size)]
    cuts[0] = (None, cuts[0][1])
    cuts[-1] = (cuts[-1][0], None)
    return cuts


@dataclass(frozen=True, slots=True)
class Read:
    """A review read, and how: in how many processes, the peak memory of each."""

    review: Review
    rows: int
    processes: int
    peaks_mib: tuple[float, ...]


def read(database: Database, cfg: Config, scope: Scope, as_of: datetime, *, jobs: int, weeks: bool = True,
         overdue_listed: int = OVERDUE_LISTED, rows: Path | None = None, unmask: bool = False) -> Read:
    """The review of a scope, read in up to `jobs` processes; with `rows`, the CSV rows of the requests
    registered in the period are appended to that file, in number order."""
    def part(numbers: tuple[int | None, int | None], strays: bool, rows_to: Path | None) -> Part:
        return Part(database.url, database.county, cfg, scope, as_of, numbers, strays, weeks, overdue_listed,
                    rows_to, unmask)

    for attempt in range(1, TRIES + 1):
        with database.snapshot() as tx:
            mark = record_mark(tx)
            span = number_range(tx, scope)
        # more parts than processes (PARTS_PER_PROCESS each): a process that finishes early takes the next,
        # as the cost of a range of numbers differs (older requests have longer histories)
        cuts = ranges(*span, jobs * PARTS_PER_PROCESS) if span is not None and jobs > 1 else []
        if len(cuts) < 2:
            break
        found = _in_processes(database, mark, [part(c, i == 0, _part_file(rows, i)) for i, c in enumerate(cuts)], jobs)
        if found is not None:
            return found
        log.info("review_parts_differ attempt=%d: the record changed while the parts began; reading again", attempt)
    else:
        log.warning("review_parts_differ: the record kept changing; reading in one process")
    done = read_part(part((None, None), True, rows), database)
    return Read(done.review, done.rows, 1, (_peak_mib(),))


def _part_file(rows: Path | None, i: int) -> Path | None:
    """Where part i writes its rows: the first straight into the file, the others beside it."""
    if rows is None or i == 0:
        return rows
    return rows.with_name(f"{rows.name}.{i}")


def _context() -> multiprocessing.context.BaseContext:
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def _in_processes(database: Database, mark: int, parts: list[Part], jobs: int) -> Read | None:
    """Read the parts in processes of their own; None when one saw another record than `mark`, the one
    their ranges were cut from."""
    rows_file = parts[0].rows
    size_before = rows_file.stat().st_size if rows_file is not None else 0
    extra = [p.rows for p in parts[1:] if p.rows is not None]
    database.engine.dispose()  # no pooled connection may live on in a child process
    try:
        marks: set[int] = set()
        review: Review | None = None
        rows = 0
        peaks: list[tuple[int, float]] = []
        with ProcessPoolExecutor(min(jobs, len(parts)), mp_context=_context()) as pool:
            # each part merged as it comes in and let go: the parts' reviews are never all held at once beside
            # the merged one (a review of a million requests holds tens of MiB of durations)
            for d in pool.map(read_part, parts):
                marks.add(d.mark)
                if review is None:
                    review = d.review
                else:
                    review.merge(d.review)
                rows += d.rows
                peaks.append((d.pid, d.peak_mib))
                del d
        if marks != {mark}:
            if rows_file is not None:
                with rows_file.open("r+b") as f:  # the rows of this try go
                    f.truncate(size_before)
            return None
        assert review is not None
        if rows_file is not None:
            _append_all(rows_file, extra)
        return Read(review, rows, min(jobs, len(parts)), (_peak_mib(), *_peaks_by_process(peaks)))
    finally:
        for path in extra:
            path.unlink(missing_ok=True)


def _peaks_by_process(done: list[tuple[int, float]]) -> list[float]:
    """The peak memory of each process that read parts, from (pid, peak) of each part (a process reading
    several reports several times)."""
    peaks: dict[int, float] = {}
    for pid, peak in done:
        peaks[pid] = max(peaks.get(pid, 0.0), peak)
    return list(peaks.values())


def _append_all(target: Path, sources: list[Path]) -> None:
    """Append the files to the target, in order."""
    with target.open("ab") as out:
        for path in sources:
            with path.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)


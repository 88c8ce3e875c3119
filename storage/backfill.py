"""Filling in what a database written by an earlier version lacks, county by county (see routing.backfill).

A database shared by several counties is upgraded for all of them at once, but each county's
deadlines need its own config: the counties whose policy the upgrade was given are filled in at
once; the others are marked pending, and each county's bot refuses to start until
`minqing migrate` has been run with its config.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import MISSING, fields
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, inspect, select, update

from routing.backfill import rebuild
from routing.jobs import due_at
from routing.model import Request
from routing.policy import Policy
from storage.repository import REQUEST_FIELDS, request_from, stint_values, to_event
from storage.tables import AuditRow, EventRow, Meta, RequestRow, StintRow

log = logging.getLogger(__name__)

PENDING = "backfill_pending"  # meta of a county whose stints are still to be made
BATCH = 500
R, E = RequestRow.__table__.c, EventRow.__table__.c


def counties(conn: Connection) -> list[str]:
    """Every county with requests in the database."""
    return sorted(conn.execute(select(R.county).distinct()).scalars())


def mark_pending(conn: Connection, county: str) -> None:
    """Remember that a county's stints are still to be made."""
    conn.execute(insert(Meta.__table__).values(county=county, name=PENDING, value="stints"))


def pending(conn: Connection, county: str) -> bool:
    """True when a county's stints are still to be made."""
    m = Meta.__table__.c
    return conn.execute(select(m.value).where(m.county == county, m.name == PENDING)).first() is not None


def backfill(conn: Connection, county: str, policy: Policy, now: datetime | None = None) -> int:
    """Make the stints of every request of a county from its event log; returns how many requests."""
    now = now or datetime.now(UTC)
    numbers = list(conn.execute(select(R.number).where(R.county == county).order_by(R.number)).scalars())
    # this runs inside a revision: read and write only the columns the database has at that revision
    have = {c["name"] for c in inspect(conn).get_columns("requests")}
    stint_columns = {c["name"] for c in inspect(conn).get_columns("stints")}
    defaults = {f.name: f.default for f in fields(Request) if f.default is not MISSING}
    for i in range(0, len(numbers), BATCH):
        part = numbers[i:i + BATCH]
        rows = conn.execute(select(*(R[n] for n in REQUEST_FIELDS if n in have)).where(
            R.county == county, R.number.in_(part)))
        requests = {}
        for row in rows:
            values = {**defaults, **dict(row._mapping)}
            requests[values["number"]] = request_from([values[n] for n in REQUEST_FIELDS])
        events = defaultdict(list)
        ids = defaultdict(list)
        for row in conn.execute(select(EventRow.__table__).where(E.county == county, E.number.in_(part))
                                .order_by(E.number, E.id)):
            events[row.number].append(to_event(row))
            ids[row.number].append(row.id)
        for number in part:
            r = requests[number]
            rebuilt = rebuild(r, events[number], policy)
            if (rebuilt.acknowledged_at, rebuilt.responder) != (r.acknowledged_at, r.responder):
                conn.execute(insert(AuditRow.__table__).values(
                    county=county, at=now, who="minqing migrate", action="first_response_corrected",
                    detail={"request": number, "was": [_iso(r.acknowledged_at), r.responder],
                            "now": [_iso(rebuilt.acknowledged_at), rebuilt.responder],
                            "why": "the bot's automatic escalation is not a response"}))
                r.acknowledged_at, r.responder = rebuilt.acknowledged_at, rebuilt.responder
            r.stint = len(rebuilt.stints)
            r.current = rebuilt.stints[-1]
            r.next_due_at = due_at(r, policy)
            conn.execute(update(RequestRow.__table__).where(R.county == county, R.number == number).values(
                stint=r.stint, next_due_at=r.next_due_at, acknowledged_at=r.acknowledged_at, responder=r.responder))
            conn.execute(insert(StintRow.__table__), [
                {"county": county, **{k: v for k, v in stint_values(s).items() if k in stint_columns}}
                for s in rebuilt.stints])
            for event_id, seq in zip(ids[number], rebuilt.event_stints, strict=True):
                conn.execute(update(EventRow.__table__).where(E.id == event_id).values(stint=seq))
    m = Meta.__table__.c
    conn.execute(Meta.__table__.delete().where(m.county == county, m.name == PENDING))
    log.info("made the stints of %d requests of %s from their event logs", len(numbers), county)
    return len(numbers)


def backfill_all(conn: Connection, policies: Mapping[str, Policy]) -> None:
    """Fill in the counties whose policy is given; mark the others pending."""
    for county in counties(conn):
        if county in policies:
            backfill(conn, county, policies[county])
        else:
            mark_pending(conn, county)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None

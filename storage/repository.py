"""The repository: domain objects in and out of the tables, inside one session."""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, delete, or_, update
from sqlalchemy import select as core_select
from sqlalchemy import text as text_sql
from sqlalchemy import Connection
from sqlmodel import Session, col, func, select

from routing.holidays import YearDays
from routing.lifecycle import Step
from routing.model import Event, EventKind, PersonRef, Rating, Request, Status, Stint, Tier
from routing.notices import Notice, NoticeUnit
from routing.ports import RequestFilter
from routing.rates import Record
from storage.locks import advisory_key
from storage.tallies import Tallies, Undo
from storage.fastsql import Raw, placeholders
from storage.tables import (
    AuditRow,
    CalendarDay,
    EventRow,
    FailedMessage,
    Meta,
    NamePin,
    NoticeRow,
    NoticeUnitRow,
    OutboxRow,
    PersonSeen,
    RequestRow,
    RoomSeen,
    StintRow,
    UTCDateTime,
)

# the Request fields stored as columns of RequestRow (the loaded current stint is not one)
REQUEST_FIELDS = tuple(f.name for f in fields(Request) if f.name != "current")
STINT_FIELDS = tuple(f.name for f in fields(Stint))
_TIER = {t.key: t for t in Tier}
_STATUS = {s.value: s for s in Status}
_RATING = {r.value: r for r in Rating}
_KIND = {k.value: k for k in EventKind}
_RATING_KINDS = [EventKind.SATISFIED.value, EventKind.UNSATISFIED.value]
R = RequestRow.__table__.c
S = StintRow.__table__.c


_NOTICE_FIELDS = ("number", "sender", "sender_key", "sender_id", "sender_room", "sender_unit", "scope", "text", "urgent",
                  "created_at", "remind_at", "report_at", "reported_at")
_NOTICE_UNIT_FIELDS = ("unit", "township", "village", "room", "acknowledged_at", "acknowledged_by",
                       "acknowledged_by_key", "reminded_at")

LEGACY_UNIT = "*"  # the unit of a pin made by version 0.1.0, which pinned names county-wide


@dataclass(frozen=True, slots=True)
class Taken:
    """An outbox message taken for sending (what sending needs of its row)."""

    id: int
    room: str | None
    to_id: str | None
    to_name: str | None
    text: str
    mentions: list
    key: str | None
    attempts: int
    created_at: datetime


class StaleWrite(RuntimeError):
    """A request was written from a copy that another transaction had changed meanwhile."""


def _column_value(value: Any) -> Any:
    if isinstance(value, Tier):
        return value.key
    if isinstance(value, enum.Enum):
        return value.value
    return value


def request_from(values: Sequence[Any]) -> Request:
    """A domain request from its column values in the order of REQUEST_FIELDS (a row or a tuple)."""
    r = Request(*values)
    r.tier = _TIER[r.tier]
    r.status = _STATUS[r.status]
    r.rating = _RATING[r.rating] if r.rating else None
    return r


def to_request(row: RequestRow) -> Request:
    """A domain request from its row."""
    return request_from([getattr(row, name) for name in REQUEST_FIELDS])


def _times(table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, UTCDateTime))


def _flags(table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, Boolean))


REQUEST_TIMES, REQUEST_FLAGS = _times(RequestRow.__table__), _flags(RequestRow.__table__)
STINT_TIMES, STINT_FLAGS = _times(StintRow.__table__), _flags(StintRow.__table__)
# Timers are found on the index (county, status, next_due_at) with every status named, so that each is a seek: a
# status that never has a timer (closed) costs one seek, and no status is left out by mistake.
_STATUSES = ", ".join(f"'{s.value}'" for s in Status)
_DUE = (f"SELECT number FROM requests WHERE county = :c AND status IN ({_STATUSES}) AND next_due_at <= :t "
        "ORDER BY next_due_at, number")
_NEXT_TIMER = "SELECT min(t) FROM (" + " UNION ALL ".join(
    [f"SELECT min(next_due_at) AS t FROM requests WHERE county = :c AND status = '{s.value}' AND next_due_at > :t"
     for s in Status] + ["SELECT min(due_at) AS t FROM timers WHERE county = :c AND due_at > :t"]) + ") timers"
# a request's (a stint's) column values as a tuple, in the order of REQUEST_FIELDS (STINT_FIELDS): what an update
# compares with the values read
_REQUEST_VALUES, _STINT_VALUES = operator.attrgetter(*REQUEST_FIELDS), operator.attrgetter(*STINT_FIELDS)
_REQUEST_COLS = ", ".join(f"r.{n}" for n in REQUEST_FIELDS)
_STINT_COLS = ", ".join(f's."{n}"' for n in STINT_FIELDS)  # "end" is a keyword of SQL


def _changes(raw: Raw, values: tuple, loaded: tuple | None, fields: Sequence[str], times: frozenset[str],
             flags: frozenset[str], keys: tuple[str, ...]) -> dict[str, Any]:
    """The columns whose values differ from those read (`loaded`, the same fields' values when read; every column
    when nothing was read, as for an INSERT), as the driver takes them: an update writes only these, and an
    unchanged indexed column costs no index write."""
    out: dict[str, Any] = {}
    for i, name in enumerate(fields):
        value = values[i]
        if name in keys or loaded is not None and value == loaded[i]:
            continue
        value = _column_value(value)
        if name in times:
            value = raw.time(value)
        elif name in flags:
            value = raw.flag(value)
        out[name] = value
    return out


def _set_clause(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}" = :{n}' for n in names)


def _read(raw: Raw, values: Sequence[Any], names: Sequence[str], times: frozenset[str],
          flags: frozenset[str]) -> list[Any]:
    """Row values as the domain wants them: times aware UTC, flags bool."""
    time_at, flag_at = _POSITIONS.get((id(names), times, flags)) or _positions(names, times, flags)
    out = list(values)
    if raw.pg:
        for i in time_at:
            if (v := out[i]) is not None:
                out[i] = v.replace(tzinfo=UTC)
    else:  # SQLite's text, parsed aware at once (inline: an export reads millions of times)
        for i in time_at:
            if (v := out[i]) is not None:
                out[i] = _FROM_ISO(v + "+00:00")
    for i in flag_at:
        if out[i] is not None:
            out[i] = bool(out[i])
    return out


_POSITIONS: dict[tuple, tuple[tuple[int, ...], tuple[int, ...]]] = {}
_FROM_ISO = datetime.fromisoformat


def _positions(names: Sequence[str], times: frozenset[str], flags: frozenset[str]):
    found = (tuple(i for i, n in enumerate(names) if n in times), tuple(i for i, n in enumerate(names) if n in flags))
    _POSITIONS[(id(names), times, flags)] = found
    return found


_EVENT_COLS = "number, kind, at, tier, actor, actor_key, from_status, to_status, from_tier, note, rule, data, stint"


def _event(raw: Raw, row: Sequence[Any]) -> Event:
    """A domain event from the columns of _EVENT_COLS."""
    n, kind, at, tier, actor, actor_key, from_status, to_status, from_tier, note, rule, data, stint = row
    return Event(
        number=n, kind=_KIND[kind], at=raw.read_time(at), tier=_TIER[tier], actor=actor, actor_key=actor_key,
        from_status=_STATUS[from_status] if from_status else None, to_status=_STATUS[to_status] if to_status else None,
        from_tier=_TIER[from_tier] if from_tier else None, note=note, rule=rule,
        data={} if data is None or data == "{}" else dict(raw.read_json(data) or {}),
        stint=stint,
    )


def stint_values(st: Stint) -> dict[str, Any]:
    """A stint's columns."""
    return {name: _column_value(getattr(st, name)) for name in STINT_FIELDS}


def stint_from(values: Sequence[Any]) -> Stint:
    """A domain stint from its column values in the order of STINT_FIELDS."""
    st = Stint(*values)
    st.tier = _TIER[st.tier]
    st.start = _KIND[st.start]
    st.end = _KIND[st.end] if st.end else None
    return st


def to_event(row: EventRow) -> Event:
    """A domain event from its row."""
    return Event(
        number=row.number,
        kind=EventKind(row.kind),
        at=row.at,
        tier=Tier.from_key(row.tier),
        actor=row.actor,
        actor_key=row.actor_key,
        from_status=Status(row.from_status) if row.from_status else None,
        to_status=Status(row.to_status) if row.to_status else None,
        from_tier=Tier.from_key(row.from_tier) if row.from_tier else None,
        note=row.note,
        rule=row.rule,
        data=dict(row.data or {}),
        stint=row.stint,
    )


class SqlRepository:
    """The domain's repository port over one transaction (a connection) and one county.

    The statements every message runs go straight to the driver (`raw`); the others use an ORM
    session, made on first use and bound to the same transaction.
    """

    def __init__(self, connection: Connection, county: str, tallies: Tallies | None = None) -> None:
        self.connection = connection
        self.county = county
        # rooms' and people's message counts (storage.tallies): a repository of its own when none is shared
        self.tallies = tallies if tallies is not None else Tallies()
        self.undo: list[Undo] = []  # how to undo this transaction's changes to the tallies, if it rolls back
        self.written: list[Event] = []  # events appended in this transaction, for the log after commit
        self._raw: Raw | None = None
        self._session: Session | None = None
        # copies of the requests (and stints) as read, by number: an update writes only what changed
        self._loaded: dict[int, tuple] = {}
        self._loaded_stints: dict[tuple[int, int], tuple] = {}

    @property
    def raw(self) -> Raw:
        """The driver under this transaction, for the statements every message runs (storage.fastsql)."""
        if self._raw is None:
            self._raw = Raw(self.connection)
        return self._raw

    @property
    def session(self) -> Session:
        """An ORM session in this transaction (it never commits or rolls back the transaction itself)."""
        if self._session is None:
            if not self.connection.in_transaction():
                # a transaction begun on the driver (storage.db, SQLite's writer): SQLAlchemy is told of it first, so
                # that the session joins it rather than owning it (and rolling it back when it closes)
                self.connection.begin()
            # bound to a connection already in its transaction (or savepoint): the session never commits it, and
            # closing it leaves it alone ("rollback_only": no savepoint of its own that closing would undo)
            self._session = Session(bind=self.connection, expire_on_commit=False, join_transaction_mode="rollback_only")
        return self._session

    def flush(self) -> None:
        """Write what the ORM session holds, before the transaction commits."""
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        """Let go of the ORM session, if one was made."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- messages and people ----------------------------------------------------
    def first_delivery(self, msg_id: str, at: datetime) -> bool:
        """Record a processed message id; False when it had been processed before."""
        raw = self.raw
        done = raw.run("INSERT INTO messages_seen (county, msg_id, at) VALUES (:c, :m, :at) "
                       "ON CONFLICT (county, msg_id) DO NOTHING", {"c": self.county, "m": msg_id, "at": raw.time(at)})
        return done.rowcount == 1

    def note_person(self, who: PersonRef, room: str, at: datetime) -> None:
        """Remember that this person spoke in this room (the count and time are written later: storage.tallies)."""
        raw = self.raw
        person = (who.key, who.name)
        tally = self.tallies.get("people", person)
        if tally is not None and room in tally.rooms:
            self.undo.append(self.tallies.count("people", person, at))  # a known row: counted, written later
            return
        folded, last, undo = self.tallies.claim("people", person)
        self.undo.append(undo)
        at_ = at if last is None or at > last else last
        key = {"c": self.county, "k": who.key, "n": who.name, "at": raw.time(at_), "m": 1 + folded}
        row = raw.one("SELECT id, rooms FROM people WHERE county = :c AND contact_key = :k AND name = :n", key)
        if row is None:
            raw.run("INSERT INTO people (county, contact_key, contact_id, name, rooms, messages, first_seen, last_seen) "
                    "VALUES (:c, :k, :i, :n, :rooms, :m, :at, :at)",
                    {**key, "i": who.contact_id, "rooms": raw.json([room])})
            self.undo.append(self.tallies.know("people", person, rooms=frozenset([room])))
            return
        rooms = raw.read_json(row[1])
        added = {} if room in rooms else {"rooms": raw.json([*rooms, room])}
        raw.run("UPDATE people SET messages = messages + :m, last_seen = CASE WHEN last_seen < :at THEN :at "
                f"ELSE last_seen END{', rooms = :rooms' if added else ''} WHERE id = :id", {**key, **added, "id": row[0]})
        self.undo.append(self.tallies.know("people", person, rooms=frozenset([*rooms, room])))

    def note_room(self, topic: str, configured: bool, at: datetime, room_id: str | None = None) -> bool:
        """Remember a room a message came from; True the first time it is seen (the count and time of a room
        already written are written later: storage.tallies)."""
        raw = self.raw
        tally = self.tallies.get("rooms", topic)
        if tally is not None and tally.configured == configured and room_id in (None, tally.room_id):
            self.undo.append(self.tallies.count("rooms", topic, at))  # a known row: counted, written later
            return False
        folded, last, undo = self.tallies.claim("rooms", topic)
        self.undo.append(undo)
        p = {"conf": raw.flag(configured), "r": room_id, "at": raw.time(at if last is None or at > last else last),
             "c": self.county, "t": topic, "m": 1 + folded}
        row = raw.one("UPDATE rooms SET configured = :conf, room_id = COALESCE(:r, room_id), "
                      "messages = messages + :m, last_seen = CASE WHEN last_seen < :at THEN :at ELSE last_seen END "
                      "WHERE county = :c AND topic = :t RETURNING room_id", p)
        if row is not None:
            self.undo.append(self.tallies.know("rooms", topic, configured=configured, room_id=row[0]))
            return False
        raw.run("INSERT INTO rooms (county, topic, room_id, configured, messages, first_seen, last_seen) "
                "VALUES (:c, :t, :r, :conf, :m, :at, :at)", p)
        self.undo.append(self.tallies.know("rooms", topic, configured=configured, room_id=room_id))
        return True

    def write_tallies(self) -> int:
        """Write every count not yet written (storage.tallies); how many rows were written."""
        raw = self.raw
        written = 0
        for table, key, _, _ in self.tallies.unwritten():
            n, last, undo = self.tallies.claim(table, key)
            if not n or last is None:
                continue
            self.undo.append(undo)
            p = {"m": n, "at": raw.time(last), "c": self.county}
            if table == "rooms":
                raw.run("UPDATE rooms SET messages = messages + :m, last_seen = CASE WHEN last_seen < :at THEN :at "
                        "ELSE last_seen END WHERE county = :c AND topic = :t", {**p, "t": key})
            else:
                raw.run("UPDATE people SET messages = messages + :m, last_seen = CASE WHEN last_seen < :at THEN :at "
                        "ELSE last_seen END WHERE county = :c AND contact_key = :k AND name = :n",
                        {**p, "k": key[0], "n": key[1]})
            written += 1
        return written

    def rollback_tallies(self) -> None:
        """Undo what this transaction did to the tallies (it rolled back)."""
        for undo in reversed(self.undo):
            undo()
        self.undo.clear()

    def rooms(self) -> list[RoomSeen]:
        """Every room seen, configured ones first (with this process's counts not yet written)."""
        return self._with_tallies("rooms", list(self.session.exec(
            select(RoomSeen).where(RoomSeen.county == self.county)
            .order_by(col(RoomSeen.configured).desc(), RoomSeen.topic)
        )), lambda r: r.topic)

    def _with_tallies(self, table: str, rows: list, key: Callable[[Any], Any]) -> list:
        """Rows of rooms or people, detached, with the counts this process has not yet written added."""
        waiting = {k: (n, last) for _, k, n, last in self.tallies.unwritten(table)}
        for row in rows:
            self.session.expunge(row)  # a changed row must never be written back
            if (found := waiting.get(key(row))) is not None:
                row.messages += found[0]
                row.last_seen = max(row.last_seen, found[1])
        return rows

    def record_failure(self, msg, error: str, at: datetime) -> None:
        """Keep a message the bot failed to handle, with the error."""
        self.session.add(FailedMessage(
            county=self.county, msg_id=msg.msg_id, ts=msg.ts, room=msg.room or "（私信）", sender=msg.sender,
            sender_id=msg.sender_id, text=msg.text, error=error, at=at,
        ))
        self.session.flush()

    def failures(self) -> list[FailedMessage]:
        """Messages the bot failed to handle, oldest first."""
        return list(self.session.exec(
            select(FailedMessage).where(FailedMessage.county == self.county).order_by(FailedMessage.id)
        ))

    def trouble_counts(self) -> tuple[int, int]:
        """How many messages the bot failed to handle (kept), and how many outbox messages it gave up."""
        failed = self.raw.scalar("SELECT count(*) FROM failed_messages WHERE county = :c", {"c": self.county})
        given_up = self.raw.scalar("SELECT count(*) FROM outbox WHERE county = :c AND status IN ('failed', 'abandoned')",
                                   {"c": self.county})
        return int(failed or 0), int(given_up or 0)

    def rooms_of(self, contact_id: str) -> list[str]:
        """The rooms a contact was seen writing in, most recent first."""
        rows = self.session.exec(select(PersonSeen).where(
            PersonSeen.county == self.county, PersonSeen.contact_id == contact_id).order_by(
            col(PersonSeen.last_seen).desc()))
        return [room for row in rows for room in row.rooms]

    def people(self) -> list[PersonSeen]:
        """Everyone seen, by name."""
        return self._with_tallies("people", list(self.session.exec(
            select(PersonSeen).where(PersonSeen.county == self.county).order_by(PersonSeen.name, PersonSeen.first_seen)
        )), lambda p: (p.contact_key, p.name))

    def pinned_id(self, unit: str, name: str) -> str | None:
        """The contact id a handler's name is pinned to in a unit (or by a pin of 0.1.0, in any unit)."""
        rows = dict(self.raw.run(
            "SELECT unit, contact_id FROM name_pins WHERE county = :c AND name = :n AND unit IN (:u, :legacy)",
            {"c": self.county, "n": name, "u": unit, "legacy": LEGACY_UNIT}).fetchall())
        return rows.get(unit) or rows.get(LEGACY_UNIT)

    def pins(self) -> list[NamePin]:
        """Every pin, by name and unit."""
        return list(self.session.exec(
            select(NamePin).where(NamePin.county == self.county).order_by(NamePin.name, NamePin.unit)))

    def pin(self, unit: str, name: str, contact_id: str, at: datetime) -> None:
        """Pin a handler's name in a unit to a contact id (replacing a pin of that unit)."""
        self.unpin(unit, name)
        self.raw.run("INSERT INTO name_pins (county, unit, name, contact_id, at) VALUES (:c, :u, :n, :i, :at)",
                     {"c": self.county, "u": unit, "n": name, "i": contact_id, "at": self.raw.time(at)})

    def unpin(self, unit: str | None, name: str) -> int:
        """Remove a name's pin in a unit (None: in every unit, 0.1.0's too); returns how many."""
        if unit is None:
            return self.raw.run("DELETE FROM name_pins WHERE county = :c AND name = :n",
                                {"c": self.county, "n": name}).rowcount
        return self.raw.run("DELETE FROM name_pins WHERE county = :c AND name = :n AND unit = :u",
                            {"c": self.county, "n": name, "u": unit}).rowcount

    def first_clash(self, unit: str, name: str, contact_id: str, at: datetime) -> bool:
        """Record that another contact used a handler's name in a unit; True the first time only."""
        params = {"c": self.county, "u": unit, "n": name, "i": contact_id}
        if self.raw.one("SELECT 1 FROM name_clashes WHERE county = :c AND unit = :u AND name = :n "
                        "AND contact_id = :i", params):
            return False
        self.raw.run("INSERT INTO name_clashes (county, unit, name, contact_id, at) VALUES (:c, :u, :n, :i, :at)",
                     {**params, "at": self.raw.time(at)})
        return True

    # --- requests ----------------------------------------------------------------
    def next_number(self) -> int:
        """The next request number of the county (never reused)."""
        raw = self.raw
        number = raw.scalar("UPDATE counters SET last_number = last_number + 1 WHERE county = :c RETURNING last_number",
                            {"c": self.county})
        if number is None:  # the county's first request (two at once: one fails and is tried again)
            raw.run("INSERT INTO counters (county, last_number) VALUES (:c, 1)", {"c": self.county})
            number = 1
        return number

    def _locking(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def add(self, request: Request, step: Step) -> None:
        """Store a new request with its first event and its first stint."""
        raw = self.raw
        values = _changes(raw, _REQUEST_VALUES(request), None, REQUEST_FIELDS, REQUEST_TIMES, REQUEST_FLAGS, ())
        raw.run(f"INSERT INTO requests (county, {', '.join(REQUEST_FIELDS)}) VALUES (:county, "
                f"{placeholders(REQUEST_FIELDS)})", {"county": self.county, **values})
        self._append(step.event)
        self._insert_stint(step.current)

    def get(self, number: int, lock: bool = False) -> Request | None:
        """The request with that number and its current stint, or None.

        With `lock`, the request's row stays locked until the transaction ends (PostgreSQL: SELECT
        ... FOR UPDATE; SQLite: its write transactions are serialised anyway), so a decision taken
        on it cannot be overtaken by another transaction's change.
        """
        raw = self.raw
        sql = (f"SELECT {_REQUEST_COLS}, {_STINT_COLS} FROM requests r LEFT JOIN stints s ON s.county = r.county "
               "AND s.number = r.number AND s.seq = r.stint WHERE r.county = :c AND r.number = :n")
        if lock and raw.pg:
            sql += " FOR UPDATE OF r"
        row = raw.one(sql, {"c": self.county, "n": number})
        if row is None:
            return None
        n = len(REQUEST_FIELDS)
        req = request_from(_read(raw, row[:n], REQUEST_FIELDS, REQUEST_TIMES, REQUEST_FLAGS))
        self._loaded[number] = _REQUEST_VALUES(req)
        if row[n] is not None:
            req.current = stint_from(_read(raw, row[n:], STINT_FIELDS, STINT_TIMES, STINT_FLAGS))
            self._loaded_stints[(number, req.current.seq)] = _STINT_VALUES(req.current)
        return req

    def update(self, request: Request, step: Step) -> None:
        """Store a request's new state, append the event that changed it, and write its stints.

        The write matches only the version that was read: a copy that another transaction changed
        meanwhile is refused with StaleWrite (and the whole transaction is tried again).
        """
        raw = self.raw
        values = _changes(raw, _REQUEST_VALUES(request), self._loaded.pop(request.number, None), REQUEST_FIELDS,
                          REQUEST_TIMES, REQUEST_FLAGS, ("number", "version"))
        values["version"] = request.version + 1
        changed = _set_clause(values)
        values.update(county=self.county, number=request.number, read_version=request.version)
        done = raw.run(f"UPDATE requests SET {changed} WHERE county = :county AND number = :number "
                       "AND version = :read_version", values)
        if done.rowcount != 1:
            raise StaleWrite(f"request #{request.number} changed since it was read (version {request.version})")
        request.version += 1
        self._append(step.event)
        if step.ended is not None:
            self._write_stint(step.ended)
        if step.started:
            self._insert_stint(step.current)
        else:
            self._write_stint(step.current)

    def _write_stint(self, st: Stint) -> None:
        raw = self.raw
        loaded = self._loaded_stints.pop((st.number, st.seq), None)
        values = _changes(raw, _STINT_VALUES(st), loaded, STINT_FIELDS, STINT_TIMES, STINT_FLAGS, ("number", "seq"))
        if loaded is not None and not values:
            return
        done = raw.run(f"UPDATE stints SET {_set_clause(values)} WHERE county = :county AND number = :number "
                       "AND seq = :seq", {**values, "county": self.county, "number": st.number, "seq": st.seq})
        if done.rowcount == 0:  # a request stored before stints were kept (tests build them by hand)
            self._insert_stint(st)

    def _insert_stint(self, st: Stint) -> None:
        raw = self.raw
        values = _changes(raw, _STINT_VALUES(st), None, STINT_FIELDS, STINT_TIMES, STINT_FLAGS, ())
        names = ", ".join(f'"{n}"' for n in STINT_FIELDS)
        raw.run(f"INSERT INTO stints (county, {names}) VALUES (:county, {placeholders(STINT_FIELDS)})",
                {"county": self.county, **values})

    def set_timer(self, request: Request) -> None:
        """Store only a request's timer (its next due time)."""
        raw = self.raw
        raw.run("UPDATE requests SET next_due_at = :t WHERE county = :c AND number = :n",
                {"t": raw.time(request.next_due_at), "c": self.county, "n": request.number})

    def due(self, now: datetime) -> list[int]:
        """Numbers of the requests whose timer has come, soonest first (one query, a seek per status on the index
        by county, status and due time)."""
        raw = self.raw
        return raw.column(_DUE, {"c": self.county, "t": raw.time(now)})

    def next_timer(self, after: datetime) -> datetime | None:
        """The earliest timer strictly after `after`, of a request or a digest (one query: a seek per status and
        one on the digests' timers)."""
        raw = self.raw
        return raw.read_time(raw.scalar(_NEXT_TIMER, {"c": self.county, "t": raw.time(after)}))

    def timer(self, name: str) -> datetime | None:
        """When a named job (a digest) next falls due, if set."""
        return self.raw.read_time(self.raw.scalar("SELECT due_at FROM timers WHERE county = :c AND name = :n",
                                                  {"c": self.county, "n": name}))

    def set_timer_at(self, name: str, due: datetime | None) -> None:
        """Set when a named job next falls due."""
        raw = self.raw
        raw.run("INSERT INTO timers (county, name, due_at) VALUES (:c, :n, :t) "
                "ON CONFLICT (county, name) DO UPDATE SET due_at = excluded.due_at",
                {"c": self.county, "n": name, "t": raw.time(due)})

    def stints(self, number: int) -> list[Stint]:
        """A request's stints, first to last."""
        return [stint_from(row) for row in self.session.execute(
            core_select(*(S[n] for n in STINT_FIELDS)).where(S.county == self.county, S.number == number)
            .order_by(S.seq))]

    def _append(self, e: Event) -> None:
        self.written.append(e)
        raw = self.raw
        raw.run("INSERT INTO events (county, number, kind, at, tier, from_tier, actor, actor_key, from_status, "
                "to_status, note, rule, data, stint) VALUES (:county, :number, :kind, :at, :tier, :from_tier, :actor, "
                ":actor_key, :from_status, :to_status, :note, :rule, :data, :stint)", {
                    "county": self.county, "number": e.number, "kind": e.kind.value, "at": raw.time(e.at),
                    "tier": e.tier.key, "from_tier": e.from_tier.key if e.from_tier else None, "actor": e.actor,
                    "actor_key": e.actor_key, "from_status": e.from_status.value if e.from_status else None,
                    "to_status": e.to_status.value if e.to_status else None, "note": e.note, "rule": e.rule,
                    "data": raw.json(e.data), "stint": e.stint})

    def events(self, number: int) -> list[Event]:
        """A request's event log, oldest first."""
        return self._events("number = :n", {"n": number})

    def events_between(self, start: datetime, end: datetime) -> list[Event]:
        """Every event in [start, end), oldest first."""
        raw = self.raw
        return self._events("at >= :s AND at < :e", {"s": raw.time(start), "e": raw.time(end)})

    def _events(self, where: str, params: dict[str, Any]) -> list[Event]:
        raw = self.raw
        rows = raw.run(f"SELECT {_EVENT_COLS} FROM events WHERE county = :c AND {where} ORDER BY id",
                       {"c": self.county, **params}).fetchall()
        return [_event(raw, row) for row in rows]

    def records(self, start: datetime, end: datetime) -> list[Record]:
        """The records (request, stints, ratings) of the requests with a deadline or a rating in [start, end)."""
        return self.records_of(sorted(self.record_versions(start, end)))

    def record_versions(self, start: datetime, end: datetime) -> dict[int, int]:
        """The requests with a deadline or a rating in [start, end): number -> version."""
        raw = self.raw
        p = {"c": self.county, "s": raw.time(start), "e": raw.time(end)}
        # each of the three found by its own time index, then the versions by number
        return dict(raw.run(
            "SELECT number, version FROM requests WHERE county = :c AND number IN ("
            "SELECT number FROM requests WHERE county = :c AND first_ack_due_at >= :s AND first_ack_due_at < :e "
            "UNION SELECT number FROM stints WHERE county = :c AND resolve_due_at >= :s AND resolve_due_at < :e "
            "UNION SELECT number FROM events WHERE county = :c AND kind IN ('satisfied', 'unsatisfied') "
            "AND at >= :s AND at < :e)", p).fetchall())

    def records_of(self, numbers: Sequence[int]) -> list[Record]:
        """The records of these requests, by number."""
        raw = self.raw
        out: list[Record] = []
        for i in range(0, len(numbers), 500):
            part = list(numbers[i:i + 500])
            requests = self.get_many(part)
            marks = ", ".join(f":n{k}" for k in range(len(part)))
            p = {"c": self.county, **{f"n{k}": n for k, n in enumerate(part)}}
            stints: dict[int, list[Stint]] = {n: [] for n in part}
            for row in raw.run(f"SELECT {_STINT_COLS} FROM stints s WHERE s.county = :c AND s.number IN ({marks}) "
                               "ORDER BY s.number, s.seq", p).fetchall():
                stints[row[0]].append(stint_from(_read(raw, row, STINT_FIELDS, STINT_TIMES, STINT_FLAGS)))
            ratings: dict[int, list[Event]] = {n: [] for n in part}
            for row in raw.run(f"SELECT {_EVENT_COLS} FROM events WHERE county = :c AND number IN ({marks}) "
                               "AND kind IN ('satisfied', 'unsatisfied') ORDER BY id", p).fetchall():
                ratings[row[0]].append(_event(raw, row))
            out += [Record(requests[n], tuple(stints[n]), tuple(ratings[n])) for n in part if n in requests]
        return out

    def corrected(self) -> list[Request]:
        """The requests whose category a handler corrected (分类 #N), by number, with their current category."""
        numbers = self.raw.column("SELECT DISTINCT number FROM events WHERE county = :c AND kind = :k ORDER BY number",
                                  {"c": self.county, "k": EventKind.RECATEGORIZED.value})
        found = self.get_many(numbers)
        return [found[n] for n in numbers if n in found]

    def get_many(self, numbers: list[int]) -> dict[int, Request]:
        """Requests by number."""
        if not numbers:
            return {}
        out: dict[int, Request] = {}
        wanted = sorted(set(numbers))
        for i in range(0, len(wanted), 500):
            part = wanted[i:i + 500]
            marks = ", ".join(f":n{k}" for k in range(len(part)))
            for req in self._requests(f"r.number IN ({marks})", {f"n{k}": n for k, n in enumerate(part)}):
                out[req.number] = req
        return out

    def _requests(self, where: str, params: dict[str, Any], order: str = "r.number") -> list[Request]:
        """Requests of this county matching a WHERE clause (on `r`), in order."""
        raw = self.raw
        rows = raw.run(f"SELECT {_REQUEST_COLS} FROM requests r WHERE r.county = :c AND {where} ORDER BY {order}",
                       {"c": self.county, **params}).fetchall()
        return [request_from(_read(raw, row, REQUEST_FIELDS, REQUEST_TIMES, REQUEST_FLAGS)) for row in rows]

    def try_lock_jobs(self) -> bool:
        """Take the county's time-driven-jobs lock for this transaction; False when another process has it."""
        if self.session.get_bind().dialect.name != "postgresql":
            return True  # SQLite: BEGIN IMMEDIATE already serialises writers
        key = advisory_key("jobs", self.county)
        return bool(self.session.connection().execute(text_sql("select pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())

    def _filtered(self, flt: RequestFilter):
        q = select(RequestRow).where(RequestRow.county == self.county)
        if flt.statuses is not None:
            q = q.where(col(RequestRow.status).in_([s.value for s in flt.statuses]))
        if flt.tier is not None:
            q = q.where(RequestRow.tier == flt.tier.key)
        if flt.township is not None:
            q = q.where(RequestRow.township == flt.township)
        if flt.village is not None:
            q = q.where(RequestRow.village == flt.village)
        if flt.requester_key is not None:
            q = q.where(RequestRow.requester_key == flt.requester_key)
        if flt.created_from is not None:
            q = q.where(RequestRow.created_at >= flt.created_from)
        if flt.created_to is not None:
            q = q.where(RequestRow.created_at < flt.created_to)
        return q.order_by(RequestRow.number)

    def find(self, flt: RequestFilter) -> list[Request]:
        """Requests matching the filter, by number."""
        raw = self.raw
        where, params = ["1 = 1"], {}
        if flt.statuses is not None:
            marks = []
            for k, status in enumerate(sorted(x.value for x in flt.statuses)):
                params[f"s{k}"] = status
                marks.append(f":s{k}")
            where.append(f"r.status IN ({', '.join(marks)})")
        for name, value in (("tier", flt.tier.key if flt.tier else None), ("township", flt.township),
                            ("village", flt.village), ("requester_key", flt.requester_key)):
            if value is not None:
                where.append(f"r.{name} = :{name}")
                params[name] = value
        if flt.created_from is not None:
            where.append("r.created_at >= :cf")
            params["cf"] = raw.time(flt.created_from)
        if flt.created_to is not None:
            where.append("r.created_at < :ct")
            params["ct"] = raw.time(flt.created_to)
        return self._requests(" AND ".join(where), params)

    def stream(self, flt: RequestFilter, batch: int = 2000) -> Iterator[Request]:
        """Requests matching the filter, by number, fetched in batches (for large exports)."""
        result = self.session.exec(self._filtered(flt).execution_options(yield_per=batch))
        for row in result:
            yield to_request(row)

    def count(self) -> int:
        """How many requests the county has."""
        return self.session.exec(
            select(func.count()).select_from(RequestRow).where(RequestRow.county == self.county)
        ).one()

    # --- notices -------------------------------------------------------------
    def next_notice_number(self) -> int:
        """The next notice number of the county (its own sequence, never reused)."""
        raw = self.raw
        return raw.scalar("INSERT INTO counters (county, last_number, last_notice) VALUES (:c, 0, 1) "
                          "ON CONFLICT (county) DO UPDATE SET last_notice = counters.last_notice + 1 "
                          "RETURNING last_notice", {"c": self.county})

    def add_notice(self, notice: Notice, source_msg_id: str | None = None) -> None:
        """Store a new notice and the units it goes to."""
        values = {f: getattr(notice, f) for f in _NOTICE_FIELDS}
        self.session.add(NoticeRow(county=self.county, source_msg_id=source_msg_id, **values))
        for seq, u in enumerate(notice.units):
            self.session.add(NoticeUnitRow(county=self.county, number=notice.number, seq=seq, tier=u.tier.key,
                                           **{f: getattr(u, f) for f in _NOTICE_UNIT_FIELDS}))
        self.session.flush()

    def notice(self, number: int, lock: bool = False) -> Notice | None:
        """The notice with that number and its units, or None; `lock` keeps others from changing it meanwhile."""
        q = (select(NoticeRow).where(NoticeRow.county == self.county, NoticeRow.number == number)
             .execution_options(populate_existing=True))
        if lock and self._locking():
            q = q.with_for_update()
        row = self.session.exec(q).first()
        if row is None:
            return None
        return self._notices([row])[0]

    def notices(self, start: datetime | None = None, end: datetime | None = None, by: str = "created") -> list[Notice]:
        """The notices sent (`by` "created") or due to remind (`by` "remind") in [start, end), by number."""
        q = select(NoticeRow).where(NoticeRow.county == self.county).execution_options(populate_existing=True)
        when = NoticeRow.remind_at if by == "remind" else NoticeRow.created_at
        if start is not None:
            q = q.where(when >= start)
        if end is not None:
            q = q.where(when < end)
        return self._notices(list(self.session.exec(q.order_by(NoticeRow.number))))

    def notices_awaiting(self, units: Sequence[str]) -> list[Notice]:
        """The notices that some of these units have not acknowledged yet, by number."""
        if not units:
            return []
        numbers = sorted(set(self.session.exec(
            select(NoticeUnitRow.number).where(NoticeUnitRow.county == self.county,
                                               col(NoticeUnitRow.unit).in_(list(units)),
                                               col(NoticeUnitRow.acknowledged_at).is_(None)))))
        if not numbers:
            return []
        rows = self.session.exec(select(NoticeRow).where(NoticeRow.county == self.county,
                                                         col(NoticeRow.number).in_(numbers))
                                 .order_by(NoticeRow.number).execution_options(populate_existing=True))
        return self._notices(list(rows))

    def _notices(self, rows: list[NoticeRow]) -> list[Notice]:
        if not rows:
            return []
        units: dict[int, list[NoticeUnit]] = {r.number: [] for r in rows}
        for i in range(0, len(rows), 500):
            numbers = [r.number for r in rows[i:i + 500]]
            for u in self.session.exec(select(NoticeUnitRow).where(
                    NoticeUnitRow.county == self.county, col(NoticeUnitRow.number).in_(numbers))
                    .order_by(NoticeUnitRow.number, NoticeUnitRow.seq).execution_options(populate_existing=True)):
                units[u.number].append(NoticeUnit(tier=_TIER[u.tier], **{f: getattr(u, f) for f in _NOTICE_UNIT_FIELDS}))
        return [Notice(units=units[r.number], **{f: getattr(r, f) for f in _NOTICE_FIELDS}) for r in rows]

    def save_notice(self, notice: Notice) -> None:
        """Store what changes in a notice: when it was reported, and each unit's acknowledgement and reminder."""
        self.session.execute(update(NoticeRow).where(NoticeRow.county == self.county, NoticeRow.number == notice.number)
                             .values(reported_at=notice.reported_at).execution_options(synchronize_session=False))
        for u in notice.units:
            self.session.execute(
                update(NoticeUnitRow).where(NoticeUnitRow.county == self.county, NoticeUnitRow.number == notice.number,
                                            NoticeUnitRow.unit == u.unit)
                .values(acknowledged_at=u.acknowledged_at, acknowledged_by=u.acknowledged_by,
                        acknowledged_by_key=u.acknowledged_by_key, reminded_at=u.reminded_at)
                .execution_options(synchronize_session=False))

    def due_timers(self, prefix: str, now: datetime) -> list[str]:
        """The named timers starting with `prefix` that are due at `now`, soonest first."""
        raw = self.raw
        return raw.column("SELECT name FROM timers WHERE county = :c AND due_at <= :t AND name LIKE :p "
                          "ORDER BY due_at, name", {"c": self.county, "t": raw.time(now), "p": prefix + "%"})

    # --- outbox --------------------------------------------------------------
    def has_key(self, key: str) -> bool:
        """True when an outbound message with this key was already recorded."""
        return self.session.exec(
            select(OutboxRow.id).where(OutboxRow.county == self.county, OutboxRow.key == key)
        ).first() is not None

    def enqueue(self, room: str | None, text: str, mentions: list[dict], at: datetime, key: str | None = None,
                to: PersonRef | None = None) -> bool:
        """Record a message to a room, or privately `to` someone (room None); False (and nothing recorded) when
        its key was recorded before."""
        raw = self.raw
        done = raw.run(
            "INSERT INTO outbox (county, room, to_id, to_name, text, mentions, key, status, attempts, created_at) "
            "VALUES (:c, :room, :to_id, :to_name, :text, :mentions, :key, 'queued', 0, :at) "
            "ON CONFLICT (county, key) WHERE key IS NOT NULL DO NOTHING",
            {"c": self.county, "room": room, "to_id": to.contact_id if to else None, "to_name": to.name if to else None,
             "text": text, "mentions": raw.json(mentions), "key": key, "at": raw.time(at)})
        return done.rowcount == 1

    def outbox(self, statuses: tuple[str, ...] = ("queued",), limit: int | None = None) -> list[OutboxRow]:
        """Outbox rows in the order they were recorded."""
        q = (select(OutboxRow).where(OutboxRow.county == self.county, col(OutboxRow.status).in_(statuses))
             .order_by(OutboxRow.id))
        if limit is not None:
            q = q.limit(limit)
        return list(self.session.exec(q))

    def outbox_sent_since(self, since: datetime) -> list[OutboxRow]:
        """Messages sent at or after `since`, oldest first."""
        return list(self.session.exec(
            select(OutboxRow).where(OutboxRow.county == self.county, OutboxRow.status == "sent",
                                    col(OutboxRow.sent_at) >= since).order_by(OutboxRow.sent_at)
        ))

    def active_rooms(self, since: datetime, ignore_key_prefix: str | None = None) -> set[str]:
        """Rooms where someone wrote, or the bot queued a message, at or after `since`.

        Messages whose key starts with `ignore_key_prefix` do not count.
        """
        spoken = {*self.session.exec(
            select(RoomSeen.topic).where(RoomSeen.county == self.county, col(RoomSeen.last_seen) >= since)
        ), *(key for _, key, _, last in self.tallies.unwritten("rooms") if last >= since)}
        q = select(OutboxRow.room).where(OutboxRow.county == self.county, col(OutboxRow.created_at) >= since)
        if ignore_key_prefix:
            q = q.where(or_(col(OutboxRow.key).is_(None), ~col(OutboxRow.key).startswith(ignore_key_prefix)))
        said = self.session.exec(q.distinct())
        return set(spoken) | set(said)

    def outbox_row(self, row_id: int) -> OutboxRow | None:
        """One outbox row by id."""
        return self.session.get(OutboxRow, row_id)

    def claim_outbox(self, row_id: int, holder: str) -> OutboxRow | None:
        """Take a queued message for sending (queued -> sending, one more attempt); None if it is not queued."""
        # one conditional statement: of two processes claiming the same row, exactly one gets it
        stmt = (update(OutboxRow)
                .where(col(OutboxRow.id) == row_id, col(OutboxRow.county) == self.county,
                       col(OutboxRow.status) == "queued")
                .values(status="sending", holder=holder, attempts=col(OutboxRow.attempts) + 1)
                .returning(OutboxRow)
                .execution_options(synchronize_session=False))
        return self.session.execute(stmt).scalars().first()

    def claim_due(self, now: datetime, holder: str) -> list[Taken]:
        """Take every queued message whose time has come for sending, in one statement; oldest first."""
        raw = self.raw
        rows = raw.run("UPDATE outbox SET status = 'sending', holder = :h, attempts = attempts + 1 "
                       "WHERE county = :c AND status = 'queued' AND (not_before IS NULL OR not_before <= :now) "
                       "RETURNING id, room, to_id, to_name, text, mentions, key, attempts, created_at",
                       {"h": holder, "c": self.county, "now": raw.time(now)}).fetchall()
        out = [Taken(r[0], r[1], r[2], r[3], r[4], raw.read_json(r[5]), r[6], r[7], raw.read_time(r[8])) for r in rows]
        return sorted(out, key=lambda r: r.id)

    def sent_all(self, ids: Sequence[int], holder: str, at: datetime) -> int:
        """Mark messages this holder took as sent; how many were still its own."""
        if not ids:
            return 0
        raw = self.raw
        marks = ", ".join(f":i{k}" for k in range(len(ids)))
        return raw.run(f"UPDATE outbox SET status = 'sent', sent_at = :at, error = NULL WHERE county = :c "
                       f"AND status = 'sending' AND holder = :h AND id IN ({marks})",
                       {"at": raw.time(at), "c": self.county, "h": holder,
                        **{f"i{k}": i for k, i in enumerate(ids)}}).rowcount

    def finish_outbox(self, row_id: int, holder: str, **values: Any) -> bool:
        """Record how a send ended, only if `holder` is still sending it; False when it was not."""
        stmt = (update(OutboxRow)
                .where(col(OutboxRow.id) == row_id, col(OutboxRow.county) == self.county,
                       col(OutboxRow.status) == "sending", col(OutboxRow.holder) == holder)
                .values(**values)
                .execution_options(synchronize_session=False))
        return self.session.execute(stmt).rowcount == 1

    def save(self, row) -> None:
        """Store a changed row."""
        self.session.add(row)
        self.session.flush()

    # --- imported holiday years ---------------------------------------------------
    def calendar_years(self) -> list[YearDays]:
        """The holiday years imported for this county (`minqing calendar import`), by year."""
        rows = self.session.exec(select(CalendarDay).where(CalendarDay.county == self.county)
                                 .order_by(CalendarDay.year, CalendarDay.day)).all()
        years: dict[int, tuple[set, set]] = {}
        for row in rows:
            off, work = years.setdefault(row.year, (set(), set()))
            (off if row.kind == "off" else work).add(row.day)
        return [YearDays(y, frozenset(off), frozenset(work)) for y, (off, work) in sorted(years.items())]

    def calendar_sources(self) -> dict[int, tuple[str, datetime]]:
        """For each imported year, the file it was imported from and when."""
        rows = self.session.exec(select(CalendarDay.year, CalendarDay.source, func.max(CalendarDay.imported_at))
                                 .where(CalendarDay.county == self.county)
                                 .group_by(CalendarDay.year, CalendarDay.source)).all()
        return {year: (source, UTCDateTime().process_result_value(at, None) if at.tzinfo is None else at)
                for year, source, at in rows}

    def store_calendar_year(self, year: YearDays, source: str, at: datetime) -> bool:
        """Store an imported year, replacing what was imported for it before; True when it replaced one."""
        done = self.session.execute(delete(CalendarDay).where(CalendarDay.county == self.county,
                                                              CalendarDay.year == year.year))
        for kind, days in (("off", year.off), ("work", year.work)):
            for d in sorted(days):
                self.session.add(CalendarDay(county=self.county, year=year.year, day=d, kind=kind, source=source,
                                             imported_at=at))
        self.session.flush()
        return bool(done.rowcount)

    # --- meta and audit ----------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        """A stored setting of the deployment (e.g. the clock's high-water mark)."""
        return self.raw.scalar("SELECT value FROM meta WHERE county = :c AND name = :n", {"c": self.county, "n": name})

    def delete_meta(self, name: str) -> None:
        """Forget a stored setting."""
        self.session.execute(delete(Meta).where(Meta.county == self.county, Meta.name == name))

    def set_meta(self, name: str, value: str) -> None:
        """Store a setting of the deployment."""
        self.raw.run("INSERT INTO meta (county, name, value) VALUES (:c, :n, :v) "
                     "ON CONFLICT (county, name) DO UPDATE SET value = excluded.value",
                     {"c": self.county, "n": name, "v": value})

    def audit(self, at: datetime, who: str, action: str, detail: dict) -> None:
        """Write an audit record."""
        self.session.add(AuditRow(county=self.county, at=at, who=who, action=action, detail=detail))
        self.session.flush()

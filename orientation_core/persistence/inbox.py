"""Inbox SQL: the intake edges' store path (bulk insert with dedup, one commit per batch) and reads by id / key.

Tables (``tables.inbox_message``, ``tables.inbox_attempt``; migration 0003):

* ``inbox_message`` — one row per inbound message: ``source`` (hl7v2 | fhir), the dedup key ``sender_app``,
  ``sender_facility``, ``control_id`` (HL7: MSH-3, MSH-4, MSH-10 as received), ``message_type`` / ``trigger_event``
  / ``message_structure`` (MSH-9.1/.2/.3), ``version`` (MSH-12), ``charset`` (MSH-18 as received, or the default
  used), ``patient_key`` (PID-3 IPP ``value^assigner``, read cheaply at store time: the pipeline orders by it),
  ``received_at``, ``raw`` (bytes exactly as received inside the MLLP frame), ``flags`` (JSON list of
  ``InboxFlag``), ``ack`` (the ACK bytes sent, replayed to a duplicate; empty when MSH-15 asked for none),
  ``accept_ack_type`` / ``app_ack_type`` (MSH-15/16), and the pipeline's ``status``, ``attempts``,
  ``next_attempt_at``, ``last_error``, ``outcome`` (JSON), ``processed_at``.
  Unique (source, sender_app, sender_facility, control_id); indexes (status, id) and (patient_key, id).
* ``inbox_attempt`` — the pipeline's attempts (inbox_id, at, outcome, error).

The listener never goes through the ORM: ``SqlInboxWriter`` keeps one connection and inserts a whole batch on the
driver's cursor with ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (SQLite: one multi-row statement per 256 rows;
PostgreSQL: psycopg's pipelined ``executemany`` of the one-row statement), then reads back the stored ACK of the
rows that conflicted, then commits — one commit for the rows of every
connection that arrived while the previous commit ran.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from orientation_core.errors import StoreUnavailable
from orientation_core.inbox.model import (
    InboxMessage,
    InboxSource,
    InboxStatus,
    NewInboxMessage,
    Stored,
    StoreResult,
)
from orientation_core.persistence import tables as t

Key = tuple[str, str, str, str]
_C = t.inbox_message.c
_KEY_COLUMNS = (_C.source, _C.sender_app, _C.sender_facility, _C.control_id)


def _params(row: NewInboxMessage) -> dict[str, Any]:
    return {
        "source": row.source,
        "sender_app": row.sender_app[:255],
        "sender_facility": row.sender_facility[:255],
        "control_id": row.control_id[:255],
        "message_type": row.message_type[:16],
        "trigger_event": row.trigger_event[:16],
        "message_structure": row.message_structure[:16],
        "version": row.version[:64],
        "charset": row.charset[:32],
        "patient_key": row.patient_key[:255] if row.patient_key is not None else None,
        "received_at": row.received_at,
        "raw": row.raw,
        "flags": row.flags,
        "ack": row.ack,
        "accept_ack_type": row.accept_ack_type[:4],
        "app_ack_type": row.app_ack_type[:4],
        "status": InboxStatus.RECEIVED,
        "attempts": 0,
    }


def _key(row: NewInboxMessage) -> Key:
    """The key as stored (truncated like the columns), so RETURNING rows match their input."""
    return (row.source.value, row.sender_app[:255], row.sender_facility[:255], row.control_id[:255])


# --- the listener's hot path: one multi-row INSERT on the driver's cursor ---------------------------------------------
# SQLAlchemy's compiled insert costs ~0.3 ms per row in type processing here (JSON, enum, UtcDateTime); the
# driver-level statement below writes the same column values (checked by the tests, read back through SQLAlchemy).

_COLUMNS = ("source", "sender_app", "sender_facility", "control_id", "message_type", "trigger_event",
            "message_structure", "version", "charset", "patient_key", "received_at", "raw", "flags", "ack",
            "accept_ack_type", "app_ack_type", "status", "attempts")
_SQL_CACHE: dict[tuple[str, int], str] = {}


def _driver_sql(dialect: str, n: int) -> str:
    sql = _SQL_CACHE.get((dialect, n))
    if sql is None:
        if dialect == "postgresql":
            one = "(" + ", ".join("%s::jsonb" if c == "flags" else "%s" for c in _COLUMNS) + ")"
            tail = " ON CONFLICT ON CONSTRAINT uq_inbox_message_source DO NOTHING"
        else:
            one = "(" + ", ".join("?" for _ in _COLUMNS) + ")"
            tail = " ON CONFLICT DO NOTHING"
        sql = (f"INSERT INTO inbox_message ({', '.join(_COLUMNS)}) VALUES " + ", ".join([one] * n) + tail
               + " RETURNING id, source, sender_app, sender_facility, control_id")
        _SQL_CACHE[(dialect, n)] = sql
    return sql


_RECEIVED = InboxStatus.RECEIVED.value


def _driver_values(dialect: str, row: NewInboxMessage) -> tuple[Any, ...]:
    received = row.received_at
    if received.tzinfo is None:
        raise ValueError("naive datetime refused: store tz-aware UTC")
    if dialect == "sqlite":  # what UtcDateTime + SQLite's DateTime store: naive UTC text, microseconds always
        if received.tzinfo is dt.UTC:  # the listener's own timestamps: drop "+00:00" instead of converting
            received_value: Any = received.isoformat(" ", "microseconds")[:26]
        else:
            received_value = received.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    else:
        received_value = received
    return (row.source.value, row.sender_app[:255], row.sender_facility[:255], row.control_id[:255],
            row.message_type[:16], row.trigger_event[:16], row.message_structure[:16], row.version[:64],
            row.charset[:32], row.patient_key[:255] if row.patient_key is not None else None, received_value,
            row.raw, json.dumps(row.flags) if row.flags else "[]", row.ack, row.accept_ack_type[:4],
            row.app_ack_type[:4], _RECEIVED, 0)


_CHUNK = 256  # rows per statement: 18 parameters each, far below both drivers' limits


def _driver_insert(conn: Connection, rows: list[NewInboxMessage]) -> list[tuple[Any, ...]]:
    dialect = conn.dialect.name
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    out: list[tuple[Any, ...]] = []
    try:
        if dialect == "postgresql":
            # psycopg's executemany pipelines one prepared one-row statement (one round trip for the batch): half
            # the client CPU per row of a 64-row VALUES list, which is parsed and planned again at every batch.
            # A row that conflicted returns an empty result.
            cursor.executemany(_driver_sql(dialect, 1), [_driver_values(dialect, row) for row in rows],
                               returning=True)
            while True:
                out.extend(cursor.fetchall())
                if not cursor.nextset():
                    break
            return out
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            params = [value for row in chunk for value in _driver_values(dialect, row)]
            cursor.execute(_driver_sql(dialect, len(chunk)), params)
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


def _insert_statement(dialect: str) -> Any:
    returning = (_C.id, *_KEY_COLUMNS)
    if dialect == "postgresql":
        return postgresql.insert(t.inbox_message).on_conflict_do_nothing(
            constraint="uq_inbox_message_source").returning(*returning)
    if dialect == "sqlite":
        return sqlite.insert(t.inbox_message).on_conflict_do_nothing().returning(*returning)
    raise NotImplementedError(dialect)  # pragma: no cover - the two supported stores


def store_batch(conn: Connection, rows: Sequence[NewInboxMessage]) -> list[Stored]:
    """Insert ``rows`` on ``conn`` (inside the caller's transaction), skipping those whose dedup key exists.

    Returns one ``Stored`` per input row, in input order. A duplicate (of a stored row, or of an earlier row of
    the same batch) gets the id and the ACK of the first copy."""
    if not rows:
        return []
    keys = [_key(row) for row in rows]
    first: dict[Key, int] = {}  # key → index of its first occurrence in the batch
    for index, key in enumerate(keys):
        if key not in first:
            first[key] = index
    unique_params = [_params(rows[i]) for i in first.values()] if conn.dialect.name not in (
        "postgresql", "sqlite") else []
    inserted: dict[Key, int] = {}
    if conn.dialect.name in ("postgresql", "sqlite"):
        unique_rows = [rows[i] for i in first.values()]
        returned: Iterable[Any] = _driver_insert(conn, unique_rows)
    else:  # pragma: no cover - the two supported stores take the driver path
        returned = conn.execute(_insert_statement(conn.dialect.name), unique_params)
    for rid, source, app, facility, control in returned:
        inserted[(str(source.value if isinstance(source, InboxSource) else source), app, facility, control)] = rid
    existing: dict[Key, tuple[int, bytes]] = {}
    missing = [key for key in first if key not in inserted]
    if missing:
        existing = _existing(conn, missing)
    out: list[Stored] = []
    for index, (row, key) in enumerate(zip(rows, keys, strict=True)):
        if key in inserted:
            if first[key] == index:
                out.append(Stored(StoreResult.STORED, inserted[key], row.ack))
            else:
                out.append(Stored(StoreResult.DUPLICATE, inserted[key], rows[first[key]].ack))
        else:
            rid, ack = existing[key]
            out.append(Stored(StoreResult.DUPLICATE, rid, ack))
    return out


def _existing(conn: Connection, keys: Iterable[Key]) -> dict[Key, tuple[int, bytes]]:
    found: dict[Key, tuple[int, bytes]] = {}
    keys = list(keys)
    for start in range(0, len(keys), 200):
        chunk = keys[start:start + 200]
        stmt = sa.select(_C.id, *_KEY_COLUMNS, _C.ack).where(sa.tuple_(*_KEY_COLUMNS).in_(chunk))
        for rid, source, app, facility, control, ack in conn.execute(stmt):
            found[(str(source.value if isinstance(source, InboxSource) else source), app, facility, control)] = (
                rid, bytes(ack))
    return found


def _to_message(row: Row[Any]) -> InboxMessage:
    m = row._mapping
    return InboxMessage(
        id=m["id"], source=InboxSource(m["source"]), sender_app=m["sender_app"],
        sender_facility=m["sender_facility"], control_id=m["control_id"], message_type=m["message_type"],
        trigger_event=m["trigger_event"], message_structure=m["message_structure"], version=m["version"],
        charset=m["charset"], patient_key=m["patient_key"], received_at=m["received_at"], raw=bytes(m["raw"]),
        flags=list(m["flags"] or []), ack=bytes(m["ack"]), accept_ack_type=m["accept_ack_type"],
        app_ack_type=m["app_ack_type"], status=InboxStatus(m["status"]), attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"], last_error=m["last_error"], outcome=m["outcome"],
        processed_at=m["processed_at"],
    )


class SqlInbox:
    """``uow.inbox``: the inbox inside a unit of work (the pipeline's and the FHIR intake's entry point).

    Process-side queries (claim the next pending rows, mark, attempts) belong to the pipeline's own module."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, message: NewInboxMessage) -> Stored:
        """Store one message (FHIR intake, tests); a duplicate key returns the first copy's id and ACK."""
        return store_batch(self._s.connection(), [message])[0]

    def store_batch(self, rows: Sequence[NewInboxMessage]) -> list[Stored]:
        return store_batch(self._s.connection(), rows)

    def get(self, inbox_id: int) -> InboxMessage | None:
        row = self._s.execute(sa.select(t.inbox_message).where(_C.id == inbox_id)).first()
        return _to_message(row) if row is not None else None

    def by_key(self, source: InboxSource, sender_app: str, sender_facility: str,
               control_id: str) -> InboxMessage | None:
        stmt = sa.select(t.inbox_message).where(
            _C.source == source, _C.sender_app == sender_app, _C.sender_facility == sender_facility,
            _C.control_id == control_id)
        row = self._s.execute(stmt).first()
        return _to_message(row) if row is not None else None

    def count(self, source: InboxSource | None = None) -> int:
        stmt = sa.select(sa.func.count()).select_from(t.inbox_message)
        if source is not None:
            stmt = stmt.where(_C.source == source)
        return int(self._s.execute(stmt).scalar_one())


class SqlInboxWriter:
    """The listener's group-commit store: one long-lived connection, one transaction per batch.

    Used from one writer thread at a time (the lock only guards against misuse). Any database error rolls the
    whole batch back (the transaction spans every statement of the batch) and surfaces as
    ``StoreUnavailable``: nothing of the batch is half-written, and the next batch reconnects.

    SQLite: ``synchronous=FULL`` on this connection (the WAL is fsynced at every commit), because an ACK promises
    the message survives a power cut, not just a process crash; ``busy_timeout_ms`` bounds how long a batch
    waits for another writer before the batch is answered with a negative ACK."""

    def __init__(self, engine: Engine, *, sqlite_synchronous: str = "FULL", busy_timeout_ms: int = 5000) -> None:
        self.engine = engine
        self._sqlite_synchronous = sqlite_synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self._close_quietly()
            conn = self.engine.connect()
            if conn.dialect.name == "sqlite":
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute(f"PRAGMA synchronous={self._sqlite_synchronous}")
                driver.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            self._conn = conn
        return self._conn

    def store_batch(self, rows: list[NewInboxMessage]) -> list[Stored]:
        with self._lock:
            reused = self._conn is not None
            try:
                return self._store(rows)
            except DBAPIError as exc:
                self._close_quietly()
                if not (reused and exc.connection_invalidated):
                    raise StoreUnavailable("Le stockage des messages est indisponible.") from exc
            except Exception as exc:  # whatever failed, the batch was rolled back: the senders get AE/CE, resend
                self._close_quietly()
                raise StoreUnavailable("Le stockage des messages est indisponible.") from exc
            # The kept connection was dead (server restarted, idle connection cut): the batch was not written,
            # so one more try on a fresh connection before answering AE.
            try:
                return self._store(rows)
            except Exception as exc:
                self._close_quietly()
                raise StoreUnavailable("Le stockage des messages est indisponible.") from exc

    def _store(self, rows: list[NewInboxMessage]) -> list[Stored]:
        conn = self._connection()
        with conn.begin():
            return store_batch(conn, rows)

    def _close_quietly(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # the connection is already broken; a new one comes with the next batch
                pass

    def close(self) -> None:
        with self._lock:
            self._close_quietly()  # invalidated: its SQLite pragmas must not leak into the pool

"""Bulk writes of records and finished call history, outside the dialing path.

The dialing path writes one attempt per placement and completes it when the call ends; that
is the only way attempts arise in normal operation. Benchmarks and tests sometimes need a
large or carefully shaped history at once (a million attempts, forty days of abandonment
figures), so this module writes :class:`~dialer.domain.records.NewRecord` and
:class:`~dialer.domain.records.Attempt` objects as they are, in batches, in one transaction.

On SQLite the rows go straight to the driver's ``executemany`` with values already in the
store's column formats (UTC timestamps as SQLAlchemy stores them, JSON text), which is
several times faster than statement-level type processing; other databases use an ordinary
``INSERT``. It keeps SQLAlchemy inside :mod:`dialer.store`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy import JSON, Connection, Table, insert

from dialer.domain.records import Attempt, NewRecord
from dialer.store.base import attempts_t, records_t
from dialer.store.records import _record_values
from dialer.store.repository import SqlStore
from dialer.store.tables import UTCDateTime


def insert_records(store: SqlStore, campaign_id: int, records: Iterable[NewRecord], *, now: datetime) -> int:
    """Add records to a campaign (status ``ready``) in one transaction; how many."""
    rows = (_record_values(campaign_id, r, now=now, import_id=None) for r in records)
    return _insert(store, records_t, rows)


def insert_attempts(store: SqlStore, attempts: Iterable[Attempt]) -> int:
    """Write attempts exactly as given (ids, times, outcomes) in one transaction; how many.

    Attempts still in flight (no ``ended_at``) obey the one-call-per-number rule of the
    schema like any other; finished ones are free of it.
    """
    return _insert(store, attempts_t, (_attempt_values(a) for a in attempts))


def _insert(store: SqlStore, table: Table, rows: Iterator[dict[str, Any]], *, batch: int = 20_000) -> int:
    written = 0
    with store._tx() as conn:
        while chunk := list(islice(rows, batch)):
            if conn.dialect.name == "sqlite":
                _sqlite_executemany(conn, table, chunk)
            else:
                conn.execute(insert(table), chunk)
            written += len(chunk)
    return written


def _sqlite_executemany(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    convert: list[Callable[[Any], Any]] = [_sqlite_converter(table.c[name].type) for name in columns]
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    values = [tuple(f(row[name]) for f, name in zip(convert, columns, strict=True)) for row in rows]
    conn.exec_driver_sql(sql, values)


def _sqlite_converter(kind: object) -> Callable[[Any], Any]:
    if isinstance(kind, UTCDateTime):
        return _sqlite_datetime
    if isinstance(kind, JSON):
        return _sqlite_json
    return _same


def _same(value: Any) -> Any:
    return value


def _sqlite_datetime(value: datetime | None) -> str | None:
    """The text :class:`~dialer.store.tables.UTCDateTime` stores on SQLite (naive UTC)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_json(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def _attempt_values(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "record_id": a.record_id,
        "campaign_id": a.campaign_id,
        "backend": a.backend,
        "mode": a.mode,
        "state": a.state.value,
        "number_dialed": a.number_dialed,
        "caller_id": a.caller_id,
        "provider_ref": a.provider_ref,
        "call_sid": a.call_sid,
        "correlation": a.correlation,
        "created_at": a.created_at,
        "placed_at": a.placed_at,
        "answered_at": a.answered_at,
        "connected_at": a.connected_at,
        "ended_at": a.ended_at,
        "outcome": a.outcome.value if a.outcome else None,
        "category": a.outcome.category.value if a.outcome else None,
        "raw_outcome": a.raw_outcome,
        "was_missed": a.was_missed,
        "amd": a.amd,
        "message_played": a.message_played,
        "duration_s": a.duration_s,
        "agent": a.agent,
        "pacing_reason": a.pacing_reason,
        "error": a.error,
        "raw": None,
        "updated_at": a.ended_at or a.created_at,
    }

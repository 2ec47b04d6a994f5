"""Records, imports and the moves of a record outside dialing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Index, Text, bindparam, case, cast, func, insert, select, type_coerce, update
from sqlalchemy.sql.elements import ColumnElement

from dialer.domain.imports import ImportSummary, PreparedRecord, RejectedRow
from dialer.domain.records import NewRecord, Record, RecordStatus
from dialer.errors import NotFound, StoreError
from dialer.store import convert
from dialer.store.base import StoreBase, campaigns_t, dnc_t, imports_t, records_t, rejects_t
from dialer.store.types import GLOBAL_SCOPE, campaign_scope

#: Keys per ``IN (…)`` list: well under SQLite's bound-parameter limit.
_IN_CHUNK = 500
#: SQLite page cache during an import, in KiB.
IMPORT_CACHE_KIB = 32 * 1024
#: Imports of at least this many rows may defer index building (see ImportWriter.defer_indexes).
DEFER_INDEXES_FROM = 20_000
#: Rejects held back while a PostgreSQL COPY is open (see ImportWriter), in rows and in
#: characters of their messages and cells.
REJECTS_HELD = 10_000
REJECTS_HELD_CHARS = 8 * 1024 * 1024


@contextmanager
def _import_cache(conn: Connection) -> Iterator[None]:
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        # An interrupt (Ctrl-C) in the middle of a statement invalidates the connection: it is
        # discarded with its cache, and the transaction rolls back; nothing to restore then.
        if not conn.invalidated:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")


class RecordStore(StoreBase):
    def get_record(self, campaign_id: int, handle: str) -> Record:
        with self._tx() as conn:
            row = (
                conn.execute(
                    select(records_t).where(records_t.c.campaign_id == campaign_id, records_t.c.handle == handle)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no record with handle {handle!r} in this campaign")
        return convert.record(row)

    def get_record_by_id(self, record_id: int) -> Record:
        with self._tx() as conn:
            row = conn.execute(select(records_t).where(records_t.c.id == record_id)).mappings().first()
        if row is None:
            raise NotFound(f"no record with id {record_id}")
        return convert.record(row)

    def find_records(self, handle: str) -> list[Record]:
        """Records with this handle in any campaign."""
        with self._tx() as conn:
            rows = conn.execute(select(records_t).where(records_t.c.handle == handle)).mappings()
            return [convert.record(r) for r in rows]

    def record_keys(self, campaign_id: int) -> tuple[dict[str, int], dict[str, str]]:
        """(handle → record id, phone → handle) of the campaign, for de-duplication."""
        query = select(records_t.c.id, records_t.c.handle, records_t.c.phone).where(
            records_t.c.campaign_id == campaign_id
        )
        handles: dict[str, int] = {}
        phones: dict[str, str] = {}
        with self._tx() as conn:
            for rid, handle, phone in conn.execute(query):
                handles[handle] = rid
                phones.setdefault(phone, handle)
        return handles, phones

    def iter_records(self, campaign_id: int, *, batch: int = 5000) -> Iterator[Record]:
        last = 0
        while True:
            query = (
                select(records_t)
                .where(records_t.c.campaign_id == campaign_id, records_t.c.id > last)
                .order_by(records_t.c.id)
                .limit(batch)
            )
            with self._tx() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            for row in rows:
                yield convert.record(row)
            last = rows[-1]["id"]

    def count_records(self, campaign_id: int) -> dict[str, int]:
        query = (
            select(records_t.c.status, func.count())
            .where(records_t.c.campaign_id == campaign_id)
            .group_by(records_t.c.status)
        )
        with self._tx() as conn:
            return {k: int(n) for k, n in conn.execute(query)}

    def record_caller_ids(self, campaign_id: int) -> dict[str, int]:
        """Caller IDs that records still to be dialed carry (their own ``outboundCallerId``),
        with how many records carry each; for the start-up check that they are owned."""
        final = [s.value for s in RecordStatus if s.is_final]
        query = (
            select(records_t.c.caller_id, func.count())
            .where(
                records_t.c.campaign_id == campaign_id,
                records_t.c.caller_id.is_not(None),
                records_t.c.status.not_in(final),
            )
            .group_by(records_t.c.caller_id)
        )
        with self._tx() as conn:
            return {k: int(n) for k, n in conn.execute(query)}

    def waiting_breakdown(self, campaign_id: int, *, now: datetime) -> dict[str, int]:
        """Ready records not dialable right now, by why: the blocking gate, or a retry later."""
        reason = case(
            (records_t.c.blocked_reason.is_not(None), records_t.c.blocked_reason),
            else_="waiting_for_retry",
        )
        query = (
            select(reason.label("reason"), func.count())
            .where(
                records_t.c.campaign_id == campaign_id,
                records_t.c.status == RecordStatus.READY.value,
                records_t.c.next_dial_at > now,
            )
            .group_by(reason)
        )
        with self._tx() as conn:
            return {k: int(n) for k, n in conn.execute(query)}

    def due_records(self, campaign_id: int, *, now: datetime) -> int:
        query = select(func.count()).where(
            records_t.c.campaign_id == campaign_id,
            records_t.c.status == RecordStatus.READY.value,
            records_t.c.next_dial_at <= now,
        )
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def insert_records(self, campaign_id: int, records: Iterable[NewRecord], *, now: datetime) -> int:
        """Insert records outside an import (tests, API callers)."""
        with self._tx() as conn:
            rows = [_record_values(campaign_id, r, now=now, import_id=None) for r in records]
            if rows:
                conn.execute(insert(records_t), rows)
            return len(rows)

    @contextmanager
    def import_batch(
        self,
        campaign_id: int,
        *,
        source_name: str,
        sha256: str | None,
        options: Mapping[str, Any],
        now: datetime,
    ) -> Iterator[ImportWriter]:
        """One import in one transaction: everything is written, or nothing is.

        On SQLite the connection's page cache grows to :data:`IMPORT_CACHE_KIB` meanwhile: a
        large list's indexes (the phone index is written in random order) and the sorts that
        rebuild deferred ones thrash the default 2 MiB."""
        with self._tx() as conn, _import_cache(conn):
            import_id = conn.execute(
                insert(imports_t)
                .values(
                    campaign_id=campaign_id,
                    source_name=source_name,
                    sha256=sha256,
                    started_at=now,
                    options=dict(options),
                    by_reason={},
                )
                .returning(imports_t.c.id)
            ).scalar_one()
            writer = ImportWriter(conn=conn, campaign_id=campaign_id, import_id=import_id, now=now)
            try:
                yield writer
            except BaseException:
                writer.abandon()
                raise
            writer.flush()
            writer.rebuild_indexes()  # only on success: a failure rolls the drops back too

    def imports(self, campaign_id: int, *, limit: int = 20) -> list[ImportSummary]:
        query = (
            select(imports_t)
            .where(imports_t.c.campaign_id == campaign_id, imports_t.c.finished_at.is_not(None))
            .order_by(imports_t.c.id.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            return [convert.import_summary(r) for r in conn.execute(query).mappings()]

    def import_rejects(self, import_id: int) -> list[RejectedRow]:
        query = select(rejects_t).where(rejects_t.c.import_id == import_id).order_by(rejects_t.c.line)
        with self._tx() as conn:
            return [
                RejectedRow(line=r["line"], reason=r["reason"], message=r["message"], raw=tuple(r["raw"]))
                for r in conn.execute(query).mappings()
            ]

    def campaign_rejects(self, campaign_id: int) -> list[tuple[int, RejectedRow]]:
        """Every reject of every import of the campaign, as (import id, row)."""
        query = (
            select(rejects_t)
            .join(imports_t, imports_t.c.id == rejects_t.c.import_id)
            .where(imports_t.c.campaign_id == campaign_id)
            .order_by(rejects_t.c.import_id, rejects_t.c.line)
        )
        with self._tx() as conn:
            return [
                (
                    r["import_id"],
                    RejectedRow(line=r["line"], reason=r["reason"], message=r["message"], raw=tuple(r["raw"])),
                )
                for r in conn.execute(query).mappings()
            ]

    def release_record(
        self,
        record_id: int,
        *,
        now: datetime,
        next_dial_at: datetime | None = None,
        blocked_reason: str | None = None,
        blocked_detail: str | None = None,
    ) -> None:
        """Return a leased record to ready, optionally not before ``next_dial_at`` and with the
        gate that held it back (shown by `dialer status`)."""
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "blocked_reason": blocked_reason,
            "blocked_detail": blocked_detail,
            "blocked_until": next_dial_at if blocked_reason else None,
            "updated_at": now,
        }
        if next_dial_at is not None:
            values["next_dial_at"] = next_dial_at
        with self._tx() as conn:
            self._move_record(conn, record_id, RecordStatus.READY, values)

    def finalize_record(self, record_id: int, status: RecordStatus, *, reason: str, detail: str, now: datetime) -> None:
        """End a record without dialing it (DNC at dial time, attempts used up, cancelled)."""
        values = {
            "lease_owner": None,
            "lease_until": None,
            "blocked_reason": reason,
            "blocked_detail": detail,
            "blocked_until": None,
            "updated_at": now,
        }
        with self._tx() as conn:
            self._move_record(conn, record_id, status, values)

    def set_record_status(self, record_id: int, status: RecordStatus, *, now: datetime, **values: Any) -> Record:
        with self._tx() as conn:
            self._move_record(conn, record_id, status, {"updated_at": now, **values})
        return self.get_record_by_id(record_id)


class ImportWriter:
    """Writes one import inside its transaction (see :meth:`SqlStore.import_batch`).

    :meth:`insert_prepared` is the bulk path: rows arrive with their JSON already encoded
    (by the import's worker processes), and on SQLite they go to the driver's
    ``executemany`` directly, with the constant columns encoded once by the columns' own
    SQLAlchemy types, so what is stored is exactly what :meth:`insert` would store.

    On PostgreSQL one ``COPY records FROM STDIN`` stays open across batches, so the server
    inserts (and indexes) one batch while the importer checks the next; rejects are held
    back (at most :data:`REJECTS_HELD` rows) so that they do not end it. Any other statement
    ends the ``COPY`` first, and the writer's owner (:meth:`RecordStore.import_batch`) ends
    it before the transaction commits, or abandons it (failing the transaction) on an error.
    """

    def __init__(self, *, conn: Connection, campaign_id: int, import_id: int, now: datetime) -> None:
        self.conn = conn
        self.campaign_id = campaign_id
        self.import_id = import_id
        self.now = now
        self._bulk_sql: str | None = None
        self._deferred: list[Index] = []
        self._copy: ExitStack | None = None
        self._write_row: Callable[[Sequence[object]], None] | None = None
        self._held: list[dict[str, Any]] = []
        self._held_chars = 0

    def flush(self) -> None:
        """End the open ``COPY`` (the server then has every row) and write the held rejects."""
        self._end_copy()
        held, self._held, self._held_chars = self._held, [], 0
        if held:
            self.conn.execute(insert(rejects_t), held)

    def abandon(self) -> None:
        """On an error: end the open ``COPY`` as failed (the transaction is then rolled back)."""
        copy, self._copy, self._write_row = self._copy, None, None
        self._held = []
        if copy is not None:
            with suppress(Exception):  # the error being raised is the one that matters
                copy.__exit__(StoreError, StoreError("import abandoned"), None)

    def _end_copy(self) -> None:
        copy, self._copy, self._write_row = self._copy, None, None
        if copy is not None:
            copy.close()

    def insert_prepared(self, records: Sequence[PreparedRecord]) -> int:
        """Insert validated rows (new records, ready to dial now)."""
        if not records:
            return 0
        if self.conn.dialect.name == "sqlite":
            # Straight to the driver: the record's own fields are bound by position (?3…?9 of
            # a PreparedRecord), the columns common to the import are SQL literals encoded
            # once by the columns' SQLAlchemy types.
            if self._bulk_sql is None:
                self._bulk_sql = self._sqlite_bulk_insert()
            self.conn.exec_driver_sql(self._bulk_sql, records)
        elif self.conn.dialect.name == "postgresql":
            self._copy_prepared(records)
        else:
            self.conn.execute(
                _bulk_insert(self.conn.dialect.name),
                [
                    {
                        "campaign_id": self.campaign_id,
                        "handle": r[2],
                        "phone": r[3],
                        "caller_id": r[4],
                        "user_data_json": r[5],
                        "status": RecordStatus.READY.value,
                        "record_type": "general",
                        "attempts": 0,
                        "next_dial_at": self.now,
                        "timezone": r[6],
                        "tz_candidates_json": r[7],
                        "tz_source": r[8],
                        "result_counts_json": "{}",
                        "import_id": self.import_id,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                    for r in records
                ],
            )
        return len(records)

    def _copy_prepared(self, records: Sequence[PreparedRecord]) -> None:
        """PostgreSQL: ``COPY records FROM STDIN`` on the import's own connection, so the rows
        are part of its transaction (all or nothing) like any insert. JSON fields arrive as
        text already; the server parses them exactly as an ``INSERT`` of that text would.
        The ``COPY`` stays open for the next batch (see the class)."""
        write_row = self._write_row
        if write_row is None:
            raw = self.conn.connection.driver_connection
            stack = ExitStack()
            cursor = stack.enter_context(raw.cursor())  # type: ignore[union-attr]
            copy = stack.enter_context(cursor.copy(_COPY_RECORDS))
            self._copy, self._write_row = stack, copy.write_row
            write_row = copy.write_row
        now, cid, iid, ready = self.now, self.campaign_id, self.import_id, RecordStatus.READY.value
        for r in records:
            write_row((cid, r[2], r[3], r[4], r[5], ready, "general", 0, now, r[6], r[7], r[8], "{}", iid, now, now))

    def _sqlite_bulk_insert(self) -> str:
        dialect = self.conn.dialect
        processor = records_t.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        now = processor(self.now) if processor else self.now
        if not isinstance(now, str) or "'" in now:
            raise StoreError(f"unexpected SQLite datetime encoding {now!r}")
        constants = {
            "campaign_id": str(int(self.campaign_id)),
            "status": f"'{RecordStatus.READY.value}'",
            "record_type": "'general'",
            "attempts": "0",
            "next_dial_at": f"'{now}'",
            "result_counts": "'{}'",
            "import_id": str(int(self.import_id)),
            "created_at": f"'{now}'",
            "updated_at": f"'{now}'",
        }
        # Positions of the fields in a PreparedRecord, 1-based.
        fields = {"handle": 3, "phone": 4, "caller_id": 5, "user_data": 6, "timezone": 7, "tz_candidates": 8}
        fields["tz_source"] = 9
        columns = [*fields, *constants]
        values = [f"?{i}" for i in fields.values()] + list(constants.values())
        return f"INSERT INTO {records_t.name} ({', '.join(columns)}) VALUES ({', '.join(values)})"

    def update_prepared(self, records: Sequence[PreparedRecord]) -> int:
        """Replace the data of existing records (by handle) with the file's; dialing state is kept."""
        if not records:
            return 0
        self.flush()
        self.conn.execute(
            _bulk_update(self.conn.dialect.name),
            [
                {
                    "_campaign_id": self.campaign_id,
                    "_handle": r[2],
                    "phone": r[3],
                    "caller_id": r[4],
                    "user_data_json": r[5],
                    "timezone": r[6],
                    "tz_candidates_json": r[7],
                    "tz_source": r[8],
                    "import_id": self.import_id,
                    "updated_at": self.now,
                }
                for r in records
            ],
        )
        return len(records)

    def existing(self, handles: Sequence[str], phones: Sequence[str]) -> tuple[set[str], dict[str, str]]:
        """Which of ``handles`` the campaign has, and the handle holding each of ``phones`` it has."""
        self.flush()
        found_handles: set[str] = set()
        found_phones: dict[str, str] = {}
        base = records_t.c.campaign_id == self.campaign_id
        for chunk in _chunks(sorted(set(handles)), _IN_CHUNK):
            query = select(records_t.c.handle).where(base, records_t.c.handle.in_(chunk))
            found_handles.update(self.conn.execute(query).scalars())
        for chunk in _chunks(sorted(set(phones)), _IN_CHUNK):
            query = select(records_t.c.phone, records_t.c.handle).where(base, records_t.c.phone.in_(chunk))
            for phone, handle in self.conn.execute(query):
                found_phones.setdefault(phone, handle)
        return found_handles, found_phones

    def dnc_hits(self, phones: Sequence[str]) -> set[str]:
        """Which of ``phones`` are on the global or the campaign's do-not-call list."""
        self.flush()
        scopes = [GLOBAL_SCOPE, campaign_scope(self.campaign_id)]
        hits: set[str] = set()
        for chunk in _chunks(sorted(set(phones)), _IN_CHUNK):
            query = select(dnc_t.c.phone).where(dnc_t.c.phone.in_(chunk), dnc_t.c.scope.in_(scopes))
            hits.update(self.conn.execute(query).scalars())
        return hits

    def defer_indexes(self, *, expected_rows: int) -> bool:
        """Drop the records table's secondary indexes until the import finishes, when that is
        cheaper: on SQLite, for an import at least as large as the whole table. Each index is
        then built once by sorting instead of taking a random B-tree insert per row (the phone
        index above all). The drops are part of the import's transaction, so a failed import
        gets its indexes back with everything else. Only for a campaign without records: the
        lookups of existing records would have no index. Returns whether it deferred."""
        if self.conn.dialect.name != "sqlite" or self._deferred or expected_rows < DEFER_INDEXES_FROM:
            return False
        self.flush()
        if self.conn.execute(select(func.count()).select_from(records_t)).scalar_one() > expected_rows:
            return False
        self._deferred = sorted(records_t.indexes, key=lambda index: str(index.name))
        for index in self._deferred:
            index.drop(self.conn)
        return True

    def rebuild_indexes(self) -> None:
        """Build the indexes :meth:`defer_indexes` dropped (exactly as the schema defines them)."""
        self.flush()
        for index in self._deferred:
            index.create(self.conn)
        self._deferred = []

    def has_records(self) -> bool:
        self.flush()
        query = select(records_t.c.id).where(records_t.c.campaign_id == self.campaign_id).limit(1)
        return self.conn.execute(query).first() is not None

    def remember(self, options: Mapping[str, Any]) -> None:
        """Merge ``options`` into the campaign's options, as part of this import."""
        self.flush()
        current = self.conn.execute(
            select(campaigns_t.c.options).where(campaigns_t.c.id == self.campaign_id)
        ).scalar_one()
        self.conn.execute(
            update(campaigns_t)
            .where(campaigns_t.c.id == self.campaign_id)
            .values(options={**(current or {}), **options}, updated_at=self.now)
        )

    def insert(self, records: Sequence[NewRecord]) -> int:
        self.flush()
        if records:
            self.conn.execute(
                insert(records_t),
                [_record_values(self.campaign_id, r, now=self.now, import_id=self.import_id) for r in records],
            )
        return len(records)

    def update(self, records: Sequence[NewRecord]) -> int:
        """Replace the data of existing records (by handle) with the file's; dialing state is kept."""
        self.flush()
        for r in records:
            self.conn.execute(
                update(records_t)
                .where(records_t.c.campaign_id == self.campaign_id, records_t.c.handle == r.handle)
                .values(
                    phone=r.phone,
                    caller_id=r.caller_id,
                    user_data=dict(r.user_data),
                    timezone=r.timezone,
                    tz_candidates=list(r.tz_candidates),
                    tz_source=r.tz_source,
                    daily_from=r.daily_from,
                    daily_till=r.daily_till,
                    import_id=self.import_id,
                    updated_at=self.now,
                )
            )
        return len(records)

    def reject(self, rejects: Sequence[RejectedRow]) -> int:
        rows = [
            {"import_id": self.import_id, "line": r.line, "reason": r.reason, "message": r.message, "raw": list(r.raw)}
            for r in rejects
        ]
        if rows and self._copy is not None:
            # Held back while a COPY is open, up to a bound: writing them would end it.
            self._held += rows
            self._held_chars += sum(len(r.message) + sum(map(len, r.raw)) for r in rejects)
            if len(self._held) >= REJECTS_HELD or self._held_chars >= REJECTS_HELD_CHARS:
                self.flush()
        elif rows:
            self.conn.execute(insert(rejects_t), rows)
        return len(rows)

    def finish(
        self,
        *,
        rows_read: int,
        imported: int,
        updated: int,
        skipped_duplicates: int,
        by_reason: Mapping[str, int],
        finished_at: datetime,
        duration_s: float,
    ) -> None:
        self.flush()
        self.conn.execute(
            update(imports_t)
            .where(imports_t.c.id == self.import_id)
            .values(
                rows_read=rows_read,
                imported=imported,
                updated=updated,
                skipped_duplicates=skipped_duplicates,
                rejected=sum(by_reason.values()),
                by_reason=dict(by_reason),
                finished_at=finished_at,
                duration_s=duration_s,
            )
        )


_BULK_COLUMNS = (
    "campaign_id",
    "handle",
    "phone",
    "caller_id",
    "user_data",
    "status",
    "record_type",
    "attempts",
    "next_dial_at",
    "timezone",
    "tz_candidates",
    "tz_source",
    "result_counts",
    "import_id",
    "created_at",
    "updated_at",
)
_JSON_COLUMNS = ("user_data", "tz_candidates", "result_counts")
_COPY_RECORDS = f"COPY {records_t.name} ({', '.join(_BULK_COLUMNS)}) FROM STDIN"


def _json_text(name: str, dialect: str) -> ColumnElement[Any]:
    """A bound parameter holding JSON text for a JSON column: cast on PostgreSQL, stored
    as-is on SQLite (where JSON is text and ``CAST(… AS JSON)`` would mean NUMERIC)."""
    param = bindparam(name, type_=Text())
    return cast(param, JSON) if dialect == "postgresql" else type_coerce(param, Text())


def _bulk_insert(dialect: str) -> Any:
    values = {c: (_json_text(f"{c}_json", dialect) if c in _JSON_COLUMNS else bindparam(c)) for c in _BULK_COLUMNS}
    return insert(records_t).values(values)


def _bulk_update(dialect: str) -> Any:
    return (
        update(records_t)
        .where(records_t.c.campaign_id == bindparam("_campaign_id"), records_t.c.handle == bindparam("_handle"))
        .values(
            phone=bindparam("phone"),
            caller_id=bindparam("caller_id"),
            user_data=_json_text("user_data_json", dialect),
            timezone=bindparam("timezone"),
            tz_candidates=_json_text("tz_candidates_json", dialect),
            tz_source=bindparam("tz_source"),
            import_id=bindparam("import_id"),
            updated_at=bindparam("updated_at"),
        )
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _record_values(campaign_id: int, r: NewRecord, *, now: datetime, import_id: int | None) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "handle": r.handle,
        "phone": r.phone,
        "caller_id": r.caller_id,
        "user_data": dict(r.user_data),
        "status": RecordStatus.READY.value,
        "record_type": "general",
        "attempts": 0,
        "next_dial_at": r.next_dial_at,
        "timezone": r.timezone,
        "tz_candidates": list(r.tz_candidates),
        "tz_source": r.tz_source,
        "daily_from": r.daily_from,
        "daily_till": r.daily_till,
        "result_counts": {},
        "import_id": import_id,
        "created_at": now,
        "updated_at": now,
    }

"""The store's shared core: engine, transactions, migrations and guarded record moves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import URL, Connection, Engine, RowMapping, Table, bindparam, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError, SQLAlchemyError

from dialer.domain.records import RECORD_TRANSITIONS, RecordStatus, check_record_transition
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.errors import NotFound, StorageFull, StoreError, StoreUnavailable
from dialer.store import convert, migrate
from dialer.store.tables import (
    AttemptRow,
    CampaignEventRow,
    CampaignRow,
    DncRow,
    ImportRejectRow,
    ImportRow,
    PacingHistoryRow,
    PacingLogRow,
    ProviderEventRow,
    RecordRow,
    WebUserRow,
)
from dialer.store.types import FinishedAttempt

campaigns_t = cast(Table, CampaignRow.__table__)
records_t = cast(Table, RecordRow.__table__)
attempts_t = cast(Table, AttemptRow.__table__)
dnc_t = cast(Table, DncRow.__table__)
imports_t = cast(Table, ImportRow.__table__)
rejects_t = cast(Table, ImportRejectRow.__table__)
events_t = cast(Table, CampaignEventRow.__table__)
provider_events_t = cast(Table, ProviderEventRow.__table__)
pacing_log_t = cast(Table, PacingLogRow.__table__)
pacing_history_t = cast(Table, PacingHistoryRow.__table__)
web_users_t = cast(Table, WebUserRow.__table__)

#: For each target status, the statuses a record may move to it from (itself included).
SOURCES: Mapping[RecordStatus, list[str]] = {
    target: [s.value for s in RecordStatus if s is target or target in RECORD_TRANSITIONS[s]] for target in RecordStatus
}

# A record update that only applies when the record is in an allowed source status. The SET
# columns come from the execution parameters.
_MOVE_RECORD = update(records_t).where(
    records_t.c.id == bindparam("_rid"), records_t.c.status.in_(bindparam("_sources", expanding=True))
)
_RECORD_STATUS = select(records_t.c.status, records_t.c.handle).where(records_t.c.id == bindparam("_rid"))


#: SQLite result codes of a write the disk refused: SQLITE_FULL, and SQLITE_IOERR_WRITE (what a
#: quota or a file-size limit gives).
_SQLITE_FULL = {13: "its disk is full", 778: "the disk refused a write (full, over quota, or failing)"}
#: PostgreSQL's disk_full (class 53, insufficient resources).
_PG_DISK_FULL = "53100"


def storage_full(error: BaseException | None, url: URL) -> StorageFull | None:
    """The :class:`StorageFull` a database error means, or None: SQLite's SQLITE_FULL or a write
    error, PostgreSQL's ``disk_full``. Its message names where space must be freed."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int) and code in _SQLITE_FULL:
        what = _SQLITE_FULL[code]
        where = f"on the file system of {url.database}"
    elif getattr(error, "sqlstate", None) == _PG_DISK_FULL:
        what = "the PostgreSQL server's disk is full"
        where = f"on the server's data disk ({url.host or 'local'})"
    else:
        return None
    return StorageFull(
        f"the database cannot write: {what} ({str(error).strip().splitlines()[0]}). Free space {where}; "
        "until then nothing is written and no call is placed, and nothing already stored is lost"
    )


def unreachable(exc: DBAPIError) -> bool:
    """The error means the database server cannot be reached (not a bad statement): a lost or
    refused connection, or a server shutting down (PostgreSQL classes 08 and 57P)."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(("08", "57P"))
    module = type(exc.orig).__module__ if exc.orig is not None else ""
    return module.startswith("psycopg") and isinstance(exc, OperationalError)


class StoreBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self) -> tuple[str | None, str | None]:
        """Bring the schema to the newest migration; (before, after)."""
        try:
            head = migrate.head_revision()
            if migrate.current_revision(self.engine) == head:
                return head, head
            return migrate.upgrade(self.engine)
        except (OperationalError, ProgrammingError) as exc:
            raise StoreError(
                f"cannot open or migrate the database {self.engine.url.render_as_string(hide_password=True)}: "
                f"{exc.orig}. Check DIALER_DATABASE_URL, then run `dialer db upgrade`."
            ) from exc

    def probe_write(self) -> None:
        """Write something that changes nothing (Alembic's version row, rewritten as it is), to
        learn whether the database can write again; raises :class:`StorageFull` or
        :class:`StoreError` if not. A transaction that happens to write nothing says nothing
        about a full disk; this one always writes a page."""
        try:
            with self._tx() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
        except SQLAlchemyError as exc:
            raise StoreError(f"the database cannot be written to: {exc}") from exc

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except (OperationalError, DBAPIError) as exc:
            full = storage_full(exc.orig, self.engine.url)
            if full is not None:
                raise full from exc
            if unreachable(exc):
                raise StoreUnavailable(
                    f"the database at {self.engine.url.render_as_string(hide_password=True)} cannot be reached "
                    f"({str(exc.orig).strip().splitlines()[0] if exc.orig else exc}). No call is placed until it is "
                    "back; the dialer retries every tick and nothing stored is lost. Check that the server is up "
                    "and reachable"
                ) from exc
            if not isinstance(exc, OperationalError):
                raise
            raise StoreError(f"the database failed: {exc.orig}. Is it reachable and not locked?") from exc

    def _move_record(self, conn: Connection, record_id: int, target: RecordStatus, values: Mapping[str, Any]) -> None:
        """Update a record, moving it to ``target`` only along an allowed transition."""
        result = conn.execute(
            _MOVE_RECORD, {"_rid": record_id, "_sources": SOURCES[target], "status": target.value, **values}
        )
        if result.rowcount == 1:
            return
        row = conn.execute(_RECORD_STATUS, {"_rid": record_id}).first()
        if row is None:
            raise NotFound(f"no record with id {record_id}")
        check_record_transition(RecordStatus(row.status), target, handle=row.handle)

    def _settle_record(
        self,
        conn: Connection,
        arow: RowMapping,
        rrow: RowMapping,
        *,
        attempt_values: Mapping[str, Any],
        result: CallResult,
        counts: Mapping[str, Any],
        attempts: int,
        decision: RetryDecision,
        now: datetime,
        extra: Mapping[str, Any] | None = None,
        blocked_reason: str | None = None,
    ) -> FinishedAttempt:
        """Move the record of an ended attempt on by ``decision``, with ``result`` counted.

        A decision to stay ``dialing`` is a preview hold: the record stays leased to the agent
        who dialed it until ``decision.retry_at``.
        """
        record_values: dict[str, Any] = {
            "attempts": attempts,
            "result_counts": dict(counts),
            "last_outcome": result.value,
            **(extra or {}),
            "lease_owner": None,
            "lease_until": None,
            "blocked_reason": blocked_reason,
            "blocked_detail": decision.reason,
            "blocked_until": decision.retry_at if blocked_reason else None,
            "updated_at": now,
        }
        if decision.status is RecordStatus.DIALING:
            record_values["lease_owner"] = rrow["lease_owner"]
            record_values["lease_until"] = decision.retry_at
        elif decision.retry_at is not None:
            record_values["next_dial_at"] = decision.retry_at
        self._move_record(conn, arow["record_id"], decision.status, record_values)
        return FinishedAttempt(
            attempt=convert.attempt({**arow, **attempt_values, "handle": rrow["handle"]}),
            record=convert.record({**rrow, **record_values, "status": decision.status.value}),
            decision=decision,
        )

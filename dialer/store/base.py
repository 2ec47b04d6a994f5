"""The store's shared core: engine, transactions, migrations and guarded record moves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import URL, Connection, Engine, RowMapping, Table, bindparam, select, text, update
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError, SQLAlchemyError

from dialer.domain.records import RECORD_TRANSITIONS, RecordStatus, check_record_transition
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.errors import NotFound, StorageFull, StoreError, StoreUnavailable
from dialer.store import convert, migrate
from dialer.store.tables import (
    AttemptRow,
    CampaignEventRow,
    CampaignPacerRow,
    CampaignRow,
    DncRow,
    ImportRejectRow,
    ImportRow,
    PacerDaemonRow,
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
pacers_t = cast(Table, CampaignPacerRow.__table__)
pacer_daemons_t = cast(Table, PacerDaemonRow.__table__)

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
        except DatabaseError as exc:
            raise self._open_error(exc) from exc

    @property
    def shown_url(self) -> str:
        """The database URL with its password masked, for messages and output."""
        return self.engine.url.render_as_string(hide_password=True)

    def _open_error(self, exc: DatabaseError) -> StoreError:
        url = self.engine.url
        shown = url.render_as_string(hide_password=True)
        detail = str(exc.orig)
        if url.get_backend_name() == "sqlite":
            if "not a database" in detail or "malformed" in detail:
                return StoreError(
                    f"{url.database} is not a dialer database: SQLite says {detail!r} (it is another kind of "
                    "file, or damaged). Nothing was changed. Point DIALER_DATABASE_URL (or --database-url) at "
                    "the dialer's database, or at a new file name to start an empty one"
                )
            if "unable to open" in detail or "readonly" in detail:
                return StoreError(
                    f"cannot open the SQLite database {url.database}: {detail}. Check that its folder exists and "
                    "you may write there, or set DIALER_DATABASE_URL (or --database-url) to sqlite:///PATH elsewhere"
                )
        return StoreError(
            f"cannot open or migrate the database {shown}: {detail}. Check DIALER_DATABASE_URL, "
            "then run `dialer db upgrade`."
        )

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

    def schema_status(self) -> tuple[str | None, str | None]:
        """(the database's migration, the newest this dialer knows), without changing anything.
        Raises :class:`StoreError` when the database cannot be reached, naming the fix; an
        SQLite file that does not exist yet is reported so rather than created."""
        url = self.engine.url
        where = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            if not Path(url.database).exists():
                raise StoreError(
                    f"there is no database at {url.database} yet. Run `dialer db upgrade` to create it, or point "
                    "DIALER_DATABASE_URL at the existing one."
                )
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return migrate.current_revision(self.engine), migrate.head_revision()
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StoreError(
                f"cannot reach the database {where}: {str(cause).strip()}. Check DIALER_DATABASE_URL and that the "
                "server is running and accepts this user."
            ) from exc

    @contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[Connection]:
        """A transaction. ``durable=False``: on PostgreSQL its commit does not wait for the WAL
        flush (``SET LOCAL synchronous_commit = off``). Only for writes that may be lost in a
        crash of the database server without harm — what the provider can tell again, or a
        claim that nothing was dialed on. Such a commit is atomic and visible to every other
        session at once, and the next durable commit flushes it too (the WAL is written in
        order), so it is lost only together with everything after it. SQLite (WAL, synchronous
        NORMAL) already commits without a sync."""
        try:
            with self.engine.begin() as conn:
                if not durable and conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
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
        record_values, finished = settlement(
            arow,
            rrow,
            attempt_values=attempt_values,
            result=result,
            counts=counts,
            attempts=attempts,
            decision=decision,
            now=now,
            extra=extra,
            blocked_reason=blocked_reason,
        )
        self._move_record(conn, arow["record_id"], decision.status, record_values)
        return finished


def settlement(
    arow: Mapping[Any, Any],
    rrow: Mapping[Any, Any],
    *,
    attempt_values: Mapping[str, Any],
    result: CallResult,
    counts: Mapping[str, Any],
    attempts: int,
    decision: RetryDecision,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
    blocked_reason: str | None = None,
) -> tuple[dict[str, Any], FinishedAttempt]:
    """The record columns :meth:`StoreBase._settle_record` writes (``next_dial_at`` only when the
    decision moves it), and what the caller is told."""
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
    return record_values, FinishedAttempt(
        attempt=convert.attempt({**arow, **attempt_values, "handle": rrow["handle"]}),
        record=convert.record({**rrow, **record_values, "status": decision.status.value}),
        decision=decision,
    )

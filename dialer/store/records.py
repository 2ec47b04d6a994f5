"""Records, imports and the moves of a record outside dialing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from dialer.domain.imports import ImportSummary, RejectedRow
from dialer.domain.records import NewRecord, Record, RecordStatus
from dialer.errors import NotFound
from dialer.store import convert
from dialer.store.base import StoreBase, imports_t, records_t, rejects_t


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
        """One import in one transaction: everything is written, or nothing is."""
        with self._tx() as conn:
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
            yield ImportWriter(conn=conn, campaign_id=campaign_id, import_id=import_id, now=now)

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
    """Writes one import inside its transaction (see :meth:`SqlStore.import_batch`)."""

    def __init__(self, *, conn: Connection, campaign_id: int, import_id: int, now: datetime) -> None:
        self.conn = conn
        self.campaign_id = campaign_id
        self.import_id = import_id
        self.now = now

    def insert(self, records: Sequence[NewRecord]) -> int:
        if records:
            self.conn.execute(
                insert(records_t),
                [_record_values(self.campaign_id, r, now=self.now, import_id=self.import_id) for r in records],
            )
        return len(records)

    def update(self, records: Sequence[NewRecord]) -> int:
        """Replace the data of existing records (by handle) with the file's; dialing state is kept."""
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
        if rejects:
            self.conn.execute(
                insert(rejects_t),
                [
                    {
                        "import_id": self.import_id,
                        "line": r.line,
                        "reason": r.reason,
                        "message": r.message,
                        "raw": list(r.raw),
                    }
                    for r in rejects
                ],
            )
        return len(rejects)

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

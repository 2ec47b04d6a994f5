"""Aggregates: outcome counts, pacing samples, what is due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, delete, func, insert, select, type_coerce, update

from dialer.domain.compliance import RepeatHistory
from dialer.domain.records import FINAL_STATUSES, RecordStatus
from dialer.domain.results import ABANDON_RESULTS, CallResult
from dialer.store.base import StoreBase, attempts_t, pacing_history_t, pacing_log_t, records_t
from dialer.store.tables import UTCDateTime
from dialer.store.types import DueSummary, OutcomeCounts, PacingNote

_UNFINISHED = [s.value for s in RecordStatus if s not in FINAL_STATUSES]
_DUE_SUMMARY = select(
    func.count(),
    func.sum(case((records_t.c.status == RecordStatus.READY.value, 1), else_=0)),
    type_coerce(
        func.min(case((records_t.c.status == RecordStatus.READY.value, records_t.c.next_dial_at))), UTCDateTime()
    ),
).where(
    records_t.c.campaign_id.in_(bindparam("cids", expanding=True)),
    records_t.c.status.in_(_UNFINISHED),
)


#: How long every pacing decision is kept for the campaign page's chart.
PACING_HISTORY_KEEP = timedelta(days=7)
#: How often (per campaign and store) decisions older than that are deleted: not at every tick.
PACING_HISTORY_PRUNE_EVERY = timedelta(minutes=1)

_REPEAT_OUTCOMES = sorted({r.value for r in ABANDON_RESULTS} | {CallResult.ANSWERING_MACHINE.value})

_NEXT_DUE = select(func.min(records_t.c.next_dial_at)).where(
    records_t.c.campaign_id.in_(bindparam("cids", expanding=True)),
    records_t.c.status == RecordStatus.READY.value,
)

# Built once: note_pacing runs at every tick that changes a campaign's decision.
_NOTE_UPDATE = update(pacing_log_t).where(pacing_log_t.c.campaign_id == bindparam("_cid"))
_NOTE_INSERT = insert(pacing_log_t)
_HISTORY_INSERT = insert(pacing_history_t)
_HISTORY_PRUNE = delete(pacing_history_t).where(
    pacing_history_t.c.campaign_id == bindparam("_cid"), pacing_history_t.c.decided_at < bindparam("_before")
)


class StatsStore(StoreBase):
    def due_summary(self, campaign_ids: Sequence[int]) -> DueSummary:
        """How many records are unfinished and when the next ready one is due."""
        with self._tx() as conn:
            count, ready, due = conn.execute(_DUE_SUMMARY, {"cids": list(campaign_ids)}).one()
        return DueSummary(unfinished=int(count), ready=int(ready or 0), next_due_at=due)

    def unfinished_records(self, campaign_ids: Sequence[int]) -> int:
        return self.due_summary(campaign_ids).unfinished

    def next_due_at(self, campaign_ids: Sequence[int]) -> datetime | None:
        """The earliest ``next_dial_at`` among ready records (an index-only look-up)."""
        with self._tx() as conn:
            value: datetime | None = conn.execute(_NEXT_DUE, {"cids": list(campaign_ids)}).scalar_one()
        return value

    def outcome_counts(
        self,
        campaign_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        amd_false_positive_rate: float = 0.0,
    ) -> OutcomeCounts:
        """Attempts that ended in ``[since, until)`` by outcome; ``amd_false_positive_rate`` is the
        campaign's estimate of people among AMD machines (see :mod:`dialer.domain.abandonment`)."""
        conditions = [attempts_t.c.campaign_id == campaign_id, attempts_t.c.ended_at.is_not(None)]
        if since is not None:
            conditions.append(attempts_t.c.ended_at >= since)
        if until is not None:
            conditions.append(attempts_t.c.ended_at < until)
        query = (
            select(
                attempts_t.c.outcome,
                attempts_t.c.preview,
                func.count(),
                func.sum(case((attempts_t.c.was_missed, 1), else_=0)),
                func.sum(case((attempts_t.c.message_played.is_(True), 1), else_=0)),
                func.sum(case((attempts_t.c.amd == "machine", 1), else_=0)),
            )
            .where(and_(*conditions))
            .group_by(attempts_t.c.outcome, attempts_t.c.preview)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        by_outcome: dict[str, int] = {}
        preview: dict[str, int] = {}
        played: dict[str, int] = {}
        machines = 0
        for outcome, is_preview, n, _, message, amd_machine in rows:
            if outcome:
                by_outcome[outcome] = by_outcome.get(outcome, 0) + int(n)
                if is_preview:
                    preview[outcome] = preview.get(outcome, 0) + int(n)
                elif message:
                    played[outcome] = played.get(outcome, 0) + int(message)
                if not is_preview:
                    machines += int(amd_machine or 0)
        return OutcomeCounts(
            by_outcome=by_outcome,
            preview=preview,
            missed=sum(int(row[3] or 0) for row in rows),
            message_played=played,
            amd_machines=machines,
            amd_false_positive_rate=amd_false_positive_rate,
        )

    def repeat_history(self, phones: Sequence[str], *, since: datetime) -> dict[str, RepeatHistory]:
        """Per number (E.164, any campaign): when its last abandoned call and its last answering
        machine ended, looking back to ``since``. Numbers with neither are left out."""
        if not phones:
            return {}
        query = (
            select(
                attempts_t.c.number_dialed,
                attempts_t.c.outcome,
                type_coerce(func.max(attempts_t.c.ended_at), UTCDateTime()),
            )
            .where(
                attempts_t.c.number_dialed.in_(list(dict.fromkeys(phones))),
                attempts_t.c.ended_at >= since,
                attempts_t.c.outcome.in_(_REPEAT_OUTCOMES),
            )
            .group_by(attempts_t.c.number_dialed, attempts_t.c.outcome)
        )
        abandoned: dict[str, datetime] = {}
        machine: dict[str, datetime] = {}
        with self._tx() as conn:
            for number, outcome, at in conn.execute(query):
                target = machine if outcome == CallResult.ANSWERING_MACHINE.value else abandoned
                if number not in target or at > target[number]:
                    target[number] = at
        return {
            n: RepeatHistory(last_abandoned_at=abandoned.get(n), last_machine_at=machine.get(n))
            for n in set(abandoned) | set(machine)
        }

    def placed_since(self, campaign_id: int | None, *, since: datetime) -> int:
        query = select(func.count()).where(attempts_t.c.created_at >= since)
        if campaign_id is not None:
            query = query.where(attempts_t.c.campaign_id == campaign_id)
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def recent_samples(self, campaign_id: int, *, limit: int = 200) -> tuple[list[float], list[float]]:
        """(talk seconds of recent connects, answer-delay seconds of recent live answers), oldest first."""
        connected = (
            select(attempts_t.c.connected_at, attempts_t.c.ended_at)
            .where(
                attempts_t.c.campaign_id == campaign_id,
                attempts_t.c.connected_at.is_not(None),
                attempts_t.c.ended_at.is_not(None),
            )
            .order_by(attempts_t.c.ended_at.desc())
            .limit(limit)
        )
        answered = (
            select(attempts_t.c.placed_at, attempts_t.c.answered_at)
            .where(
                attempts_t.c.campaign_id == campaign_id,
                attempts_t.c.answered_at.is_not(None),
                attempts_t.c.placed_at.is_not(None),
            )
            .order_by(attempts_t.c.answered_at.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            talk = [_seconds(a, b) for a, b in conn.execute(connected)]
            delays = [_seconds(a, b) for a, b in conn.execute(answered)]
        return list(reversed(talk)), list(reversed(delays))

    def note_pacing(self, campaign_id: int, note: PacingNote) -> None:
        """Keep ``note`` as the campaign's newest pacing decision (``last_placed_at`` survives)."""
        values = {
            "decided_at": note.decided_at,
            "wanted": note.wanted,
            "placed": note.placed,
            "capped_by": note.capped_by,
            "reason": note.reason,
            "blocked": dict(note.blocked),
        }
        if note.placed:
            values["last_placed_at"] = note.decided_at
        # Not durable: a note lost in a crash of the database server is written again by the
        # next tick (every NOTE_REFRESH at the latest); the calls it counts are in attempts.
        with self._tx(durable=False) as conn:
            if not conn.execute(_NOTE_UPDATE, {"_cid": campaign_id, **values}).rowcount:
                conn.execute(_NOTE_INSERT, {"campaign_id": campaign_id, **values})
            conn.execute(
                _HISTORY_INSERT,
                {
                    "campaign_id": campaign_id,
                    "decided_at": note.decided_at,
                    "wanted": note.wanted,
                    "placed": note.placed,
                    "capped_by": note.capped_by,
                    "reason": note.reason,
                },
            )
            pruned = self.__dict__.setdefault("_history_pruned_at", {})
            last = pruned.get(campaign_id)
            if last is None or not last <= note.decided_at < last + PACING_HISTORY_PRUNE_EVERY:
                conn.execute(_HISTORY_PRUNE, {"_cid": campaign_id, "_before": note.decided_at - PACING_HISTORY_KEEP})
                pruned[campaign_id] = note.decided_at

    def newest_time(self) -> datetime | None:
        """The latest instant the store holds of dialing (an attempt placed or ended, a pacing
        decision): a virtual-time run continues from there rather than going back in time."""
        queries = (
            select(func.max(attempts_t.c.placed_at)),
            select(func.max(attempts_t.c.ended_at)),
            select(func.max(pacing_log_t.c.decided_at)),
        )
        with self._tx() as conn:
            found = [conn.execute(q).scalar() for q in queries]
        times = [t for t in found if t is not None]
        return max(times) if times else None

    def pacing_note(self, campaign_id: int) -> PacingNote | None:
        with self._tx() as conn:
            row = conn.execute(select(pacing_log_t).where(pacing_log_t.c.campaign_id == campaign_id)).first()
        if row is None:
            return None
        return PacingNote(
            decided_at=row.decided_at,
            wanted=row.wanted,
            placed=row.placed,
            capped_by=row.capped_by,
            reason=row.reason,
            blocked={str(k): int(v) for k, v in (row.blocked or {}).items()},
            last_placed_at=row.last_placed_at,
        )

    def pacing_history(self, campaign_id: int, *, since: datetime, until: datetime) -> list[PacingNote]:
        """The campaign's pacing decisions from ``since`` to ``until``, oldest first, with the one in
        force at ``since`` (the last before it) first when there is one. Kept for
        :data:`PACING_HISTORY_KEEP`."""
        h = pacing_history_t
        columns = (h.c.decided_at, h.c.wanted, h.c.placed, h.c.capped_by, h.c.reason)
        window = (
            select(*columns)
            .where(h.c.campaign_id == campaign_id, h.c.decided_at >= since, h.c.decided_at <= until)
            .order_by(h.c.decided_at, h.c.id)
        )
        before = (
            select(*columns)
            .where(h.c.campaign_id == campaign_id, h.c.decided_at < since)
            .order_by(h.c.decided_at.desc(), h.c.id.desc())
            .limit(1)
        )
        with self._tx() as conn:
            rows = [*conn.execute(before).all(), *conn.execute(window).all()]
        return [
            PacingNote(
                decided_at=r.decided_at, wanted=r.wanted, placed=r.placed, capped_by=r.capped_by, reason=r.reason
            )
            for r in rows
        ]

    def placed_times(self, campaign_id: int, *, since: datetime, until: datetime) -> list[datetime]:
        """When each of the campaign's calls in ``[since, until)`` was placed (oldest first)."""
        query = (
            select(attempts_t.c.placed_at)
            .where(
                attempts_t.c.campaign_id == campaign_id,
                attempts_t.c.placed_at >= since,
                attempts_t.c.placed_at < until,
            )
            .order_by(attempts_t.c.placed_at)
        )
        with self._tx() as conn:
            return list(conn.execute(query).scalars())


def _seconds(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())

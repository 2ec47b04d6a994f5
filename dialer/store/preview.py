"""The preview desk: records locked to agents, and the agent's disposition of a call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from dialer.domain.preview import AGENT_PREFIX
from dialer.domain.records import Record, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.errors import InvalidTransition, NotFound
from dialer.store import convert
from dialer.store.base import StoreBase, attempts_t, records_t
from dialer.store.types import FinishedAttempt

_ON_DESK = [RecordStatus.LEASED.value, RecordStatus.DIALING.value]


class PreviewStore(StoreBase):
    def desk_records(self, campaign_id: int, owner: str) -> list[Record]:
        """Records leased to ``owner`` (an agent's desk), oldest lock first."""
        query = (
            select(records_t)
            .where(
                records_t.c.campaign_id == campaign_id,
                records_t.c.lease_owner == owner,
                records_t.c.status.in_(_ON_DESK),
            )
            .order_by(records_t.c.updated_at, records_t.c.id)
        )
        with self._tx() as conn:
            return [convert.record(r) for r in conn.execute(query).mappings()]

    def locked_by_agents(self, campaign_id: int) -> dict[str, int]:
        """How many records each agent holds on the desk (requested, being dialed or awaiting
        a disposition)."""
        query = (
            select(records_t.c.lease_owner, func.count())
            .where(
                records_t.c.campaign_id == campaign_id,
                records_t.c.status.in_(_ON_DESK),
                records_t.c.lease_owner.like(f"{AGENT_PREFIX}%"),
            )
            .group_by(records_t.c.lease_owner)
        )
        with self._tx() as conn:
            return {owner[len(AGENT_PREFIX) :]: int(n) for owner, n in conn.execute(query)}

    def offered_before(self, campaign_id: int, *, before: datetime) -> list[Record]:
        """Records on an agent's desk, not dialed yet, shown to the agent at or before ``before``
        (the preview auto-dial timer), oldest first."""
        query = (
            select(records_t)
            .where(
                records_t.c.campaign_id == campaign_id,
                records_t.c.status == RecordStatus.LEASED.value,
                records_t.c.lease_owner.like(f"{AGENT_PREFIX}%"),
                records_t.c.offered_at <= before,
            )
            .order_by(records_t.c.offered_at, records_t.c.id)
        )
        with self._tx() as conn:
            return [convert.record(r) for r in conn.execute(query).mappings()]

    def extend_lock(self, record_id: int, owner: str, *, until: datetime, now: datetime) -> bool:
        """Move the lock's expiry of a record still held by ``owner``; False if it is not."""
        with self._tx() as conn:
            result = conn.execute(
                update(records_t)
                .where(
                    records_t.c.id == record_id,
                    records_t.c.lease_owner == owner,
                    records_t.c.status.in_(_ON_DESK),
                )
                .values(lease_until=until, updated_at=now)
            )
            return bool(result.rowcount)

    def expired_holds(self, campaign_ids: Sequence[int], *, now: datetime) -> list[tuple[int, int, str]]:
        """Preview records whose call has ended but whose agent never gave a disposition before
        the lock expired: (record id, campaign id, that call's attempt id)."""
        in_flight = select(attempts_t.c.record_id).where(attempts_t.c.ended_at.is_(None))
        latest = (
            select(attempts_t.c.id)
            .where(attempts_t.c.record_id == records_t.c.id)
            .order_by(attempts_t.c.created_at.desc(), attempts_t.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = select(records_t.c.id, records_t.c.campaign_id, latest).where(
            records_t.c.campaign_id.in_(list(campaign_ids)),
            records_t.c.status == RecordStatus.DIALING.value,
            records_t.c.lease_owner.like(f"{AGENT_PREFIX}%"),
            records_t.c.lease_until < now,
            records_t.c.id.not_in(in_flight),
        )
        with self._tx() as conn:
            return [(rid, cid, aid) for rid, cid, aid in conn.execute(query) if aid is not None]

    def dispose_attempt(
        self,
        attempt_id: str,
        *,
        result: CallResult | None,
        disposition: str | None,
        decide: Callable[[Record, CallResult], RetryDecision],
        now: datetime,
    ) -> FinishedAttempt:
        """The agent's disposition of an ended preview call becomes its canonical result: the
        record's counts are corrected (the provider's result out, ``result`` in), ``decide``
        picks where the record goes next, and the agent's lock is released. Atomic.

        ``result=None`` keeps the call's own result (a lock that expired without a disposition)."""
        with self._tx() as conn:
            arow = conn.execute(select(attempts_t).where(attempts_t.c.id == attempt_id)).mappings().first()
            if arow is None:
                raise NotFound(f"no attempt {attempt_id}")
            if arow["ended_at"] is None:
                raise InvalidTransition(f"attempt {attempt_id} is still in progress")
            rrow = conn.execute(select(records_t).where(records_t.c.id == arow["record_id"])).mappings().one()
            counts = dict(rrow["result_counts"] or {})
            attempts = int(rrow["attempts"])
            before = CallResult(arow["outcome"]) if arow["outcome"] else None
            result = result or before or CallResult.UNKNOWN
            if before is not None:
                left = int(counts.get(before.value, 0)) - 1
                if left > 0:
                    counts[before.value] = left
                else:
                    counts.pop(before.value, None)
                attempts -= 1 if before.counts_attempt else 0
            counts[result.value] = int(counts.get(result.value, 0)) + 1
            attempts += 1 if result.counts_attempt else 0
            decision = decide(convert.record({**rrow, "result_counts": counts, "attempts": attempts}), result)
            attempt_values: dict[str, Any] = {
                "outcome": result.value,
                "category": result.category.value,
                "disposition": disposition,
                "updated_at": now,
            }
            conn.execute(update(attempts_t).where(attempts_t.c.id == attempt_id).values(**attempt_values))
            return self._settle_record(
                conn,
                arow,
                rrow,
                attempt_values=attempt_values,
                result=result,
                counts=counts,
                attempts=attempts,
                decision=decision,
                now=now,
            )

    def reschedule_record(
        self,
        record_id: int,
        *,
        at: datetime,
        record_type: str,
        reason: str,
        now: datetime,
        attempt_id: str | None = None,
        disposition: str | None = None,
        reserved_for: str | None = None,
        reserved_until: datetime | None = None,
    ) -> Record:
        """Back to ready, not before ``at``, as a callback; the lock is released. With
        ``attempt_id``, the agent's ``disposition`` is written on that call too. With
        ``reserved_for`` (a personal callback) only that agent gets the record until
        ``reserved_until``."""
        with self._tx() as conn:
            if attempt_id is not None:
                conn.execute(
                    update(attempts_t)
                    .where(attempts_t.c.id == attempt_id)
                    .values(disposition=disposition, updated_at=now)
                )
            self._move_record(
                conn,
                record_id,
                RecordStatus.READY,
                {
                    "next_dial_at": at,
                    "record_type": record_type,
                    "lease_owner": None,
                    "lease_until": None,
                    "blocked_reason": None,
                    "blocked_detail": reason,
                    "blocked_until": None,
                    "reserved_for": reserved_for,
                    "reserved_until": reserved_until if reserved_for is not None else None,
                    "updated_at": now,
                },
            )
            row = conn.execute(select(records_t).where(records_t.c.id == record_id)).mappings().one()
        return convert.record(row)

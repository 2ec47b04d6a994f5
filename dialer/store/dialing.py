"""The dialing hot path: claims, attempts and their progress.

These run several times per call and once per tick, so their statements are built once
and executed with parameters, and they read only the columns they need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from dialer.domain.campaigns import Campaign
from dialer.domain.records import RECORD_TRANSITIONS, Attempt, AttemptState, Record, RecordStatus, advance_attempt_state
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.errors import AlreadyExists, InvalidTransition, NotFound
from dialer.store import convert
from dialer.store.base import (
    SOURCES,
    StoreBase,
    attempts_t,
    campaigns_t,
    dnc_t,
    provider_events_t,
    records_t,
    settlement,
)
from dialer.store.tables import CLAIM_PRIORITIES
from dialer.store.types import (
    GLOBAL_SCOPE,
    AttemptEnding,
    AttemptProgress,
    Claim,
    Decide,
    FinishedAttempt,
    InFlightCall,
    campaign_scope,
)

_IN_FLIGHT_NUMBERS = select(attempts_t.c.number_dialed).where(attempts_t.c.ended_at.is_(None))
# One lookup in the partial unique index uq_attempts_in_flight_number per candidate record,
# instead of reading every open attempt (or the whole call history) first.
_NUMBER_IN_FLIGHT = exists().where(attempts_t.c.number_dialed == records_t.c.phone, attempts_t.c.ended_at.is_(None))
# A personal callback goes only to its agent until the reservation lapses.
_NOT_RESERVED_FOR_OTHERS = or_(
    records_t.c.reserved_for.is_(None),
    records_t.c.reserved_until <= bindparam("now"),
    records_t.c.reserved_for == bindparam("agent"),
)

# The due records of one claim priority, in claim order. Equality on (campaign, status,
# priority) and a range on next_dial_at: a walk of ix_records_claim that stops after ``lim``
# rows, with no sort, so its cost does not grow with the campaign. claim_records runs it once
# per priority (callbacks first).
_CLAIMABLE = (
    select(records_t.c.id)
    .where(
        records_t.c.campaign_id == bindparam("cid"),
        records_t.c.status == RecordStatus.READY.value,
        records_t.c.priority == bindparam("prio"),
        records_t.c.next_dial_at <= bindparam("now"),
        ~_NUMBER_IN_FLIGHT,
        _NOT_RESERVED_FOR_OTHERS,
    )
    .order_by(records_t.c.next_dial_at, records_t.c.id)
    .limit(bindparam("lim"))
    .with_for_update(skip_locked=True, of=records_t)
)
# The due personal callbacks reserved for one agent (the preview desk asks for them first).
_CLAIMABLE_MINE = (
    select(records_t.c.id)
    .where(
        records_t.c.campaign_id == bindparam("cid"),
        records_t.c.status == RecordStatus.READY.value,
        records_t.c.reserved_for == bindparam("agent"),
        records_t.c.next_dial_at <= bindparam("now"),
        ~_NUMBER_IN_FLIGHT,
    )
    .order_by(records_t.c.priority, records_t.c.next_dial_at, records_t.c.id)
    .limit(bindparam("lim"))
    .with_for_update(skip_locked=True, of=records_t)
)
# Read through ix_records_leased (the leased records only), never the whole campaign.
_EXPIRED = and_(
    records_t.c.status == RecordStatus.LEASED.value,
    records_t.c.lease_until < bindparam("now"),
    records_t.c.campaign_id.in_(bindparam("cids", expanding=True)),
)
_EXPIRED_LEASES = (
    update(records_t)
    .where(_EXPIRED)
    .values(status=RecordStatus.READY.value, lease_owner=None, lease_until=None, updated_at=bindparam("now"))
)
# Lease the rows locked by _CLAIMABLE and read them back, each with whether its number is on
# the do-not-call list (global or the campaign's) — in the same statement. (Not one statement
# with the claim: PostgreSQL may re-run an ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)``
# subquery and lease more than n rows.)
# (Spelled out: SQLite's RETURNING names columns without their table, which would compare
# the list's phone with itself.)
_DNC = dnc_t.alias("dnc")
_ON_DNC = exists().where(
    _DNC.c.phone == literal_column("records.phone"), _DNC.c.scope.in_(bindparam("scopes", expanding=True))
)
_LEASE = (
    update(records_t)
    .where(records_t.c.id.in_(bindparam("ids", expanding=True)), records_t.c.status == RecordStatus.READY.value)
    .returning(*records_t.c, _ON_DNC.label("on_dnc"))
)
_CAMPAIGNS = select(campaigns_t).order_by(campaigns_t.c.id)
_ATTEMPT_WITH_HANDLE = select(attempts_t, records_t.c.handle).join(records_t, records_t.c.id == attempts_t.c.record_id)
_IN_FLIGHT = _ATTEMPT_WITH_HANDLE.where(attempts_t.c.ended_at.is_(None)).order_by(attempts_t.c.created_at)
_IN_FLIGHT_OF = _ATTEMPT_WITH_HANDLE.where(
    attempts_t.c.ended_at.is_(None), attempts_t.c.campaign_id == bindparam("cid")
).order_by(attempts_t.c.created_at)
_IN_FLIGHT_CALLS = (
    select(
        attempts_t.c.id,
        attempts_t.c.campaign_id,
        attempts_t.c.number_dialed,
        attempts_t.c.state,
        attempts_t.c.provider_ref,
        attempts_t.c.created_at,
        attempts_t.c.placed_at,
        attempts_t.c.correlation,
        attempts_t.c.record_id,
        attempts_t.c.caller_id,
        attempts_t.c.preview,
        attempts_t.c.agent,
    )
    .where(attempts_t.c.ended_at.is_(None))
    .order_by(attempts_t.c.created_at)
)
_ATTEMPT_ROW = select(attempts_t).where(attempts_t.c.id == bindparam("aid"))
_ATTEMPT_BY_ID = _ATTEMPT_WITH_HANDLE.where(attempts_t.c.id == bindparam("aid"))
_RECORD_BY_ID = select(records_t).where(records_t.c.id == bindparam("rid"))
_INSERT_ATTEMPT = insert(attempts_t)
# Records of a batch to dialing in one statement, each only from a status allowed to go there.
_TO_DIALING = (
    update(records_t)
    .where(
        records_t.c.id.in_(bindparam("_rids", expanding=True)),
        records_t.c.status.in_(SOURCES[RecordStatus.DIALING]),
    )
    .values(status=RecordStatus.DIALING.value)
)
_UPDATE_ATTEMPT = update(attempts_t).where(attempts_t.c.id == bindparam("_aid"))
# Progress moves the state forward only, and never touches an attempt that has ended.
_PROGRESS = (
    update(attempts_t)
    .where(attempts_t.c.id == bindparam("_aid"), attempts_t.c.ended_at.is_(None))
    .values(
        state=case(
            (attempts_t.c.state.in_(bindparam("_lower", expanding=True)), bindparam("_state")),
            else_=attempts_t.c.state,
        )
    )
)
_LOWER = {s: [o.value for o in AttemptState if o.rank < s.rank] for s in AttemptState}
# The caller ID the provider picked, on an attempt that was placed without one.
_FILL_CALLER_ID = (
    update(attempts_t)
    .where(attempts_t.c.id == bindparam("_aid"), attempts_t.c.caller_id.is_(None))
    .values(caller_id=bindparam("caller_id"))
)
_PROGRESS_FIELDS = (
    "provider_ref",
    "call_sid",
    "correlation",
    "placed_at",
    "answered_at",
    "connected_at",
    "error",
)


# What one tick collected, written as one (DialingStore.write_back): the attempts and their
# records are read and locked in id order (the order every writer locks them in), then each
# table gets one executemany UPDATE whose rows all set the same columns.
_ATTEMPTS_LOCKED = (
    select(attempts_t)
    .where(attempts_t.c.id.in_(bindparam("aids", expanding=True)))
    .order_by(attempts_t.c.id)
    .with_for_update()
)
# With endings, each attempt's record too (its columns labelled ``r_…``), both locked.
_ATTEMPTS_AND_RECORDS_LOCKED = (
    select(attempts_t, *(c.label(f"r_{c.name}") for c in records_t.c))
    .join(records_t, records_t.c.id == attempts_t.c.record_id)
    .where(attempts_t.c.id.in_(bindparam("aids", expanding=True)))
    .order_by(attempts_t.c.id)
    .with_for_update()
)
_RECORD_LABELS = [(f"r_{c.name}", c.name) for c in records_t.c]
_PROGRESSED = update(attempts_t).where(attempts_t.c.id == bindparam("_aid"), attempts_t.c.ended_at.is_(None))
_ENDED = _PROGRESSED
_SETTLE = update(records_t).where(records_t.c.id == bindparam("_rid"), records_t.c.status == bindparam("_from"))


class _NotAsOne(Exception):
    """A batch of write_back that must be written one attempt at a time instead."""


@dataclass(frozen=True)
class _Ended:
    attempt_values: dict[str, Any]
    counts: dict[str, Any]
    attempts: int
    decision: RetryDecision


def _ended(
    arow: Mapping[Any, Any], rrow: Mapping[Any, Any], ending: AttemptEnding, decide: Decide, *, now: datetime
) -> _Ended:
    """Every attempt column an ending writes (what the provider did not say is kept), the
    record's counts with this result, and where ``decide`` sends the record."""
    outcome = ending.outcome
    counts = dict(rrow["result_counts"] or {})
    counts[outcome.value] = int(counts.get(outcome.value, 0)) + 1
    attempts = rrow["attempts"] + (1 if outcome.counts_attempt else 0)
    decision = decide(convert.record({**rrow, "result_counts": counts, "attempts": attempts}), outcome)
    values: dict[str, Any] = {
        "state": AttemptState.ENDED.value,
        "ended_at": ending.ended_at,
        "outcome": outcome.value,
        "category": outcome.category.value,
        "raw_outcome": ending.raw_outcome,
        "was_missed": ending.was_missed,
        "amd": ending.amd,
        "message_played": ending.message_played,
        "answered_at": ending.answered_at or arow["answered_at"],
        "connected_at": ending.connected_at or arow["connected_at"],
        "duration_s": ending.duration_s,
        "agent": arow["agent"] or ending.agent,
        "raw": dict(ending.raw) if ending.raw is not None else None,
        "updated_at": now,
        "caller_id": arow["caller_id"] if arow["caller_id"] is not None else ending.caller_id,
    }
    for key in ("provider_ref", "call_sid", "correlation", "error"):
        value = getattr(ending, key)
        values[key] = value if value is not None else arow[key]
    return _Ended(attempt_values=values, counts=counts, attempts=attempts, decision=decision)


def _settled(
    arow: Mapping[Any, Any], rrow: Mapping[Any, Any], ending: AttemptEnding, ended: _Ended, *, now: datetime
) -> tuple[dict[str, Any], FinishedAttempt]:
    """The record columns an ending writes, and what finish_attempt returns."""
    return settlement(
        arow,
        rrow,
        attempt_values=ended.attempt_values,
        result=ending.outcome,
        counts=ended.counts,
        attempts=ended.attempts,
        decision=ended.decision,
        now=now,
        extra={"last_was_missed": ending.was_missed},
        blocked_reason=ending.blocked_reason,
    )


def _progressed(arow: Mapping[Any, Any], progress: AttemptProgress, *, now: datetime) -> dict[str, Any]:
    """The row of a _PROGRESSED update: as _write_progress, with every column set."""
    state = progress.state if progress.state is not AttemptState.ENDED else AttemptState.CONNECTED
    params: dict[str, Any] = {
        "_aid": arow["id"],
        "state": advance_attempt_state(AttemptState(arow["state"]), state).value,
        "updated_at": now,
        "caller_id": arow["caller_id"] if arow["caller_id"] is not None else progress.caller_id,
    }
    for key in _PROGRESS_FIELDS:
        value = getattr(progress, key)
        params[key] = value if value is not None else arow[key]
    return params


def _write_progress(conn: Connection, attempt_id: str, progress: AttemptProgress, *, now: datetime) -> None:
    state = progress.state if progress.state is not AttemptState.ENDED else AttemptState.CONNECTED
    params: dict[str, Any] = {
        "_aid": attempt_id,
        "_lower": _LOWER[state],
        "_state": state.value,
        "updated_at": now,
    }
    for key in _PROGRESS_FIELDS:
        value = getattr(progress, key)
        if value is not None:
            params[key] = value
    conn.execute(_PROGRESS, params)
    if progress.caller_id is not None:
        conn.execute(_FILL_CALLER_ID, {"_aid": attempt_id, "caller_id": progress.caller_id})


def _pending_attempt(
    record: Record,
    attempt_id: str,
    *,
    backend: str,
    mode: str,
    caller_id: str | None,
    pacing_reason: str,
    now: datetime,
    preview: bool = False,
    agent: str | None = None,
) -> dict[str, Any]:
    """The row of an attempt written before its call is placed (``pending``)."""
    return {
        "id": attempt_id,
        "record_id": record.id,
        "campaign_id": record.campaign_id,
        "backend": backend,
        "mode": mode,
        "state": AttemptState.PENDING.value,
        "number_dialed": record.phone,
        "caller_id": caller_id,
        "created_at": now,
        "updated_at": now,
        "pacing_reason": pacing_reason,
        "preview": preview,
        "agent": agent,
    }


class _Explain(Executable, ClauseElement):
    """``EXPLAIN`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` (SQLite) of a statement."""

    inherit_cache = False

    def __init__(self, statement: Executable) -> None:
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + str(compiler.process(element.statement, **kw))


class DialingStore(StoreBase):
    def explain_claim(self, campaign_id: int, *, now: datetime, limit: int = 8) -> list[str]:
        """The database's plan for the claim query (general records), one line per step: for
        the benchmark and the tests that check it walks ``ix_records_claim`` without a sort."""
        params = {"cid": campaign_id, "prio": CLAIM_PRIORITIES[-1], "now": now, "lim": limit, "agent": None}
        return self._explain(_CLAIMABLE, params)

    def explain_lease_sweep(self, campaign_ids: Sequence[int], *, now: datetime) -> list[str]:
        """The plan of the search :meth:`release_expired_leases` makes (it must read
        ``ix_records_leased``), as the plan of a SELECT of the rows it updates."""
        return self._explain(select(records_t.c.id).where(_EXPIRED), {"cids": list(campaign_ids), "now": now})

    def _explain(self, statement: Executable, params: Mapping[str, Any]) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute(_Explain(statement), dict(params)).all()
            if conn.dialect.name == "sqlite":
                return [str(row[-1]) for row in rows]
            return [str(row[0]) for row in rows]

    def claim_records(
        self,
        campaign_id: int,
        *,
        limit: int,
        worker: str,
        lease_seconds: float,
        now: datetime,
        agent: str | None = None,
    ) -> list[Claim]:
        """Lease up to ``limit`` due records, callbacks first, then oldest schedule.

        A personal callback (``reserved_for``) is leased only to its ``agent`` — first, before
        anything else — until its reservation lapses; then to anyone. Leasing it ends the
        reservation.

        Records whose number already has a call in flight (any campaign) are skipped: at
        most one call per destination is ever ringing. The do-not-call list is read in the
        same statement as the lease, so each claim says whether its number may be dialed right now.
        """
        if limit <= 0:
            return []
        # Not durable: a lease lost in a crash of the database server leaves its records ready,
        # and nothing is dialed on it before begin_attempts' durable commit, which flushes it too.
        with self._tx(durable=False) as conn:
            ids: list[int] = []
            mine: set[int] = set()
            if agent is not None:  # the agent's own personal callbacks first
                mine_params = {"cid": campaign_id, "now": now, "lim": limit, "agent": agent}
                ids.extend(conn.execute(_CLAIMABLE_MINE, mine_params).scalars())
                mine = set(ids)
            for priority in CLAIM_PRIORITIES:
                if len(ids) >= limit:
                    break
                params = {"cid": campaign_id, "prio": priority, "now": now, "lim": limit - len(ids), "agent": agent}
                ids.extend(rid for rid in conn.execute(_CLAIMABLE, params).scalars() if rid not in mine)
            if not ids:
                return []
            rows = conn.execute(
                _LEASE,
                {
                    "ids": ids,
                    "status": RecordStatus.LEASED.value,
                    "lease_owner": worker,
                    "lease_until": now + timedelta(seconds=lease_seconds),
                    "offered_at": now,
                    "reserved_for": None,
                    "reserved_until": None,
                    "updated_at": now,
                    "scopes": [GLOBAL_SCOPE, campaign_scope(campaign_id)],
                },
            ).mappings()
            claims = [Claim(record=convert.record(r), on_dnc=bool(r["on_dnc"])) for r in rows]

        def order(claim: Claim) -> tuple[bool, bool, datetime, int]:
            r = claim.record
            return (r.id not in mine, r.record_type == "general", r.next_dial_at, r.id)

        return sorted(claims, key=order)

    def count_in_flight(self, campaign_id: int | None = None) -> int:
        query = select(func.count()).select_from(attempts_t).where(attempts_t.c.ended_at.is_(None))
        if campaign_id is not None:
            query = query.where(attempts_t.c.campaign_id == campaign_id)
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def in_flight(self, campaign_id: int | None = None) -> list[Attempt]:
        with self._tx() as conn:
            if campaign_id is None:
                rows = conn.execute(_IN_FLIGHT).mappings()
            else:
                rows = conn.execute(_IN_FLIGHT_OF, {"cid": campaign_id}).mappings()
            return [convert.attempt(r) for r in rows]

    def campaigns_and_calls(self) -> tuple[list[Campaign], list[InFlightCall]]:
        """Every campaign (as :meth:`list_campaigns`) and every call in flight (as
        :meth:`in_flight_calls`), read in one transaction: what a tick starts from."""
        with self._tx() as conn:
            campaigns = [convert.campaign(r) for r in conn.execute(_CAMPAIGNS).mappings()]
            return campaigns, self._in_flight_calls(conn)

    def in_flight_calls(self) -> list[InFlightCall]:
        """Every unfinished attempt, oldest first, with just what result collection needs."""
        with self._tx() as conn:
            return self._in_flight_calls(conn)

    def _in_flight_calls(self, conn: Connection) -> list[InFlightCall]:
        return [
            InFlightCall(
                attempt_id=aid,
                campaign_id=cid,
                number=number,
                state=AttemptState(state),
                provider_ref=ref,
                created_at=created,
                placed_at=placed,
                correlation=correlation,
                record_id=record_id,
                caller_id=caller_id,
                agent=agent if preview else None,
            )
            for (
                aid,
                cid,
                number,
                state,
                ref,
                created,
                placed,
                correlation,
                record_id,
                caller_id,
                preview,
                agent,
            ) in conn.execute(_IN_FLIGHT_CALLS)
        ]

    def in_flight_numbers(self) -> set[str]:
        with self._tx() as conn:
            return set(conn.execute(_IN_FLIGHT_NUMBERS).scalars())

    def skipped_for_in_flight(self, campaign_id: int, *, now: datetime) -> int:
        """Due records held back because their number is being called right now."""
        query = select(func.count()).where(
            records_t.c.campaign_id == campaign_id,
            records_t.c.status == RecordStatus.READY.value,
            records_t.c.next_dial_at <= now,
            _NUMBER_IN_FLIGHT,
        )
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    def begin_attempt(
        self,
        record: Record,
        *,
        attempt_id: str,
        backend: str,
        mode: str,
        caller_id: str | None,
        pacing_reason: str,
        now: datetime,
        preview: bool = False,
        agent: str | None = None,
        lease_owner: str | None = None,
    ) -> Attempt:
        """Write the attempt (state ``pending``) and move the record to ``dialing``, before
        the provider is called. Raises :class:`AlreadyExists` if the number is in flight.

        ``preview`` marks a call an agent dialed from the preview desk (``agent``). With
        ``lease_owner`` the record must still be leased to that owner (checked in the same
        statement), else :class:`InvalidTransition`: two clicks on Dial place one call."""
        values = {
            "blocked_reason": None,
            "blocked_detail": None,
            "blocked_until": None,
            "last_attempt_at": now,
            "updated_at": now,
        }
        try:
            with self._tx() as conn:
                if lease_owner is None:
                    self._move_record(conn, record.id, RecordStatus.DIALING, values)
                else:
                    moved = conn.execute(
                        update(records_t)
                        .where(
                            records_t.c.id == record.id,
                            records_t.c.status == RecordStatus.LEASED.value,
                            records_t.c.lease_owner == lease_owner,
                        )
                        .values(status=RecordStatus.DIALING.value, **values)
                    )
                    if moved.rowcount != 1:
                        raise InvalidTransition(
                            f"record {record.handle!r} is no longer leased to {lease_owner} "
                            "(already dialed, or its lock expired)"
                        )
                conn.execute(
                    _INSERT_ATTEMPT,
                    _pending_attempt(
                        record,
                        attempt_id,
                        backend=backend,
                        mode=mode,
                        caller_id=caller_id,
                        pacing_reason=pacing_reason,
                        now=now,
                        preview=preview,
                        agent=agent,
                    ),
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"{record.phone} already has a call in flight") from exc
        return Attempt(
            id=attempt_id,
            record_id=record.id,
            campaign_id=record.campaign_id,
            backend=backend,
            mode=mode,
            state=AttemptState.PENDING,
            number_dialed=record.phone,
            caller_id=caller_id,
            created_at=now,
            pacing_reason=pacing_reason,
            record_handle=record.handle,
            preview=preview,
            agent=agent,
        )

    def begin_attempts(
        self,
        calls: Sequence[tuple[Record, str, str | None]],
        *,
        backend: str,
        mode: str,
        pacing_reason: str,
        now: datetime,
    ) -> set[str]:
        """:meth:`begin_attempt` for several ``(record, attempt id, caller ID)`` at once, in one
        transaction: the pacing tick writes a batch of attempts before its first call.

        Returns the attempt ids *not* written because their number already has a call in
        flight (or comes twice in ``calls``); those records are left as they were. Raises
        :class:`AlreadyExists`, with nothing written, if another worker put one of the
        numbers in flight concurrently (the caller then goes one call at a time)."""
        if not calls:
            return set()
        record_values = {
            "blocked_reason": None,
            "blocked_detail": None,
            "blocked_until": None,
            "last_attempt_at": now,
            "updated_at": now,
        }
        try:
            with self._tx() as conn:
                busy = set(
                    conn.execute(
                        _IN_FLIGHT_NUMBERS.where(attempts_t.c.number_dialed.in_(bindparam("phones", expanding=True))),
                        {"phones": sorted({record.phone for record, _, _ in calls})},
                    ).scalars()
                )
                refused: set[str] = set()
                rows: list[dict[str, Any]] = []
                moving: list[int] = []
                for record, attempt_id, caller_id in calls:
                    if record.phone in busy:
                        refused.add(attempt_id)
                        continue
                    busy.add(record.phone)
                    moving.append(record.id)
                    rows.append(
                        _pending_attempt(
                            record,
                            attempt_id,
                            backend=backend,
                            mode=mode,
                            caller_id=caller_id,
                            pacing_reason=pacing_reason,
                            now=now,
                        )
                    )
                if rows:
                    moved = conn.execute(_TO_DIALING, {"_rids": moving, **record_values}).rowcount
                    if moved != len(moving):  # one may not go to dialing: _move_record says which
                        for record_id in moving:
                            self._move_record(conn, record_id, RecordStatus.DIALING, record_values)
                    conn.execute(_INSERT_ATTEMPT, rows)
        except IntegrityError as exc:
            raise AlreadyExists(f"a number of this batch went in flight meanwhile: {exc.orig}") from exc
        return refused

    def withdraw_attempts(
        self,
        calls: Sequence[tuple[Record, str]],
        *,
        now: datetime,
        next_dial_at: datetime | None = None,
        blocked_reason: str | None = None,
        blocked_detail: str | None = None,
    ) -> int:
        """Remove attempts written by :meth:`begin_attempts` that were never sent to the
        provider (still ``pending``, no provider reference), and put their ``(record, attempt
        id)`` records back to ready as they were (or not before ``next_dial_at``, held for
        ``blocked_reason``). For a batch cut short (the campaign was paused half-way, the
        provider refuses calls): no call was made, so no attempt is kept. Returns how many."""
        if not calls:
            return 0
        withdrawn = 0
        with self._tx() as conn:
            for record, attempt_id in calls:
                gone = conn.execute(
                    delete(attempts_t).where(
                        attempts_t.c.id == attempt_id,
                        attempts_t.c.state == AttemptState.PENDING.value,
                        attempts_t.c.provider_ref.is_(None),
                        attempts_t.c.ended_at.is_(None),
                    )
                )
                if gone.rowcount != 1:
                    continue
                values: dict[str, Any] = {
                    "lease_owner": None,
                    "lease_until": None,
                    "last_attempt_at": record.last_attempt_at,
                    "updated_at": now,
                }
                if blocked_reason is not None:  # held back like the call that stopped the batch
                    values.update(
                        blocked_reason=blocked_reason,
                        blocked_detail=blocked_detail,
                        blocked_until=next_dial_at,
                    )
                if next_dial_at is not None:
                    values["next_dial_at"] = next_dial_at
                self._move_record(conn, record.id, RecordStatus.READY, values)
                withdrawn += 1
        return withdrawn

    def get_attempt(self, attempt_id: str) -> Attempt:
        with self._tx() as conn:
            row = conn.execute(_ATTEMPT_BY_ID, {"aid": attempt_id}).mappings().first()
        if row is None:
            raise NotFound(f"no attempt {attempt_id}")
        return convert.attempt(row)

    def progress_attempt(self, attempt_id: str, progress: AttemptProgress, *, now: datetime) -> None:
        """Record what an in-flight attempt learned. States only move forward."""
        with self._tx() as conn:
            _write_progress(conn, attempt_id, progress, now=now)

    def progress_attempts(self, progress: Sequence[tuple[str, AttemptProgress]], *, now: datetime) -> None:
        """:meth:`progress_attempt` for several attempts, in one transaction: the provider's
        answers to a batch of calls. Not durable (as :meth:`write_back`): lost in a crash of
        the database server, the attempts are left ``pending`` as after a crash of the dialer
        between the two writes of a placement, and are reconciled with the provider."""
        self.write_back(progress, [], now=now)

    def finish_attempt(
        self,
        attempt_id: str,
        ending: AttemptEnding,
        *,
        decide: Callable[[Record, CallResult], RetryDecision],
        now: datetime,
    ) -> FinishedAttempt | None:
        """End the attempt and move its record on, atomically.

        ``decide`` gets the record with this result already counted (``attempts`` and
        ``result_counts``) and returns where the record goes next. Returns None if the
        attempt had already ended (a repeated report is harmless).

        A decision to stay ``dialing`` is a preview hold: the call has ended, and the record
        stays on the desk of the agent who dialed it (its lease owner) until
        ``decision.retry_at`` or the agent's disposition, whichever comes first.
        """
        with self._tx() as conn:
            arow = conn.execute(_ATTEMPT_ROW, {"aid": attempt_id}).mappings().first()
            if arow is None:
                raise NotFound(f"no attempt {attempt_id}")
            if arow["ended_at"] is not None:
                return None
            rrow = conn.execute(_RECORD_BY_ID, {"rid": arow["record_id"]}).mappings().one()
            ended = _ended(arow, rrow, ending, decide, now=now)
            attempt_values = dict(ended.attempt_values)
            for key in ("provider_ref", "call_sid", "correlation", "error", "caller_id"):
                if attempt_values[key] == arow[key]:  # unchanged: not written
                    del attempt_values[key]
            conn.execute(_UPDATE_ATTEMPT, {"_aid": attempt_id, **attempt_values})
            record_values, finished = _settled(arow, rrow, ending, ended, now=now)
            self._move_record(conn, arow["record_id"], ended.decision.status, record_values)
            return finished

    def write_back(
        self,
        progress: Sequence[tuple[str, AttemptProgress]],
        endings: Sequence[tuple[str, AttemptEnding, Decide]],
        *,
        now: datetime,
    ) -> list[FinishedAttempt | None]:
        """What one tick collected from the provider, in one transaction: ``progress`` as
        :meth:`progress_attempt` and ``endings`` as :meth:`finish_attempt` (one result per
        ending, in order), with one read of the attempts and one of their records (both locked)
        and one batched UPDATE per table, instead of a transaction per call.

        The transaction's commit does not wait for the WAL flush (``durable=False``): what it
        writes the provider has told, and tells again. Lost in a crash of the database server,
        the attempts are still in flight when the dialer starts again, and start-up reconciles
        them with the provider (:func:`dialer.daemon.tick.reconcile_in_flight`), exactly as after
        a crash of the dialer just before this commit. No call is placed on the strength of a
        write that was lost: the next attempt's row is written durably, which flushes this one
        first.

        Whenever the batch cannot be written as one (an attempt or record moved meanwhile, an
        attempt twice in the batch), it is written one attempt at a time by those methods, so
        each item succeeds or fails exactly as it would on its own."""
        if not progress and not endings:
            return []
        ids = [aid for aid, _ in progress] + [aid for aid, _, _ in endings]
        if len(set(ids)) == len(ids):
            try:
                with self._tx(durable=False) as conn:
                    return self._write_back(conn, ids, progress, endings, now=now)
            except _NotAsOne:
                pass
        for attempt_id, item in progress:
            self.progress_attempt(attempt_id, item, now=now)
        return [self.finish_attempt(aid, ending, decide=decide, now=now) for aid, ending, decide in endings]

    def _write_back(
        self,
        conn: Connection,
        ids: Sequence[str],
        progress: Sequence[tuple[str, AttemptProgress]],
        endings: Sequence[tuple[str, AttemptEnding, Decide]],
        *,
        now: datetime,
    ) -> list[FinishedAttempt | None]:
        read = _ATTEMPTS_AND_RECORDS_LOCKED if endings else _ATTEMPTS_LOCKED
        arows = {row["id"]: row for row in conn.execute(read, {"aids": list(ids)}).mappings()}
        if len(arows) != len(ids):
            raise _NotAsOne  # an unknown attempt: finish_attempt says which
        moves: list[dict[str, Any]] = []
        for attempt_id, item in progress:
            arow = arows[attempt_id]
            if arow["ended_at"] is None:
                moves.append(_progressed(arow, item, now=now))
        open_ends = [(arows[aid], e, d) for aid, e, d in endings if arows[aid]["ended_at"] is None]
        record_ids = [arow["record_id"] for arow, _, _ in open_ends]
        if len(set(record_ids)) != len(record_ids):
            raise _NotAsOne
        rrows = {arow["record_id"]: {name: arow[label] for label, name in _RECORD_LABELS} for arow, _, _ in open_ends}
        finished: dict[str, FinishedAttempt] = {}
        settles: list[dict[str, Any]] = []
        for arow, ending, decide in open_ends:
            rrow = rrows[arow["record_id"]]
            ended = _ended(arow, rrow, ending, decide, now=now)
            record_values, finished[arow["id"]] = _settled(arow, rrow, ending, ended, now=now)
            current, target = RecordStatus(rrow["status"]), ended.decision.status
            if current is not target and target not in RECORD_TRANSITIONS[current]:
                raise _NotAsOne  # finish_attempt raises the InvalidTransition
            moves.append({"_aid": arow["id"], **ended.attempt_values})
            settles.append(
                {
                    "next_dial_at": rrow["next_dial_at"],
                    **record_values,
                    "_rid": rrow["id"],
                    "_from": current.value,
                    "status": target.value,
                }
            )
        progressed = [m for m in moves if "outcome" not in m]
        for statement, rows in ((_PROGRESSED, progressed), (_ENDED, [m for m in moves if "outcome" in m])):
            if rows and conn.execute(statement, rows).rowcount != len(rows):
                raise _NotAsOne
        if settles and conn.execute(_SETTLE, settles).rowcount != len(settles):
            raise _NotAsOne
        return [finished.get(aid) for aid, _, _ in endings]

    def recent_endings(self, campaign_id: int, *, since: datetime) -> list[Attempt]:
        """Attempts connected to an agent that ended after ``since`` (agents still in wrap-up)."""
        query = (
            select(attempts_t)
            .where(
                attempts_t.c.campaign_id == campaign_id,
                attempts_t.c.ended_at >= since,
                attempts_t.c.connected_at.is_not(None),
            )
            .order_by(attempts_t.c.ended_at)
        )
        with self._tx() as conn:
            return [convert.attempt(r) for r in conn.execute(query).mappings()]

    def release_expired_leases(self, campaign_ids: Sequence[int], *, now: datetime) -> int:
        """Leases left by a crashed tick or a closed preview desk go back to ready."""
        with self._tx() as conn:
            result = conn.execute(_EXPIRED_LEASES, {"cids": list(campaign_ids), "now": now})
            return int(result.rowcount or 0)

    def iter_attempts(self, campaign_id: int, *, batch: int = 5000) -> Iterator[Attempt]:
        last_created: datetime | None = None
        last_id = ""
        while True:
            query = (
                _ATTEMPT_WITH_HANDLE.where(attempts_t.c.campaign_id == campaign_id)
                .order_by(attempts_t.c.created_at, attempts_t.c.id)
                .limit(batch)
            )
            if last_created is not None:
                query = query.where(
                    or_(
                        attempts_t.c.created_at > last_created,
                        and_(attempts_t.c.created_at == last_created, attempts_t.c.id > last_id),
                    )
                )
            with self._tx() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            for row in rows:
                yield convert.attempt(row)
            last_created, last_id = rows[-1]["created_at"], rows[-1]["id"]

    def attempts_for_record(self, record_id: int) -> list[Attempt]:
        query = _ATTEMPT_WITH_HANDLE.where(attempts_t.c.record_id == record_id).order_by(attempts_t.c.created_at)
        with self._tx() as conn:
            return [convert.attempt(r) for r in conn.execute(query).mappings()]

    def add_provider_event(
        self, *, provider_ref: str, kind: str, sequence: int, payload: Mapping[str, Any], now: datetime
    ) -> bool:
        """Store a callback; False when this (ref, kind, sequence) was already received."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(provider_events_t).values(
                        provider_ref=provider_ref,
                        kind=kind,
                        sequence=sequence,
                        payload=dict(payload),
                        received_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def provider_events_for(self, refs: Sequence[str]) -> dict[str, list[tuple[str, int, dict[str, Any]]]]:
        """Stored callbacks of several calls at once, each call's in sequence order."""
        out: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
        if not refs:
            return out
        query = (
            select(
                provider_events_t.c.provider_ref,
                provider_events_t.c.kind,
                provider_events_t.c.sequence,
                provider_events_t.c.payload,
            )
            .where(provider_events_t.c.provider_ref.in_(list(refs)))
            .order_by(provider_events_t.c.provider_ref, provider_events_t.c.sequence, provider_events_t.c.id)
        )
        with self._tx() as conn:
            for ref, kind, seq, payload in conn.execute(query):
                out.setdefault(ref, []).append((kind, seq, dict(payload)))
        return out

    def provider_events(self, provider_ref: str) -> list[tuple[str, int, dict[str, Any]]]:
        query = (
            select(provider_events_t.c.kind, provider_events_t.c.sequence, provider_events_t.c.payload)
            .where(provider_events_t.c.provider_ref == provider_ref)
            .order_by(provider_events_t.c.sequence, provider_events_t.c.id)
        )
        with self._tx() as conn:
            return [(k, s, dict(p)) for k, s, p in conn.execute(query)]

"""Call histories for report tests, written straight into the store (dialer.store.bulk)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from dialer.domain.campaigns import Campaign
from dialer.domain.records import Attempt, AttemptState, NewRecord
from dialer.domain.results import CallResult
from dialer.store import bulk
from dialer.store.repository import SqlStore

_ids = itertools.count(1)


def add_records(store: SqlStore, campaign: Campaign, n: int, *, now: datetime, prefix: str = "H") -> list[int]:
    """``n`` plain records; their ids in handle order."""
    records = [
        NewRecord(
            handle=f"{prefix}-{i:05d}",
            phone=f"+1212555{i:04d}",
            caller_id=None,
            user_data={"n": str(i)},
            next_dial_at=now,
            timezone="America/New_York",
        )
        for i in range(n)
    ]
    bulk.insert_records(store, campaign.id, records, now=now)
    handles = store.record_keys(campaign.id)[0]
    return [handles[r.handle] for r in records]


def attempt(
    campaign: Campaign,
    record_id: int,
    placed: datetime,
    outcome: CallResult | None,
    *,
    talk: float = 30.0,
) -> Attempt:
    """One attempt placed at ``placed`` with ``outcome`` (``None``: still ringing)."""
    live = outcome is not None and outcome.is_live
    answered = placed + timedelta(seconds=7) if live else None
    connected = answered + timedelta(seconds=1) if live and outcome is CallResult.ANSWER else None
    ended = None if outcome is None else placed + timedelta(seconds=25 + (talk if live else 0))
    n = next(_ids)
    return Attempt(
        id=f"att-{n:08d}",
        record_id=record_id,
        campaign_id=campaign.id,
        backend="simulated",
        mode="progressive",
        state=AttemptState.RINGING if outcome is None else AttemptState.ENDED,
        number_dialed=f"+1313{n:07d}",
        caller_id="+12125550100",
        created_at=placed,
        placed_at=placed,
        answered_at=answered,
        connected_at=connected,
        ended_at=ended,
        provider_ref=f"sess-{n}",
        outcome=outcome,
        raw_outcome=None if outcome is None else outcome.value.title(),
        was_missed=None if outcome is None else outcome.is_abandoned,
        duration_s=None if ended is None else (ended - placed).total_seconds(),
        pacing_reason="progressive: test",
    )


def add_attempts(store: SqlStore, attempts: Sequence[Attempt]) -> int:
    return bulk.insert_attempts(store, attempts)

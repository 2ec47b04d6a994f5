"""Store queries behind the compliance gates, on every database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.domain.windows import CallingWindow
from dialer.store.repository import AttemptEnding, SqlStore


def dial_and_end(
    store: SqlStore, c: Campaign, phone: str, outcome: CallResult, *, at: datetime, mode: str = "progressive"
) -> None:
    handle = f"{phone}-{at.isoformat()}-{mode}"
    store.insert_records(
        c.id, [NewRecord(handle=handle, phone=phone, caller_id=None, user_data={}, next_dial_at=at)], now=at
    )
    (claim,) = store.claim_records(c.id, limit=1, worker="w", lease_seconds=60, now=at)
    store.begin_attempt(
        claim.record,
        attempt_id=handle[:36],
        backend="t",
        mode=mode,
        caller_id=None,
        pacing_reason="",
        now=at,
        preview=mode == "preview",
    )
    store.finish_attempt(
        handle[:36],
        AttemptEnding(outcome=outcome, ended_at=at + timedelta(seconds=30)),
        decide=lambda r, res: RetryDecision(status=RecordStatus.COMPLETED, retry_at=None, reason="t"),
        now=at,
    )


def test_repeat_history_gives_the_last_abandoned_and_machine_call_per_number(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    a, b = campaign_factory(), campaign_factory()
    now = clock.now()
    dial_and_end(store, a, "+442071230001", CallResult.ABANDONED, at=now - timedelta(hours=80))
    dial_and_end(store, b, "+442071230001", CallResult.DROPPED, at=now - timedelta(hours=10))
    dial_and_end(store, a, "+442071230001", CallResult.ANSWERING_MACHINE, at=now - timedelta(hours=5))
    dial_and_end(store, a, "+442071230002", CallResult.ANSWERING_MACHINE, at=now - timedelta(hours=2))
    dial_and_end(store, a, "+442071230002", CallResult.BUSY, at=now - timedelta(hours=1))
    dial_and_end(store, a, "+442071230003", CallResult.ABANDONED, at=now - timedelta(hours=100))
    dial_and_end(store, a, "+442071230004", CallResult.NO_ANSWER, at=now - timedelta(hours=1))
    history = store.repeat_history(
        ["+442071230001", "+442071230002", "+442071230003", "+442071230004", "+442071230001"],
        since=now - timedelta(hours=72),
    )
    assert set(history) == {"+442071230001", "+442071230002"}
    first = history["+442071230001"]
    assert first.last_abandoned_at == now - timedelta(hours=10) + timedelta(seconds=30)  # the other campaign's call
    assert first.last_machine_at == now - timedelta(hours=5) + timedelta(seconds=30)
    second = history["+442071230002"]
    assert second.last_abandoned_at is None and second.last_machine_at == now - timedelta(hours=2, seconds=-30)
    assert store.repeat_history([], since=now) == {}


def test_the_abandon_meter_counts_leave_out_preview_calls(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    c = campaign_factory()
    now = clock.now()
    dial_and_end(store, c, "+12125550001", CallResult.ANSWER, at=now - timedelta(hours=1))
    dial_and_end(store, c, "+12125550002", CallResult.ABANDONED, at=now - timedelta(hours=1))
    dial_and_end(store, c, "+12125550003", CallResult.ABANDONED, at=now - timedelta(hours=1), mode="preview")
    everything = store.outcome_counts(c.id, since=now - timedelta(days=1))
    assert everything.attempts == 3 and everything.preview_attempts == 1
    assert (everything.live_answers, everything.abandoned) == (2, 1)  # the preview call is not metered


def test_compliance_options_are_validated_before_they_are_stored(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    c = campaign_factory(options={"compliance_profile": "UK", "treatments": {"busy": "retry_in 20m x2"}})
    assert c.options["compliance_profile"] == "uk" and c.options["treatments"] == {"BUSY": "retry_in 20m x2"}
    updated = store.update_campaign(c.name, now=clock.now(), options={"end_date": "2026-04-01"})
    assert updated.options["end_date"] == "2026-04-01" and updated.options["compliance_profile"] == "uk"
    with pytest.raises(ValueError, match="legal 3% cap"):
        store.update_campaign(c.name, now=clock.now(), options={"abandon_target": 0.5})
    assert "abandon_target" not in store.get_campaign(c.name).options  # nothing written; it still loads


def test_an_all_day_window_round_trips(store: SqlStore, campaign_factory: Callable[..., Campaign]) -> None:
    c = campaign_factory(window=CallingWindow.parse("00:00-24:00", "mon-fri"), options={"compliance_profile": "uk"})
    loaded = store.get_campaign(c.name)
    assert loaded.window == CallingWindow.parse("00:00-24:00", "mon-fri")
    assert loaded.window.describe() == "00:00–24:00 mon-fri"

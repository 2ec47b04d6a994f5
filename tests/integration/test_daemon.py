"""The scheduled daemon in real time: APScheduler ticks against the simulated centre."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta

from dialer.context import build_context
from dialer.daemon.scheduler import Daemon
from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import SystemClock
from dialer.domain.records import NewRecord
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.simulated import SimulatedTelephony
from tests.conftest import T0


def test_the_scheduled_daemon_runs_a_campaign_to_completion(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    campaign = store.create_campaign(
        CampaignSpec(name="rt", flow_id="f", caller_ids=("+12125550100",), agents=3, max_attempts=1), now=T0
    )
    store.insert_records(
        campaign.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=f"+1212555{i:04d}",
                caller_id=None,
                user_data={},
                next_dial_at=T0,
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
            )
            for i in range(6)
        ],
        now=T0,
    )
    settings = load_settings(tick_seconds=0.05)
    clock = SystemClock(start=T0, speed=400.0)  # a rehearsal: Monday 10:00 New York, 400× real time
    telephony = SimulatedTelephony(agents_for=lambda name: 3, model=CallModel(hit_rate=0.5, talk_mean=60), seed=4)
    ctx = build_context(settings, clock=clock, store=store, telephony=telephony)
    result = Daemon(ctx, until_done=True, install_signals=False).run()
    assert result.done and result.ticks > 1
    statuses = store.count_records(campaign.id)
    assert sum(statuses.values()) == 6 and set(statuses) <= {"completed", "exhausted", "bad_number"}
    assert store.in_flight() == []


def test_sigterm_stops_placing_and_collects_calls_in_flight(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    campaign = store.create_campaign(
        CampaignSpec(name="term", flow_id="f", caller_ids=("+12125550100",), agents=2), now=T0
    )
    store.insert_records(
        campaign.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=f"+1212555{i:04d}",
                caller_id=None,
                user_data={},
                next_dial_at=T0,
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
            )
            for i in range(40)
        ],
        now=T0,
    )
    settings = load_settings(tick_seconds=0.05, shutdown_grace_seconds=3600)
    clock = SystemClock(start=T0, speed=200.0)
    telephony = SimulatedTelephony(agents_for=lambda name: 2, model=CallModel(hit_rate=0.5), seed=4)
    ctx = build_context(settings, clock=clock, store=store, telephony=telephony)
    daemon = Daemon(ctx)
    timer = threading.Timer(0.6, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    result = daemon.run()  # returns once in-flight calls are collected
    timer.cancel()
    assert result.stopped_by_signal and result.in_flight_at_exit == 0
    assert store.in_flight() == []
    attempts = list(store.iter_attempts(campaign.id))
    assert attempts, "the daemon placed calls before the signal"
    assert all(a.ended_at is not None and a.outcome is not None for a in attempts)  # no attempt lost
    # Nothing was placed after the stop request: records not yet dialed are still ready.
    assert store.count_records(campaign.id).get("ready", 0) > 0
    assert max(a.created_at for a in attempts) - T0 < timedelta(hours=2)

"""The scheduled daemon in real time: APScheduler ticks against the simulated centre."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from dialer.context import build_context
from dialer.daemon import ownership
from dialer.daemon.scheduler import Daemon
from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import SystemClock
from dialer.domain.records import NewRecord
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.simulated import SimulatedTelephony
from tests.conftest import T0


def add_records(store: SqlStore, campaign_id: int, count: int) -> None:
    """``count`` New York records due at T0."""
    store.insert_records(
        campaign_id,
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
            for i in range(count)
        ],
        now=T0,
    )


def test_the_scheduled_daemon_runs_a_campaign_to_completion(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    campaign = store.create_campaign(
        CampaignSpec(name="rt", flow_id="f", caller_ids=("+12125550100",), agents=3, max_attempts=1), now=T0
    )
    add_records(store, campaign.id, 6)
    settings = load_settings(tick_seconds=0.05)
    clock = SystemClock(start=T0, speed=400.0)  # a rehearsal: Monday 10:00 New York, 400× real time
    telephony = SimulatedTelephony(agents_for=lambda name: 3, model=CallModel(hit_rate=0.5, talk_mean=60), seed=4)
    ctx = build_context(settings, clock=clock, store=store, telephony=telephony)
    result = Daemon(ctx, until_done=True, install_signals=False).run()
    assert result.done and result.ticks > 1
    statuses = store.count_records(campaign.id)
    assert sum(statuses.values()) == 6 and set(statuses) <= {"completed", "exhausted", "bad_number"}
    assert store.in_flight() == []


def test_a_background_daemon_that_finishes_gives_its_campaigns_up(store: SqlStore) -> None:
    """Run until done on the background scheduler (as an embedding application does), and
    never call stop(): once done, no heartbeat of it runs on (renewing its leases through a
    store its owner may already have closed, on a connection nobody returns) and its
    campaigns are free for another daemon."""
    campaign = store.create_campaign(
        CampaignSpec(name="bg", flow_id="f", caller_ids=("+12125550100",), agents=3, max_attempts=1), now=T0
    )
    add_records(store, campaign.id, 4)
    settings = load_settings(tick_seconds=0.05)
    clock = SystemClock(start=T0, speed=400.0)
    telephony = SimulatedTelephony(agents_for=lambda name: 3, model=CallModel(hit_rate=0.5, talk_mean=60), seed=4)
    ctx = build_context(settings, clock=clock, store=store, telephony=telephony)
    before = ownership.running()
    daemon = Daemon(ctx, until_done=True, background=True, install_signals=False)
    daemon.start()
    pacers = daemon.pacers
    assert pacers is not None and pacers in ownership.running()
    deadline = time.monotonic() + 60
    while not (daemon.result.done and not daemon.scheduler.running):
        if time.monotonic() > deadline:
            daemon.stop(timeout=5)
            pytest.fail("the background daemon did not finish the campaign in 60 s")
        time.sleep(0.05)
    deadline = time.monotonic() + 10  # the last tick releases right after shutting the scheduler down
    while daemon.pacers is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ownership.running() == before
    assert daemon.pacers is None and ctx.fence is None
    leases = store.pacer_leases()
    assert not any(lease.owner == pacers.owner and lease.live(datetime.now(UTC)) for lease in leases.values()), leases
    assert daemon.stop(timeout=1).done  # stopping a finished daemon is harmless


def test_sigterm_stops_placing_and_collects_calls_in_flight(sqlite_store: SqlStore) -> None:
    store = sqlite_store
    campaign = store.create_campaign(
        CampaignSpec(name="term", flow_id="f", caller_ids=("+12125550100",), agents=2), now=T0
    )
    add_records(store, campaign.id, 40)
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

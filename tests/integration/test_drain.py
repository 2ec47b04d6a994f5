"""`dialer run --once` on the simulated backend: the drain that lets the tick's calls end in
virtual time, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dialer.daemon import ownership, tick
from dialer.daemon.runner import drain_virtual, run_once
from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.base import CallHandle, CallRequest
from dialer.telephony.simulated import SimulatedTelephony
from tests.integration.test_tick import add_records, context

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]


def test_the_clock_advanced_to_the_next_event_reaches_that_event(clock: VirtualClock) -> None:
    """next_event_at is an instant at which the event is due: a clock moved there sees it happen,
    so a virtual-time loop always moves on (it used to round to the nearest microsecond, half
    the time just before the event, and the drain stood still at that instant for ever)."""
    clock.advance(0.511487)  # an epoch with microseconds, as a clock read from the wall has
    telephony = SimulatedTelephony(agents_for=lambda _name: 3, model=CallModel(hit_rate=0.5), seed=7)
    handles = []
    for i in range(12):
        number = f"+1212555{i:04d}"
        request = CallRequest(attempt_id=f"a-{i}", campaign="c", number=number, caller_id=None, flow_id="f")
        placement = telephony.place_call(request, now=clock.now())
        handle = CallHandle(
            attempt_id=request.attempt_id,
            campaign="c",
            number=number,
            placed_at=clock.now(),
            provider_ref=placement.provider_ref,
            state=AttemptState.PLACED,
        )
        handles.append(handle)
    seen = 0
    while (event := telephony.next_event_at(now=clock.now())) is not None:
        clock.advance_to(event)
        telephony.poll(handles, now=clock.now())
        after = telephony.next_event_at(now=clock.now())
        assert after is None or after > event, f"the event due at {event} did not happen there"
        seen += 1
    assert seen >= 12  # every call rang and ended


def test_the_drain_follows_the_ticks_calls_to_their_end(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=4)
    add_records(record_factory, c, 10)
    ctx = context(store, clock, hit_rate=0.6)
    started = clock.now()
    report = run_once(ctx)
    assert report.placed == 4
    drained = drain_virtual(ctx, clock)
    assert drained.left == 0 and drained.stopped_reason is None
    assert drained.ended == 4
    assert store.in_flight() == []
    attempts = list(store.iter_attempts(c.id))
    assert len(attempts) == 4 and all(a.outcome is not None and a.ended_at is not None for a in attempts)
    assert clock.now() - started < timedelta(minutes=30)  # the calls' own length, not the drain's limit


def test_calls_left_by_a_stopped_process_are_settled_at_once_not_polled(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    """The model that carried these calls went with the process that placed them: nothing in
    this process will ever happen to them. They are settled as start-up reconciliation settles
    them, without moving the clock (the drain used to poll them once a virtual second for two
    virtual hours and exit with them still in flight)."""
    c = campaign_factory(agents=3)
    add_records(record_factory, c, 3)
    first = context(store, clock, hit_rate=1.0, talk_mean=600)
    tick.run_tick(first, now=clock.now())
    clock.advance(20)
    tick.collect(first, now=clock.now())  # ringing or talking when the process stops
    left = {a.id: a.state for a in store.in_flight(c.id)}
    assert len(left) == 3 and set(left.values()) <= {AttemptState.RINGING, AttemptState.CONNECTED}

    second = context(store, clock)
    stopped_at = clock.now()
    drained = drain_virtual(second, clock)
    assert drained.left == 0 and drained.ended == 3
    assert clock.now() == stopped_at
    assert store.in_flight() == []
    for attempt_id in left:
        settled = store.get_attempt(attempt_id)
        assert settled.ended_at is not None and settled.outcome is not None
        assert settled.error and "reconciled" in settled.error  # the reason is on the attempt


def test_the_drain_leaves_the_calls_of_another_pacers_campaign_alone(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    """`dialer run --campaign A --once` while a daemon paces B waits for A's calls only: B's
    are the daemon's to collect (the drain used to poll them too, once a virtual second for two
    virtual hours, since this process's centre knows nothing of them)."""
    a, b = campaign_factory(agents=2), campaign_factory(agents=2)
    add_records(record_factory, a, 2)
    add_records(record_factory, b, 2)
    daemon = context(store, clock, talk_mean=600)
    with ownership.holding(daemon, [b.name], every=False):
        tick.run_tick(daemon, now=clock.now())
        theirs = {x.id: x.state for x in store.in_flight(b.id)}
        assert len(theirs) == 2

        ctx = context(store, clock)
        started = clock.now()
        with ownership.holding(ctx, [a.name], every=False):
            assert run_once(ctx, campaigns=[a.name]).placed == 2
            drained = drain_virtual(ctx, clock, campaigns=[a.name])
        assert drained.left == 0 and drained.ended == 2
        assert store.in_flight(a.id) == []
        assert {x.id: x.state for x in store.in_flight(b.id)} == theirs  # neither polled nor settled
        assert clock.now() - started < timedelta(minutes=30)


def test_calls_still_in_flight_at_the_limit_are_counted_and_explained(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=2)
    add_records(record_factory, c, 2)
    ctx = context(store, clock, hit_rate=1.0, talk_mean=3600)
    started = clock.now()
    run_once(ctx)
    drained = drain_virtual(ctx, clock, limit=timedelta(seconds=30))
    assert drained.left == 2 == len(store.in_flight(c.id))
    assert drained.stopped_reason is not None
    assert "2 call(s) still in flight after" in drained.stopped_reason
    assert "next `dialer run`" in drained.stopped_reason
    assert clock.now() - started <= timedelta(seconds=30)

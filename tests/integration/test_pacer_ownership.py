"""The pacer fence: a process paces a campaign only while its lease is fresh, takes over free
and expired campaigns, and hands a campaign over when it cannot renew."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from dialer.daemon import tick
from dialer.daemon.ownership import Pacers
from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord
from dialer.errors import CampaignOwned, StoreError
from dialer.store.repository import SqlStore
from dialer.telephony.base import CallRequest, Placement
from tests.integration.test_tick import context

CampaignFactory = Callable[..., Campaign]


class Monotonic:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def pacers(store: SqlStore, clock: VirtualClock, mono: Monotonic, owner: str) -> Pacers:
    return Pacers(store, lease_seconds=6, heartbeat_seconds=1.5, owner=owner, wall=clock.now, monotonic=mono)


def advance(clock: VirtualClock, mono: Monotonic, seconds: float) -> None:
    clock.advance(seconds)
    mono.t += seconds


def test_the_fence_closes_before_the_lease_can_be_taken_over(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = campaign_factory()
    mono = Monotonic()
    a = pacers(store, clock, mono, "a:1:x")
    b = pacers(store, clock, mono, "b:2:y")
    assert a.acquire([c.id]) == {} and a.owns(c.id) and a.take_fresh() == {c.id}
    assert b.acquire([c.id])[c.id].owner == "a:1:x" and not b.owns(c.id)

    advance(clock, mono, 1.5)
    a.heartbeat()
    assert a.owns(c.id)

    def unreachable(*args: object, **kwargs: object) -> set[int]:
        raise StoreError("the database failed: connection refused")

    monkeypatch.setattr(store, "renew_pacers", unreachable)
    advance(clock, mono, 1.5)
    a.heartbeat()  # fails: logged, the fence stays open until lease - heartbeat after the last renewal
    assert a.owns(c.id)
    advance(clock, mono, 2.9)  # 4.4 s after the last renewal
    assert a.owns(c.id)
    advance(clock, mono, 0.2)  # 4.6 s: within one heartbeat of expiry, it stops dialing
    assert not a.owns(c.id)
    assert b.acquire([c.id])[c.id].owner == "a:1:x"  # ... while the lease itself is still live
    advance(clock, mono, 1.5)  # 6.1 s: expired, so another process takes it over
    assert b.acquire([c.id]) == {} and b.owns(c.id) and b.take_fresh() == {c.id}

    monkeypatch.undo()
    a.heartbeat()  # the database is back: the lease is gone, and a knows it
    assert not a.owns(c.id) and a.owned() == set()


def test_a_watching_daemon_takes_free_campaigns_on_its_heartbeat(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    one, two = campaign_factory(name="one"), campaign_factory(name="two")
    mono = Monotonic()
    a = pacers(store, clock, mono, "a:1:x")
    b = pacers(store, clock, mono, "b:2:y")
    a.acquire([one.id])
    b._candidates = lambda: [one.id, two.id]
    b.heartbeat()
    assert b.owned() == {two.id}
    a.release()  # a stops: its campaign is free at once
    b.heartbeat()
    assert b.owned() == {one.id, two.id}
    assert {lease.owner for lease in store.pacer_leases().values()} == {"b:2:y"}


def test_exclusive_runs_take_all_or_nothing_and_name_the_owner(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    one, two = campaign_factory(name="one"), campaign_factory(name="two")
    mono = Monotonic()
    pacers(store, clock, mono, "host-a:4242:x").acquire([two.id])
    b = pacers(store, clock, mono, "host-b:77:y")
    advance(clock, mono, 2)
    with pytest.raises(CampaignOwned, match=r"'two' is already paced by another dialer process: host host-a, pid 4242"):
        b.acquire_exclusive({one.id: "one", two.id: "two"})
    assert b.owned() == set() and set(store.pacer_leases()) == {two.id}  # nothing half-taken
    assert store.pacer_leases()[two.id].expires_at == clock.now() + timedelta(seconds=4)


class Fence:
    """Owns the campaigns in ``ids``, and only while ``open``."""

    def __init__(self, *ids: int) -> None:
        self.ids = set(ids)
        self.open = True

    def owns(self, campaign_id: int) -> bool:
        return self.open and campaign_id in self.ids

    def remaining(self, campaign_id: int) -> float | None:
        return (60.0 if self.open else 0.0) if campaign_id in self.ids else None


def test_the_tick_collects_and_dials_only_the_campaigns_it_owns(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    record_factory: Callable[..., NewRecord],
    clock: VirtualClock,
) -> None:
    mine, theirs = campaign_factory(name="mine", agents=2), campaign_factory(name="theirs", agents=2)
    for c in (mine, theirs):
        for _ in range(6):
            record_factory(c)
    other = context(store, clock)
    other.fence = Fence(theirs.id)
    assert tick.run_tick(other, now=clock.now()).placed == 2
    ctx = context(store, clock)
    ctx.fence = Fence(mine.id)
    clock.advance(1)
    report = tick.run_tick(ctx, now=clock.now())
    assert [c.campaign for c in report.campaigns] == ["mine"] and report.placed == 2
    # The other process's calls are its own to collect: this one never polled or settled them.
    assert len(store.in_flight(theirs.id)) == 2 and report.updates <= 2
    assert tick.reconcile_in_flight(ctx, now=clock.now()) == 0
    assert len(store.in_flight(theirs.id)) == 2


def test_a_closed_fence_stops_dialing_mid_tick_and_gives_the_claims_back(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    record_factory: Callable[..., NewRecord],
    clock: VirtualClock,
) -> None:
    c = campaign_factory(agents=4)
    for _ in range(6):
        record_factory(c)
    ctx = context(store, clock)
    fence = Fence(c.id)
    ctx.fence = fence
    calls = 0
    original = ctx.telephony.place_call

    def place_then_lose_the_lease(request: CallRequest, *, now: datetime) -> Placement:
        nonlocal calls
        calls += 1
        fence.open = False  # the heartbeat could not renew while this call was placed
        return original(request, now=now)

    ctx.telephony.place_call = place_then_lose_the_lease  # type: ignore[method-assign]
    report = tick.run_tick(ctx, now=clock.now())
    assert calls == 1 and report.placed == 1
    assert "no longer holds the campaign's pacer lease" in report.campaigns[0].errors[0]
    counts = store.count_records(c.id)
    assert counts.get("leased", 0) == 0 and counts.get("ready") == 5


def test_daemons_share_the_campaigns_fairly_and_hand_surplus_over(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    ids = [campaign_factory(name=f"c{i}").id for i in range(4)]
    mono = Monotonic()
    a = pacers(store, clock, mono, "a:1:x")
    a._candidates, a._fair = (lambda: ids), True
    a.heartbeat()
    assert a.owned() == set(ids)  # alone: every campaign
    b = pacers(store, clock, mono, "b:2:y")
    b._candidates, b._fair = (lambda: ids), True
    b.heartbeat()
    assert b.owned() == set()  # all taken; a learns on its next beat that there are two daemons
    a.heartbeat()
    assert a.hand_over() == set(ids[2:]) and a.owned() == set(ids[:2])
    b.heartbeat()
    assert b.owned() == set(ids[2:]) and b.take_fresh() == set(ids[2:])
    a.stop()  # a exits: its presence and leases go, and b takes everything on its next beat
    b.heartbeat()
    assert b.owned() == set(ids)

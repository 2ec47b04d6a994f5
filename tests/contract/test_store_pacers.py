"""Pacer leases (one process paces a campaign), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.store.repository import SqlStore

CampaignFactory = Callable[..., Campaign]
A = "host-a:101:aaaa"
B = "host-b:202:bbbb"


def test_the_first_process_takes_the_lease_and_a_second_is_told_who_holds_it(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    first = store.acquire_pacer(c.id, owner=A, lease_seconds=6, now=clock.now())
    assert first.owner == A and first.acquired_at == clock.now()
    assert first.expires_at == clock.now() + timedelta(seconds=6)
    clock.advance(2)
    second = store.acquire_pacer(c.id, owner=B, lease_seconds=6, now=clock.now())
    assert second.owner == A and second.host == "host-a" and second.pid == 101
    assert second.acquired_at == first.acquired_at
    assert store.pacer_leases()[c.id].owner == A


def test_renewing_keeps_the_tenure_and_pushes_the_expiry(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    t0 = clock.now()
    store.acquire_pacer(c.id, owner=A, lease_seconds=6, now=t0)
    clock.advance(5)
    assert store.renew_pacers([c.id], owner=A, lease_seconds=6, now=clock.now()) == {c.id}
    clock.advance(5)  # 10 s after the start: alive only because it was renewed
    assert store.acquire_pacer(c.id, owner=B, lease_seconds=6, now=clock.now()).owner == A
    again = store.acquire_pacer(c.id, owner=A, lease_seconds=6, now=clock.now())
    assert again.owner == A and again.acquired_at == t0 and again.heartbeat_at == clock.now()


def test_an_expired_lease_is_taken_over_and_its_old_owner_cannot_renew_it(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    store.acquire_pacer(c.id, owner=A, lease_seconds=6, now=clock.now())
    clock.advance(6.5)
    taken = store.acquire_pacer(c.id, owner=B, lease_seconds=6, now=clock.now())
    assert taken.owner == B and taken.acquired_at == clock.now()
    assert store.renew_pacers([c.id], owner=A, lease_seconds=6, now=clock.now()) == set()
    assert store.acquire_pacer(c.id, owner=A, lease_seconds=6, now=clock.now()).owner == B


def test_released_leases_are_free_at_once_and_only_the_owners_go(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    one, two = campaign_factory(name="one"), campaign_factory(name="two")
    store.acquire_pacer(one.id, owner=A, lease_seconds=6, now=clock.now())
    store.acquire_pacer(two.id, owner=B, lease_seconds=6, now=clock.now())
    assert store.release_pacers(owner=A) == 1
    assert set(store.pacer_leases()) == {two.id}
    assert store.acquire_pacer(one.id, owner=B, lease_seconds=6, now=clock.now()).owner == B
    assert store.release_pacers(owner=B, campaign_ids=[two.id]) == 1
    assert set(store.pacer_leases()) == {one.id}


def test_a_lease_is_live_until_it_expires(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    lease = store.acquire_pacer(c.id, owner=A, lease_seconds=6, now=clock.now())
    assert lease.live(clock.now() + timedelta(seconds=6))
    assert not lease.live(clock.now() + timedelta(seconds=6.001))
    assert "host host-a, pid 101" in lease.describe(clock.now() + timedelta(seconds=1))


def test_live_daemons_are_counted_until_their_heartbeat_expires(store: SqlStore, clock: VirtualClock) -> None:
    assert store.beat_daemon(owner=A, lease_seconds=6, now=clock.now()) == 1
    clock.advance(1)
    assert store.beat_daemon(owner=B, lease_seconds=6, now=clock.now()) == 2
    clock.advance(5.5)  # A's last beat was 6.5 s ago
    assert store.beat_daemon(owner=B, lease_seconds=6, now=clock.now()) == 1
    assert store.beat_daemon(owner=A, lease_seconds=6, now=clock.now()) == 2
    store.remove_daemon(owner=A)
    assert store.beat_daemon(owner=B, lease_seconds=6, now=clock.now()) == 1

"""A placement never outlives the pacer lease it was sent under.

The provider's HTTP timeout (10 s) is longer than a pacer lease (6 s): a placement whose
answer hangs could still be under way when another daemon has taken the campaign over. So a
placement waits for its answer no longer than the campaign's fence has left, and is not sent
at all with less than :data:`~dialer.daemon.tick.MIN_PLACEMENT_WAIT` left. Checked against the
Evo Voice sandbox over loopback, with its commit-then-answer-late fault: the call rings, and
the answer comes after ``hang_seconds``, well inside the client's own timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from dialer.context import Context, build_context
from dialer.daemon import tick
from dialer.daemon.ownership import Pacers
from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord, RecordStatus
from dialer.sandbox.evovoice import Faults
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.telephony_lines import OWNED, evo_backend, evo_sandbox

MODEL = CallModel(hit_rate=0.5, talk_mean=20, ring_timeout=20)
HANG = 4.0
"""Seconds the sandbox's answers to placements come late: less than the client's timeout."""


def campaign(store: SqlStore, n: int) -> Campaign:
    c = store.create_campaign(
        CampaignSpec(name="fenced", flow_id="flow-agents", caller_ids=(OWNED[0],), agents=n, max_attempts=1), now=T0
    )
    store.insert_records(
        c.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=f"+1212555{3000 + i:04d}",
                caller_id=None,
                user_data={},
                next_dial_at=T0,
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
            )
            for i in range(n)
        ],
        now=T0,
    )
    return c


@contextmanager
def dialer(store: SqlStore, clock: VirtualClock, url: str, *, concurrency: int) -> Iterator[Context]:
    backend = evo_backend(url, timeout=10.0, poll_interval=1.0)  # the production HTTP timeout
    ctx = build_context(load_settings(placement_concurrency=concurrency), clock=clock, store=store, telephony=backend)
    try:
        yield ctx
    finally:
        backend.close()


def lease(store: SqlStore, owner: str, *, seconds: float, ahead: float = 0.0) -> Pacers:
    """Pacers whose fence closes ``seconds / 2`` after taking the lease (no heartbeat runs)."""
    return Pacers(
        store,
        lease_seconds=seconds,
        heartbeat_seconds=seconds / 2,
        owner=owner,
        wall=lambda: datetime.now(UTC) + timedelta(seconds=ahead),
    )


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_slow_placement_is_given_up_at_the_fence_and_the_next_owner_settles_it(
    sqlite_store: SqlStore, concurrency: int
) -> None:
    store, clock = sqlite_store, VirtualClock(T0)
    n = 3
    c = campaign(store, n)
    with evo_sandbox(
        clock=clock, agents=n, model=MODEL, seed=4, faults=Faults(commit_timeout_rate=1.0, hang_seconds=HANG)
    ) as (sandbox, url):
        with dialer(store, clock, url, concurrency=concurrency) as ctx:
            a = lease(store, "host-a:101:a", seconds=3.0)  # the fence has 1.5 s left
            a.acquire([c.id])
            ctx.fence = a
            report = tick.run_tick(ctx, now=clock.now())
            placed = list(store.iter_attempts(c.id))
            # Every call the sandbox rang was given up on at the fence, not waited for (4 s,
            # inside the client's 10 s timeout): its attempt is uncertain, never redialed.
            assert 1 <= report.placed == len(sandbox.placements) == len(placed)
            assert all(p.answered_late for p in sandbox.placements)
            assert {a.state for a in placed} == {AttemptState.UNCERTAIN}, [(a.state, a.error) for a in placed]
            assert all("no answer came back" in (a.error or "") for a in placed)
        # Another daemon takes the campaign once the lease has run out, and reconciles first.
        with dialer(store, clock, url, concurrency=concurrency) as ctx_b:
            b = lease(store, "host-b:202:b", seconds=6.0, ahead=3.5)
            assert b.acquire([c.id]) == {} and b.take_fresh() == {c.id}
            ctx_b.fence = b
            tick.reconcile_in_flight(ctx_b, now=clock.now(), only={c.id})
            by_session = {p.session_id: p.number for p in sandbox.placements}
            for attempt in store.iter_attempts(c.id):
                assert attempt.provider_ref in by_session, attempt  # matched to the call that rang
                assert by_session[attempt.provider_ref] == attempt.number_dialed
            tick.run_tick(ctx_b, now=clock.now())
            numbers = [p.number for p in sandbox.placements]
            assert len(numbers) == len(set(numbers)), "a number was dialed twice"


class ClosingFence:
    """Holds the campaign, with only ``left`` seconds before its fence closes."""

    def __init__(self, campaign_id: int, left: float) -> None:
        self.campaign_id, self.left = campaign_id, left

    def owns(self, campaign_id: int) -> bool:
        return campaign_id == self.campaign_id

    def remaining(self, campaign_id: int) -> float | None:
        return self.left if campaign_id == self.campaign_id else None


@pytest.mark.parametrize("concurrency", [1, 4])
def test_no_call_is_sent_with_too_little_left_on_the_fence(sqlite_store: SqlStore, concurrency: int) -> None:
    store, clock = sqlite_store, VirtualClock(T0)
    c = campaign(store, 3)
    with evo_sandbox(clock=clock, agents=3, model=MODEL, seed=4) as (sandbox, url):
        with dialer(store, clock, url, concurrency=concurrency) as ctx:
            ctx.fence = ClosingFence(c.id, left=tick.MIN_PLACEMENT_WAIT / 2)
            report = tick.run_tick(ctx, now=clock.now())
            assert report.placed == 0 and sandbox.placements == []
            assert tick.LEASE_LOST in report.campaigns[0].errors
            assert store.in_flight() == []
            assert store.count_records(c.id) == {RecordStatus.READY.value: 3}
            ctx.fence = ClosingFence(c.id, left=5.0)
            assert tick.run_tick(ctx, now=clock.now()).placed == 3 == len(sandbox.placements)

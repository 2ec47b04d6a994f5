"""A placement never outlives the pacer lease it was sent under.

The provider's HTTP timeout (10 s) is longer than a pacer lease (6 s): a placement whose
answer hangs could still be under way when another daemon has taken the campaign over. So a
placement waits for its answer no longer than the campaign's fence has left, and is not sent
at all with less than :data:`~dialer.daemon.tick.MIN_PLACEMENT_WAIT` left. Checked against the
Evo Voice and Twilio sandboxes over loopback, with their commit-then-answer-late fault: the
call rings, and the answer comes after ``hang_seconds``, well inside the client's own timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dialer.context import Context, build_context
from dialer.daemon import tick
from dialer.daemon.ownership import Pacers
from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, RecordStatus
from dialer.sandbox import evovoice as evo_mod
from dialer.sandbox import twilio as twilio_mod
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.telephony_lines import due_campaign, evo_backend, evo_sandbox, twilio_backend, twilio_sandbox

MODEL = CallModel(hit_rate=0.5, talk_mean=20, ring_timeout=20)
HANG = 4.0
"""Seconds the sandbox's answers to placements come late: less than the client's timeout."""


def campaign(store: SqlStore, n: int) -> Campaign:
    """``n`` due records (4 agents, one attempt each)."""
    return due_campaign(store, "fenced", n, now=T0, first=3000)


@dataclass
class Line:
    ctx: Context
    calls: Callable[[], list[tuple[str, str, bool]]]
    """(provider id, number, answered late) of every call the provider made."""


@contextmanager
def line(name: str, store: SqlStore, clock: VirtualClock, *, concurrency: int, late: bool) -> Iterator[Line]:
    """A dialer over ``name``'s sandbox, with the production HTTP timeout (10 s); with
    ``late``, every placement rings and is answered only after :data:`HANG` seconds."""
    settings = load_settings(placement_concurrency=concurrency)
    with ExitStack() as stack:
        backend: Any
        if name == "evovoice":
            faults = evo_mod.Faults(commit_timeout_rate=1.0, hang_seconds=HANG) if late else evo_mod.Faults()
            evo, url = stack.enter_context(evo_sandbox(clock=clock, agents=4, model=MODEL, seed=4, faults=faults))
            backend = evo_backend(url, timeout=10.0, poll_interval=1.0)

            def calls() -> list[tuple[str, str, bool]]:
                return [(p.session_id, p.number, p.answered_late) for p in evo.placements]

        else:
            faults = twilio_mod.Faults(commit_then_timeout=1.0, timeout_delay=HANG) if late else twilio_mod.Faults()
            tw, url = stack.enter_context(twilio_sandbox(clock=clock, agents=4, model=MODEL, seed=4, faults=faults))
            backend = twilio_backend(tw, url, timeout=10.0)

            def calls() -> list[tuple[str, str, bool]]:
                return [(c.sid, c.to, c.sid in tw.late_answers) for c in list(tw.calls.values())]

        stack.callback(backend.close)
        yield Line(build_context(settings, clock=clock, store=store, telephony=backend), calls)


def lease(store: SqlStore, owner: str, *, seconds: float, ahead: float = 0.0) -> Pacers:
    """Pacers whose fence closes ``seconds / 2`` after taking the lease (no heartbeat runs)."""
    return Pacers(
        store,
        lease_seconds=seconds,
        heartbeat_seconds=seconds / 2,
        owner=owner,
        wall=lambda: datetime.now(UTC) + timedelta(seconds=ahead),
    )


@pytest.mark.parametrize(("name", "concurrency"), [("evovoice", 1), ("evovoice", 4), ("twilio", 1)])
def test_a_slow_placement_is_given_up_at_the_fence_and_the_next_owner_settles_it(
    sqlite_store: SqlStore, name: str, concurrency: int
) -> None:
    store, clock = sqlite_store, VirtualClock(T0)
    c = campaign(store, 3)
    with line(name, store, clock, concurrency=concurrency, late=True) as first:
        a = lease(store, "host-a:101:a", seconds=3.0)  # the fence has 1.5 s left
        a.acquire([c.id])
        first.ctx.fence = a
        report = tick.run_tick(first.ctx, now=clock.now())
        placed = list(store.iter_attempts(c.id))
        # Every call the provider rang was given up on at the fence instead of waited for
        # (4 s, inside the client's 10 s timeout): its attempt is uncertain, never redialed.
        # One by one, the fence has closed by the second call, which is not sent.
        assert 1 <= report.placed == len(first.calls()) == len(placed)
        assert all(late for _, _, late in first.calls())
        assert {a.state for a in placed} == {AttemptState.UNCERTAIN}, [(a.state, a.error) for a in placed]
        # Another daemon takes the campaign once the lease has run out, and reconciles first:
        # each uncertain attempt is matched to the call that rang, and nothing is dialed twice.
        second = replace(
            first, ctx=build_context(first.ctx.settings, clock=clock, store=store, telephony=first.ctx.telephony)
        )
        b = lease(store, "host-b:202:b", seconds=6.0, ahead=3.5)
        assert b.acquire([c.id]) == {} and b.take_fresh() == {c.id}
        second.ctx.fence = b
        tick.reconcile_in_flight(second.ctx, now=clock.now(), only={c.id})
        by_call = {ref: number for ref, number, _ in first.calls()}
        for attempt in store.iter_attempts(c.id):
            assert attempt.provider_ref in by_call, attempt
            assert by_call[attempt.provider_ref] == attempt.number_dialed
        tick.run_tick(second.ctx, now=clock.now())
        numbers = [number for _, number, _ in first.calls()]
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
    with line("evovoice", store, clock, concurrency=concurrency, late=False) as dialer:
        dialer.ctx.fence = ClosingFence(c.id, left=tick.MIN_PLACEMENT_WAIT / 2)
        report = tick.run_tick(dialer.ctx, now=clock.now())
        assert report.placed == 0 and dialer.calls() == []
        assert tick.LEASE_LOST in report.campaigns[0].errors
        assert store.in_flight() == []
        assert store.count_records(c.id) == {RecordStatus.READY.value: 3}
        dialer.ctx.fence = ClosingFence(c.id, left=5.0)
        assert tick.run_tick(dialer.ctx, now=clock.now()).placed == 3 == len(dialer.calls())

"""Provider faults, over real HTTP on loopback, for both providers.

Each fault kind — 5xx answers, requests that time out having done nothing, storms of 429
with ``Retry-After``, slow responses, placements whose answer is lost after the call was made
(ambiguous), and placements that answer only after the client gave up — is injected by the
provider's sandbox while a campaign runs through the real client code (httpx for Evo Voice,
the ``twilio`` library for Twilio). The accounting is checked against the sandbox's own list
of the calls it made: with one attempt allowed per record, no number may be called twice,
every call the provider made belongs to exactly one attempt, and every record ends final.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from dialer.context import Context, build_context
from dialer.daemon import tick
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import RecordStatus
from dialer.sandbox import evovoice as evo_sandbox_mod
from dialer.sandbox import twilio as twilio_sandbox_mod
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.telephony_lines import due_campaign, evo_backend, evo_sandbox, twilio_backend, twilio_sandbox

MODEL = CallModel(hit_rate=0.5, busy_share=0.2, talk_mean=20, ring_timeout=20)
RECORDS = 12

#: Fault kind → (Evo Voice sandbox faults, Twilio sandbox faults, client timeout in seconds).
KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], float]] = {
    "5xx": ({"error_rate": 0.10}, {"error_rate": 0.10}, 0.5),
    "timeout": ({"timeout_rate": 0.15, "hang_seconds": 0.6}, {"timeout_rate": 0.15, "timeout_delay": 0.6}, 0.3),
    "429-storm": (
        {"burst_rate": 0.06, "burst_length": 4, "retry_after": 3},
        {"burst_429_rate": 0.06, "burst_429_length": 4, "retry_after": 3},
        0.5,
    ),
    "slow": ({"latency": 0.05}, {"latency": 0.05}, 1.0),
    "ambiguous": ({"lost_response_rate": 0.25}, {"lost_response_rate": 0.25}, 0.5),
    "commit-then-timeout": (
        {"commit_timeout_rate": 0.2, "hang_seconds": 0.6},
        {"commit_then_timeout": 0.2, "timeout_delay": 0.6},
        0.3,
    ),
}


@dataclass
class Provider:
    name: str
    ctx: Context
    sandbox: Any

    def calls(self) -> list[tuple[str, str]]:
        """(provider id, number) of every call the provider made."""
        if self.name == "evovoice":
            return [(p.session_id, p.number) for p in self.sandbox.placements]
        return [(c.sid, c.to) for c in list(self.sandbox.calls.values())]

    def set_faults(self, **faults: Any) -> None:
        if self.name == "evovoice":
            config = self.sandbox.config
            self.sandbox.config = replace(config, faults=evo_sandbox_mod.Faults(**faults))
        else:
            self.sandbox.faults = twilio_sandbox_mod.Faults(**faults)

    def faults_seen(self, kind: str) -> int:
        s = self.sandbox
        if kind == "429-storm":
            return int(s.bursts)
        if kind == "timeout":
            return int(s.timeouts)
        if kind == "ambiguous":
            return len(s.lost_responses)
        if kind == "commit-then-timeout":
            return sum(p.answered_late for p in s.placements) if self.name == "evovoice" else len(s.late_answers)
        if kind == "5xx":
            return int(s.errors)
        return int(s.requests)  # slow: every request is slowed


@contextmanager
def provider(name: str, store: SqlStore, clock: VirtualClock, *, timeout: float, **faults: Any) -> Iterator[Provider]:
    settings = load_settings()
    with ExitStack() as stack:
        if name == "evovoice":
            sandbox, url = stack.enter_context(
                evo_sandbox(clock=clock, agents=4, model=MODEL, seed=5, faults=evo_sandbox_mod.Faults(**faults))
            )
            backend: Any = evo_backend(url, timeout=timeout, poll_interval=2.0)
        else:
            sandbox, url = stack.enter_context(
                twilio_sandbox(clock=clock, agents=4, model=MODEL, seed=5, faults=twilio_sandbox_mod.Faults(**faults))
            )
            backend = twilio_backend(sandbox, url, timeout=timeout)
        stack.callback(backend.close)
        yield Provider(name, build_context(settings, clock=clock, store=store, telephony=backend), sandbox)


def make_campaign(store: SqlStore, n: int, *, agents: int = 4) -> Campaign:
    return due_campaign(store, "faults", n, now=T0, first=2000, agents=agents, user_data=lambda i: {"n": str(i)})


def assert_accounted_for(p: Provider, c: Campaign, n: int) -> None:
    store = p.ctx.store
    calls = p.calls()
    numbers = [number for _, number in calls]
    assert len(numbers) == len(set(numbers)), "a number was called twice with one attempt allowed"
    attempts = list(store.iter_attempts(c.id))
    claimed = [a.provider_ref for a in attempts if a.provider_ref]
    assert len(claimed) == len(set(claimed)), "a provider call was claimed by two attempts"
    assert sorted(claimed) == sorted(ref for ref, _ in calls), "a provider call has no attempt (lost outcome)"
    assert all(a.ended_at is not None and a.outcome is not None for a in attempts)
    statuses = store.count_records(c.id)
    assert sum(statuses.values()) == n and all(RecordStatus(s).is_final for s in statuses), statuses
    assert store.in_flight() == []


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", ["evovoice", "twilio"])
def test_a_campaign_survives_each_fault_kind(name: str, kind: str, sqlite_store: SqlStore) -> None:
    evo_faults, twilio_faults, timeout = KINDS[kind]
    clock = VirtualClock(T0)
    c = make_campaign(sqlite_store, RECORDS)
    faults = evo_faults if name == "evovoice" else twilio_faults
    with provider(name, sqlite_store, clock, timeout=timeout, **faults) as p:
        result = run_virtual_until_done(p.ctx, clock)
        assert result.done, result.stopped_reason
        assert_accounted_for(p, c, RECORDS)
        assert p.faults_seen(kind) > 0, f"the {kind} fault never happened"
        attempts = list(sqlite_store.iter_attempts(c.id))
        if kind in ("ambiguous", "commit-then-timeout"):
            # The calls whose answer was lost were found again at the provider, not redialed.
            late = (
                p.sandbox.lost_responses
                if kind == "ambiguous"
                else (
                    {pl.session_id for pl in p.sandbox.placements if pl.answered_late}
                    if name == "evovoice"
                    else p.sandbox.late_answers
                )
            )
            owners = [a for a in attempts if a.provider_ref in late]
            assert len(owners) == len(late) and all(a.correlation == "matched" for a in owners)
        if kind == "timeout":
            # Timed-out placements the provider never made went back to ready, uncounted.
            assert any(a.correlation == "not_found" for a in attempts)


@pytest.mark.parametrize("name", ["evovoice", "twilio"])
def test_a_429_cool_down_releases_the_claimed_records_with_the_reason(name: str, sqlite_store: SqlStore) -> None:
    clock = VirtualClock(T0)
    c = make_campaign(sqlite_store, 5, agents=5)
    with provider(name, sqlite_store, clock, timeout=0.5) as p:
        p.ctx.telephony.check_credentials()
        storm = (
            {"burst_rate": 1.0, "burst_length": 1}
            if name == "evovoice"
            else {"burst_429_rate": 1.0, "burst_429_length": 1}
        )
        p.set_faults(**storm, retry_after=30)
        now = clock.now()
        report = tick.run_tick(p.ctx, now=now)
        (paced,) = report.campaigns
        assert report.placed == 0 and paced.blocked == {"provider_rate_limited": 5}
        # No record is held: all are ready again, none counted an attempt, each says why it waits.
        records = list(sqlite_store.iter_records(c.id))
        assert {r.status for r in records} == {RecordStatus.READY} and all(r.attempts == 0 for r in records)
        assert all(r.lease_owner is None for r in records)
        assert sqlite_store.waiting_breakdown(c.id, now=now) == {"provider_rate_limited": 5}
        assert {r.next_dial_at for r in records} == {now + timedelta(seconds=30)}
        assert p.calls() == []
        # Until Retry-After has passed, the tick claims nothing and sends nothing.
        sent = p.sandbox.requests
        clock.advance(10)
        later = tick.run_tick(p.ctx, now=clock.now())
        assert later.campaigns[0].reason.startswith("provider_rate_limited")
        assert p.sandbox.requests == sent
        note = sqlite_store.pacing_note(c.id)
        assert note is not None and "429" in note.reason and "resumes at" in note.reason
        # Then dialing resumes.
        p.set_faults()
        clock.advance(21)
        resumed = tick.run_tick(p.ctx, now=clock.now())
        assert resumed.placed == 5 and len(p.calls()) == 5

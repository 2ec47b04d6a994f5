"""A predictive campaign through the tick: the daemon keeps one policy per campaign, and it completes."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta

from dialer.daemon import pacing_state, tick
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import Campaign, DialMode
from dialer.domain.predictive import Predictive
from dialer.domain.records import AttemptState, NewRecord
from dialer.domain.results import CallResult
from dialer.store.repository import SqlStore
from tests import report_history
from tests.conftest import VirtualClock
from tests.integration.test_tick import context

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]


def test_policy_is_kept_per_campaign_and_configured_from_options(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    ctx = context(store, clock)
    c = campaign_factory(
        mode=DialMode.PREDICTIVE,
        agents=8,
        options={"abandon_target": 0.03, "compliance_profile": "uk", "min_agents_predictive": 6},
    )
    first = pacing_state.policy_for(c, ctx)
    assert isinstance(first, Predictive)
    assert first.compliance_profile == "uk" and first.min_agents == 6
    assert first.target is not None and abs(first.target - 0.018) < 1e-9
    assert pacing_state.policy_for(c, ctx) is first
    progressive = campaign_factory(agents=3)
    assert not isinstance(pacing_state.policy_for(progressive, ctx), Predictive)


def test_a_predictive_campaign_runs_to_completion(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(mode=DialMode.PREDICTIVE, agents=6, max_attempts=2)
    for _ in range(260):
        record_factory(c)
    ctx = context(store, clock, hit_rate=0.6, talk_mean=40.0)
    result = run_virtual_until_done(ctx, clock)
    assert result.done, result.stopped_reason
    by_status = store.count_records(c.id)
    assert sum(by_status.values()) == 260
    assert set(by_status) <= {"completed", "exhausted", "bad_number"}
    attempts = list(store.iter_attempts(c.id))
    assert all(a.state is AttemptState.ENDED for a in attempts)
    reasons = [a.pacing_reason for a in attempts]
    assert any("cold start" in r for r in reasons)  # progressive until 100 live answers
    assert any(r.startswith("predictive: E[free") for r in reasons), collections.Counter(r[:60] for r in reasons)


def _history(store: SqlStore, campaign: Campaign, *, ended_before: datetime, answers: int, abandoned: int) -> None:
    """``answers`` live answers, ``abandoned`` of them abandoned, ending over the hours before."""
    ids = report_history.add_records(store, campaign, answers, now=ended_before, prefix=f"P{campaign.id}")
    attempts = [
        report_history.attempt(
            campaign,
            rid,
            ended_before - timedelta(hours=20) + timedelta(seconds=60 * i),
            CallResult.ABANDONED if i < abandoned else CallResult.ANSWER,
        )
        for i, rid in enumerate(ids)
    ]
    report_history.add_attempts(store, attempts)


def test_after_a_restart_the_budget_reads_the_stored_window(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    """A daemon that starts after a day of 5 % abandonment dials progressively at once: the
    policy's budget view is the stored 30-day window, not just what the new process saw."""
    c = campaign_factory(mode=DialMode.PREDICTIVE, agents=10)
    _history(store, c, ended_before=clock.now(), answers=600, abandoned=30)
    ctx = context(store, clock)  # a fresh process: no policy, no meter
    policy = pacing_state.policy_for(c, ctx)
    assert isinstance(policy, Predictive)
    assert policy.budget_view(pacing_state.snapshot(ctx, c, now=clock.now())) == (600, 30)
    decision = tick.run_tick(ctx, now=clock.now()).campaigns[0]
    assert "abandonment budget spent (5.00% over 30 days" in decision.reason
    assert decision.placed == 10  # progressive: one call per idle agent


def test_the_stored_window_ages_out_and_the_uk_window_is_24_hours(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    uk = campaign_factory(mode=DialMode.PREDICTIVE, agents=10, options={"compliance_profile": "uk"})
    _history(store, uk, ended_before=clock.now(), answers=600, abandoned=30)
    ctx = context(store, clock)
    policy = pacing_state.policy_for(uk, ctx)
    assert isinstance(policy, Predictive)
    assert policy.budget_view(pacing_state.snapshot(ctx, uk, now=clock.now())) == (600, 30)
    # 24 h after the last bucket ended, the UK view has forgotten it; a US one would not.
    later = clock.now() + timedelta(hours=25)
    assert policy.budget_view(pacing_state.snapshot(ctx, uk, now=later)) == (0, 0)


def test_the_snapshot_counts_the_estimated_amd_false_positives_as_abandoned(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    """People taken for machines are abandoned live answers by the campaign's estimate: the
    policy sees them in its counts (and as the floor its day budget cannot steer)."""
    c = campaign_factory(mode=DialMode.PREDICTIVE, agents=10, options={"amd_false_positive_rate": 0.05})
    _history(store, c, ended_before=clock.now(), answers=600, abandoned=15)
    ids = report_history.add_records(store, c, 200, now=clock.now(), prefix=f"M{c.id}")
    placed = clock.now() - timedelta(hours=2)
    machines = [
        dataclasses.replace(report_history.attempt(c, rid, placed, CallResult.ANSWERING_MACHINE), amd="machine")
        for rid in ids
    ]
    report_history.add_attempts(store, machines)
    ctx = context(store, clock)
    snap = pacing_state.snapshot(ctx, c, now=clock.now())
    assert snap.amd_false_positives == 10  # 5 % of 200 machines
    assert (snap.live_answers, snap.abandoned) == (610, 25)
    assert Predictive.floor_rate(snap) == 10 / 610
    policy = pacing_state.policy_for(c, ctx)
    assert isinstance(policy, Predictive)
    assert policy.budget_view(snap) == (610, 25)  # the stored window counts them the same way
    # one more machine ends in this process: the estimate follows
    meter = ctx.meters[c.id]
    for _ in range(20):
        meter.observe(
            live=False, abandoned=False, connected=False, answer_delay=None, handle_time=None, amd_machine=True
        )
    assert pacing_state.snapshot(ctx, c, now=clock.now()).amd_false_positives == 11

"""A predictive campaign through the tick: the daemon keeps one policy per campaign, and it completes."""

from __future__ import annotations

from collections.abc import Callable

from dialer.daemon import pacing_state
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import Campaign, DialMode
from dialer.domain.predictive import Predictive
from dialer.domain.records import AttemptState, NewRecord
from dialer.store.repository import SqlStore
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
    assert any(r.startswith("predictive: E[free") for r in reasons)  # then the overflow rule

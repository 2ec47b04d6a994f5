"""What the pacing policy sees: snapshots built from the provider and the store.

When the provider reports agent states (the simulated call centre does), the snapshot uses
them. Otherwise the dialer infers them from its own attempts, as a dialer on a CPaaS API
must: calls bridged to an agent and not ended are busy agents; calls that ended less than
the campaign's wrap-up time ago keep their agent busy; the rest of the campaign's agents
are idle.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dialer.context import Context
from dialer.domain import pacing
from dialer.domain.campaigns import Campaign, DialMode
from dialer.domain.predictive import Predictive
from dialer.domain.records import Attempt, AttemptState
from dialer.telephony.base import AgentView

_RINGING = (AttemptState.PENDING, AttemptState.UNCERTAIN, AttemptState.PLACED, AttemptState.RINGING)


def policy_for(campaign: Campaign, ctx: Context | None = None) -> pacing.PacingPolicy:
    """The campaign's pacing policy: progressive, or the predictive engine for predictive campaigns.

    With a context, the policy object is kept on ``ctx.policies`` so the predictive policy keeps
    its estimates and loop state from tick to tick; it is rebuilt when the campaign's pacing
    options change. Options: ``abandon_target`` (the cap, a fraction; default 0.03),
    ``compliance_profile`` (``us`` or ``uk``: the loop aims at 2.5 % or 1.8 % of a 3 % cap) and
    ``min_agents_predictive`` (default 5) and ``abandon_day_hours`` (default 24: every local
    calendar day must end under the cap on its own; 0 turns the day budget off).
    """
    lines = float(campaign.options.get("lines_per_agent", 1.0) or 1.0)  # type: ignore[arg-type]
    if campaign.mode is not DialMode.PREDICTIVE:
        return pacing.Progressive(lines_per_agent=lines)
    config = predictive_config(campaign)
    if ctx is None:
        return Predictive(**config)
    cached = ctx.policies.get(campaign.id)
    if cached is not None and cached[0] == config:
        policy: pacing.PacingPolicy = cached[1]
        return policy
    policy = Predictive(**config)
    seed_budget(ctx, campaign, policy, now=ctx.clock.now())
    ctx.policies[campaign.id] = (config, policy)
    return policy


def seed_budget(ctx: Context, campaign: Campaign, policy: Predictive, *, now: datetime) -> None:
    """Give a new predictive policy the stored abandonment of its budget window (30 days, or
    24 h for the UK profile), so a daemon restart does not start the budget from zero.

    Counted per day (US) or per hour (UK) from the store, attempts that ended before ``now``.
    """
    window = timedelta(seconds=policy.budget_window)
    step = timedelta(hours=1) if window <= timedelta(days=1) else timedelta(days=1)
    fp_rate = float(campaign.options.get("amd_false_positive_rate") or 0.0)  # type: ignore[arg-type]
    buckets: list[tuple[datetime, int, int]] = []
    end = now
    while end > now - window:
        start = max(end - step, now - window)
        counts = ctx.store.outcome_counts(campaign.id, since=start, until=end, amd_false_positive_rate=fp_rate)
        if counts.attempts:
            buckets.append((end, counts.live_answers, counts.abandoned))
        end = start
    policy.seed_window(buckets)


def predictive_config(campaign: Campaign) -> dict[str, Any]:
    """Predictive settings from ``campaign.options`` (validated by :class:`Predictive`)."""
    opts = campaign.options
    cap = opts.get("abandon_target")
    profile = opts.get("compliance_profile")
    min_agents = opts.get("min_agents_predictive")
    day_hours = opts.get("abandon_day_hours", 24)
    config: dict[str, Any] = {
        "abandon_cap": float(cap) if cap is not None else 0.03,  # type: ignore[arg-type]
        "compliance_profile": str(profile).lower() if profile else "us",
        "min_agents": int(min_agents) if min_agents is not None else 5,  # type: ignore[arg-type]
    }
    if day_hours:
        # Days start at local midnight in the campaign's zone (any midnight is an origin).
        config["day_seconds"] = float(day_hours) * 3600.0  # type: ignore[arg-type]
        config["day_origin"] = datetime(2000, 1, 1, tzinfo=ZoneInfo(campaign.zone))
    return config


def caps_for(campaign: Campaign, *, tick_seconds: float, backend_cps: float | None = None) -> pacing.Caps:
    """The campaign's caps, with the provider account's CPS as a ceiling."""
    limits = [c for c in (campaign.max_cps, backend_cps) if c is not None]
    return pacing.Caps(max_cps=min(limits) if limits else None, max_lines=campaign.max_lines, tick_seconds=tick_seconds)


def meter_for(ctx: Context, campaign: Campaign) -> pacing.Meter:
    meters: dict[int, pacing.Meter] = ctx.meters
    meter = meters.get(campaign.id)
    if meter is None:
        counts = ctx.store.outcome_counts(campaign.id)
        handle_times, delays = ctx.store.recent_samples(campaign.id, limit=pacing.SAMPLE_SIZE)
        meter = pacing.Meter(
            ended=counts.attempts,
            live_answers=counts.live_answers,
            abandoned=counts.abandoned,
            connects=counts.connects,
            amd_machines=counts.amd_machines,
        )
        meter.handle_times.extend(h + campaign.wrap_seconds for h in handle_times)
        meter.answer_delays.extend(delays)
        meters[campaign.id] = meter
    meter.amd_false_positive_rate = float(campaign.options.get("amd_false_positive_rate") or 0.0)  # type: ignore[arg-type]
    return meter


def observe_ending(ctx: Context, campaign: Campaign, attempt: Attempt) -> None:
    meter = ctx.meters.get(attempt.campaign_id)
    if meter is None or attempt.outcome is None:
        return
    campaign_wrap = campaign.wrap_seconds
    delay = (
        (attempt.answered_at - attempt.placed_at).total_seconds() if attempt.answered_at and attempt.placed_at else None
    )
    handle = (
        (attempt.ended_at - attempt.connected_at).total_seconds() + campaign_wrap
        if attempt.ended_at and attempt.connected_at
        else None
    )
    stop = attempt.answered_at or attempt.ended_at
    meter.observe(
        ring_time=(stop - attempt.placed_at).total_seconds() if stop and attempt.placed_at else None,
        live=attempt.outcome.is_live,
        abandoned=attempt.outcome.is_abandoned,
        connected=attempt.connected_at is not None,
        answer_delay=delay,
        handle_time=handle,
        amd_machine=attempt.amd == "machine",
    )


def inferred_view(ctx: Context, campaign: Campaign, in_flight: list[Attempt], *, now: datetime) -> AgentView:
    talking = [
        (now - a.connected_at).total_seconds()
        for a in in_flight
        if a.connected_at and a.state is AttemptState.CONNECTED
    ]
    endings = [
        a
        for a in ctx.store.recent_endings(campaign.id, since=now - timedelta(seconds=campaign.wrap_seconds))
        if a.connected_at
    ]
    wrapping = [(now - a.connected_at).total_seconds() for a in endings if a.connected_at]
    busy = sorted(talking + wrapping, reverse=True)[: campaign.agents]
    talk_elapsed = tuple(sorted(talking, reverse=True)[: campaign.agents])
    wrap_remaining = tuple(
        max(0.0, campaign.wrap_seconds - (now - a.ended_at).total_seconds()) for a in endings if a.ended_at
    )[: max(0, campaign.agents - len(talk_elapsed))]
    return AgentView(
        agents=campaign.agents,
        idle=max(0, campaign.agents - len(busy)),
        busy_elapsed=tuple(busy),
        waiting=sum(1 for a in in_flight if a.state is AttemptState.ANSWERED),
        ringing_ages=tuple(
            (now - (a.placed_at or a.created_at)).total_seconds() for a in in_flight if a.state in _RINGING
        ),
        lines_in_use=len(in_flight),
        talk_elapsed=talk_elapsed,
        wrap_remaining=wrap_remaining,
    )


def snapshot(ctx: Context, campaign: Campaign, *, now: datetime) -> pacing.PacingSnapshot:
    view = ctx.telephony.agent_view(campaign.name, now=now)
    if view is None:
        view = inferred_view(ctx, campaign, ctx.store.in_flight(campaign.id), now=now)
    lines = view.lines_in_use
    meter = meter_for(ctx, campaign)
    false_positives = meter.amd_false_positives  # abandoned live answers, by the campaign's estimate
    return pacing.PacingSnapshot(
        now=now,
        agents=view.agents,
        idle_agents=view.idle,
        busy_elapsed=view.busy_elapsed,
        ringing_ages=view.ringing_ages,
        waiting=view.waiting,
        dials=meter.ended + lines,
        live_answers=meter.live_answers + false_positives,
        non_live=meter.non_live,
        abandoned=meter.abandoned + false_positives,
        connects=meter.connects,
        handle_times=tuple(meter.handle_times),
        answer_delays=tuple(meter.answer_delays),
        non_live_times=tuple(meter.non_live_times),
        lines_in_use=lines,
        talk_elapsed=view.talk_elapsed,
        wrap_remaining=view.wrap_remaining,
        wrap_seconds=float(campaign.wrap_seconds),
        amd_false_positives=false_positives,
    )

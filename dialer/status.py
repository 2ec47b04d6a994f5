"""Answers to "why is nothing dialing?": per campaign and per record.

Library functions returning plain dicts (the JSON of `dialer status`); the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from dialer.context import Context
from dialer.daemon import ownership, pacing_state, tick
from dialer.domain import compliance, preview
from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.domain.records import Record, RecordStatus
from dialer.domain.schedule import ScheduleState
from dialer.errors import DialerError, NotFound
from dialer.reports.figures import ABANDON_CAP
from dialer.store.repository import OutcomeCounts, PacerLease, PacingNote

#: A campaign whose newest pacing decision is older than this has no dialer running.
DAEMON_SILENT_AFTER = timedelta(seconds=60)

#: Plain-language meaning of each reason code shown by `dialer status`.
REASONS = {
    "outside_window": "outside the calling window in the callee's local time",
    "waiting_for_retry": "waiting for a scheduled retry",
    "no_caller_id": "no caller ID to send",
    "in_flight_same_number": "the same number is being called right now",
    "campaign_paused": "the campaign is paused",
    "no_idle_agents": "due, but no agent is free",
    "preview_mode": "preview campaign: waiting for an agent to request it",
    "cps_cap": "due, held back by the calls-per-second cap",
    "line_cap": "due, held back by the concurrent-lines cap",
    "due": "due now: will be dialed on the next tick",
    "no_dialer_running": "due, but no daemon paces this campaign (no `dialer run` holds its pacer lease): start one",
    "dnc_internal": "on the do-not-call list",
    "max_attempts": "maximum attempts reached",
    "provider_unavailable": "the provider was unavailable; retrying shortly",
    "provider_rate_limited": "the provider asked the dialer to slow down (HTTP 429); waiting out its Retry-After",
    "outside_schedule": "outside the campaign's own days, hours or dates (campaign's time zone)",
    "campaign_ended": "the campaign's end date has passed; set a later end date to dial again",
    "repeat_lockout": "UK profile: no redial within 72 h of an abandoned call or 24 h of an answering machine",
    "ring_timeout_too_short": "the campaign's ring timeout is below the 15 s minimum ring time",
    "abandon_budget": "abandon rate at or near the cap: predictive dials progressively until it recovers",
    "locked_by_agent": "on an agent's preview desk (requested, being dialed or awaiting a disposition)",
}


def campaign_status(ctx: Context, c: Campaign, *, now: datetime) -> dict[str, Any]:
    by_status = ctx.store.count_records(c.id)
    in_flight = ctx.store.in_flight(c.id)
    month = ctx.store.outcome_counts(c.id, since=now - timedelta(days=30))
    day = ctx.store.outcome_counts(c.id, since=now - timedelta(hours=24))
    not_dialing: dict[str, int] = dict(ctx.store.waiting_breakdown(c.id, now=now))
    note = ctx.store.pacing_note(c.id)
    lease = ctx.store.pacer_leases().get(c.id)
    pacer = lease if lease is not None and lease.live(ownership.wall_clock()) else None
    due = ctx.store.due_records(c.id, now=now)
    same_number = ctx.store.skipped_for_in_flight(c.id, now=now)
    if same_number:
        not_dialing["in_flight_same_number"] = not_dialing.get("in_flight_same_number", 0) + same_number
        due -= same_number
    schedule = c.schedule()
    schedule_state = schedule.check(now) if schedule is not None else None
    if due:
        if c.status is CampaignStatus.PAUSED:
            not_dialing["campaign_paused"] = due
        elif schedule_state is not None and schedule_state.state is ScheduleState.ENDED:
            not_dialing["campaign_ended"] = due
        elif schedule_state is not None and not schedule_state.is_open:
            not_dialing["outside_schedule"] = due
        elif c.mode is DialMode.PREVIEW:
            not_dialing["preview_mode"] = due
        else:
            with ctx.lock:  # the snapshot reads the provider and the pacing meters
                snap = pacing_state.snapshot(ctx, c, now=now)
            # A decision ahead of the clock came from a virtual-time run, which has ended.
            fresh = note is not None and -CLOCK_SKEW <= now - note.decided_at <= DAEMON_SILENT_AFTER
            if fresh and note is not None and note.reason.startswith("abandon_budget"):
                not_dialing["abandon_budget"] = due
            elif snap.idle_agents == 0:
                not_dialing["no_idle_agents"] = due
            elif c.max_lines is not None and snap.lines_in_use >= c.max_lines:
                not_dialing["line_cap"] = due
            elif pacer is None and (note is None or not fresh):
                not_dialing["no_dialer_running"] = due
            elif note is not None and note.capped_by and note.capped_by.startswith("CPS"):
                not_dialing["cps_cap"] = due
            else:
                not_dialing["due"] = due
    locked = ctx.store.locked_by_agents(c.id) if c.mode is DialMode.PREVIEW else {}
    if locked:
        not_dialing["locked_by_agent"] = sum(locked.values())
    for final in ("do_not_call", "exhausted"):
        if by_status.get(final):
            key = "dnc_internal" if final == "do_not_call" else "max_attempts"
            not_dialing[key] = by_status[final]
    return {
        "campaign": c.name,
        "mode": c.mode.value,
        "status": c.status.value,
        "pause_reason": c.pause_reason,
        "agents": c.agents,
        "lines_in_use": len(in_flight),
        "abandon_rate_30d": month.abandon_rate,
        "abandon_rate_24h": day.abandon_rate,
        "abandon_cap": ABANDON_CAP,
        "live_answers_30d": month.live_answers,
        "records_by_status": dict(sorted(by_status.items())),
        "pacer": pacer_dict(lease),
        "pacing": None if note is None else pacing_dict(note, now=now),
        "not_dialing": dict(sorted(not_dialing.items(), key=lambda kv: -kv[1])),
        "reasons": {k: REASONS.get(k, k) for k in not_dialing},
        "locked_by_agent": dict(sorted(locked.items())),
        "compliance": compliance_status(ctx, c, now=now, counted={timedelta(days=30): month, timedelta(hours=24): day}),
    }


def _budget_status(c: Campaign, meter: compliance.AbandonAssessment) -> dict[str, Any]:
    """The abandon meter as it concerns this campaign: it steers predictive dialing only;
    preview calls are never abandonment candidates."""
    if c.mode is DialMode.PREVIEW:
        return {
            "rule": "not_applicable",
            "force_progressive": False,
            "reason": "preview campaign: agents dial each call from the desk, and preview calls are not "
            "abandonment candidates",
        }
    if c.mode is DialMode.PREDICTIVE:
        return {"rule": meter.rule, "force_progressive": meter.force_progressive, "reason": meter.reason}
    rule = "over_cap" if meter.rate is not None and meter.rate > c.compliance_options().abandon_target else "ok"
    if meter.rule == "too_few_answers":
        rule = "too_few_answers"
    return {"rule": rule, "force_progressive": False, "reason": meter.summary}


def compliance_status(
    ctx: Context, c: Campaign, *, now: datetime, counted: Mapping[timedelta, OutcomeCounts] | None = None
) -> dict[str, Any]:
    """The campaign-level rules: profile, abandon meter, ring time and schedule, each with its state.
    ``counted``: outcome counts already read, by window (not read again)."""
    opts = c.compliance_options()
    meter = tick.abandon_budget(ctx, c, now=now, counted=counted)
    schedule = c.schedule()
    state = schedule.check(now) if schedule is not None else None
    ring_ok = c.ring_timeout >= opts.profile.min_ring_seconds
    return {
        "profile": opts.profile.name,
        "profile_description": opts.profile.description,
        "abandon_target": opts.abandon_target,
        "abandon_window_hours": opts.profile.abandon_window.total_seconds() / 3600,
        "abandon_rate": meter.rate,
        "abandon_budget": _budget_status(c, meter),
        "min_agents_predictive": opts.min_agents_predictive,
        "ring_timeout": {
            "rule": "ok" if ring_ok else "ring_timeout_too_short",
            "seconds": c.ring_timeout,
            "minimum": opts.profile.min_ring_seconds,
        },
        "schedule": {
            "rule": "ok"
            if state is None or state.is_open
            else ("campaign_ended" if state.state is ScheduleState.ENDED else "outside_schedule"),
            "describe": schedule.describe() if schedule is not None else "always",
            "reason": state.reason if state is not None else "no campaign schedule",
            "opens": state.until.isoformat() if state is not None and state.until else None,
        },
    }


#: Clocks of two processes may differ this much before a decision counts as ahead of the clock.
CLOCK_SKEW = timedelta(seconds=2)


def ahead_of_clock(at: datetime, now: datetime) -> bool:
    """``at`` is later than ``now``: written by a virtual-time (or sped-up) run of the
    simulated backend, whose clock runs ahead of the wall clock."""
    return at - now > CLOCK_SKEW


def describe_when(at: datetime, now: datetime) -> str:
    """``12.5 s ago``, or — for an instant a virtual-time run wrote — how far ahead it is."""
    if not ahead_of_clock(at, now):
        return f"{max(0.0, (now - at).total_seconds()):.1f} s ago"
    ahead = (at - now).total_seconds()
    span = f"{ahead / 3600:.1f} h" if ahead >= 3600 else f"{ahead / 60:.1f} min" if ahead >= 60 else f"{ahead:.0f} s"
    return f"at {at:%Y-%m-%d %H:%M} UTC, {span} ahead of this clock (a virtual-time run of the simulated backend)"


def pacer_dict(lease: PacerLease | None) -> dict[str, Any] | None:
    """The process pacing the campaign (its live lease), or None when no daemon does."""
    now = ownership.wall_clock()
    if lease is None or not lease.live(now):
        return None
    return {
        "owner": lease.owner,
        "host": lease.host,
        "pid": lease.pid,
        "since": lease.acquired_at.isoformat(),
        "heartbeat_seconds_ago": round((now - lease.heartbeat_at).total_seconds(), 1),
        "describe": lease.describe(now),
    }


def pacing_dict(note: PacingNote, *, now: datetime) -> dict[str, Any]:
    ahead = ahead_of_clock(note.decided_at, now)
    return {
        "decided_at": note.decided_at.isoformat(),
        "seconds_ago": None if ahead else round(max(0.0, (now - note.decided_at).total_seconds()), 1),
        "ahead_of_clock_s": round((note.decided_at - now).total_seconds(), 1) if ahead else None,
        "when": describe_when(note.decided_at, now),
        "reason": note.reason,
        "wanted": note.wanted,
        "placed": note.placed,
        "capped_by": note.capped_by,
        "blocked_by_gates": dict(note.blocked),
        "last_placed_at": note.last_placed_at.isoformat() if note.last_placed_at else None,
    }


def explain_record(ctx: Context, handle: str, *, campaign: str | None, now: datetime) -> dict[str, Any]:
    if campaign:
        c = ctx.store.get_campaign(campaign)
        record = ctx.store.get_record(c.id, handle)
    else:
        found = ctx.store.find_records(handle)
        if not found:
            raise NotFound(f"no record with handle {handle!r}; check the handle, or pass --campaign")
        if len(found) > 1:
            names = ", ".join(ctx.store.get_campaign_by_id(r.campaign_id).name for r in found)
            raise DialerError(f"handle {handle!r} is in several campaigns ({names}); pass --campaign NAME")
        record = found[0]
        c = ctx.store.get_campaign_by_id(record.campaign_id)
    attempts = ctx.store.attempts_for_record(record.id)
    on_dnc = bool(ctx.store.dnc_hits([record.phone], campaign_id=c.id))
    lockouts = tick.repeat_lockouts(c)
    repeat = ctx.store.repeat_history([record.phone], since=now - max(lockouts)).get(record.phone) if lockouts else None
    gate = compliance.evaluate(tick.dial_context(c, record, on_dnc=on_dnc, now=now, repeat=repeat))
    return {
        "campaign": c.name,
        "record_handle": record.handle,
        "phone": record.phone,
        "status": record.status.value,
        "attempts": record.attempts,
        "max_attempts": c.max_attempts,
        "next_dial_at": record.next_dial_at.isoformat(),
        "time_zone": record.timezone or list(record.zones or c.fallback_zones),
        "tz_source": record.tz_source,
        "last_outcome": record.last_outcome.value if record.last_outcome else None,
        "blocked_reason": record.blocked_reason,
        "detail": record.blocked_detail,
        "gates_now": {"allowed": gate.allowed, "rule": gate.rule, "reason": gate.reason},
        "verdict": verdict(c, record, gate, now=now, calling=any(a.state.in_flight for a in attempts)),
        "history": [
            {
                "attempt": a.id,
                "placed_at": (a.placed_at or a.created_at).isoformat(),
                "outcome": a.outcome.value if a.outcome else a.state.value,
                "raw_outcome": a.raw_outcome,
                "was_missed": a.was_missed,
                "pacing_reason": a.pacing_reason,
                "error": a.error,
            }
            for a in attempts
        ],
    }


def verdict(
    c: Campaign, record: Record, gate: compliance.ComplianceDecision, *, now: datetime, calling: bool = False
) -> str:
    if record.status.is_final:
        return f"final ({record.status.value}): {record.blocked_detail or 'no more dialing'}"
    agent = preview.agent_of(record.lease_owner)
    if record.status is RecordStatus.DIALING:
        if agent is not None and not calling:
            return (
                f"called from {agent}'s preview desk: waiting for the agent's disposition (`dialer preview complete`)"
            )
        return "being dialed now" + (f" from {agent}'s preview desk" if agent else "")
    if record.status is RecordStatus.LEASED:
        if agent is not None:
            return f"on {agent}'s preview desk until {record.lease_until:%Y-%m-%d %H:%M} UTC"
        return f"leased to {record.lease_owner} until {record.lease_until}"
    if c.status is CampaignStatus.PAUSED:
        return f"campaign paused: {c.pause_reason}"
    if not gate.allowed:
        return f"blocked by {gate.rule}: {gate.reason}"
    if record.next_dial_at > now:
        why = record.blocked_detail or "scheduled retry"
        return f"waiting until {record.next_dial_at:%Y-%m-%d %H:%M} UTC ({why})"
    if c.mode is DialMode.PREVIEW:
        return "due: waiting for an agent to request it in preview"
    return "due: will be dialed when the pacer has a free agent"


def agent_figures(ctx: Context, c: Campaign, *, now: datetime) -> dict[str, Any]:
    """The campaign's agents right now (from the provider when it reports them, else inferred
    from the dialer's own calls) and the occupancy: now, and over the run when the provider
    measured it (the simulated call centre does)."""
    with ctx.lock:  # the provider's view and the pacing meters are shared with the pacer
        snap = pacing_state.snapshot(ctx, c, now=now)
        stats = ctx.telephony.centre_stats(c.name, now=now)
    busy = max(0, snap.agents - snap.idle_agents)
    return {
        "agents": snap.agents,
        "busy": busy,
        "idle": snap.idle_agents,
        "waiting": snap.waiting,
        "ringing": len(snap.ringing_ages),
        "lines_in_use": snap.lines_in_use,
        "occupancy_now": busy / snap.agents if snap.agents else None,
        "occupancy_run": stats.occupancy if stats is not None else None,
    }

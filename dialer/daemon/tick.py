"""One pacing tick: collect results, then for each running campaign decide and dial.

No APScheduler here: :func:`run_tick` is a plain function of the context and ``now``, so
tests, ``dialer run --once``, virtual-time rehearsals and the scheduled daemon all run the
same code.

Order inside a tick:

1. **Collect.** Poll the provider for in-flight calls; write progress; end attempts and
   move their records on by the retry treatments (clamped into the calling window).
2. **Pace.** Per active, non-preview campaign: build the pacing snapshot, ask the policy,
   apply the caps (CPS, lines).
3. **Dial.** Claim that many due records; run the compliance gates on each (DNC, attempts,
   caller ID, ring time, campaign schedule, window, UK repeat lockouts — at dial time);
   write the attempt; then ask the provider to dial.

Predictive campaigns whose abandon meter (30 days US, 24 h UK) leaves no room for another
abandoned call dial progressively for that tick; the tick's reason says so.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.context import Context
from dialer.daemon import pacing_state
from dialer.daemon.events import error_kind
from dialer.domain import compliance, pacing, windows
from dialer.domain import preview as preview_rules
from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.domain.records import AttemptState, Record, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.schedule import ScheduleState
from dialer.domain.treatments import RetryDecision, RetryPolicy
from dialer.errors import (
    AlreadyExists,
    PlacementUncertain,
    TelephonyAuthError,
    TelephonyError,
    TelephonyRejected,
    TelephonyUnavailable,
)
from dialer.store.repository import (
    AttemptEnding,
    AttemptProgress,
    Decide,
    InFlightCall,
    OutcomeCounts,
    PacingNote,
)
from dialer.telephony.base import CallHandle, CallRequest, CallUpdate, Placement

log = logging.getLogger(__name__)

#: How long a record waits when the provider is unavailable before it is tried again.
UNAVAILABLE_BACKOFF = timedelta(seconds=30)
#: How long a campaign-level block (no caller ID) holds a record before it is looked at again.
CAMPAIGN_BLOCK_RECHECK = timedelta(minutes=10)
#: How often leases left behind by a crashed worker or a closed preview desk are swept.
LEASE_SWEEP_EVERY = timedelta(seconds=60)
#: An uncertain placement with no call found after this long is settled as never placed.
RECONCILE_AFTER = timedelta(seconds=90)
#: An unchanged pacing decision is written again this often, so status shows the daemon is alive.
NOTE_REFRESH = timedelta(seconds=15)


@dataclass(frozen=True, kw_only=True)
class CampaignTick:
    campaign: str
    reason: str
    wanted: int = 0
    placed: int = 0
    capped_by: str | None = None
    blocked: dict[str, int] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TickReport:
    now: datetime
    updates: int
    ended: int
    placed: int
    in_flight: int
    """Calls in flight after the tick."""
    campaigns: tuple[CampaignTick, ...]


def run_tick(
    ctx: Context, *, now: datetime, campaigns: Sequence[str] | None = None, worker: str = "daemon"
) -> TickReport:
    """Collect results, then pace and dial every active campaign (or just ``campaigns``)."""
    listed, in_flight = ctx.store.campaigns_and_calls()
    by_id = {c.id: c for c in listed}
    ctx.campaigns = {c.name: c for c in by_id.values()}
    mine = owned_ids(ctx, by_id)
    if ctx.lease_sweep_at is None or now >= ctx.lease_sweep_at:
        ctx.store.release_expired_leases(mine, now=now)
        settle_expired_holds(ctx, [by_id[i] for i in mine], now=now)
        ctx.lease_sweep_at = now + LEASE_SWEEP_EVERY
    updates, ended, before = collect(
        ctx, now=now, campaigns=by_id, only=mine if ctx.fence is not None else None, in_flight=in_flight
    )
    timed = [
        c
        for c in by_id.values()
        if c.mode is DialMode.PREVIEW
        and preview_rules.auto_dial_after(c.options) is not None
        and (campaigns is None or c.name in campaigns)
        and (ctx.fence is None or c.id in mine)
    ]
    auto_dialed = 0
    if timed:
        from dialer import preview  # the desk sits on top of this module

        auto_dialed = len(preview.auto_dial(ctx, now=now, campaigns=timed))
    reports = []
    for campaign in by_id.values():
        if campaigns is not None and campaign.name not in campaigns:
            continue
        if campaign.id not in mine:
            continue
        paced = pace_campaign(ctx, campaign, now=now, worker=worker)
        note_pacing(ctx, campaign, paced, now=now)
        reports.append(paced)
    placed = sum(r.placed for r in reports)
    report = TickReport(
        now=now,
        updates=updates,
        ended=ended,
        placed=placed,
        in_flight=before - ended + placed + auto_dialed,
        campaigns=tuple(reports),
    )
    for r in reports:
        if r.placed or r.blocked or r.errors:
            log.info(
                "tick %s: placed %d — %s",
                r.campaign,
                r.placed,
                r.reason,
                extra={"action": "tick", "campaign": r.campaign, "placed": r.placed, "reason": r.reason},
            )
    return report


def owned_ids(ctx: Context, by_id: Mapping[int, Campaign]) -> list[int]:
    """The campaigns this process paces: all, or those whose pacer lease it holds."""
    return [cid for cid in by_id if ctx.fence is None or ctx.fence.owns(cid)]


def note_pacing(ctx: Context, campaign: Campaign, paced: CampaignTick, *, now: datetime) -> None:
    """Write the campaign's decision for `dialer status` when it changed (or every NOTE_REFRESH)."""
    key = (paced.reason, paced.wanted, paced.placed, paced.capped_by, tuple(sorted(paced.blocked.items())))
    last = ctx.pacing_notes.get(campaign.id)
    if last is not None and last[0] == key and now - last[1] < NOTE_REFRESH:
        return
    ctx.store.note_pacing(
        campaign.id,
        PacingNote(
            decided_at=now,
            wanted=paced.wanted,
            placed=paced.placed,
            capped_by=paced.capped_by,
            reason=paced.reason,
            blocked=paced.blocked,
        ),
    )
    ctx.pacing_notes[campaign.id] = (key, now)


# --------------------------------------------------------------------- collect
def handle_for(call: InFlightCall, campaign: str, ctx: Context | None = None) -> CallHandle:
    """The provider's view of an attempt in flight; with ``ctx``, the record's user data can be
    read for it (only if the adapter asks: after a restart, to annotate the call)."""
    record_id = call.record_id
    loader = (
        (lambda: ctx.store.get_record_by_id(record_id).user_data) if ctx is not None and record_id is not None else None
    )
    return CallHandle(
        attempt_id=call.attempt_id,
        campaign=campaign,
        number=call.number,
        placed_at=call.placed_at or call.created_at,
        provider_ref=call.provider_ref,
        state=call.state,
        seen_answer=call.state.rank >= AttemptState.ANSWERED.rank,
        correlation=call.correlation,
        load_user_data=loader,
        caller_id=call.caller_id,
        agent=call.agent,
    )


def collect(
    ctx: Context,
    *,
    now: datetime,
    campaigns: Mapping[int, Campaign] | None = None,
    only: Collection[int] | None = None,
    in_flight: Sequence[InFlightCall] | None = None,
) -> tuple[int, int, int]:
    """Poll in-flight calls (of the campaigns in ``only``, or all) and write what changed.
    ``in_flight``: the calls in flight, when the caller has just read them.
    Returns (updates applied, attempts ended, calls that were in flight)."""
    in_flight = list(in_flight) if in_flight is not None else ctx.store.in_flight_calls()
    if only is not None:
        wanted = set(only)
        in_flight = [a for a in in_flight if a.campaign_id in wanted]
    if not in_flight:
        return 0, 0, 0
    by_id = campaigns or {c.id: c for c in ctx.store.list_campaigns()}
    attempts = {a.attempt_id: a for a in in_flight}
    pollable, unsettled = [], []
    for attempt in in_flight:
        handle = handle_for(attempt, by_id[attempt.campaign_id].name, ctx)
        if attempt.state in (AttemptState.PENDING, AttemptState.UNCERTAIN):
            unsettled.append((attempt, handle))
        else:
            pollable.append(handle)
    updates = ctx.telephony.poll(pollable, now=now) if pollable else []
    ended = apply_updates(ctx, [(u, by_id[attempts[u.attempt_id].campaign_id]) for u in updates], now=now)
    for attempt, handle in unsettled:
        campaign = by_id[attempt.campaign_id]
        try:
            ended += settle(ctx, attempt, handle, campaign=campaign, now=now, pending_too=False)
        except TelephonyError as exc:  # still in doubt: never redialed until the provider answers
            ctx.events.provider_error(backend=ctx.telephony.name, kind=error_kind(exc), operation="reconcile")
            log.warning("attempt %s stays unsettled: %s", attempt.attempt_id, exc)
    return len(updates), ended, len(in_flight)


def settle(
    ctx: Context, attempt: InFlightCall, handle: CallHandle, *, campaign: Campaign, now: datetime, pending_too: bool
) -> int:
    """Settle a pending or uncertain attempt. 1 if it ended.

    Young (under :data:`RECONCILE_AFTER`), "the provider has no call" is not an answer yet: the
    request may still be on its way, or the provider's search not caught up, so only a call
    found is applied. A young pending attempt may also belong to a worker placing it right
    now, so it is looked up only when ``pending_too`` (at start-up: no worker of this process
    is placing anything yet)."""
    if now - attempt.created_at >= RECONCILE_AFTER:
        return reconcile_attempt(ctx, handle, campaign=campaign, now=now)
    if attempt.state is AttemptState.UNCERTAIN or pending_too:
        found = ctx.telephony.reconcile(handle, now=now)
        if found is not None:
            return apply_update(ctx, found, campaign=campaign, now=now)
    return 0


def reconcile_attempt(ctx: Context, handle: CallHandle, *, campaign: Campaign, now: datetime) -> int:
    """Settle an attempt whose placement is in doubt (crash, timeout). 1 if it ended."""
    found = ctx.telephony.reconcile(handle, now=now)
    if found is not None:
        return apply_update(ctx, found, campaign=campaign, now=now)
    ctx.store.finish_attempt(
        handle.attempt_id,
        AttemptEnding(
            outcome=CallResult.CANCELLED,
            ended_at=now,
            error="reconciled: the provider has no call for this attempt, so it was never placed",
            correlation="not_found",
        ),
        decide=lambda record, result: RetryDecision(
            status=RecordStatus.READY, retry_at=now, reason="never placed (reconciled); back to ready"
        ),
        now=now,
    )
    return 1


def apply_update(ctx: Context, update: CallUpdate, *, campaign: Campaign, now: datetime) -> int:
    """Write one provider update; end the attempt when the call has ended. 1 if it ended."""
    return apply_updates(ctx, [(update, campaign)], now=now)


def apply_updates(ctx: Context, updates: Sequence[tuple[CallUpdate, Campaign]], *, now: datetime) -> int:
    """Write what the provider reported of several calls (each with its campaign) in one
    transaction (:meth:`write_back`); end the attempts whose call has ended. How many ended."""
    progress: list[tuple[str, AttemptProgress]] = []
    endings: list[tuple[str, AttemptEnding, Decide]] = []
    ending_of: list[tuple[CallUpdate, Campaign, CallResult]] = []
    for update, campaign in updates:
        if update.state is not AttemptState.ENDED:
            progress.append((update.attempt_id, _progress_of(update)))
            continue
        outcome = update.outcome or CallResult.UNKNOWN
        decide = functools.partial(decide_after_call, campaign, now=now)
        endings.append((update.attempt_id, _ending_of(update, outcome, now=now), decide))
        ending_of.append((update, campaign, outcome))
    if not progress and not endings:
        return 0
    ended = 0
    for finished, (update, campaign, outcome) in zip(
        ctx.store.write_back(progress, endings, now=now), ending_of, strict=True
    ):
        if finished is None:
            continue
        ended += 1
        ctx.events.ended(campaign=campaign.name, result=outcome.value)
        if not finished.attempt.preview:  # agents' preview calls are never abandonment candidates
            pacing_state.observe_ending(ctx, campaign, finished.attempt)
        if outcome is CallResult.DO_NOT_CALL:
            ctx.store.add_dnc(
                [finished.attempt.number_dialed],
                source="disposition",
                note=f"attempt {update.attempt_id}",
                now=now,
            )
    return ended


def _progress_of(update: CallUpdate) -> AttemptProgress:
    return AttemptProgress(
        state=update.state,
        provider_ref=update.provider_ref,
        call_sid=update.call_sid,
        correlation=update.correlation,
        answered_at=update.answered_at,
        connected_at=update.connected_at,
        caller_id=update.caller_id,
    )


def _ending_of(update: CallUpdate, outcome: CallResult, *, now: datetime) -> AttemptEnding:
    return AttemptEnding(
        outcome=outcome,
        ended_at=update.ended_at or now,
        raw_outcome=update.raw_outcome,
        was_missed=update.was_missed,
        amd=update.amd,
        message_played=update.message_played,
        answered_at=update.answered_at,
        connected_at=update.connected_at,
        duration_s=update.duration_s,
        agent=update.agent,
        provider_ref=update.provider_ref,
        call_sid=update.call_sid,
        correlation=update.correlation,
        error=update.note,
        raw=update.raw,
        caller_id=update.caller_id,
    )


def decide_after_call(campaign: Campaign, record: Record, result: CallResult, *, now: datetime) -> RetryDecision:
    """A preview call (dialed from an agent's desk) waits for the agent's disposition; any
    other call goes straight through the retry treatments."""
    agent = preview_rules.agent_of(record.lease_owner)
    if agent is not None:
        return preview_rules.hold_after_call(agent, result, now=now, lock=preview_rules.lock_length(campaign.options))
    return decide_next(campaign, record, result, now=now)


def settle_expired_holds(ctx: Context, campaigns: Sequence[Campaign], *, now: datetime) -> int:
    """Preview calls whose agent gave no disposition before the lock expired: the call's own
    result goes through the retry treatments, and the record returns to the pool."""
    by_id = {c.id: c for c in campaigns if c.mode is DialMode.PREVIEW}
    if not by_id:
        return 0
    settled = 0
    for _record_id, campaign_id, attempt_id in ctx.store.expired_holds(list(by_id), now=now):
        decide = functools.partial(decide_next, by_id[campaign_id], now=now)
        ctx.store.dispose_attempt(attempt_id, result=None, disposition=None, decide=decide, now=now)
        settled += 1
    return settled


def retry_policy(campaign: Campaign) -> RetryPolicy:
    """The default treatments with the campaign's overrides (``treatments`` in its options)."""
    return RetryPolicy(max_attempts=campaign.max_attempts).with_overrides(campaign.compliance_options().treatments)


def decide_next(campaign: Campaign, record: Record, result: CallResult, *, now: datetime) -> RetryDecision:
    """The treatment's proposal, never earlier than the profile's repeat lockout, clamped into
    the record's next calling window and the campaign schedule (never moved earlier)."""
    options = campaign.compliance_options()
    zones = record.zones or campaign.fallback_zones
    decision = retry_policy(campaign).next_attempt(
        result=result,
        attempts=record.attempts,
        occurrences=int(record.result_counts.get(result.value, 1)),
        now=now,
        zone=zones[0] if zones else campaign.zone,
    )
    if decision.retry_at is None:
        return decision
    lockout = options.profile.repeat_lockout(result)
    if lockout is not None and decision.retry_at < now + lockout:
        decision = RetryDecision(
            status=decision.status,
            retry_at=now + lockout,
            reason=f"{decision.reason}; no redial within {lockout.total_seconds() / 3600:g} h "
            f"({options.profile.name.upper()} profile)",
        )
    assert decision.retry_at is not None
    window = campaign.effective_window().narrowed(record.daily_from, record.daily_till)
    schedule = campaign.schedule()
    if schedule is None:
        opens = windows.next_open(window, zones, decision.retry_at)
        where = "the calling window opens"
    else:
        opens = schedule.next_open(decision.retry_at, extra=[(window, zones)])
        where = "the calling window and the campaign schedule are open"
    if opens is not None and opens > decision.retry_at:
        return RetryDecision(
            status=decision.status,
            retry_at=opens,
            reason=f"{decision.reason}; moved to {opens:%Y-%m-%d %H:%M} UTC when {where}",
        )
    return decision


def abandon_budget(
    ctx: Context, campaign: Campaign, *, now: datetime, counted: Mapping[timedelta, OutcomeCounts] | None = None
) -> compliance.AbandonAssessment:
    """The campaign's abandon meter over its profile's window (30 days US, 24 h UK). Calls
    agents dialed from the preview desk are not abandonment candidates: the store's
    ``live_answers`` and ``abandoned`` already leave them out. ``counted``: outcome counts
    the caller already has, by window ending ``now`` (the window's count is reused)."""
    options = campaign.compliance_options()
    budget = compliance.AbandonBudget(target=options.abandon_target, window=options.profile.abandon_window)
    counts = (counted or {}).get(budget.window) or ctx.store.outcome_counts(campaign.id, since=now - budget.window)
    return budget.assess(live_answers=counts.live_answers, abandoned=counts.abandoned)


# ------------------------------------------------------------------------ pace
def guard_abandon_budget(
    ctx: Context, campaign: Campaign, snapshot: pacing.PacingSnapshot, decision: pacing.PacingDecision, *, now: datetime
) -> pacing.PacingDecision:
    """A predictive decision, or — when the abandon meter leaves no room for another abandoned
    call — the progressive one for this tick, with the meter's reason first."""
    meter = abandon_budget(ctx, campaign, now=now)
    if not meter.force_progressive:
        return decision
    lines = float(campaign.options.get("lines_per_agent", 1.0) or 1.0)  # type: ignore[arg-type]
    fallback = pacing.Progressive(lines_per_agent=min(max(lines, 1.0), 2.0)).decide(snapshot)
    return pacing.PacingDecision(
        calls_to_place=fallback.calls_to_place, reason=f"{meter.reason} — {fallback.reason}", mode=fallback.mode
    )


def pace_campaign(ctx: Context, campaign: Campaign, *, now: datetime, worker: str) -> CampaignTick:
    if campaign.status is CampaignStatus.PAUSED:
        return CampaignTick(campaign=campaign.name, reason=f"paused: {campaign.pause_reason or 'by an operator'}")
    if campaign.mode is DialMode.PREVIEW:
        return CampaignTick(campaign=campaign.name, reason="preview: agents request records themselves")
    schedule = campaign.schedule()
    if schedule is not None:
        state = schedule.check(now)
        if state.state is ScheduleState.ENDED:
            return CampaignTick(campaign=campaign.name, reason=f"campaign_ended: {state.reason}")
    snapshot = pacing_state.snapshot(ctx, campaign, now=now)
    decision = pacing_state.policy_for(campaign, ctx).decide(snapshot)
    if campaign.mode is DialMode.PREDICTIVE and decision.mode != "progressive":
        decision = guard_abandon_budget(ctx, campaign, snapshot, decision, now=now)
    caps = pacing_state.caps_for(campaign, tick_seconds=ctx.settings.tick_seconds, backend_cps=ctx.telephony.max_cps)
    capped = pacing.apply_caps(
        decision,
        snapshot,
        caps,
        placed_last_second=(
            ctx.store.placed_since(campaign.id, since=now - timedelta(seconds=1)) if caps.max_cps else 0
        ),
    )
    if capped.calls_to_place == 0:
        return CampaignTick(
            campaign=campaign.name,
            reason=capped.reason,
            wanted=decision.calls_to_place,
            capped_by=capped.capped_by,
        )
    cooling = ctx.telephony.cooling_until(now=now)
    if cooling is not None:  # no record is claimed while the provider asks the dialer to wait
        return CampaignTick(
            campaign=campaign.name,
            reason=f"provider_rate_limited: {ctx.telephony.name} asked the dialer to slow down (HTTP 429); "
            f"dialing resumes at {cooling:%H:%M:%S} UTC",
            wanted=decision.calls_to_place,
            capped_by="provider_rate_limit",
        )
    placed, blocked, errors = dial_records(
        ctx, campaign, capped.calls_to_place, reason=capped.reason, now=now, worker=worker
    )
    return CampaignTick(
        campaign=campaign.name,
        reason=capped.reason,
        wanted=decision.calls_to_place,
        placed=placed,
        capped_by=capped.capped_by,
        blocked=dict(blocked),
        errors=tuple(errors),
    )


#: place_batch's outcome for a call not placed because the pacer lease was lost meanwhile.
FENCED = "fenced"
#: Outcomes of a call the provider refused for now; the rest of the batch waits as long.
PROVIDER_REFUSING = ("provider_rate_limited", "provider_unavailable")
LEASE_LOST = "dialing stopped: this process no longer holds the campaign's pacer lease"
#: A call is not sent with less than this many seconds left on the campaign's pacer fence: its
#: answer could not be waited for before another daemon may take the campaign over.
MIN_PLACEMENT_WAIT = 0.5
#: place_batch's marker for a call not sent because an earlier one stopped the batch.
_NOT_SENT = "not_sent"


def dial_records(
    ctx: Context, campaign: Campaign, n: int, *, reason: str, now: datetime, worker: str
) -> tuple[int, Counter[str], list[str]]:
    """Claim due records and dial up to ``n`` of them that pass every gate."""
    placed, blocked, errors = 0, Counter[str](), []
    lockouts = repeat_lockouts(campaign)
    for _ in range(20):  # gates may refuse claimed records; claim again, within reason
        if placed >= n:
            break
        claims = ctx.store.claim_records(
            campaign.id, limit=n - placed, worker=worker, lease_seconds=ctx.settings.lease_seconds, now=now
        )
        if not claims:
            break
        history = (
            ctx.store.repeat_history([c.record.phone for c in claims], since=now - max(lockouts)) if lockouts else {}
        )
        allowed: list[tuple[Record, str | None]] = []
        for i, claim in enumerate(claims):
            record = claim.record
            if ctx.fence is not None and not ctx.fence.owns(campaign.id):
                # The lease could not be renewed in time: another process may take the
                # campaign over, so this one stops dialing it now.
                errors.append(LEASE_LOST)
                for rest in [r for r, _ in allowed] + [c.record for c in claims[i:]]:
                    ctx.store.release_record(rest.id, now=now)
                return placed, blocked, errors
            dial_ctx = dial_context(
                campaign, record, on_dnc=claim.on_dnc, now=now, repeat=history.get(record.phone) if lockouts else None
            )
            gate = compliance.evaluate(dial_ctx)
            if not gate.allowed:
                blocked[gate.rule] += 1
                hold(ctx, record, gate, now=now)
                continue
            allowed.append((record, dial_ctx.caller_id))
        refusing: Record | None = None
        outcomes = place_batch(ctx, campaign, allowed, reason=reason, now=now)
        for (record, _), outcome in zip(allowed, outcomes, strict=True):
            if outcome == "placed":
                placed += 1
            elif outcome in PROVIDER_REFUSING:
                blocked[outcome] += 1
                refusing = refusing or record
            elif outcome == "stop":
                errors.append(f"dialing stopped: {ctx.store.get_campaign(campaign.name).pause_reason}")
                return placed, blocked, errors
            elif outcome == FENCED:
                errors.append(LEASE_LOST)
                return placed, blocked, errors
            elif outcome != "withdrawn":
                blocked[outcome] += 1
        if refusing is not None:  # one try per tick while the provider refuses calls
            errors.append(ctx.store.get_record_by_id(refusing.id).blocked_detail or "the provider refuses calls")
            return placed, blocked, errors
    return placed, blocked, errors


def place_batch(
    ctx: Context, campaign: Campaign, calls: Sequence[tuple[Record, str | None]], *, reason: str, now: datetime
) -> list[str]:
    """:func:`place` for several ``(record, caller ID)``, in order, with two transactions
    for the batch instead of two per call: every attempt is written (``pending``) before
    the first call is placed, and the provider's answers are written after the last. A
    crash in between leaves attempts in flight, which start-up reconciles with the provider,
    exactly as a crash between one call's two writes does.

    One outcome per call, as :func:`place` returns them; after a ``stop`` the calls not yet
    placed are ``withdrawn`` (their attempts removed, their records ready again)."""
    if len(calls) <= 1:
        return [
            place(ctx, campaign, record, caller_id=caller_id, reason=reason, now=now) for record, caller_id in calls
        ]
    attempt_ids = [str(uuid.uuid4()) for _ in calls]
    try:
        refused = ctx.store.begin_attempts(
            [(record, aid, caller_id) for (record, caller_id), aid in zip(calls, attempt_ids, strict=True)],
            backend=ctx.telephony.name,
            mode=campaign.mode.value,
            pacing_reason=reason,
            now=now,
        )
    except AlreadyExists:  # another worker put one of the numbers in flight meanwhile
        return [
            place(ctx, campaign, record, caller_id=caller_id, reason=reason, now=now) for record, caller_id in calls
        ]
    outcomes: list[str] = []
    answers: list[tuple[str, AttemptProgress]] = []
    width = placement_width(ctx, len(calls) - len(refused))
    if width > 1:
        try:
            return _place_concurrently(
                ctx, campaign, calls, attempt_ids, refused, reason=reason, now=now, width=width, answers=answers
            )
        finally:
            ctx.store.progress_attempts(answers, now=now)
    try:
        for i, ((record, caller_id), attempt_id) in enumerate(zip(calls, attempt_ids, strict=True)):
            if ctx.fence is not None and not ctx.fence.owns(campaign.id):
                # The pacer lease was lost while this batch was placed: give the rest back.
                outcomes.extend(_withdraw(ctx, calls[i:], attempt_ids[i:], refused, FENCED, now=now))
                break
            if attempt_id in refused:
                outcomes.append(_number_busy(ctx, record, now=now))
                continue
            outcome, answer = _dial(ctx, campaign, record, attempt_id, caller_id=caller_id, reason=reason, now=now)
            outcomes.append(outcome)
            if answer is not None:
                answers.append((attempt_id, answer))
            if outcome in ("stop", FENCED):
                rest = "withdrawn" if outcome == "stop" else FENCED
                outcomes.extend(_withdraw(ctx, calls[i + 1 :], attempt_ids[i + 1 :], refused, rest, now=now))
                break
            if outcome in PROVIDER_REFUSING:
                # The provider refuses calls for now (a 429 cool-down, or it is down): the
                # calls not yet sent go back to the pool with the same reason and wait as long,
                # instead of being tried one by one against a provider that refuses them.
                held = ctx.store.get_record_by_id(record.id)
                outcomes.extend(
                    _withdraw(
                        ctx,
                        calls[i + 1 :],
                        attempt_ids[i + 1 :],
                        refused,
                        outcome,
                        now=now,
                        next_dial_at=held.next_dial_at,
                        blocked_reason=outcome,
                        blocked_detail=held.blocked_detail or outcome,
                    )
                )
                break
    finally:
        ctx.store.progress_attempts(answers, now=now)
    return outcomes


def placement_width(ctx: Context, calls: int) -> int:
    """How many calls of a batch are sent at once: ``placement_concurrency`` for a backend
    that places concurrently (Evo Voice's pooled client), else 1."""
    if not getattr(ctx.telephony, "concurrent_placements", False):
        return 1
    return max(1, min(ctx.settings.placement_concurrency, calls))


def fence_wait(ctx: Context, campaign_id: int) -> float | None:
    """Seconds a placement for the campaign may wait for the provider's answer: what is left
    on this process's pacer fence; None without a fence, or for a campaign it does not hold
    (the preview desk of `dialer web` dials campaigns another daemon paces)."""
    return ctx.fence.remaining(campaign_id) if ctx.fence is not None else None


def _place_concurrently(
    ctx: Context,
    campaign: Campaign,
    calls: Sequence[tuple[Record, str | None]],
    attempt_ids: Sequence[str],
    refused: Collection[str],
    *,
    reason: str,
    now: datetime,
    width: int,
    answers: list[tuple[str, AttemptProgress]],
) -> list[str]:
    """Send a batch whose attempts are all written, ``width`` calls at a time. Each call is
    sent only while this process still holds the campaign's fence, and then waits for its
    answer no longer than the fence has left (:func:`fence_wait`). The answers are taken in
    the batch's order on this thread, which alone writes to the store; one that stops the
    batch (a refused caller ID, a 429, the provider down, the fence lost) keeps the calls not
    yet sent from going, and they are given back as :func:`place_batch` does."""
    halt = threading.Event()

    def send(k: int) -> Placement | TelephonyError | str:
        if halt.is_set():
            return _NOT_SENT
        wait = fence_wait(ctx, campaign.id)
        if (ctx.fence is not None and not ctx.fence.owns(campaign.id)) or (
            wait is not None and wait < MIN_PLACEMENT_WAIT
        ):
            halt.set()
            return FENCED
        record, caller_id = calls[k]
        return _send(ctx, _request(campaign, record, attempt_ids[k], caller_id=caller_id, timeout=wait), now=now)

    outcomes: list[str | None] = []
    unsent: dict[str, list[int]] = {FENCED: [], _NOT_SENT: []}
    stopped_by: tuple[str, Record] | None = None
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="placement") as pool:
        futures = {k: pool.submit(send, k) for k in range(len(calls)) if attempt_ids[k] not in refused}
        try:
            for k, ((record, caller_id), attempt_id) in enumerate(zip(calls, attempt_ids, strict=True)):
                if attempt_id in refused:
                    outcomes.append(_number_busy(ctx, record, now=now))
                    continue
                sent = futures[k].result()
                if isinstance(sent, str):
                    unsent[sent].append(k)
                    outcomes.append(None)
                    continue
                outcome, answer = _answer(ctx, campaign, attempt_id, caller_id=caller_id, sent=sent, now=now)
                outcomes.append(outcome)
                if answer is not None:
                    answers.append((attempt_id, answer))
                if stopped_by is None and (outcome == "stop" or outcome in PROVIDER_REFUSING):
                    stopped_by = (outcome, record)
                    halt.set()
        except BaseException:  # an answer could not be written: send nothing more (the rest stay pending)
            halt.set()
            raise
    for kind, ks in unsent.items():
        if not ks:
            continue
        rest, until, blocked, detail = FENCED, None, None, None
        if kind == _NOT_SENT and stopped_by is not None:
            rest = "withdrawn" if stopped_by[0] == "stop" else stopped_by[0]
            if stopped_by[0] in PROVIDER_REFUSING:
                held = ctx.store.get_record_by_id(stopped_by[1].id)
                until, blocked, detail = held.next_dial_at, stopped_by[0], held.blocked_detail or stopped_by[0]
        given = _withdraw(
            ctx,
            [calls[k] for k in ks],
            [attempt_ids[k] for k in ks],
            (),
            rest,
            now=now,
            next_dial_at=until,
            blocked_reason=blocked,
            blocked_detail=detail,
        )
        for k, outcome in zip(ks, given, strict=True):
            outcomes[k] = outcome
    return [o if o is not None else "withdrawn" for o in outcomes]


def _withdraw(
    ctx: Context,
    calls: Sequence[tuple[Record, str | None]],
    attempt_ids: Sequence[str],
    refused: Collection[str],
    outcome: str,
    *,
    now: datetime,
    next_dial_at: datetime | None = None,
    blocked_reason: str | None = None,
    blocked_detail: str | None = None,
) -> list[str]:
    """Give back the calls of a batch not sent to the provider: their pending attempts are
    removed and their records are ready again (held like the call that stopped the batch when
    ``blocked_reason`` is given). One ``outcome`` per call; numbers already in flight keep theirs."""
    outcomes: list[str] = []
    withdrawn: list[tuple[Record, str]] = []
    for (record, _), attempt_id in zip(calls, attempt_ids, strict=True):
        if attempt_id in refused:
            outcomes.append(_number_busy(ctx, record, now=now))
        else:
            withdrawn.append((record, attempt_id))
            outcomes.append(outcome)
    ctx.store.withdraw_attempts(
        withdrawn, now=now, next_dial_at=next_dial_at, blocked_reason=blocked_reason, blocked_detail=blocked_detail
    )
    return outcomes


def dial_context(
    campaign: Campaign,
    record: Record,
    *,
    on_dnc: bool,
    now: datetime,
    repeat: compliance.RepeatHistory | None = None,
    live_agent_guaranteed: bool = False,
) -> compliance.DialContext:
    """What the compliance gates look at for ``record`` right now (the tick, the preview desk
    and `dialer status --record` all build it here). ``repeat`` is the number's recent
    abandoned/machine calls (:meth:`repeat_history`), needed by the UK repeat lockouts."""
    options = campaign.compliance_options()
    return compliance.DialContext(
        record=record,
        now=now,
        window=campaign.effective_window(),
        fallback_zones=campaign.fallback_zones,
        caller_id=campaign.caller_id_for(record.caller_id),
        allow_random_caller_id=campaign.allow_random_caller_id,
        on_dnc=on_dnc,
        max_attempts=campaign.max_attempts,
        profile=options.profile,
        schedule=campaign.schedule(),
        ring_timeout=campaign.ring_timeout,
        repeat=repeat,
        live_agent_guaranteed=live_agent_guaranteed,
    )


def repeat_lockouts(campaign: Campaign) -> list[timedelta]:
    """The campaign profile's repeat lockouts (empty under the US profile)."""
    profile = campaign.compliance_options().profile
    return [d for d in (profile.repeat_after_abandon, profile.repeat_after_machine) if d is not None]


def hold(ctx: Context, record: Record, gate: compliance.ComplianceDecision, *, now: datetime) -> None:
    """Apply a gate's refusal: end the record, or hold it until the gate may allow it."""
    if gate.final_status is not None:
        ctx.store.finalize_record(record.id, gate.final_status, reason=gate.rule, detail=gate.reason, now=now)
        return
    until = gate.until or now + CAMPAIGN_BLOCK_RECHECK
    ctx.store.release_record(
        record.id, now=now, next_dial_at=until, blocked_reason=gate.rule, blocked_detail=gate.reason
    )


def place(
    ctx: Context,
    campaign: Campaign,
    record: Record,
    *,
    caller_id: str | None,
    reason: str,
    now: datetime,
    preview: bool = False,
    agent: str | None = None,
    attempt_id: str | None = None,
) -> str:
    """Write the attempt, then dial. Returns ``placed``, a skip reason, or ``stop``.

    ``preview`` marks a call an agent dialed from the preview desk (``agent``)."""
    attempt_id = attempt_id or str(uuid.uuid4())
    try:
        ctx.store.begin_attempt(
            record,
            attempt_id=attempt_id,
            backend=ctx.telephony.name,
            mode=campaign.mode.value,
            caller_id=caller_id,
            pacing_reason=reason,
            now=now,
            preview=preview,
            agent=agent,
            lease_owner=preview_rules.desk_owner(agent) if preview and agent else None,
        )
    except AlreadyExists:
        return _number_busy(ctx, record, now=now)
    outcome, answer = _dial(
        ctx, campaign, record, attempt_id, caller_id=caller_id, reason=reason, now=now, agent=agent if preview else None
    )
    if answer is not None:  # not durable, as place_batch's answers (see progress_attempts)
        ctx.store.progress_attempts([(attempt_id, answer)], now=now)
    return outcome


def _number_busy(ctx: Context, record: Record, *, now: datetime) -> str:
    ctx.store.release_record(
        record.id,
        now=now,
        next_dial_at=now + timedelta(seconds=30),
        blocked_reason="in_flight_same_number",
        blocked_detail=f"{record.phone} is already being called",
    )
    return "in_flight_same_number"


def _dial(
    ctx: Context,
    campaign: Campaign,
    record: Record,
    attempt_id: str,
    *,
    caller_id: str | None,
    reason: str,
    now: datetime,
    agent: str | None = None,
) -> tuple[str, AttemptProgress | None]:
    """Ask the provider to dial an attempt already written. Returns the outcome (as
    :func:`place`) and, for a call the provider took (or may have taken), the progress the
    caller must write; refusals and failures are written here.

    With too little left on this process's pacer fence the call is not sent (``fenced``, the
    record ready again); else its answer is waited for no longer than the fence has left."""
    wait = fence_wait(ctx, campaign.id)
    if wait is not None and wait < MIN_PLACEMENT_WAIT:
        _release_unplaced(ctx, attempt_id, LEASE_LOST, retry_at=now, now=now)
        return FENCED, None
    request = _request(campaign, record, attempt_id, caller_id=caller_id, agent=agent, timeout=wait)
    return _answer(ctx, campaign, attempt_id, caller_id=caller_id, sent=_send(ctx, request, now=now), now=now)


def _request(
    campaign: Campaign,
    record: Record,
    attempt_id: str,
    *,
    caller_id: str | None,
    agent: str | None = None,
    timeout: float | None = None,
) -> CallRequest:
    return CallRequest(
        attempt_id=attempt_id,
        campaign=campaign.name,
        flow_id=campaign.flow_id,
        number=record.phone,
        caller_id=caller_id,
        user_data=record.user_data,
        ring_timeout=campaign.ring_timeout,
        agent=agent,
        timeout=timeout,
    )


def _send(ctx: Context, request: CallRequest, *, now: datetime) -> Placement | TelephonyError:
    """The provider's answer to one placement: the placement, or the error it raised. Touches
    nothing but the backend, so that several may run at once on other threads."""
    try:
        return ctx.telephony.place_call(request, now=now)
    except TelephonyError as exc:
        return exc


def _answer(
    ctx: Context,
    campaign: Campaign,
    attempt_id: str,
    *,
    caller_id: str | None,
    sent: Placement | TelephonyError,
    now: datetime,
) -> tuple[str, AttemptProgress | None]:
    """Write what the provider answered to a placement (:func:`_dial`'s outcome and progress)."""
    try:
        if isinstance(sent, TelephonyError):
            ctx.events.provider_error(backend=ctx.telephony.name, kind=error_kind(sent), operation="place")
            if isinstance(sent, PlacementUncertain):
                ctx.events.placed(campaign=campaign.name, backend=ctx.telephony.name)
            raise sent
        placement = sent
    except TelephonyRejected as exc:
        result = CallResult.SIT_INVALID_NUM if exc.bad_number else CallResult.DIAL_ERROR
        _end_unplaced(ctx, campaign, attempt_id, result, str(exc), now=now)
        if exc.bad_caller_id:
            ctx.store.set_campaign_status(
                campaign.name,
                CampaignStatus.PAUSED,
                reason=f"the provider refused caller ID {caller_id}: {exc}. Fix the campaign's caller IDs, then "
                f"`dialer campaign resume {campaign.name}`",
                now=now,
            )
            return "stop", None
        return "placed_rejected", None
    except TelephonyAuthError as exc:
        _release_unplaced(ctx, attempt_id, f"authentication failed: {exc}", retry_at=now, now=now)
        ctx.store.set_campaign_status(
            campaign.name,
            CampaignStatus.PAUSED,
            reason=f"{exc}. Fix the credentials, then `dialer campaign resume {campaign.name}`",
            now=now,
        )
        return "stop", None
    except PlacementUncertain as exc:
        return "placed", AttemptProgress(state=AttemptState.UNCERTAIN, placed_at=now, error=str(exc))
    except TelephonyUnavailable as exc:
        if exc.rate_limited:
            until = ctx.telephony.cooling_until(now=now) or now + timedelta(
                seconds=exc.retry_after if exc.retry_after is not None else UNAVAILABLE_BACKOFF.total_seconds()
            )
            _release_unplaced(
                ctx,
                attempt_id,
                f"provider rate limit: {exc}; dialing resumes at {until:%H:%M:%S} UTC",
                retry_at=until,
                now=now,
                blocked="provider_rate_limited",
            )
            return "provider_rate_limited", None
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else UNAVAILABLE_BACKOFF
        _release_unplaced(
            ctx,
            attempt_id,
            f"provider unavailable: {exc}",
            retry_at=now + wait,
            now=now,
            blocked="provider_unavailable",
        )
        return "provider_unavailable", None
    ctx.events.placed(campaign=campaign.name, backend=ctx.telephony.name)
    return "placed", AttemptProgress(
        state=AttemptState.PLACED,
        provider_ref=placement.provider_ref,
        call_sid=placement.call_sid,
        correlation=placement.correlation,
        placed_at=now,
    )


def _end_unplaced(
    ctx: Context, campaign: Campaign, attempt_id: str, result: CallResult, error: str, *, now: datetime
) -> None:
    ctx.store.finish_attempt(
        attempt_id,
        AttemptEnding(outcome=result, ended_at=now, error=error),
        decide=lambda record, r: decide_next(campaign, record, r, now=now),
        now=now,
    )
    ctx.events.ended(campaign=campaign.name, result=result.value)


def _release_unplaced(
    ctx: Context, attempt_id: str, error: str, *, retry_at: datetime, now: datetime, blocked: str | None = None
) -> None:
    """The provider never took the call: close the attempt without counting it; the record
    waits until ``retry_at`` (for the reason code ``blocked``, when given)."""
    ctx.store.finish_attempt(
        attempt_id,
        AttemptEnding(outcome=CallResult.CANCELLED, ended_at=now, error=error, blocked_reason=blocked),
        decide=lambda record, result: RetryDecision(status=RecordStatus.READY, retry_at=retry_at, reason=error),
        now=now,
    )


def reconcile_in_flight(ctx: Context, *, now: datetime, only: Collection[int] | None = None) -> int:
    """Start-up or takeover: settle every attempt left in flight by a previous process before
    dialing — in the campaigns ``only``, or else in those this process owns (all without a
    fence)."""
    by_id = {c.id: c for c in ctx.store.list_campaigns()}
    wanted = set(only) if only is not None else set(owned_ids(ctx, by_id))
    settled = 0
    for call in ctx.store.in_flight_calls():
        if call.campaign_id not in wanted:
            continue
        campaign = by_id[call.campaign_id]
        handle = handle_for(call, campaign.name, ctx)
        try:
            if call.state in (AttemptState.PENDING, AttemptState.UNCERTAIN):
                settled += settle(ctx, call, handle, campaign=campaign, now=now, pending_too=True)
            else:
                settled += reconcile_attempt(ctx, handle, campaign=campaign, now=now)
        except TelephonyError as exc:  # the tick retries it; the record stays out of dialing
            ctx.events.provider_error(backend=ctx.telephony.name, kind=error_kind(exc), operation="reconcile")
            log.warning("attempt %s left in flight could not be reconciled yet: %s", call.attempt_id, exc)
    return settled

"""Compliance gates: small pure rules checked for every record immediately before it is dialed.

Each rule answers ``check(ctx) -> ComplianceDecision`` with a stable ``rule`` code (the skip
reason shown by `dialer status`), a sentence a campaign manager can act on, and what to do
with the record: wait until a time, or end it with a final status.

The order of :data:`DEFAULT_GATES` matters only for which reason is reported when several
apply; every gate must allow before a call is placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from dialer.domain import windows
from dialer.domain.records import Record, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.schedule import CampaignSchedule, ScheduleState
from dialer.domain.windows import CallingWindow


@dataclass(frozen=True, kw_only=True)
class ComplianceProfile:
    """The numbers of one jurisdiction's rules (outbound-domain.md §7)."""

    name: str
    description: str
    abandon_window: timedelta
    """The rolling window the abandon rate is measured over."""
    repeat_after_abandon: timedelta | None = None
    """No automated redial of a number this soon after an abandoned call to it."""
    repeat_after_machine: timedelta | None = None
    """No automated redial of a number this soon after an answering machine took the call."""
    min_ring_seconds: int = 15
    calling_hours: CallingWindow | None = None
    """The legal calling hours in the callee's local time (None: campaign-defined)."""
    calling_hours_rule: str = ""

    def repeat_lockout(self, result: CallResult) -> timedelta | None:
        """How long a number rests after ``result`` under this profile (None: no lockout)."""
        if result.is_abandoned:
            return self.repeat_after_abandon
        if result is CallResult.ANSWERING_MACHINE:
            return self.repeat_after_machine
        return None


PROFILES: dict[str, ComplianceProfile] = {
    "us": ComplianceProfile(
        name="us",
        description="US (FTC TSR 16 CFR 310, FCC 47 CFR 64.1200): abandon rate ≤ cap per 30 days",
        abandon_window=timedelta(days=30),
        calling_hours=CallingWindow(),
        calling_hours_rule="FTC TSR 16 CFR 310.4(c)",
    ),
    "uk": ComplianceProfile(
        name="uk",
        description="UK (Ofcom persistent misuse): abandon rate ≤ cap per 24 h; no redial within 72 h of an "
        "abandoned call or 24 h of an answering machine",
        abandon_window=timedelta(hours=24),
        repeat_after_abandon=timedelta(hours=72),
        repeat_after_machine=timedelta(hours=24),
    ),
}


@dataclass(frozen=True, kw_only=True)
class RepeatHistory:
    """When a number last reached an abandoned call and an answering machine (UK repeat rules)."""

    last_abandoned_at: datetime | None = None
    last_machine_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class DialContext:
    """Everything a gate may look at. Built by the tick from the store, with ``now`` passed in."""

    record: Record
    now: datetime
    window: CallingWindow
    fallback_zones: tuple[str, ...]
    caller_id: str | None
    allow_random_caller_id: bool
    on_dnc: bool
    max_attempts: int
    profile: ComplianceProfile = PROFILES["us"]
    schedule: CampaignSchedule | None = None
    """The campaign's own days, hours and dates (campaign's zone); None: no schedule."""
    ring_timeout: int | None = None
    """Seconds the call rings before it is given up as a no-answer (None: the provider's default)."""
    repeat: RepeatHistory | None = None
    """The number's recent abandoned and machine calls (needed by the UK profile's repeat rules)."""
    live_agent_guaranteed: bool = False
    """An agent is on the line before the callee answers (preview): the repeat lockouts do not apply."""


@dataclass(frozen=True, kw_only=True)
class ComplianceDecision:
    allowed: bool
    rule: str
    reason: str
    until: datetime | None = None
    """When the record may be tried again (``None`` with ``final_status`` unset: fix the campaign)."""
    final_status: RecordStatus | None = None
    """Set when the record must never be dialed again."""


ALLOW = ComplianceDecision(allowed=True, rule="ok", reason="allowed")


class ComplianceRule(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, ctx: DialContext) -> ComplianceDecision: ...


@dataclass(frozen=True)
class DncRule:
    """The internal do-not-call list, checked at dial time (a number added a second ago is not dialed)."""

    name: str = "dnc_internal"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        if ctx.on_dnc:
            return ComplianceDecision(
                allowed=False,
                rule=self.name,
                reason=f"{ctx.record.phone} is on the do-not-call list",
                final_status=RecordStatus.DO_NOT_CALL,
            )
        return ALLOW


@dataclass(frozen=True)
class MaxAttemptsRule:
    name: str = "max_attempts"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        if ctx.record.attempts >= ctx.max_attempts:
            return ComplianceDecision(
                allowed=False,
                rule=self.name,
                reason=f"already attempted {ctx.record.attempts} of {ctx.max_attempts} times",
                final_status=RecordStatus.EXHAUSTED,
            )
        return ALLOW


@dataclass(frozen=True)
class CallerIdRule:
    """Every call carries a caller ID the callee can call back (TSR / Ofcom)."""

    name: str = "no_caller_id"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        if ctx.caller_id or ctx.allow_random_caller_id:
            return ALLOW
        return ComplianceDecision(
            allowed=False,
            rule=self.name,
            reason="no caller ID: set one with `dialer campaign create --caller-id` or an outboundCallerId column",
        )


@dataclass(frozen=True)
class CallingWindowRule:
    """Dial only inside the calling window in the callee's local time (safe window when ambiguous)."""

    name: str = "outside_window"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        record = ctx.record
        zones = record.zones or ctx.fallback_zones
        window = ctx.window.narrowed(record.daily_from, record.daily_till)
        if windows.is_open(window, zones, ctx.now):
            return ALLOW
        opens = next_dialable(ctx)
        where = zones[0] if len(zones) == 1 else f"all of {', '.join(zones)}"
        if opens is None:
            return ComplianceDecision(
                allowed=False,
                rule=self.name,
                reason=f"calling window {window.describe()} ({where}) does not open in the next "
                f"{windows.SEARCH_DAYS} days",
                until=None,
                final_status=None,
            )
        return ComplianceDecision(
            allowed=False,
            rule=self.name,
            reason=f"outside calling window {window.describe()} in {where}; opens {opens:%Y-%m-%d %H:%M} UTC",
            until=opens,
        )


@dataclass(frozen=True)
class RingTimeoutRule:
    """Let the phone ring long enough: at least 15 s (FCC: 15 s or 4 rings; Ofcom: 15 s)."""

    name: str = "ring_timeout_too_short"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        minimum = ctx.profile.min_ring_seconds
        if ctx.ring_timeout is None or ctx.ring_timeout >= minimum:
            return ALLOW
        return ComplianceDecision(
            allowed=False,
            rule=self.name,
            reason=f"the campaign gives up ringing after {ctx.ring_timeout} s, below the {minimum} s minimum; "
            f"recreate the campaign with --ring-timeout {minimum} or more",
        )


@dataclass(frozen=True)
class CampaignScheduleRule:
    """Dial only while the campaign runs: its dates, and its days and hours in the campaign's zone."""

    name: str = "outside_schedule"
    ended: str = "campaign_ended"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        if ctx.schedule is None:
            return ALLOW
        state = ctx.schedule.check(ctx.now)
        if state.is_open:
            return ALLOW
        if state.state is ScheduleState.ENDED:
            return ComplianceDecision(allowed=False, rule=self.ended, reason=state.reason, until=None)
        return ComplianceDecision(allowed=False, rule=self.name, reason=state.reason, until=next_dialable(ctx))


def next_dialable(ctx: DialContext) -> datetime | None:
    """The first instant ≥ ``ctx.now`` inside both the callee's window and the campaign schedule."""
    record = ctx.record
    zones = record.zones or ctx.fallback_zones
    window = ctx.window.narrowed(record.daily_from, record.daily_till)
    if ctx.schedule is None:
        return windows.next_open(window, zones, ctx.now)
    return ctx.schedule.next_open(ctx.now, extra=[(window, zones)])


@dataclass(frozen=True)
class RepeatLockoutRule:
    """UK profile: no automated redial within 72 h of an abandoned call to the number, nor within
    24 h of one an answering machine took (Ofcom), unless a live agent is guaranteed."""

    name: str = "repeat_lockout"

    def check(self, ctx: DialContext) -> ComplianceDecision:
        if ctx.repeat is None or ctx.live_agent_guaranteed:
            return ALLOW
        until, why = repeat_lockout_until(ctx.profile, ctx.repeat)
        if until is None or until <= ctx.now:
            return ALLOW
        # Held until the lockout ends *and* the callee's window and the campaign schedule are open.
        opens = next_dialable(replace(ctx, now=until)) or until
        return ComplianceDecision(
            allowed=False,
            rule=self.name,
            reason=f"{ctx.record.phone} {why}; the {ctx.profile.name.upper()} profile allows no automated redial "
            f"before {until:%Y-%m-%d %H:%M} UTC (dial it in preview, with an agent on the line, to call sooner)",
            until=opens,
        )


def repeat_lockout_until(profile: ComplianceProfile, repeat: RepeatHistory) -> tuple[datetime | None, str]:
    """When the profile's repeat lockouts on a number end, and why (``(None, "")``: none)."""
    candidates: list[tuple[datetime, str]] = []
    if profile.repeat_after_abandon is not None and repeat.last_abandoned_at is not None:
        candidates.append(
            (
                repeat.last_abandoned_at + profile.repeat_after_abandon,
                f"had an abandoned call at {repeat.last_abandoned_at:%Y-%m-%d %H:%M} UTC",
            )
        )
    if profile.repeat_after_machine is not None and repeat.last_machine_at is not None:
        candidates.append(
            (
                repeat.last_machine_at + profile.repeat_after_machine,
                f"reached an answering machine at {repeat.last_machine_at:%Y-%m-%d %H:%M} UTC",
            )
        )
    if not candidates:
        return None, ""
    return max(candidates)


DEFAULT_GATES: tuple[ComplianceRule, ...] = (
    DncRule(),
    MaxAttemptsRule(),
    CallerIdRule(),
    RingTimeoutRule(),
    CampaignScheduleRule(),
    CallingWindowRule(),
    RepeatLockoutRule(),
)


def evaluate(ctx: DialContext, gates: Sequence[ComplianceRule] = DEFAULT_GATES) -> ComplianceDecision:
    """The first refusal, or :data:`ALLOW` when every gate allows."""
    for gate in gates:
        decision = gate.check(ctx)
        if not decision.allowed:
            return decision
    return ALLOW


# ------------------------------------------------------------- abandon budget
#: Live answers in the window before the abandon rate is a sample worth judging: the predictive
#: policy's cold start (``PredictivePolicy.cold_start_answers``) waits for as many.
MIN_ABANDON_SAMPLE = 100


@dataclass(frozen=True, kw_only=True)
class AbandonAssessment:
    rule: str
    """``abandon_budget`` when the measured rate is over the cap, or a sample of at least
    :data:`MIN_ABANDON_SAMPLE` live answers has no room for another abandoned call;
    ``too_few_answers`` when the window has fewer live answers than that (and no rate over the
    cap); else ``ok``."""
    force_progressive: bool
    """Predictive dialing must not run now: one more abandoned call would break the cap."""
    rate: float | None
    live_answers: int
    abandoned: int
    reason: str
    """The meter and what a predictive campaign does about it."""
    summary: str
    """The meter and its verdict alone, for campaigns the budget does not steer."""


@dataclass(frozen=True, kw_only=True)
class AbandonBudget:
    """The abandon-rate meter of one campaign: (ABANDONED + DROPPED) ÷ live answers over the
    profile's rolling window (30 days US, 24 h UK), against the campaign's cap.

    Predictive dialing is stopped (progressive instead) while **one more abandoned call would
    put the rate over the cap** — that is, when the budget is spent or nearly so. Progressive
    dialing at one line per idle agent abandons almost nothing, so the rate recovers as live
    answers accumulate. Preview calls never count (the caller leaves them out).

    With few live answers (a new campaign) one abandoned call is always too many, but that is
    no spent budget: the meter says the sample is too small (``too_few_answers``) and keeps
    predictive dialing off, as the predictive policy's own cold start does.
    """

    target: float = 0.03
    window: timedelta = timedelta(days=30)
    name: str = "abandon_budget"
    min_sample: int = MIN_ABANDON_SAMPLE

    def __post_init__(self) -> None:
        if not 0 < self.target < 1:
            raise ValueError("the abandon target is a fraction between 0 and 1")

    def assess(self, *, live_answers: int, abandoned: int) -> AbandonAssessment:
        if live_answers < 0 or abandoned < 0 or abandoned > live_answers:
            raise ValueError("abandoned calls are a subset of live answers")
        rate = abandoned / live_answers if live_answers else None
        window = _fmt_window(self.window)
        shown = "n/a" if rate is None else f"{rate:.2%}"
        head = f"abandon rate {shown} ({abandoned} of {live_answers} live answers, {window})"
        cap = f"the {self.target:.1%} cap"
        no_room = (abandoned + 1) > self.target * (live_answers + 1)
        over = rate is not None and rate > self.target

        def verdict(rule: str, force: bool, summary: str, reason: str) -> AbandonAssessment:
            return AbandonAssessment(
                rule=rule,
                force_progressive=force,
                rate=rate,
                live_answers=live_answers,
                abandoned=abandoned,
                reason=reason,
                summary=summary,
            )

        if over or (no_room and live_answers >= self.min_sample):
            why = f"is over {cap}" if over else f"leaves no room for another abandoned call under {cap}"
            return verdict(
                self.name,
                True,
                f"{head} {why}",
                f"{self.name}: {head} {why}; dialing progressive until it recovers",
            )
        if live_answers < self.min_sample:
            few = (
                f"{head}: too few live answers yet to measure against {cap} "
                f"({live_answers} of the {self.min_sample} a sample needs)"
            )
            then = "; predictive dials progressively until there are enough" if no_room else ""
            return verdict("too_few_answers", no_room, few, few + then)
        return verdict("ok", False, f"{head} within {cap}", f"{head} within {cap}")


def _fmt_window(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"last {hours:g} h" if hours <= 48 else f"last {window.days} days"

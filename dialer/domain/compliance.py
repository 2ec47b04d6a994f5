"""Compliance gates: small pure rules checked for every record immediately before it is dialed.

Each rule answers ``check(ctx) -> ComplianceDecision`` with a stable ``rule`` code (the skip
reason shown by `dialer status`), a sentence a campaign manager can act on, and what to do
with the record: wait until a time, or end it with a final status.

The order of :data:`DEFAULT_GATES` matters only for which reason is reported when several
apply; every gate must allow before a call is placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dialer.domain import windows
from dialer.domain.records import Record, RecordStatus
from dialer.domain.windows import CallingWindow


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
        opens = windows.next_open(window, zones, ctx.now)
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


DEFAULT_GATES: tuple[ComplianceRule, ...] = (
    DncRule(),
    MaxAttemptsRule(),
    CallerIdRule(),
    CallingWindowRule(),
)


def evaluate(ctx: DialContext, gates: Sequence[ComplianceRule] = DEFAULT_GATES) -> ComplianceDecision:
    """The first refusal, or :data:`ALLOW` when every gate allows."""
    for gate in gates:
        decision = gate.check(ctx)
        if not decision.allowed:
            return decision
    return ALLOW

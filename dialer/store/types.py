"""Values the repository takes and returns (besides the domain objects)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dialer.domain.abandonment import AbandonCounts, abandonment_counts
from dialer.domain.records import Attempt, AttemptState, Record
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision

GLOBAL_SCOPE = "*"

#: Where a record goes after a call ended: given the record (this result counted) and the result.
Decide = Callable[[Record, CallResult], RetryDecision]


def campaign_scope(campaign_id: int) -> str:
    """The DNC scope of one campaign's own list (``*`` is the global list)."""
    return f"campaign:{campaign_id}"


@dataclass(frozen=True, kw_only=True)
class AttemptProgress:
    """Fields an in-flight attempt may learn (``None`` leaves the stored value alone)."""

    state: AttemptState
    provider_ref: str | None = None
    call_sid: str | None = None
    correlation: str | None = None
    placed_at: datetime | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    error: str | None = None
    caller_id: str | None = None
    """The caller ID the provider used; stored only on an attempt that has none (the provider
    picked it)."""


@dataclass(frozen=True, kw_only=True)
class AttemptEnding:
    """How an attempt ended."""

    outcome: CallResult
    ended_at: datetime
    raw_outcome: str | None = None
    was_missed: bool | None = None
    amd: str | None = None
    """The answering-machine detection class (``human``, ``machine``, ``fax``, ``unknown``);
    ``None`` when AMD did not run."""
    message_played: bool | None = None
    """The information (abandon) message was played to the callee (``None``: not known)."""
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    duration_s: float | None = None
    agent: str | None = None
    provider_ref: str | None = None
    call_sid: str | None = None
    correlation: str | None = None
    error: str | None = None
    raw: Mapping[str, object] | None = None
    caller_id: str | None = None
    """As :attr:`AttemptProgress.caller_id`."""
    blocked_reason: str | None = None
    """For an attempt the provider never took: why its record waits (a reason code shown by
    `dialer status`, e.g. ``provider_rate_limited``), until the decision's ``retry_at``."""


@dataclass(frozen=True, kw_only=True)
class FinishedAttempt:
    attempt: Attempt
    record: Record
    decision: RetryDecision


@dataclass(frozen=True, kw_only=True)
class InFlightCall:
    """The few fields of an unfinished attempt that collecting its result needs."""

    attempt_id: str
    campaign_id: int
    number: str
    state: AttemptState
    provider_ref: str | None
    created_at: datetime
    placed_at: datetime | None
    correlation: str | None = None
    record_id: int | None = None
    caller_id: str | None = None
    agent: str | None = None
    """The agent who dialed it from the preview desk; None for a paced call."""


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A leased record, and whether its number was on the do-not-call list at claim time."""

    record: Record
    on_dnc: bool


@dataclass(frozen=True, kw_only=True)
class DueSummary:
    unfinished: int
    """Records not in a final status."""
    ready: int
    """Of those, records waiting to be dialed (the rest are leased or being dialed)."""
    next_due_at: datetime | None
    """Earliest ``next_dial_at`` among ready records."""


@dataclass(frozen=True, kw_only=True)
class OutcomeCounts:
    """Ended attempts by canonical outcome over a period, with the derived totals.

    The abandonment figures come from :func:`dialer.domain.abandonment.abandonment_counts`,
    the same function the reports use."""

    by_outcome: Mapping[str, int] = field(default_factory=dict)
    """Every ended attempt, preview calls included."""
    missed: int = 0
    preview: Mapping[str, int] = field(default_factory=dict)
    """Of ``by_outcome``, the calls agents dialed from the preview desk. They are not
    abandonment candidates: ``live_answers`` and ``abandoned`` leave them out."""
    message_played: Mapping[str, int] = field(default_factory=dict)
    """Of ``by_outcome`` (preview calls left out), the attempts on which the information
    message was played, by outcome."""
    amd_machines: int = 0
    """Attempts (preview calls left out) that answering-machine detection classed as a machine."""
    amd_false_positive_rate: float = 0.0
    """The campaign's reasoned estimate of people among AMD machines (counted as abandoned)."""

    @property
    def attempts(self) -> int:
        return sum(self.by_outcome.values())

    @property
    def abandonment(self) -> AbandonCounts:
        def keyed(counts: Mapping[str, int]) -> dict[str | None, int]:
            return dict(counts.items())

        return abandonment_counts(
            keyed(self.by_outcome),
            preview=keyed(self.preview),
            message_played=keyed(self.message_played),
            amd_machines=self.amd_machines,
            amd_false_positive_rate=self.amd_false_positive_rate,
        )

    @property
    def live_answers(self) -> int:
        """Live answers counted for the abandonment rate (preview calls excluded)."""
        return self.abandonment.live_answers

    @property
    def abandoned(self) -> int:
        """Abandoned calls counted for the abandonment rate (preview calls excluded)."""
        return self.abandonment.abandoned

    @property
    def preview_attempts(self) -> int:
        return sum(self.preview.values())

    @property
    def preview_live_answers(self) -> int:
        return sum(n for k, n in self.preview.items() if CallResult(k).is_live)

    @property
    def connects(self) -> int:
        return self.live_answers - self.abandoned

    @property
    def non_live(self) -> int:
        return sum(n for k, n in self.by_outcome.items() if not CallResult(k).is_live)

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.live_answers if self.live_answers else None

    def count(self, *results: CallResult) -> int:
        return sum(self.by_outcome.get(r.value, 0) for r in results)


@dataclass(frozen=True, kw_only=True)
class PacingNote:
    """A campaign's newest pacing decision, as the daemon wrote it."""

    decided_at: datetime
    wanted: int
    placed: int
    capped_by: str | None
    reason: str
    blocked: Mapping[str, int] = field(default_factory=dict)
    last_placed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class PacerLease:
    """Who paces a campaign: the lease a ``dialer run`` process holds and renews."""

    campaign_id: int
    owner: str
    """``host:pid:token`` of the process."""
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime

    @property
    def host(self) -> str:
        return self.owner.rsplit(":", 2)[0]

    @property
    def pid(self) -> int | None:
        parts = self.owner.rsplit(":", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None

    def live(self, now: datetime) -> bool:
        return self.expires_at >= now

    def describe(self, now: datetime) -> str:
        """``host H, pid P, since T (heartbeat 1.2 s ago)``."""
        ago = (now - self.heartbeat_at).total_seconds()
        return (
            f"host {self.host}, pid {self.pid if self.pid is not None else '?'}, since "
            f"{self.acquired_at:%Y-%m-%d %H:%M:%S} UTC (heartbeat {ago:.1f} s ago)"
        )

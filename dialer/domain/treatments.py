"""Retry treatments: what happens to a record after each call result.

A treatment is a sequence of steps for one canonical result, walked as the same result
recurs on the record (Genesys' ``seq``/``cycle``). Each step retries after ``interval``
(+ ``increment`` per cycle within the step) up to ``cycles`` times; when every step is
used up the record ends ``exhausted``. A *final* treatment ends the record at once with
the given status.

A treatment only *proposes* a time. The caller clamps it into the record's next allowed
calling window and re-checks every gate at dial time: a retry computed yesterday is not a
licence to dial today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from dialer.domain.records import RecordStatus
from dialer.domain.results import CallResult, Category


class Action(StrEnum):
    RETRY_IN = "retry_in"
    """Retry after an interval."""
    FINAL = "final"
    """No more dialing; the record ends with ``final_status``."""
    RELEASE = "release"
    """Back to ready at once without counting an attempt (cancelled calls)."""


@dataclass(frozen=True, kw_only=True)
class Step:
    interval: timedelta
    increment: timedelta = timedelta(0)
    cycles: int = 1

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ValueError("a treatment step needs at least one cycle")
        if self.interval < timedelta(0) or self.increment < timedelta(0):
            raise ValueError("treatment intervals cannot be negative")


@dataclass(frozen=True, kw_only=True)
class Treatment:
    action: Action
    steps: tuple[Step, ...] = ()
    final_status: RecordStatus = RecordStatus.EXHAUSTED

    def __post_init__(self) -> None:
        if self.action is Action.RETRY_IN and not self.steps:
            raise ValueError("a retry treatment needs at least one step")

    def describe(self) -> str:
        if self.action is Action.FINAL:
            return f"final ({self.final_status})"
        if self.action is Action.RELEASE:
            return "back to ready, attempt not counted"
        parts = []
        for s in self.steps:
            inc = f" +{_fmt(s.increment)}/cycle" if s.increment else ""
            parts.append(f"{s.cycles}× every {_fmt(s.interval)}{inc}")
        return "retry " + ", then ".join(parts)


@dataclass(frozen=True, kw_only=True)
class RetryDecision:
    """Where the record goes next, and why (shown in status and reports)."""

    status: RecordStatus
    retry_at: datetime | None
    reason: str


def _fmt(d: timedelta) -> str:
    s = int(d.total_seconds())
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def _retry(*steps: Step) -> Treatment:
    return Treatment(action=Action.RETRY_IN, steps=steps)


def _final(status: RecordStatus) -> Treatment:
    return Treatment(action=Action.FINAL, final_status=status)


H, M = timedelta(hours=1), timedelta(minutes=1)

#: Defaults from outbound-domain.md §3. Policy, not law: campaigns override them.
DEFAULT_TREATMENTS: Mapping[CallResult, Treatment] = {
    CallResult.BUSY: _retry(Step(interval=30 * M, increment=5 * M, cycles=3)),
    CallResult.NO_ANSWER: _retry(Step(interval=3 * H, cycles=3), Step(interval=27 * H, increment=2 * H, cycles=3)),
    CallResult.ANSWERING_MACHINE: _retry(Step(interval=26 * H, increment=H, cycles=2)),
    CallResult.SILENCE: _retry(Step(interval=3 * H, cycles=2)),
    CallResult.UNKNOWN: _retry(Step(interval=3 * H, cycles=2)),
    CallResult.ABANDONED: _retry(Step(interval=72 * H, cycles=2)),
    CallResult.DROPPED: _retry(Step(interval=72 * H, cycles=2)),
    CallResult.ANSWER: _final(RecordStatus.COMPLETED),
    CallResult.WRONG_PARTY: _final(RecordStatus.BAD_NUMBER),
    CallResult.WRONG_NUMBER: _final(RecordStatus.BAD_NUMBER),
    CallResult.FAX: _final(RecordStatus.BAD_NUMBER),
    CallResult.PAGER: _final(RecordStatus.BAD_NUMBER),
    CallResult.SIT_INVALID_NUM: _final(RecordStatus.BAD_NUMBER),
    CallResult.SIT_VACANT: _final(RecordStatus.BAD_NUMBER),
    CallResult.SIT_INTERCEPT: _final(RecordStatus.BAD_NUMBER),
    CallResult.DO_NOT_CALL: _final(RecordStatus.DO_NOT_CALL),
    CallResult.CANCEL_RECORD: _final(RecordStatus.CANCELLED),
    CallResult.CANCELLED: Treatment(action=Action.RELEASE),
}
#: Network failures: twice after 10 minutes, then treated like a no-answer.
_NETWORK = _retry(Step(interval=10 * M, cycles=2), Step(interval=3 * H, cycles=3))
DEFAULT_TREATMENTS = {
    **DEFAULT_TREATMENTS,
    **{r: _NETWORK for r in CallResult if r.category is Category.NETWORK},
}
del H, M


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Treatments per result plus the campaign's attempt cap."""

    max_attempts: int = 6
    treatments: Mapping[CallResult, Treatment] = field(default_factory=lambda: dict(DEFAULT_TREATMENTS))

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def with_overrides(self, overrides: Mapping[CallResult, Treatment]) -> RetryPolicy:
        return replace(self, treatments={**self.treatments, **overrides})

    def treatment_for(self, result: CallResult) -> Treatment:
        return self.treatments.get(result) or DEFAULT_TREATMENTS[CallResult.UNKNOWN]

    def next_attempt(self, *, result: CallResult, attempts: int, occurrences: int, now: datetime) -> RetryDecision:
        """Decide what follows ``result``.

        ``attempts`` is the record's counted attempts *including* this one; ``occurrences``
        is how many times this result has now happened on the record (1 the first time).
        """
        treatment = self.treatment_for(result)
        if treatment.action is Action.FINAL:
            return RetryDecision(
                status=treatment.final_status, retry_at=None, reason=f"{result}: {treatment.describe()}"
            )
        if treatment.action is Action.RELEASE:
            return RetryDecision(status=RecordStatus.READY, retry_at=now, reason=f"{result}: released")
        if attempts >= self.max_attempts:
            return RetryDecision(
                status=RecordStatus.EXHAUSTED,
                retry_at=None,
                reason=f"{result}: max attempts reached ({attempts}/{self.max_attempts})",
            )
        n = occurrences
        for idx, step in enumerate(treatment.steps, start=1):
            if n <= step.cycles:
                wait = step.interval + step.increment * (n - 1)
                return RetryDecision(
                    status=RecordStatus.READY,
                    retry_at=now + wait,
                    reason=f"{result}: retry in {_fmt(wait)} (step {idx}, cycle {n}/{step.cycles})",
                )
            n -= step.cycles
        return RetryDecision(
            status=RecordStatus.EXHAUSTED,
            retry_at=None,
            reason=f"{result}: treatment used up after {occurrences} occurrence(s)",
        )

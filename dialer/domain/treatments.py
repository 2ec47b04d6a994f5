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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from dialer.domain import windows
from dialer.domain.records import RecordStatus
from dialer.domain.results import CallResult, Category


class Action(StrEnum):
    RETRY_IN = "retry_in"
    """Retry after an interval."""
    RETRY_AT = "retry_at"
    """Retry at a wall-clock time in the callee's zone (at least ``interval`` from now)."""
    FINAL = "final"
    """No more dialing; the record ends with ``final_status``."""
    RELEASE = "release"
    """Back to ready at once without counting an attempt (cancelled calls)."""


@dataclass(frozen=True, kw_only=True)
class Step:
    interval: timedelta
    increment: timedelta = timedelta(0)
    cycles: int = 1
    at: time | None = None
    """For ``retry_at``: the callee's local time of the retry (moved by ``increment`` per cycle);
    ``interval`` is then the least wait."""

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
        if self.action in (Action.RETRY_IN, Action.RETRY_AT) and not self.steps:
            raise ValueError("a retry treatment needs at least one step")
        if self.action is Action.RETRY_AT and any(s.at is None for s in self.steps):
            raise ValueError("a retry_at treatment needs a time of day, e.g. `retry_at 10:00 after 12h x2`")

    def describe(self) -> str:
        if self.action is Action.FINAL:
            return f"final ({self.final_status})"
        if self.action is Action.RELEASE:
            return "back to ready, attempt not counted"
        parts = []
        for s in self.steps:
            inc = f" +{_fmt(s.increment)}/cycle" if s.increment else ""
            if s.at is not None:
                after = f" (at least {_fmt(s.interval)} later)" if s.interval else ""
                parts.append(f"{s.cycles}× at {s.at:%H:%M} local{inc}{after}")
            else:
                parts.append(f"{s.cycles}× every {_fmt(s.interval)}{inc}")
        return "retry " + ", then ".join(parts)

    def spec(self) -> str:
        """The treatment in the syntax :func:`parse_treatment` reads (campaign files, CLI)."""
        if self.action is Action.FINAL:
            return f"final {self.final_status.value}"
        if self.action is Action.RELEASE:
            return "release"
        parts = []
        for s in self.steps:
            words = [f"retry_at {s.at:%H:%M}" if s.at is not None else f"retry_in {_fmt(s.interval)}"]
            if s.at is not None and s.interval:
                words.append(f"after {_fmt(s.interval)}")
            if s.increment:
                words.append(f"+{_fmt(s.increment)}")
            words.append(f"x{s.cycles}")
            parts.append(" ".join(words))
        return ", ".join(parts)


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


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """``30m``, ``3h``, ``1h30m``, ``2d``, ``90s``."""
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 3h, 1h30m or 2d")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


#: Results that end the record whatever a campaign says: bad numbers, do-not-call, completed calls.
NEVER_RETRIED: Mapping[CallResult, RecordStatus] = {
    CallResult.ANSWER: RecordStatus.COMPLETED,
    CallResult.DO_NOT_CALL: RecordStatus.DO_NOT_CALL,
    **{r: RecordStatus.BAD_NUMBER for r in CallResult if r.category is Category.BAD_NUMBER},
}


def _default_final_status(result: CallResult) -> RecordStatus:
    """``final`` without a status: the result's own final status (FAX → bad_number), else exhausted."""
    if result in NEVER_RETRIED:
        return NEVER_RETRIED[result]
    default = DEFAULT_TREATMENTS.get(result)
    if default is not None and default.action is Action.FINAL:
        return default.final_status
    return RecordStatus.EXHAUSTED


def parse_treatment(result: CallResult, spec: str) -> Treatment:
    """Read one result's treatment.

    * ``final`` or ``final <status>`` (completed, exhausted, bad_number, do_not_call, cancelled)
    * ``release`` — back to ready without counting an attempt
    * ``retry_in 30m +5m x3`` — every 30 min, 5 min more each cycle, 3 times; steps separated
      by commas run one after the other: ``retry_in 3h x3, retry_in 27h +2h x3``
    * ``retry_at 10:00 after 12h +2h x2`` — at 10:00 in the callee's zone, at least 12 h later,
      two hours later on the next cycle

    Results in :data:`NEVER_RETRIED` only accept ``final`` with their own status.
    """
    text = " ".join(spec.strip().lower().split())
    where = f"treatment for {result.value} ({spec!r})"
    if not text:
        raise ValueError(f"{where}: empty")
    head = text.split(" ", 1)[0]
    if head == "final":
        rest = text[len("final") :].strip()
        try:
            status = RecordStatus(rest) if rest else _default_final_status(result)
        except ValueError:
            raise ValueError(f"{where}: unknown final status {rest!r}") from None
        if not status.is_final:
            raise ValueError(f"{where}: {status} is not a final status")
        treatment = Treatment(action=Action.FINAL, final_status=status)
    elif head == "release":
        treatment = Treatment(action=Action.RELEASE)
    else:
        steps, actions = [], set()
        for part in re.split(r",|\bthen\b", text):
            words = part.split()
            if not words:
                continue
            action = words[0]
            if action not in (Action.RETRY_IN.value, Action.RETRY_AT.value):
                raise ValueError(f"{where}: start with final, release, retry_in or retry_at")
            actions.add(action)
            steps.append(_parse_step(action, words[1:], where))
        if len(actions) != 1:
            raise ValueError(f"{where}: do not mix retry_in and retry_at steps")
        treatment = Treatment(action=Action(actions.pop()), steps=tuple(steps))
    must = NEVER_RETRIED.get(result)
    if must is not None and (treatment.action is not Action.FINAL or treatment.final_status is not must):
        raise ValueError(f"{where}: {result.value} is never retried; its treatment is always `final {must.value}`")
    return treatment


def _parse_step(action: str, words: list[str], where: str) -> Step:
    at: time | None = None
    interval: timedelta | None = None
    increment, cycles = timedelta(0), 1
    i = 0
    try:
        if action == Action.RETRY_AT.value:
            at = time.fromisoformat(words[0])
            i = 1
        else:
            interval = parse_duration(words[0])
            i = 1
        while i < len(words):
            w = words[i]
            if w == "after" and at is not None:
                interval = parse_duration(words[i + 1])
                i += 2
            elif w.startswith("+"):
                increment = parse_duration(w[1:])
                i += 1
            elif w.startswith("x") or w.startswith("×"):
                cycles = int(w[1:])
                i += 1
            else:
                raise ValueError(f"unexpected {w!r}")
        return Step(interval=interval or timedelta(0), increment=increment, cycles=cycles, at=at)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{where}: {exc}; write e.g. `retry_in 30m +5m x3` or `retry_at 10:00 after 12h x2`") from None


def parse_treatments(specs: Mapping[str, str]) -> dict[CallResult, Treatment]:
    """Campaign overrides, keyed by result name (``BUSY``) or OCS number."""
    out: dict[CallResult, Treatment] = {}
    for key, spec in specs.items():
        result = result_named(key)
        if not isinstance(spec, str):
            raise ValueError(f'treatment for {key}: give it as text, e.g. "retry_in 30m x3"')
        out[result] = parse_treatment(result, spec)
    return out


def result_named(name: str) -> CallResult:
    key = str(name).strip().upper()
    try:
        return CallResult(key)
    except ValueError:
        for r in CallResult:
            if str(r.ocs_code) == key:
                return r
    known = ", ".join(r.value for r in CallResult)
    raise ValueError(f"unknown call result {name!r} in treatments; known results: {known}")


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

    def next_attempt(
        self, *, result: CallResult, attempts: int, occurrences: int, now: datetime, zone: str | None = None
    ) -> RetryDecision:
        """Decide what follows ``result``.

        ``attempts`` is the record's counted attempts *including* this one; ``occurrences``
        is how many times this result has now happened on the record (1 the first time).
        ``zone`` is the callee's time zone, for ``retry_at`` treatments (UTC without one).
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
                if step.at is not None:
                    when = _next_wall_time(step, n, now=now, zone=zone)
                    return RetryDecision(
                        status=RecordStatus.READY,
                        retry_at=when,
                        reason=f"{result}: retry at {when:%Y-%m-%d %H:%M} UTC "
                        f"(step {idx}, cycle {n}/{step.cycles}, {treatment.describe()})",
                    )
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


def _next_wall_time(step: Step, cycle: int, *, now: datetime, zone: str | None) -> datetime:
    """The first instant at least ``step.interval`` after ``now`` whose local time is the step's
    time of day (moved by ``increment`` per cycle), in ``zone``."""
    assert step.at is not None
    tz_name = zone or "UTC"
    shifted = datetime.combine(datetime(2000, 1, 1).date(), step.at) + step.increment * (cycle - 1)
    wall = shifted.time()
    earliest = now + step.interval
    day = earliest.astimezone(windows.zone(tz_name)).date()
    for k in range(3):
        candidate = windows.local_instant(day + timedelta(days=k), wall, tz_name, opening=True)
        if candidate >= earliest:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a wall time recurs every day")  # pragma: no cover

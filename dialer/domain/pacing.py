"""Pacing: how many calls to place right now.

A pacing policy is a pure object with ``decide(snapshot) -> PacingDecision``. The snapshot
is what a real dialer can observe; the decision carries the number of calls and a
human-readable reason that goes verbatim into the tick log and `dialer status`. Caps that
are not the policy's business (calls per second, concurrent lines, lines per agent) are
applied afterwards by :func:`apply_caps`, which explains itself the same way.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from dialer.domain.clock import ensure_aware


@dataclass(frozen=True, kw_only=True)
class PacingSnapshot:
    """What the dialer observes about one campaign at one instant.

    Fields:
        now: the instant of observation (aware, UTC).
        agents: agents logged in and not paused (idle + busy).
        idle_agents: agents ready to take a call right now.
        busy_elapsed: for each busy agent, seconds spent so far in its current talk + wrap-up.
        ringing_ages: for each call placed but not yet answered or ended, seconds since placement.
        waiting: live answers waiting for an agent (inside the grace time).
        dials: cumulative calls placed by the campaign (the estimation window).
        live_answers: cumulative live answers (the abandonment denominator).
        non_live: cumulative calls that ended without a live answer (no answer, busy, machine, …).
        abandoned: cumulative abandoned live answers (the abandonment numerator).
        connects: cumulative live answers bridged to an agent.
        handle_times: recent completed handle times (talk + wrap-up), seconds, oldest first.
        answer_delays: recent dial-to-answer delays of live answers, seconds, oldest first.
        non_live_times: recent seconds from dial to the end of ringing for attempts that were not
            live (released as no answer, busy, failed, or answered by a machine), oldest first.
        lines_in_use: calls of this campaign currently holding a line (ringing, waiting or talking).
        talk_elapsed: when the dialer can tell talk from wrap-up, the seconds each agent on a call
            has talked so far (a subset of ``busy_elapsed``); ``None`` when it cannot tell.
        wrap_remaining: with ``talk_elapsed``, the seconds of wrap-up left for each agent in
            wrap-up (the rest of ``busy_elapsed``); ``None`` when unknown.
        wrap_seconds: the campaign's wrap-up time per call (handle time = talk + this), if known.
        amd_false_positives: cumulative people the answering-machine detection took for a machine
            and hung up on (known, or the campaign's reasoned estimate), already inside
            ``live_answers`` and ``abandoned``. Pacing cannot avoid them: they are the same share
            of live answers whatever the dial rate.
    """

    now: datetime
    agents: int
    idle_agents: int
    busy_elapsed: tuple[float, ...] = ()
    ringing_ages: tuple[float, ...] = ()
    waiting: int = 0
    dials: int = 0
    live_answers: int = 0
    non_live: int = 0
    abandoned: int = 0
    connects: int = 0
    handle_times: tuple[float, ...] = ()
    answer_delays: tuple[float, ...] = ()
    non_live_times: tuple[float, ...] = ()
    lines_in_use: int = 0
    talk_elapsed: tuple[float, ...] | None = None
    wrap_remaining: tuple[float, ...] | None = None
    wrap_seconds: float | None = None
    amd_false_positives: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "now", ensure_aware(self.now, name="PacingSnapshot.now"))
        if self.idle_agents < 0 or self.agents < 0:
            raise ValueError("agent counts cannot be negative")

    @property
    def ringing(self) -> int:
        return len(self.ringing_ages)


@dataclass(frozen=True, kw_only=True)
class PacingDecision:
    calls_to_place: int
    reason: str
    mode: str = ""

    def __post_init__(self) -> None:
        if self.calls_to_place < 0:
            raise ValueError("calls_to_place cannot be negative")


class PacingPolicy(Protocol):
    def decide(self, snap: PacingSnapshot) -> PacingDecision: ...


@dataclass(frozen=True, kw_only=True)
class Progressive:
    """One line per idle agent not already covered by a ringing call or a waiting answer.

    ``n = ⌊L·(idle − waiting)⌋ − ringing``, L = lines per agent (1.0 by default, at most 2).
    At L = 1 no answered call ever waits for an agent who is not there.
    """

    lines_per_agent: float = 1.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.lines_per_agent <= 2.0:
            raise ValueError("progressive lines per agent must be between 1.0 and 2.0")

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        if snap.agents == 0:
            return PacingDecision(calls_to_place=0, reason="progressive: no agents logged in", mode="progressive")
        target = math.floor(self.lines_per_agent * (snap.idle_agents - snap.waiting))
        n = max(0, target - snap.ringing)
        reason = (
            f"progressive: {snap.idle_agents} idle of {snap.agents} agents, "
            f"{snap.waiting} waiting, {snap.ringing} ringing → {n}"
        )
        if n == 0 and snap.idle_agents == 0:
            reason = f"progressive: no idle agents ({snap.agents} busy) → 0"
        return PacingDecision(calls_to_place=n, reason=reason, mode="progressive")


@dataclass(frozen=True, kw_only=True)
class Caps:
    """Limits applied outside the policy. ``None`` means unlimited."""

    max_cps: float | None = None
    max_lines: int | None = None
    max_lines_per_agent: float | None = 3.0
    tick_seconds: float = 1.0


@dataclass(frozen=True, kw_only=True)
class CappedDecision:
    calls_to_place: int
    reason: str
    capped_by: str | None = None
    policy_wanted: int = field(default=0)


def apply_caps(
    decision: PacingDecision, snap: PacingSnapshot, caps: Caps, *, placed_last_second: int = 0
) -> CappedDecision:
    """Clamp the policy's wish by calls-per-second, concurrent lines and lines per agent."""
    n = decision.calls_to_place
    limits: list[tuple[int, str]] = []
    if caps.max_cps is not None:
        budget = max(0, math.floor(caps.max_cps * max(caps.tick_seconds, 1.0)) - placed_last_second)
        limits.append((budget, f"CPS cap {caps.max_cps:g}/s"))
    if caps.max_lines is not None:
        limits.append((max(0, caps.max_lines - snap.lines_in_use), f"line cap {caps.max_lines}"))
    if caps.max_lines_per_agent is not None and snap.agents > 0:
        per_agent = math.floor(caps.max_lines_per_agent * snap.agents) - snap.lines_in_use
        limits.append((max(0, per_agent), f"{caps.max_lines_per_agent:g} lines per agent"))
    capped_by = None
    for limit, label in limits:
        if limit < n:
            n, capped_by = limit, label
    reason = decision.reason if capped_by is None else f"{decision.reason}; capped to {n} by {capped_by}"
    return CappedDecision(calls_to_place=n, reason=reason, capped_by=capped_by, policy_wanted=decision.calls_to_place)


@dataclass
class Meter:
    """Running counts of one campaign's ended attempts, the policy's view of history.

    Seeded from the store when a daemon starts and updated as attempts end; the rolling
    abandonment windows that compliance needs are computed from the store itself.
    """

    ended: int = 0
    live_answers: int = 0
    abandoned: int = 0
    connects: int = 0
    handle_times: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLE_SIZE))
    answer_delays: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLE_SIZE))
    non_live_times: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLE_SIZE))
    amd_machines: int = 0
    """Ended attempts the answering-machine detection classed as a machine."""
    amd_false_positive_rate: float = 0.0
    """The campaign's reasoned estimate of people among those (option ``amd_false_positive_rate``)."""

    @property
    def amd_false_positives(self) -> int:
        """Estimated people among the AMD machines: abandoned live answers the counts above miss."""
        return round(self.amd_false_positive_rate * self.amd_machines)

    def observe(
        self,
        *,
        live: bool,
        abandoned: bool,
        connected: bool,
        answer_delay: float | None,
        handle_time: float | None,
        ring_time: float | None = None,
        amd_machine: bool = False,
    ) -> None:
        """``ring_time``: for a non-live attempt, seconds from placement until it stopped ringing;
        ``amd_machine``: the answering-machine detection classed the attempt as a machine."""
        self.ended += 1
        self.amd_machines += int(amd_machine)
        self.live_answers += int(live)
        self.abandoned += int(abandoned)
        self.connects += int(connected)
        if answer_delay is not None and live:
            self.answer_delays.append(answer_delay)
        if handle_time is not None and connected:
            self.handle_times.append(handle_time)
        if ring_time is not None and not live:
            self.non_live_times.append(ring_time)

    @property
    def non_live(self) -> int:
        return self.ended - self.live_answers


#: How many recent handle-time and answer-delay samples a meter keeps.
SAMPLE_SIZE = 500

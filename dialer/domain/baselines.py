"""Baseline pacing policies the production policy must beat (pacing.md §3.1, §3.2, §3.5).

* :class:`VicidialRatio` — VICIdial ``RATIO``: ``round(L · agents) − active`` every dial loop.
* :class:`VicidialAdaptive` — VICIdial ``ADAPT_HARD_LIMIT``: a multiplicative controller on
  "ready agents minus waiting customers", with the drop-rate overrides of ``AST_VDadapt.pl``.
* :class:`Overflow` — the overflow rule of §3.5 with a fixed ε (tuned offline), no loop.

Pure objects like the production policy: time comes from the snapshot, state is their own.
``active`` is ``snapshot.lines_in_use`` (calls ringing, waiting or bridged to an agent).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dialer.domain.pacing import PacingDecision, PacingSnapshot
from dialer.domain.predictive import Estimates, overflow_calls


@dataclass
class VicidialRatio:
    """Fixed lines per agent: place ``round(level · agents) − active`` every ``loop_seconds``."""

    level: float = 1.5
    loop_seconds: float = 2.5
    _next: float = field(default=-1e18, init=False)

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        t = snap.now.timestamp()
        if t < self._next:
            return PacingDecision(calls_to_place=0, reason="vicidial-ratio: between dial loops", mode="ratio")
        self._next = t + self.loop_seconds
        goal = round(self.level * snap.agents)
        n = max(0, goal - snap.lines_in_use)
        return PacingDecision(
            calls_to_place=n,
            reason=f"vicidial-ratio: level {self.level:g} × {snap.agents} agents = {goal} lines, "
            f"{snap.lines_in_use} active → {n}",
            mode="ratio",
        )


@dataclass
class VicidialAdaptive:
    """``ADAPT_HARD_LIMIT`` with VICIdial defaults (pacing.md §3.2, §5.5).

    Every 1 s: sample ready agents, waiting answers and logged-in agents (last 15 kept).
    Every 15 s: ``level ← min(level·(1 + adj), max_level)`` with ``adj`` from
    ``(mean ready − mean waiting + diff_target) / mean agents`` and the intensity; halve on a
    drop spike in the last minute; 1.0 while today's drop rate exceeds the cap (after 50 calls).
    Drop rates are refreshed every 60 s. "Today" is the ``day_seconds``-long period counted
    from ``day_origin`` (midnight UTC by default; the bench uses its 8-hour days).
    Every ``loop_seconds`` (2.5 s): place ``round(level · agents) − active``.
    """

    drop_cap: float = 0.03
    max_level: float = 3.0
    intensity: float = 0.0
    diff_target: float = 0.0
    level: float = 1.0
    threshold_agents: int = 0
    """``dial_level_threshold_agents``: below this many agents the level is forced to 1.0."""
    loop_seconds: float = 2.5
    day_seconds: float = 86400.0
    day_origin: datetime = field(default_factory=lambda: datetime(2000, 1, 1, tzinfo=UTC))

    _samples: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=15), init=False)
    _sample_at: float = field(default=-1e18, init=False)
    _adapt_at: float = field(default=-1e18, init=False)
    _drops_at: float = field(default=-1e18, init=False)
    _dial_at: float = field(default=-1e18, init=False)
    _minute: deque[tuple[float, int, int, int]] = field(default_factory=deque, init=False)
    _day: int = field(default=-1, init=False)
    _day_start: tuple[int, int, int] = field(default=(0, 0, 0), init=False)
    _today: tuple[int, float] = field(default=(0, 0.0), init=False)
    _last_minute: tuple[int, float] = field(default=(0, 0.0), init=False)

    def _update_drops(self, t: float, snap: PacingSnapshot) -> None:
        day = math.floor((snap.now - self.day_origin).total_seconds() / self.day_seconds)
        if day != self._day:
            self._day = day
            self._day_start = (snap.dials, snap.live_answers, snap.abandoned)
        m = self._minute
        m.append((t, snap.dials, snap.live_answers, snap.abandoned))
        while len(m) > 1 and t - m[1][0] >= 60.0:
            m.popleft()
        if t - self._drops_at < 60.0:
            return
        self._drops_at = t
        d0, a0, x0 = self._day_start
        answers = snap.live_answers - a0
        self._today = (snap.dials - d0, (snap.abandoned - x0) / answers if answers else 0.0)
        _, d1, a1, x1 = m[0]
        answers_1m = snap.live_answers - a1
        self._last_minute = (snap.dials - d1, (snap.abandoned - x1) / answers_1m if answers_1m else 0.0)

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        t = snap.now.timestamp()
        if t - self._sample_at >= 1.0:
            self._sample_at = t
            self._samples.append((snap.idle_agents, snap.waiting, snap.agents))
            self._update_drops(t, snap)
        note = ""
        if t - self._adapt_at >= 15.0 and self._samples:
            self._adapt_at = t
            s = self._samples
            ready = sum(x[0] for x in s) / len(s)
            waiting = sum(x[1] for x in s) / len(s)
            avg_agents = sum(x[2] for x in s) / len(s)
            if avg_agents > 0:
                mul = (ready - waiting + self.diff_target) / avg_agents
                k = self.intensity / 100.0
                adj = mul * (1.0 + k) if mul >= 0 else mul * abs(k - 1.0)
                self.level = min(self.level * (1.0 + adj), self.max_level)
            calls_1m, drop_1m = self._last_minute
            if calls_1m > 20 and drop_1m > 0.5:
                self.level /= 2.0
                note = f"; drop spike {drop_1m:.0%} in the last minute halved the level"
            calls_today, drop_today = self._today
            if calls_today > 50 and drop_today > self.drop_cap:
                self.level = 1.0
                note = f"; today's drop rate {drop_today:.2%} is over {self.drop_cap:.0%}: level held at 1.0"
            self.level = max(self.level, 1.0)
            if snap.agents < self.threshold_agents:
                self.level = 1.0
        if t - self._dial_at < self.loop_seconds:
            return PacingDecision(calls_to_place=0, reason="vicidial-adaptive: between dial loops", mode="adaptive")
        self._dial_at = t
        goal = round(self.level * snap.agents)
        n = max(0, goal - snap.lines_in_use)
        return PacingDecision(
            calls_to_place=n,
            reason=f"vicidial-adaptive: level {self.level:.2f} × {snap.agents} agents, {snap.lines_in_use} active "
            f"→ {n}{note}",
            mode="adaptive",
        )


@dataclass
class Overflow:
    """The overflow rule with a fixed ε and the same online estimates as the production policy."""

    epsilon: float = 0.04
    tau: float | None = None
    estimates: Estimates = field(default_factory=Estimates)
    _refresh_at: float = field(default=-1e18, init=False)

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        t = snap.now.timestamp()
        est = self.estimates
        est.observe_counts(t, snap.live_answers, snap.non_live)
        if t - self._refresh_at >= 60.0:
            est.rebuild(snap.handle_times, snap.answer_delays, tau=self.tau, wrap=est.split_wrap(snap))
            self._refresh_at = t
        free, var_free = est.agent_moments(snap)
        ans, var_ans = est.answer_moments(snap.ringing_ages)
        n = overflow_calls(
            mean_answers=ans + snap.waiting,
            var_answers=var_ans,
            mean_free=free,
            var_free=var_free,
            hit_rate=est.hit_rate,
            epsilon=self.epsilon,
            max_calls=3 * snap.agents,
            sure_free=snap.idle_agents,
        )
        return PacingDecision(calls_to_place=n, reason=f"overflow: ε={self.epsilon:g} → {n}", mode="overflow")

"""A discrete-event model of an outbound call centre (bench-v1 of pacing.md §5).

Agents take calls longest-idle first; answered callees wait FIFO. Every attempt draws its
fate from one random stream in dial order (live?, answer time, non-live kind) and every
connect draws its talk time from a second stream in connect order, so two pacing
policies run on the same seed see the same callees (common random numbers).

A live answer that is not bridged to an agent within ``grace`` seconds (2 s) is
**abandoned**: it ends with ``wasMissed = true`` and takes no agent time.

Time is float seconds since the model's epoch. The model only moves when :meth:`advance`
is called, so it runs in virtual time (a whole day in seconds) or, driven by a wall clock,
in real time. Each call can be rendered as an Evo Voice ``SessionInfo``
(:meth:`CallCentre.session_info`), which is how the simulated backend and the Evo Voice
sandbox report results.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from dialer.domain.clock import ensure_aware


@dataclass(frozen=True, kw_only=True)
class CallModel:
    """The callee and agent behaviour. Defaults are bench-v1 with p = 0.35."""

    hit_rate: float = 0.35
    """Probability that the callee is a live person who picks up. A live answer drawn later than
    ``ring_timeout`` is still released as a no-answer, so even ``hit_rate=1.0`` leaves about 1 %
    of calls unanswered at the default 25 s; raise ``ring_timeout`` for calls that must connect."""
    answer_min: float = 2.0
    answer_shape: float = 3.0
    answer_scale: float = 8.0 / 3.0
    """Live answer time = answer_min + Gamma(shape, scale): mean 10 s, sd 4.6 s."""
    ring_timeout: float = 25.0
    """A call not answered by then is released as a no-answer (late live draws included)."""
    talk_mean: float = 120.0
    talk_cv: float = 1.0
    talk_distribution: str = "lognormal"
    """``lognormal`` (bench-v1) or ``exponential`` (bench-v1-exp)."""
    wrap: float = 10.0
    grace: float = 2.0
    """Seconds a live answer may wait for an agent before it is abandoned."""
    busy_share: float = 0.0
    """Of the non-live attempts, the share that hear a busy signal (after ``busy_after`` s)."""
    machine_share: float = 0.0
    """Of the non-live attempts, the share answered by a machine (detected 3 s after answer)."""
    fail_share: float = 0.0
    """Of the non-live attempts, the share that fail fast in the network (after ``fail_after`` s)."""
    bad_number_share: float = 0.0
    """Share of *numbers* that are not in service; stable across attempts to the same number."""
    amd_false_positive: float = 0.0
    """Share of live answers the flow mistakes for a machine (counted as abandoned by the model)."""
    busy_after: float = 4.0
    fail_after: float = 3.0
    machine_detect: float = 3.0
    bad_number_after: float = 2.0

    def __post_init__(self) -> None:
        for name in ("hit_rate", "busy_share", "machine_share", "fail_share", "bad_number_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.busy_share + self.machine_share + self.fail_share > 1.0:
            raise ValueError("busy_share + machine_share + fail_share cannot exceed 1")
        if self.talk_distribution not in ("lognormal", "exponential"):
            raise ValueError("talk_distribution must be 'lognormal' or 'exponential'")
        if self.ring_timeout <= 0 or self.grace < 0 or self.wrap < 0 or self.talk_mean <= 0:
            raise ValueError("times must be positive")

    @property
    def handle_mean(self) -> float:
        return self.talk_mean + self.wrap


#: A realistic mix for demos and rehearsals: some busies, machines, network failures and
#: disconnected numbers, on top of bench-v1's timings.
REALISTIC = CallModel(
    hit_rate=0.30,
    busy_share=0.12,
    machine_share=0.22,
    fail_share=0.03,
    bad_number_share=0.02,
)


class Fate(StrEnum):
    LIVE = "live"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"
    FAILED = "failed"
    BAD_NUMBER = "bad_number"


class Phase(StrEnum):
    RINGING = "ringing"
    WAITING = "waiting"
    TALKING = "talking"
    ENDED = "ended"


class _Ev(IntEnum):
    # Ties at the same instant resolve in this order: free agents first, then answers.
    WRAP_END = 0
    TALK_END = 1
    RESOLVE = 2
    GRACE_END = 3


@dataclass
class Agent:
    index: int
    id: str
    name: str
    busy: bool = False
    busy_since: float = 0.0
    idle_since: float = 0.0
    logged_in: bool = True
    call: int | None = None
    wrap_until: float = -1.0
    """When the current wrap-up ends (set when the talk ends; stale once the agent is idle)."""


@dataclass
class SimCall:
    """One attempt as the model knows it. Times are model seconds (None until they happen)."""

    index: int
    session_id: str
    call_sid: str
    number: str
    caller_id: str | None
    flow_id: str
    dialed_at: float
    fate: Fate
    resolve_at: float
    """When the fate shows: answer (live or machine), or release (no answer, busy, failed)."""
    phase: Phase = Phase.RINGING
    answered_at: float | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    abandoned: bool = False
    amd_false_positive: bool = False
    agent: int | None = None
    talk: float | None = None
    outcome: str | None = None
    console_data: str | None = None
    log: list[tuple[float, str]] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What a dialer could observe of the call centre at one instant (for pacing)."""

    t: float
    agents: int
    idle_agents: int
    busy_elapsed: tuple[float, ...]
    ringing_ages: tuple[float, ...]
    waiting: int
    talk_elapsed: tuple[float, ...] = ()
    """Seconds talked so far by each busy agent still on its call."""
    wrap_remaining: tuple[float, ...] = ()
    """Seconds of wrap-up left for each busy agent in wrap-up."""


@dataclass
class Stats:
    dials: int = 0
    live_answers: int = 0
    abandoned: int = 0
    connects: int = 0
    machines: int = 0
    busies: int = 0
    no_answers: int = 0
    failures: int = 0
    bad_numbers: int = 0
    amd_false_positives: int = 0
    """Live answers the flow took for a machine and released (inside ``abandoned``)."""
    handle_seconds: float = 0.0
    """Agent talk + wrap-up seconds committed by connects so far."""
    wait_seconds: float = 0.0
    """Seconds connected callees spent waiting for an agent (inside the grace time)."""
    peak_lines: int = 0


class CallCentre:
    """The model. Not thread-safe; the sandbox servers serialise access to it."""

    def __init__(
        self,
        *,
        agents: int,
        model: CallModel | None = None,
        seed: int = 0,
        epoch: datetime | None = None,
        start: float = 0.0,
        keep_calls: bool = True,
        idle_release: float = 120.0,
        number_seed: int | None = None,
    ) -> None:
        """``number_seed``: picks the numbers that are not in service (default ``seed``), so
        several models of one campaign agree on them."""
        if agents < 0:
            raise ValueError("agents cannot be negative")
        self.model = model or CallModel()
        self.seed = seed
        self.number_seed = seed if number_seed is None else number_seed
        self.epoch = ensure_aware(epoch, name="epoch") if epoch else None
        self.t = start
        self.keep_calls = keep_calls
        self._fate_rng = random.Random(f"fate:{seed}")
        self._talk_rng = random.Random(f"talk:{seed}")
        self._id_rng = random.Random(f"ids:{seed}")
        self._events: list[tuple[float, int, int, int]] = []  # (t, kind, seq, ref)
        self._seq = 0
        self.calls: dict[int, SimCall] = {}
        self._active: dict[int, SimCall] = {}
        self._by_session: dict[str, int] = {}
        self._waiting: deque[int] = deque()
        self.agents: list[Agent] = []
        self._idle: deque[int] = deque()
        self.stats = Stats()
        self._next_call = 0
        self._busy_agent_seconds_done = 0.0
        self.idle_release = idle_release
        self._agent_seconds = 0.0
        self._agent_seconds_t = start
        self._last_activity = start
        self._busy = 0
        self._logged_in = 0
        self.set_agents(agents)

    # ------------------------------------------------------------------ time
    def to_t(self, instant: datetime) -> float:
        if self.epoch is None:
            raise ValueError("this model has no epoch; pass model seconds instead of datetimes")
        return (ensure_aware(instant) - self.epoch).total_seconds()

    def to_datetime(self, t: float) -> datetime:
        if self.epoch is None:
            raise ValueError("this model has no epoch")
        return self.epoch + timedelta(seconds=t)

    def next_event_time(self) -> float | None:
        return self._events[0][0] if self._events else None

    def advance(self, until: float) -> int:
        """Process every event up to and including ``until``; return how many happened."""
        n = 0
        events = self._events
        while events and events[0][0] <= until:
            t, kind, _, ref = heapq.heappop(events)
            self._integrate(t)
            self.t = t
            self._last_activity = t
            self._handle(_Ev(kind), ref)
            n += 1
        if until > self.t:
            self._integrate(until)
            self.t = until
        return n

    # ---------------------------------------------------------------- agents
    def set_agents(self, n: int) -> None:
        """Log agents in or out. Busy agents asked to leave finish their call and wrap first."""
        self._integrate(self.t)  # settle the logged-in integral at the old head count
        present = [a for a in self.agents if a.logged_in]
        if n > len(present):
            for a in self.agents:
                if len(present) >= n:
                    break
                if not a.logged_in:
                    a.logged_in = True
                    present.append(a)
                    if not a.busy:
                        a.idle_since = self.t
                        self._idle.append(a.index)
            while len(present) < n:
                a = Agent(
                    index=len(self.agents),
                    id=f"agent-{len(self.agents) + 1:03d}",
                    name=f"Agent {len(self.agents) + 1}",
                    idle_since=self.t,
                )
                self.agents.append(a)
                present.append(a)
                self._idle.append(a.index)
            self._serve_waiting()
        elif n < len(present):
            leave = len(present) - n
            # Idle agents leave first (most recently idle first), then busy ones after wrap-up.
            for idx in reversed(list(self._idle)):
                if leave == 0:
                    break
                self.agents[idx].logged_in = False
                self._idle.remove(idx)
                leave -= 1
            for a in reversed(present):
                if leave == 0:
                    break
                if a.busy and a.logged_in:
                    a.logged_in = False
                    leave -= 1
        self._logged_in = sum(1 for a in self.agents if a.logged_in)

    @property
    def logged_in(self) -> int:
        return self._logged_in

    # ----------------------------------------------------------------- dials
    def dial(
        self, number: str = "", *, caller_id: str | None = None, flow_id: str = "", at: float | None = None
    ) -> SimCall:
        """Place a call now (or at ``at`` ≥ now, after advancing to it)."""
        if at is not None:
            if at < self.t:
                raise ValueError(f"cannot dial in the past (t={at} < now={self.t})")
            self.advance(at)
        self._integrate(self.t)
        self._last_activity = self.t
        m = self.model
        u_live = self._fate_rng.random()
        answer = m.answer_min + self._fate_rng.gammavariate(m.answer_shape, m.answer_scale)
        u_kind = self._fate_rng.random()
        if m.bad_number_share and _stable_fraction(number, self.number_seed) < m.bad_number_share:
            fate, resolve = Fate.BAD_NUMBER, m.bad_number_after
        elif u_live < m.hit_rate:
            fate, resolve = (Fate.LIVE, answer) if answer <= m.ring_timeout else (Fate.NO_ANSWER, m.ring_timeout)
        elif u_kind < m.busy_share:
            fate, resolve = Fate.BUSY, m.busy_after
        elif u_kind < m.busy_share + m.machine_share:
            fate, resolve = (Fate.MACHINE, answer) if answer <= m.ring_timeout else (Fate.NO_ANSWER, m.ring_timeout)
        elif u_kind < m.busy_share + m.machine_share + m.fail_share:
            fate, resolve = Fate.FAILED, m.fail_after
        else:
            fate, resolve = Fate.NO_ANSWER, m.ring_timeout
        index = self._next_call
        self._next_call += 1
        call = SimCall(
            index=index,
            session_id=str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4)),
            call_sid="CA" + f"{self._id_rng.getrandbits(128):032x}",
            number=number,
            caller_id=caller_id,
            flow_id=flow_id,
            dialed_at=self.t,
            fate=fate,
            resolve_at=self.t + resolve,
        )
        if fate is Fate.LIVE and m.amd_false_positive and self._fate_rng.random() < m.amd_false_positive:
            call.amd_false_positive = True
        call.log.append((self.t, f"Dialing {number or 'callee'}"))
        self.calls[index] = call
        self._active[index] = call
        self._by_session[call.session_id] = index
        self.stats.dials += 1
        if len(self._active) > self.stats.peak_lines:
            self.stats.peak_lines = len(self._active)
        self._push(call.resolve_at, _Ev.RESOLVE, index)
        return call

    def hang_up(self, session_id: str) -> bool:
        """End a call from the dialer's side. Ringing calls become cancellations."""
        index = self._by_session.get(session_id)
        if index is None:
            return False
        call = self.calls[index]
        if call.phase is Phase.ENDED:
            return False
        if call.phase is Phase.RINGING:
            call.outcome = "Canceled"
            self._end(call, "Call canceled by the dialer")
        elif call.phase is Phase.WAITING:
            call.abandoned = True
            call.outcome = "Missed"
            self.stats.abandoned += 1
            self._waiting.remove(call.index)
            self._end(call, "Released by the dialer before an agent answered")
        elif call.agent is None:  # a machine the flow was still talking to
            self._end(call, "Call ended by the dialer")
        else:
            # Talking to an agent: the talk is cut short and wrap-up follows.
            call.talk = self.t - (call.connected_at or self.t)
            call.outcome = "Completed"
            self._end(call, "Call ended by the dialer")
            self.agents[call.agent].wrap_until = self.t + self.model.wrap
            self._push(self.t + self.model.wrap, _Ev.WRAP_END, call.agent)
        return True

    # ---------------------------------------------------------------- events
    def _push(self, t: float, kind: _Ev, ref: int) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, int(kind), self._seq, ref))

    def _handle(self, kind: _Ev, ref: int) -> None:
        if kind is not _Ev.WRAP_END and ref not in self.calls:
            # With keep_calls=False an ended call is forgotten; its pending events (a grace
            # end after a talk shorter than the grace time, say) have nothing left to do.
            return
        if kind is _Ev.RESOLVE:
            self._resolve(self.calls[ref])
        elif kind is _Ev.GRACE_END:
            call = self.calls[ref]
            if call.phase is Phase.WAITING:
                call.abandoned = True
                call.outcome = "Missed"
                self.stats.abandoned += 1
                self._waiting.remove(call.index)
                self._end(call, "No agent answered; caller released (missed)")
        elif kind is _Ev.TALK_END:
            call = self.calls[ref]
            if call.phase is not Phase.TALKING:
                return
            if call.agent is None:  # the flow finished with an answering machine
                self._end(call, "Answering machine detected; call released")
                return
            call.outcome = "Completed"
            self._end(call, "Call completed")
            self.agents[call.agent].wrap_until = self.t + self.model.wrap
            self._push(self.t + self.model.wrap, _Ev.WRAP_END, call.agent)
        elif kind is _Ev.WRAP_END:
            agent = self.agents[ref]
            self._busy_agent_seconds_done += self.t - agent.busy_since
            agent.busy = False
            self._busy -= 1
            agent.call = None
            if agent.logged_in:
                agent.idle_since = self.t
                self._idle.append(agent.index)
                self._serve_waiting()

    def _resolve(self, call: SimCall) -> None:
        if call.phase is not Phase.RINGING:
            return
        m = self.model
        if call.fate is Fate.LIVE:
            call.answered_at = self.t
            self.stats.live_answers += 1
            call.log.append((self.t, "Call answered"))
            if call.amd_false_positive:
                # The flow took a person for a machine and hung up: an abandoned live call.
                call.abandoned = True
                self.stats.abandoned += 1
                self.stats.amd_false_positives += 1
                call.outcome = "Answering Machine"
                self._end(call, "Answering machine detected; call released")
                return
            call.phase = Phase.WAITING
            self._waiting.append(call.index)
            if self._idle:
                self._serve_waiting()
            else:
                call.log.append((self.t, "Queued for an agent"))
                self._push(self.t + m.grace, _Ev.GRACE_END, call.index)
        elif call.fate is Fate.MACHINE:
            call.answered_at = self.t
            call.log.append((self.t, "Call answered"))
            call.resolve_at = self.t + m.machine_detect
            call.phase = Phase.TALKING  # the flow is running against the machine
            self._push(call.resolve_at, _Ev.TALK_END, call.index)
            call.outcome = "Answering Machine"
            self.stats.machines += 1
        else:
            call.outcome = {
                Fate.NO_ANSWER: "No Answer",
                Fate.BUSY: "Busy",
                Fate.FAILED: "Failed",
                Fate.BAD_NUMBER: "Failed: number not in service",
            }[call.fate]
            counter = {
                Fate.NO_ANSWER: "no_answers",
                Fate.BUSY: "busies",
                Fate.FAILED: "failures",
                Fate.BAD_NUMBER: "bad_numbers",
            }[call.fate]
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
            self._end(call, call.outcome)

    def _serve_waiting(self) -> None:
        while self._waiting and self._idle:
            call = self.calls[self._waiting.popleft()]
            agent = self.agents[self._idle.popleft()]
            self._connect(call, agent)

    def _connect(self, call: SimCall, agent: Agent) -> None:
        m = self.model
        if m.talk_distribution == "exponential":
            talk = self._talk_rng.expovariate(1.0 / m.talk_mean)
        else:
            sigma = math.sqrt(math.log(1.0 + m.talk_cv**2))
            talk = self._talk_rng.lognormvariate(math.log(m.talk_mean) - sigma * sigma / 2.0, sigma)
        call.phase = Phase.TALKING
        call.connected_at = self.t
        call.agent = agent.index
        call.talk = talk
        agent.busy = True
        self._busy += 1
        agent.busy_since = self.t
        agent.call = call.index
        self.stats.connects += 1
        self.stats.handle_seconds += talk + m.wrap
        self.stats.wait_seconds += self.t - (call.answered_at or self.t)
        call.log.append((self.t, f"Connected to {agent.name}"))
        self._push(self.t + talk, _Ev.TALK_END, call.index)

    def _end(self, call: SimCall, message: str) -> None:
        call.phase = Phase.ENDED
        call.ended_at = self.t
        call.log.append((self.t, message))
        self._active.pop(call.index, None)
        if not self.keep_calls:
            self.calls.pop(call.index, None)
            self._by_session.pop(call.session_id, None)

    # ----------------------------------------------------------- observation
    def observe(self) -> Observation:
        t = self.t
        busy: list[float] = []
        talk: list[float] = []
        wrap: list[float] = []
        for a in self.agents:
            if a.busy and a.logged_in:
                busy.append(t - a.busy_since)
                if a.wrap_until > a.busy_since:  # the talk of this busy period has ended
                    wrap.append(max(0.0, a.wrap_until - t))
                else:
                    talk.append(t - a.busy_since)
        ringing = tuple(t - c.dialed_at for c in self._active.values() if c.phase is Phase.RINGING)
        return Observation(
            t=t,
            agents=self.logged_in,
            idle_agents=len(self._idle),
            busy_elapsed=tuple(busy),
            ringing_ages=ringing,
            waiting=len(self._waiting),
            talk_elapsed=tuple(talk),
            wrap_remaining=tuple(wrap),
        )

    def active_calls(self) -> int:
        return len(self._active)

    def _integrate(self, t: float) -> None:
        """Add logged-in agent time up to ``t`` while the centre is *engaged*: calls in progress
        or agents busy, plus ``idle_release`` seconds after the last activity. Long lulls
        (nights, hours-long waits for retries) are time agents would spend on other work."""
        t0 = self._agent_seconds_t
        if t <= t0:
            return
        if self._active or self._busy:
            engaged = t - t0
        else:
            engaged = max(0.0, min(t, self._last_activity + self.idle_release) - t0)
        self._agent_seconds += self._logged_in * engaged
        self._agent_seconds_t = t

    def agent_seconds(self) -> float:
        """Logged-in agent seconds while engaged, up to now (the occupancy denominator)."""
        self._integrate(self.t)
        return self._agent_seconds

    def busy_agent_seconds(self) -> float:
        """Agent seconds spent in talk + wrap-up up to now (for occupancy)."""
        ongoing = sum(self.t - a.busy_since for a in self.agents if a.busy)
        return self._busy_agent_seconds_done + ongoing

    def iter_calls(self) -> Iterator[SimCall]:
        return iter(self.calls.values())

    def call_for_session(self, session_id: str) -> SimCall | None:
        index = self._by_session.get(session_id)
        return None if index is None else self.calls.get(index)

    # ------------------------------------------------------- Evo SessionInfo
    def session_info(
        self, call: SimCall, *, account_id: str = "sim-account", account_name: str = "Simulated call centre"
    ) -> dict[str, object]:
        """The call as an Evo Voice ``SessionInfo`` (camelCase, enums as strings)."""
        ended = call.phase is Phase.ENDED
        answered = call.answered_at is not None
        if ended:
            call_state, queue_state = (
                "Disconnected",
                ("Disconnected" if answered and call.fate is Fate.LIVE else "None"),
            )
        elif call.phase is Phase.RINGING:
            call_state, queue_state = "Ringing", "None"
        elif call.phase is Phase.WAITING:
            call_state, queue_state = "Connected", "Queued"
        else:
            call_state = "Connected"
            queue_state = "Connected" if call.agent is not None else "None"
        agent = self.agents[call.agent] if call.agent is not None else None
        members: list[dict[str, object]] = [
            {
                "identity": call.number,
                "endpointId": "",
                "displayName": call.number,
                "isOriginalMember": True,
                "avatarUrl": "",
                "applicationData": {},
                "callState": "None" if ended else ("Ringing" if call.phase is Phase.RINGING else "Connected"),
                "role": "Caller",
                "callSid": call.call_sid,
                "muted": False,
            }
        ]
        if agent is not None:
            members.append(
                {
                    "identity": agent.id,
                    "endpointId": agent.id,
                    "displayName": agent.name,
                    "isOriginalMember": False,
                    "avatarUrl": "",
                    "applicationData": {},
                    "callState": "None" if ended else "Connected",
                    "role": "Agent",
                    "callSid": "CA" + hashlib.sha1(call.call_sid.encode()).hexdigest()[:32],
                    "muted": False,
                }
            )
        last_change = max([call.dialed_at] + [t for t, _ in call.log])
        return {
            "id": call.session_id,
            "dateCreated": self._iso(call.dialed_at),
            "dateLastModified": self._iso(last_change),
            "createdBy": "dialer",
            "lastModifiedBy": "dialer",
            "dialState": "None" if ended else "Active",
            "callState": call_state,
            "queueState": queue_state,
            "accountId": account_id,
            "accountName": account_name,
            "customerId": None,
            "customerBreadcrumb": [],
            "customerName": None,
            "endpointId": None,
            "endpointName": None,
            "dateCompleted": self._iso(call.ended_at) if call.ended_at is not None else None,
            "destination": call.number,
            "toAddress": call.number,
            "fromAddress": call.caller_id,
            "fromName": None,
            "answeredByName": agent.name if agent else None,
            "queueMemberId": agent.id if agent else None,
            "channel": "Voice",
            "ended": ended,
            "outcome": call.outcome if ended else None,
            "callSid": call.call_sid,
            "consoleData": call.console_data,
            "holdQueueName": None,
            "heldByUserId": None,
            "holdReason": "None",
            "conferenceSid": None,
            "displayName": call.number,
            "log": [{"date": self._iso(t), "message": msg} for t, msg in call.log],
            "members": members,
            "callbackNumber": None,
            "answeredById": agent.id if agent else None,
            "direction": "Outgoing",
            "fromPhoneNumber": call.caller_id,
            "mostRecentParticipantCallSid": members[-1]["callSid"],
            "wasMissed": bool(call.abandoned and not call.amd_false_positive),
            "ringQueueId": "sim-queue" if answered and call.fate is Fate.LIVE else None,
        }

    def _iso(self, t: float) -> str:
        if self.epoch is None:
            return f"{t:.3f}"
        return self.to_datetime(t).isoformat().replace("+00:00", "Z")


def _stable_fraction(number: str, seed: int) -> float:
    """A number-specific value in [0, 1), the same for every attempt to that number."""
    digest = hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64

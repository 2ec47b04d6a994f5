"""The simulated backend: calls go to the shipped call-centre model instead of a carrier.

One :class:`~dialer.sim.callcentre.CallCentre` per campaign, with the campaign's agents.
Results come back as Evo Voice ``SessionInfo`` documents and are classified by the same
mapping the Evo Voice client uses, so a rehearsal exercises the real result path.

Time comes from the ``now`` the dialer passes in: a virtual clock makes a day pass in
seconds, a system clock makes the model run in real time.

Calls an agent dials from the preview desk (:attr:`CallRequest.agent`) are not queued for the
campaign's agents: each is modelled on its own, the agent on the line, from a seed derived from
the attempt. Any process can therefore rebuild the call from the stored attempt (its number,
caller ID, agent and placement time) and read the same call — `dialer preview dial` places it
and exits, and `dialer run`, the daemon or `dialer web` collects its result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from dialer.domain import phones
from dialer.domain.clock import ensure_aware
from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult
from dialer.errors import TelephonyRejected
from dialer.sim.callcentre import CallCentre, CallModel, Phase, SimCall
from dialer.telephony import evo_mapping
from dialer.telephony.base import AgentView, CallHandle, CallRequest, CallUpdate, CentreStats, Placement

log = logging.getLogger(__name__)

#: The most a call in each model phase can show; a cheap check before rendering a SessionInfo.
_PHASE_STATE = {
    Phase.RINGING: AttemptState.RINGING,
    Phase.WAITING: AttemptState.ANSWERED,
    Phase.TALKING: AttemptState.CONNECTED,
    Phase.ENDED: AttemptState.ENDED,
}


class SimulatedTelephony:
    name = "simulated"
    max_cps: float | None = None

    def __init__(
        self,
        *,
        agents_for: Callable[[str], int],
        model: CallModel | None = None,
        model_for: Callable[[str], CallModel | None] | None = None,
        seed: int = 0,
        owned_numbers: Collection[str] | None = None,
    ) -> None:
        """``owned_numbers``: the caller IDs the simulated account owns (None: any valid number)."""
        self._agents_for = agents_for
        self._owned = frozenset(owned_numbers) if owned_numbers is not None else None
        self._pick = random.Random(f"caller-ids:{seed}")
        self._model = model or CallModel()
        self._model_for = model_for
        self._seed = seed
        self._centres: dict[str, CallCentre] = {}
        self._desk: dict[str, CallCentre] = {}
        """Preview-desk calls by attempt id, each in a model of its own (see the module doc)."""
        self._epoch: datetime | None = None

    # ----------------------------------------------------------------- model
    def centre(self, campaign: str, *, now: datetime) -> CallCentre:
        now = ensure_aware(now)
        if self._epoch is None:
            self._epoch = now
        centre = self._centres.get(campaign)
        if centre is None:
            model = (self._model_for(campaign) if self._model_for else None) or self._model
            seed = int.from_bytes(hashlib.blake2b(f"{self._seed}:{campaign}".encode(), digest_size=4).digest(), "big")
            centre = CallCentre(
                agents=self._agents_for(campaign),
                model=model,
                seed=seed,
                epoch=self._epoch,
                start=(now - self._epoch).total_seconds(),
            )
            self._centres[campaign] = centre
        t = centre.to_t(now)
        if t > centre.t:
            centre.advance(t)
        return centre

    def _campaign_seed(self, campaign: str) -> int:
        return int.from_bytes(hashlib.blake2b(f"{self._seed}:{campaign}".encode(), digest_size=4).digest(), "big")

    def _desk_centre(
        self,
        *,
        attempt_id: str,
        campaign: str,
        agent: str,
        number: str,
        caller_id: str | None,
        placed_at: datetime,
        flow_id: str = "",
    ) -> tuple[CallCentre, SimCall]:
        """The model of one preview-desk call, built the same way by every process."""
        model = (self._model_for(campaign) if self._model_for else None) or self._model
        seed = int.from_bytes(
            hashlib.blake2b(f"{self._seed}:desk:{attempt_id}".encode(), digest_size=4).digest(), "big"
        )
        # The agent at the desk takes the call — unless the campaign has no agents at all.
        agents = 1 if self._agents_for(campaign) > 0 else 0
        centre = CallCentre(
            agents=agents,
            model=model,
            seed=seed,
            epoch=ensure_aware(placed_at),
            number_seed=self._campaign_seed(campaign),
        )
        for seat in centre.agents:
            seat.name = agent
        call = centre.dial(number, caller_id=caller_id, flow_id=flow_id)
        self._desk[attempt_id] = centre
        return centre, call

    def _desk_call(self, handle: CallHandle, *, now: datetime) -> tuple[CallCentre, SimCall] | None:
        """The preview-desk call of ``handle``, advanced to ``now``; rebuilt from the attempt when
        another process placed it."""
        if handle.agent is None:
            return None
        centre = self._desk.get(handle.attempt_id)
        if centre is None:
            centre, call = self._desk_centre(
                attempt_id=handle.attempt_id,
                campaign=handle.campaign,
                agent=handle.agent,
                number=handle.number,
                caller_id=handle.caller_id,
                placed_at=handle.placed_at,
            )
        else:
            found = next(iter(centre.iter_calls()), None)
            if found is None:
                return None
            call = found
        t = centre.to_t(now)
        if t > centre.t:
            centre.advance(t)
        return centre, call

    # ------------------------------------------------------------------ port
    def place_call(self, request: CallRequest, *, now: datetime) -> Placement:
        if not phones.is_dialable(request.number):
            raise TelephonyRejected(
                f"numberToDial {request.number!r} is not a valid E.164 number",
                code="ValidationError",
                status=400,
                bad_number=True,
            )
        if request.caller_id is not None and not self._owns(request.caller_id):
            raise TelephonyRejected(
                f"caller ID {request.caller_id} is not a number the simulated account owns",
                code="ValidationError",
                status=400,
                bad_caller_id=True,
            )
        caller_id = request.caller_id
        if caller_id is None and self._owned:  # as Evo Voice does: a random owned number
            caller_id = self._pick.choice(sorted(self._owned))
        if request.agent is not None:
            _, call = self._desk_centre(
                attempt_id=request.attempt_id,
                campaign=request.campaign,
                agent=request.agent,
                number=request.number,
                caller_id=caller_id,
                placed_at=now,
                flow_id=request.flow_id,
            )
            call.console_data = json.dumps(dict(request.user_data), ensure_ascii=False)
            return Placement(provider_ref=call.session_id, correlation="direct", call_sid=call.call_sid)
        centre = self.centre(request.campaign, now=now)
        call = centre.dial(request.number, caller_id=caller_id, flow_id=request.flow_id)
        call.console_data = json.dumps(dict(request.user_data), ensure_ascii=False)
        return Placement(provider_ref=call.session_id, correlation="direct", call_sid=call.call_sid)

    def poll(self, handles: Sequence[CallHandle], *, now: datetime) -> list[CallUpdate]:
        updates: list[CallUpdate] = []
        for handle in handles:
            if handle.provider_ref is None:
                continue
            if handle.agent is not None:
                desk = self._desk_call(handle, now=now)
                if desk is not None and _PHASE_STATE[desk[1].phase].rank > handle.state.rank:
                    updates.append(self._desk_update(desk, handle, now=now))
                continue
            centre = self.centre(handle.campaign, now=now)
            call = centre.call_for_session(handle.provider_ref)
            if call is None or _PHASE_STATE[call.phase].rank <= handle.state.rank:
                continue  # nothing new to report
            update = self._update(centre, call, handle, now=now)
            if update.state.rank > handle.state.rank:
                updates.append(update)
        return updates

    def reconcile(self, handle: CallHandle, *, now: datetime) -> CallUpdate | None:
        if handle.agent is not None:
            desk = self._desk_call(handle, now=now)
            if desk is None:
                return None
            update = self._desk_update(desk, handle, now=now)
            return update if handle.provider_ref else replace(update, correlation="matched")
        centre = self._centres.get(handle.campaign)
        if centre is None:
            return None  # this process's model never placed it (the model restarts with the process)
        if handle.provider_ref:
            call = centre.call_for_session(handle.provider_ref)
        else:  # the placement's answer was lost: find the call by number and time, as a carrier would
            since = centre.to_t(handle.placed_at) - 60.0
            calls = [c for c in centre.iter_calls() if c.number == handle.number and c.dialed_at >= since]
            call = max(calls, key=lambda c: c.dialed_at, default=None)
        if call is None:
            return None
        update = self._update(self.centre(handle.campaign, now=now), call, handle, now=now)
        return update if handle.provider_ref else replace(update, correlation="matched")

    def hang_up(self, handle: CallHandle, *, now: datetime) -> None:
        if handle.agent is not None:
            desk = self._desk_call(handle, now=now)
            if desk is not None:
                desk[0].hang_up(desk[1].session_id)
            return
        if handle.provider_ref:
            self.centre(handle.campaign, now=now).hang_up(handle.provider_ref)

    def agent_view(self, campaign: str, *, now: datetime) -> AgentView | None:
        centre = self.centre(campaign, now=now)
        agents = self._agents_for(campaign)
        if agents != centre.logged_in:
            centre.set_agents(agents)
        obs = centre.observe()
        return AgentView(
            agents=obs.agents,
            idle=obs.idle_agents,
            busy_elapsed=obs.busy_elapsed,
            waiting=obs.waiting,
            ringing_ages=obs.ringing_ages,
            lines_in_use=centre.active_calls(),
            talk_elapsed=obs.talk_elapsed,
            wrap_remaining=obs.wrap_remaining,
        )

    def centre_stats(self, campaign: str, *, now: datetime) -> CentreStats | None:
        if campaign not in self._centres:
            return None
        centre = self.centre(campaign, now=now)
        return CentreStats(agent_seconds=centre.agent_seconds(), busy_agent_seconds=centre.busy_agent_seconds())

    def cooling_until(self, *, now: datetime) -> datetime | None:
        return None  # the simulated centre never rate-limits

    def next_event_at(self, *, now: datetime) -> datetime | None:
        pending = []
        if self._epoch is not None:
            times = [t for t in (c.next_event_time() for c in self._centres.values()) if t is not None]
            pending += [_instant_due(self._epoch, t) for t in times]
        for centre in self._desk.values():
            t = centre.next_event_time()
            if t is not None and centre.epoch is not None:
                pending.append(_instant_due(centre.epoch, t))
        return min(pending, default=None)

    def check_credentials(self) -> str:
        return "simulated call centre (no login)"

    def check_caller_ids(self, numbers: Sequence[str]) -> Mapping[str, bool]:
        return {n: self._owns(n) for n in numbers}

    def _owns(self, number: str) -> bool:
        return phones.is_dialable(number) and (self._owned is None or number in self._owned)

    def close(self) -> None:
        self._centres.clear()
        self._desk.clear()

    # --------------------------------------------------------------- helpers
    def _desk_update(self, desk: tuple[CallCentre, SimCall], handle: CallHandle, *, now: datetime) -> CallUpdate:
        centre, call = desk
        update = self._update(centre, call, handle, now=now)
        if update.state is AttemptState.ENDED:
            self._desk.pop(handle.attempt_id, None)  # reported: the dialer never asks again
        return update

    def _update(self, centre: CallCentre, call: SimCall, handle: CallHandle, *, now: datetime) -> CallUpdate:
        session = centre.session_info(call)
        state = evo_mapping.progress_state(session)
        answered, connected, ended = evo_mapping.session_times(session, observed_at=now)
        outcome = None
        if state is AttemptState.ENDED:
            outcome = evo_mapping.classify(session, seen_answer=handle.seen_answer)
        return CallUpdate(
            attempt_id=handle.attempt_id,
            state=state,
            provider_ref=call.session_id,
            call_sid=call.call_sid,
            answered_at=answered,
            connected_at=connected,
            ended_at=ended,
            outcome=outcome,
            raw_outcome=_text(session, "outcome"),
            was_missed=bool(session.get("wasMissed")) if state is AttemptState.ENDED else None,
            amd=_amd(centre, outcome),
            agent=_text(session, "answeredByName"),
            duration_s=evo_mapping.duration_seconds(session),
            raw=session if state is AttemptState.ENDED else None,
            caller_id=call.caller_id,
        )


def _instant_due(epoch: datetime, t: float) -> datetime:
    """The first whole microsecond at which the model event at ``t`` seconds after ``epoch`` is
    due. Rounded up: an instant rounded to the nearest microsecond can fall just before the
    event, and a clock advanced to it would never reach the event."""
    us = math.ceil(t * 1_000_000)
    while us / 1_000_000 < t:  # t * 1e6 itself may have been rounded down
        us += 1
    return epoch + timedelta(microseconds=us)


def _amd(centre: CallCentre, outcome: CallResult | None) -> str | None:
    """The simulated flow runs answering-machine detection when the model has machines or AMD
    errors; its verdict is ``machine`` for calls it released as machines, else ``human``."""
    m = centre.model
    if outcome is None or not (m.machine_share or m.amd_false_positive):
        return None
    if outcome is CallResult.ANSWERING_MACHINE:
        return "machine"
    return "human" if outcome.is_live else None


def _text(session: Mapping[str, object], key: str) -> str | None:
    value = session.get(key)
    return value if isinstance(value, str) else None

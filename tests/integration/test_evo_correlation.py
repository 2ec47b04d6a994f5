"""Correlating many placed calls at once, over real HTTP against the Evo Voice sandbox.

NewOutgoingSession documents no response, so each placed call's session is found by
listing sessions. With hundreds of calls in flight, a search per call would spend the poll's
whole request budget on a few calls; instead the account's sessions are read newest first,
a page at a time, back to the oldest placement, and every page is matched against every
call still unmatched.
"""

from __future__ import annotations

import pytest

from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState
from dialer.sim.callcentre import CallModel
from dialer.telephony.base import CallHandle, CallRequest
from dialer.telephony.evo_voice import backend as evo_backend_mod
from tests.conftest import T0
from tests.telephony_lines import OWNED, evo_backend, evo_sandbox

#: Nobody answers and calls ring for a minute: every call is still ringing when polled.
RINGING = CallModel(hit_rate=0.0, ring_timeout=60)


def place(
    backend: evo_backend_mod.EvoVoiceTelephony, clock: VirtualClock, n: int, *, first: int = 4000
) -> list[CallHandle]:
    handles = []
    for i in range(n):
        number = f"+1212555{first + i:04d}"
        request = CallRequest(
            attempt_id=f"a-{i}", campaign="c", flow_id="flow-agents", number=number, caller_id=OWNED[0]
        )
        assert backend.place_call(request, now=clock.now()).provider_ref is None  # the documented empty answer
        handles.append(CallHandle(attempt_id=request.attempt_id, campaign="c", number=number, placed_at=clock.now()))
        clock.advance(0.01)
    return handles


@pytest.mark.parametrize("other_calls", [0, 25])
def test_placed_calls_are_correlated_page_by_page_in_one_poll(
    monkeypatch: pytest.MonkeyPatch, other_calls: int
) -> None:
    monkeypatch.setattr(evo_backend_mod, "CORRELATION_PAGE", 10)
    clock = VirtualClock(T0)
    with evo_sandbox(clock=clock, agents=80, model=RINGING) as (sandbox, url):
        backend = evo_backend(url, live_calls=False, tag_sessions=False)
        try:
            place(backend, clock, other_calls, first=5000)  # older sessions, to other numbers
            handles = place(backend, clock, 30)
            before = sandbox.requests
            updates = backend.poll(handles, now=clock.now())
            session_of = {p.number: p.session_id for p in sandbox.placements}
            assert {u.attempt_id: u.provider_ref for u in updates} == {
                h.attempt_id: session_of[h.number] for h in handles
            }
            assert {u.state for u in updates} == {AttemptState.RINGING}
            assert {u.correlation for u in updates} == {"matched"}
            # 30 calls, 10 sessions a page: 3 pages, older sessions or not; never a search per call.
            assert sandbox.requests - before == 3
        finally:
            backend.close()


def test_a_call_with_no_session_yet_is_decided_by_a_page_that_reaches_back_past_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(evo_backend_mod, "CORRELATION_PAGE", 10)
    clock = VirtualClock(T0)
    with evo_sandbox(clock=clock, agents=80, model=RINGING) as (sandbox, url):
        backend = evo_backend(url, live_calls=False, tag_sessions=False)
        try:
            handles = place(backend, clock, 3)
            ghost = CallHandle(attempt_id="ghost", campaign="c", number="+12125559999", placed_at=clock.now())
            before = sandbox.requests
            updates = backend.poll([*handles, ghost], now=clock.now())
            assert sorted(u.attempt_id for u in updates) == ["a-0", "a-1", "a-2"]  # the ghost is not found yet
            assert sandbox.requests - before == 1  # one short page decided all four
        finally:
            backend.close()


#: Everybody answers at once and talks for a second: a call has ended by its first poll.
SHORT = CallModel(hit_rate=1.0, answer_min=0.2, answer_shape=3.0, answer_scale=0.05, talk_mean=1.0, wrap=0.0)


@pytest.mark.parametrize("calls", [1, 3])
def test_an_update_the_store_did_not_take_is_reported_again_on_the_next_poll(calls: int) -> None:
    """The poll that correlates a call may be lost on the way to the store (the database was
    cut while the write-back ran). The store then still shows the call with no session and
    the same state, and the next poll must report the session and outcome again — not
    treat its own earlier claim as another call's and end the attempt ``session_not_found``."""
    clock = VirtualClock(T0)
    with evo_sandbox(clock=clock, agents=8, model=SHORT) as (sandbox, url):
        backend = evo_backend(url, live_calls=False, tag_sessions=False, poll_interval=0.5)
        try:
            handles = place(backend, clock, calls)
            clock.advance(30)
            first = backend.poll(handles, now=clock.now())
            assert {u.state for u in first} == {AttemptState.ENDED} and len(first) == calls
            # Nothing of ``first`` was written: the handles are what the store still holds.
            clock.advance(1)
            again = backend.poll(handles, now=clock.now())
            session_of = {p.number: p.session_id for p in sandbox.placements}
            number_of = {h.attempt_id: h.number for h in handles}
            assert {u.attempt_id: (u.provider_ref, u.correlation, u.outcome) for u in again} == {
                u.attempt_id: (session_of[number_of[u.attempt_id]], "matched", u.outcome) for u in first
            }
            assert all(u.outcome is not None and u.outcome.value != "UNKNOWN" for u in again)
        finally:
            backend.close()

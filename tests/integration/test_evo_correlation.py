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

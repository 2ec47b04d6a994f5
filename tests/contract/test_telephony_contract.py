"""One behavioural contract for every telephony backend (see ``line`` in conftest.py).

The same tests run against the simulated call centre in-process, the real Evo Voice client
talking HTTP to the Evo Voice sandbox, and the Twilio backend (the real `twilio` library and
signed callbacks) against the Twilio sandbox, all on loopback.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult, Category
from dialer.errors import TelephonyRejected
from dialer.sim.callcentre import CallModel
from dialer.telephony.base import CallHandle
from tests.telephony_lines import NOT_OWNED, OWNED, Line, apply

MakeLine = Callable[..., Line]
NUMBER = "+12125550123"


def test_the_login_is_checked(line: MakeLine) -> None:
    assert line().backend.check_credentials()


def test_an_answered_call_is_followed_to_its_canonical_outcome(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=1.0, talk_mean=30), agents=2)
    placed_at = ln.clock.now()
    handle, updates = ln.follow(ln.place(NUMBER))
    states = [u.state for u in updates]
    assert states == sorted(states, key=lambda s: s.rank) and len(set(states)) == len(states)  # forward only
    assert AttemptState.RINGING in states and states[-1] is AttemptState.ENDED
    end = updates[-1]
    assert end.outcome is CallResult.ANSWER and end.was_missed is False
    assert end.provider_ref and end.provider_ref == handle.provider_ref
    if ln.knows_agent:
        assert end.agent  # the agent who took the call
    assert end.answered_at and end.connected_at and end.ended_at
    assert placed_at <= end.answered_at <= end.connected_at <= end.ended_at <= ln.clock.now()
    assert end.raw and end.raw_outcome  # the provider's own fields travel with the canonical result


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (CallModel(hit_rate=0.0), CallResult.NO_ANSWER),
        (CallModel(hit_rate=0.0, busy_share=1.0), CallResult.BUSY),
        (CallModel(hit_rate=0.0, machine_share=1.0), CallResult.ANSWERING_MACHINE),
        (CallModel(hit_rate=0.0, fail_share=1.0), Category.NETWORK),  # DIAL_ERROR, or SIT_NO_CIRCUIT on a 503
        (CallModel(bad_number_share=1.0), CallResult.SIT_VACANT),
    ],
    ids=["no-answer", "busy", "machine", "failed", "not-in-service"],
)
def test_unanswered_calls_end_with_their_result(
    line: MakeLine, model: CallModel, expected: CallResult | Category
) -> None:
    ln = line(model=model)
    _, updates = ln.follow(ln.place(NUMBER))
    outcome = updates[-1].outcome
    assert outcome is not None
    assert (outcome if isinstance(expected, CallResult) else outcome.category) is expected
    assert updates[-1].was_missed is False


def test_an_answered_call_no_agent_takes_is_abandoned(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=1.0), agents=0)
    _, updates = ln.follow(ln.place(NUMBER))
    end = updates[-1]
    assert end.outcome is CallResult.ABANDONED and end.outcome.is_abandoned
    assert end.was_missed is True and end.connected_at is None and end.answered_at is not None


def test_hanging_up_a_ringing_call_cancels_it(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=0.0))
    handle = ln.place(NUMBER)
    ln.clock.advance(3)
    for update in ln.backend.poll([handle], now=ln.clock.now()):
        handle = apply(handle, update)
    assert handle.provider_ref  # the session is known by now
    ln.backend.hang_up(handle, now=ln.clock.now())
    _, updates = ln.follow(handle, seconds=10)
    assert updates[-1].outcome is CallResult.CANCELLED


def test_hanging_up_a_call_with_an_agent_ends_it_answered(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=1.0, talk_mean=600), agents=1)
    handle = ln.place(NUMBER)
    for _ in range(40):
        ln.clock.advance(1)
        for update in ln.backend.poll([handle], now=ln.clock.now()):
            handle = apply(handle, update)
        if handle.state is AttemptState.CONNECTED:
            break
    assert handle.state is AttemptState.CONNECTED
    ln.backend.hang_up(handle, now=ln.clock.now())
    _, updates = ln.follow(handle, seconds=10)
    assert updates[-1].outcome is CallResult.ANSWER


def test_polling_reports_changes_only(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=0.0))
    handle = ln.place(NUMBER)
    ln.clock.advance(2)
    first = ln.backend.poll([handle], now=ln.clock.now())
    assert [u.state for u in first] == [AttemptState.RINGING]
    handle = apply(handle, first[0])
    assert ln.backend.poll([handle], now=ln.clock.now()) == []


def test_reconcile_finds_the_call_of_an_uncertain_placement(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=1.0, talk_mean=20), agents=1)
    placed = ln.place(NUMBER)
    # The answer to the placement was lost: the dialer only knows the number and the time.
    uncertain = CallHandle(
        attempt_id=placed.attempt_id,
        campaign=placed.campaign,
        number=placed.number,
        placed_at=placed.placed_at,
        state=AttemptState.UNCERTAIN,
    )
    ln.clock.advance(1)
    found = ln.backend.reconcile(uncertain, now=ln.clock.now())
    assert found is not None and found.provider_ref and found.correlation == "matched"
    assert found.state.rank > AttemptState.UNCERTAIN.rank
    _, updates = ln.follow(apply(uncertain, found))
    assert updates[-1].outcome is CallResult.ANSWER and updates[-1].provider_ref == found.provider_ref


def test_reconcile_of_an_attempt_never_placed_finds_nothing(line: MakeLine) -> None:
    ln = line()
    ln.place("+12125550177")  # another number's call is no match
    ghost = CallHandle(
        attempt_id="never-sent",
        campaign="contract",
        number=NUMBER,
        placed_at=ln.clock.now(),
        state=AttemptState.UNCERTAIN,
    )
    ln.clock.advance(120)  # past the ring timeout: a late session can no longer appear
    assert ln.backend.reconcile(ghost, now=ln.clock.now()) is None


def test_caller_ids_are_checked_against_the_numbers_the_account_owns(line: MakeLine) -> None:
    ln = line()
    owned = ln.backend.check_caller_ids([OWNED[0], OWNED[1], NOT_OWNED, "12125550100"])
    assert owned == {OWNED[0]: True, OWNED[1]: True, NOT_OWNED: False, "12125550100": False}


def test_a_caller_id_the_account_does_not_own_is_refused(line: MakeLine) -> None:
    ln = line()
    with pytest.raises(TelephonyRejected) as caught:
        ln.place(NUMBER, caller_id=NOT_OWNED)
    assert caught.value.bad_caller_id and not caught.value.bad_number


def test_without_a_caller_id_the_provider_picks_an_owned_one(line: MakeLine) -> None:
    ln = line(model=CallModel(hit_rate=0.0))
    if not ln.random_caller_id:  # Twilio needs From on every call: refused before anything is sent
        with pytest.raises(TelephonyRejected) as caught:
            ln.place(NUMBER, caller_id=None)
        assert caught.value.bad_caller_id
        return
    _, updates = ln.follow(ln.place(NUMBER, caller_id=None))
    raw = updates[-1].raw
    assert raw is not None and raw["fromAddress"] in OWNED
    # The number it picked comes back with the results, so the attempt can record it.
    assert {u.caller_id for u in updates} == {raw["fromAddress"]}


@pytest.mark.parametrize("number", ["+1212555", "12125550123", "+1 212 555 0123", ""])
def test_a_number_that_is_not_e164_is_rejected_as_bad(line: MakeLine, number: str) -> None:
    ln = line()
    with pytest.raises(TelephonyRejected) as caught:
        ln.place(number)
    assert caught.value.bad_number and not caught.value.bad_caller_id

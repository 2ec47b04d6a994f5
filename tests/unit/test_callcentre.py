"""The simulated call centre: its statistics and the 2-second abandon rule."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime

import pytest

from dialer.sim.callcentre import CallCentre, CallModel, Fate, Phase


def test_hit_rate_and_answer_delay_match_the_model() -> None:
    model = CallModel(hit_rate=0.30)
    centre = CallCentre(agents=10_000, model=model, seed=11)
    n = 20_000
    for i in range(n):
        centre.dial(f"+1212555{i % 10000:04d}", at=i * 0.5)
    centre.advance(n * 0.5 + 1000)
    live = [c for c in centre.iter_calls() if c.fate is Fate.LIVE]
    # p · P(2 + Gamma(3, 8/3) ≤ 25 s); the gamma tail beyond 23 s is about 0.8 %.
    expected = 0.30 * 0.992
    sd = math.sqrt(expected * (1 - expected) / n)
    assert abs(len(live) / n - expected) < 4 * sd
    delays = [c.answered_at - c.dialed_at for c in live if c.answered_at is not None]
    assert statistics.fmean(delays) == pytest.approx(9.8, abs=0.25)
    assert min(delays) >= 2.0
    assert centre.stats.abandoned == 0  # agents never ran out
    assert centre.stats.live_answers == len(live)


def _answered(centre: CallCentre, n: int) -> list[int]:
    """Dial until ``n`` calls have live fates (hit_rate 1 makes every call live)."""
    return [centre.dial(f"+1212555010{i}", at=centre.t).index for i in range(n)]


def test_a_live_answer_with_no_free_agent_for_two_seconds_is_abandoned() -> None:
    centre = CallCentre(agents=1, model=CallModel(hit_rate=1.0, talk_mean=300.0), seed=3)
    first, second = _answered(centre, 2)
    centre.advance(60)
    a, b = sorted((centre.calls[first], centre.calls[second]), key=lambda c: c.answered_at or 0)
    assert a.connected_at == a.answered_at and not a.abandoned
    assert b.abandoned and b.phase is Phase.ENDED
    assert b.connected_at is None
    assert b.ended_at == pytest.approx((b.answered_at or 0) + 2.0)
    session = centre.session_info(b)
    assert session["wasMissed"] is True and session["ended"] is True and session["outcome"] == "Missed"
    assert centre.stats.abandoned == 1 and centre.stats.connects == 1


def test_an_agent_freed_within_the_grace_time_takes_the_waiting_call() -> None:
    centre = CallCentre(agents=1, model=CallModel(hit_rate=1.0, talk_mean=300.0, wrap=0.0), seed=3)
    first, second = _answered(centre, 2)
    a, b = sorted((centre.calls[first], centre.calls[second]), key=lambda c: c.resolve_at)
    centre.advance(b.resolve_at)  # b has just been answered and is waiting
    assert b.phase is Phase.WAITING
    centre.advance(b.resolve_at + 1.5)
    centre.hang_up(a.session_id)  # the agent is free 1.5 s after b answered
    centre.advance(b.resolve_at + 10)
    assert not b.abandoned
    assert b.connected_at == pytest.approx((b.answered_at or 0) + 1.5)
    assert centre.session_info(b)["wasMissed"] is False
    assert centre.stats.abandoned == 0


def test_same_seed_same_callees_whatever_the_timing() -> None:
    """Common random numbers: the k-th dial has the same fate on the same seed."""
    slow = CallCentre(agents=5, seed=42)
    fast = CallCentre(agents=5, seed=42)
    for i in range(200):
        slow.dial(f"n{i}", at=i * 10.0)
        fast.dial(f"n{i}", at=i * 1.0)
    assert [c.fate for c in slow.iter_calls()] == [c.fate for c in fast.iter_calls()]
    assert [c.session_id for c in slow.iter_calls()] == [c.session_id for c in fast.iter_calls()]


def test_bad_numbers_stay_bad() -> None:
    centre = CallCentre(agents=5, model=CallModel(bad_number_share=0.5), seed=1)
    fates = {}
    for _attempt in range(3):
        for i in range(40):
            call = centre.dial(f"+1212555{i:04d}", at=centre.t + 1)
            fates.setdefault(call.number, set()).add(call.fate is Fate.BAD_NUMBER)
    assert all(len(v) == 1 for v in fates.values())
    assert 5 < sum(1 for v in fates.values() if True in v) < 35


def test_occupancy_accounting() -> None:
    centre = CallCentre(agents=4, model=CallModel(hit_rate=0.5), seed=5)
    for i in range(400):
        centre.dial(f"n{i}", at=i * 20.0)
    centre.advance(400 * 20.0 + 600)
    busy, staffed = centre.busy_agent_seconds(), centre.agent_seconds()
    assert 0 < busy <= staffed
    handle = sum((c.talk or 0) + centre.model.wrap for c in centre.iter_calls() if c.connected_at is not None)
    assert busy == pytest.approx(handle, rel=1e-6)


def test_session_info_has_the_seed_shape() -> None:
    centre = CallCentre(agents=1, model=CallModel(hit_rate=1.0), seed=2, epoch=datetime(2026, 3, 2, tzinfo=UTC))
    call = centre.dial("+12125550100", caller_id="+13125550100", flow_id="flow-1")
    ringing = centre.session_info(call)
    assert ringing["callState"] == "Ringing" and ringing["ended"] is False
    assert ringing["dialState"] == "Active" and ringing["direction"] == "Outgoing" and ringing["channel"] == "Voice"
    centre.advance(400)
    done = centre.session_info(call)
    for key in (
        "id",
        "dateCreated",
        "dateCompleted",
        "toAddress",
        "fromAddress",
        "callSid",
        "answeredById",
        "answeredByName",
        "wasMissed",
        "outcome",
        "log",
        "members",
        "queueState",
    ):
        assert key in done
    assert done["ended"] is True and done["outcome"] == "Completed"
    assert str(done["dateCreated"]).startswith("2026-03-02T00:00:00")
    assert str(done["callSid"]).startswith("CA") and len(str(done["callSid"])) == 34


def test_forgotten_calls_leave_no_dangling_events() -> None:
    """keep_calls=False: a call that ends before its grace timer fires must not break the model."""
    from dialer.sim.callcentre import CallCentre, CallModel

    model = CallModel(hit_rate=1.0, talk_mean=1.0, talk_cv=0.1, wrap=0.0, answer_shape=1.0, answer_scale=0.01)
    cc = CallCentre(agents=1, model=model, seed=0, keep_calls=False)
    cc.dial()  # answered at ~2 s, connected at once, talk ~1 s
    cc.dial()  # answered at ~2 s, waits for the agent, connected when the first ends
    cc.advance(10.0)
    assert cc.stats.connects == 2 and cc.stats.abandoned == 0
    assert cc.active_calls() == 0

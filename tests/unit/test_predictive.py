from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.baselines import VicidialAdaptive, VicidialRatio
from dialer.domain.pacing import PacingSnapshot
from dialer.domain.predictive import (
    Estimates,
    Predictive,
    expected_positive_part,
    marginal_calls,
    overflow_calls,
)
from tests.conftest import T0


# ----------------------------------------------------------------- overflow math
def _brute_positive_part(mu: float, sigma: float) -> float:
    """E[X⁺] by numerical integration of the normal density (midpoint rule)."""
    lo, hi, steps = max(0.0, mu - 12 * sigma), mu + 12 * sigma, 20_000
    if hi <= 0:
        return 0.0
    h = (hi - lo) / steps
    total = 0.0
    for i in range(steps):
        x = lo + (i + 0.5) * h
        total += x * math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi)) * h
    return total


@settings(max_examples=40, deadline=None)
@given(mu=st.floats(-8, 8), sigma=st.floats(0.2, 5))
def test_expected_positive_part_matches_integration(mu: float, sigma: float) -> None:
    assert expected_positive_part(mu, sigma) == pytest.approx(_brute_positive_part(mu, sigma), abs=1e-4, rel=1e-3)


def test_expected_positive_part_limits() -> None:
    assert expected_positive_part(3.0, 0.0) == 3.0
    assert expected_positive_part(-3.0, 0.0) == 0.0
    assert expected_positive_part(0.0, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert expected_positive_part(10.0, 1.0) == pytest.approx(10.0, rel=1e-6)


def _exact_overflow(qs: list[float], fs: list[float]) -> float:
    """E[(A − F)⁺] for independent Bernoulli sums, by convolution."""
    dist = {0: 1.0}
    for q in qs:
        nxt: dict[int, float] = {}
        for k, v in dist.items():
            nxt[k + 1] = nxt.get(k + 1, 0.0) + v * q
            nxt[k] = nxt.get(k, 0.0) + v * (1 - q)
        dist = nxt
    for f in fs:
        nxt = {}
        for k, v in dist.items():
            nxt[k - 1] = nxt.get(k - 1, 0.0) + v * f
            nxt[k] = nxt.get(k, 0.0) + v * (1 - f)
        dist = nxt
    return sum(max(k, 0) * v for k, v in dist.items())


@settings(max_examples=30, deadline=None)
@given(
    qs=st.lists(st.floats(0.1, 0.5), min_size=10, max_size=30),
    fs=st.lists(st.floats(0.1, 0.5), min_size=10, max_size=20),
)
def test_normal_approximation_tracks_the_exact_overflow(qs: list[float], fs: list[float]) -> None:
    mu = sum(qs) - sum(fs)
    var = sum(q * (1 - q) for q in qs) + sum(f * (1 - f) for f in fs)
    exact = _exact_overflow(qs, fs)
    approx = expected_positive_part(mu, math.sqrt(var + 0.25))
    # With a few units of variance, the corrected normal is within a tenth of a call.
    assert approx == pytest.approx(exact, abs=0.1)


@settings(max_examples=60, deadline=None)
@given(
    ans=st.floats(0, 20),
    var_a=st.floats(0, 5),
    free=st.floats(0, 20),
    var_f=st.floats(0, 5),
    p=st.floats(0.05, 0.9),
    eps=st.floats(0.001, 0.2),
    idle=st.integers(0, 5),
)
def test_overflow_calls_is_the_largest_n_meeting_the_rule(
    ans: float, var_a: float, free: float, var_f: float, p: float, eps: float, idle: int
) -> None:
    free = max(free, idle)
    limit = 60

    def ok(n: int) -> bool:
        ea = ans + n * p
        va = var_a + n * p * (1 - p) + 0.25
        over = expected_positive_part(ea - free, math.sqrt(va + var_f))
        if idle:
            over = min(over, expected_positive_part(ea - idle, math.sqrt(va)))
        return over <= eps * ea

    n = overflow_calls(
        mean_answers=ans,
        var_answers=var_a,
        mean_free=free,
        var_free=var_f,
        hit_rate=p,
        epsilon=eps,
        max_calls=limit,
        sure_free=idle,
    )
    assert 0 <= n <= limit
    if n > 0:
        assert ok(n)
    # No larger n satisfies it.
    assert not any(ok(m) for m in range(n + 1, limit + 1))


def test_more_tolerance_or_more_free_agents_means_more_calls() -> None:
    base = {"mean_answers": 1.0, "var_answers": 0.5, "mean_free": 4.0, "var_free": 1.0, "hit_rate": 0.2}
    low = overflow_calls(**base, epsilon=0.005, max_calls=100)
    high = overflow_calls(**base, epsilon=0.05, max_calls=100)
    assert high > low
    more_free = overflow_calls(**{**base, "mean_free": 8.0}, epsilon=0.005, max_calls=100)
    assert more_free > low


# -------------------------------------------------------------------- estimates
def test_estimates_learn_the_hit_rate_over_the_window() -> None:
    est = Estimates()
    for minute in range(60):
        t = minute * 60.0
        est.observe_counts(t, live=minute * 10, non_live=minute * 30)
    assert est.hit_rate == pytest.approx(0.25, abs=0.01)
    est2 = Estimates()
    for minute in range(60):
        est2.observe_counts(minute * 60.0, live=minute * 35, non_live=minute * 65)
    assert est2.hit_rate == pytest.approx(0.35, abs=0.01)


def test_free_up_probability_grows_with_the_horizon_and_wrap_is_certain() -> None:
    handle = tuple(float(h) for h in range(20, 400, 3))
    short, long = Estimates(), Estimates()
    short.rebuild(handle, (10.0,) * 50, tau=5.0)
    long.rebuild(handle, (10.0,) * 50, tau=60.0)
    s1, _ = short.free_moments((100.0,))
    s2, _ = long.free_moments((100.0,))
    assert 0.0 <= s1 < s2 <= 1.0
    split = Estimates()
    split.rebuild(handle, (10.0,) * 50, tau=12.0, wrap=10.0)
    snap = PacingSnapshot(
        now=T0,
        agents=3,
        idle_agents=1,
        busy_elapsed=(50.0, 5.0),
        talk_elapsed=(40.0,),
        wrap_remaining=(3.0,),
        wrap_seconds=10.0,
    )
    mean, _var = split.agent_moments(snap)
    assert mean >= 2.0  # the idle agent and the one finishing wrap-up are sure
    assert mean < 3.0


def test_posterior_of_a_ringing_call_falls_with_its_age() -> None:
    est = Estimates()
    est.rebuild((130.0,) * 50, tuple(2.0 + i * 0.3 for i in range(60)), tau=None)
    young, _ = est.answer_moments((1.0,))
    old, _ = est.answer_moments((19.0,))
    dead, _ = est.answer_moments((40.0,))
    assert young > old > dead >= 0.0
    assert young == pytest.approx(est.hit_rate, abs=0.01)


# ---------------------------------------------------------------------- policy
def _snap(t: float, **kw: object) -> PacingSnapshot:
    values: dict[str, object] = {
        "agents": 20,
        "idle_agents": 5,
        "busy_elapsed": (60.0,) * 15,
        "handle_times": tuple(float(h) for h in range(30, 330, 2)),
        "answer_delays": tuple(2.0 + (i % 20) for i in range(150)),
        "live_answers": 500,
        "non_live": 2000,
        "abandoned": 10,
    }
    values.update(kw)
    return PacingSnapshot(now=T0 + timedelta(seconds=t), **values)  # type: ignore[arg-type]


def test_cold_start_dials_progressively_with_a_reason() -> None:
    d = Predictive().decide(_snap(0, live_answers=40, abandoned=0))
    assert d.mode == "progressive"
    assert "cold start" in d.reason and "40 of 100" in d.reason
    assert d.calls_to_place == 5  # one per idle agent


def test_too_few_agents_dials_progressively() -> None:
    d = Predictive(min_agents=5).decide(_snap(0, agents=4, idle_agents=2, busy_elapsed=(10.0, 20.0)))
    assert d.mode == "progressive"
    assert "min_agents_predictive = 5" in d.reason


def test_predictive_overdials_with_idle_agents_and_never_cancels() -> None:
    pol = Predictive()
    d = pol.decide(_snap(0))
    assert d.mode == "predictive"
    assert d.calls_to_place > 5  # more than progressive would place for 5 idle agents
    crowded = pol.decide(_snap(1, idle_agents=0, busy_elapsed=(5.0,) * 20, ringing_ages=(1.0,) * 40))
    assert crowded.calls_to_place == 0
    assert "never cancelled" in crowded.reason


def test_drop_spike_halves_epsilon() -> None:
    pol = Predictive()
    pol.decide(_snap(0, live_answers=500, abandoned=10))
    before = pol.current_epsilon
    d = pol.decide(_snap(30, live_answers=530, abandoned=26))  # 16 of 30 answers in the last minute dropped
    assert "drop spike" in d.reason
    assert pol.current_epsilon == pytest.approx(before / 2)


def test_budget_spent_goes_progressive_until_it_recovers() -> None:
    pol = Predictive()
    pol.decide(_snap(0, live_answers=200, abandoned=0))
    d = pol.decide(_snap(120, live_answers=1000, abandoned=31))  # 31 of 800 = 3.9 % over the window
    assert d.mode == "progressive" and "budget spent" in d.reason
    # still above the recovery level
    assert pol.decide(_snap(240, live_answers=1100, abandoned=31)).mode == "progressive"  # 31/900 = 3.4 %
    recovered = pol.decide(_snap(360, live_answers=1900, abandoned=31))  # 31/1700 = 1.8 %
    assert recovered.mode == "predictive"


def test_uk_profile_aims_lower() -> None:
    assert Predictive().target == pytest.approx(0.025)
    assert Predictive(compliance_profile="uk").target == pytest.approx(0.018)
    assert Predictive(abandon_cap=0.02).target == pytest.approx(0.02 * 2.5 / 3)
    with pytest.raises(ValueError):
        Predictive(compliance_profile="fr")


@pytest.mark.parametrize(("abandoned_per_minute", "direction"), [(0, 1), (3, -1)])
def test_integral_loop_moves_epsilon_toward_the_target(abandoned_per_minute: int, direction: int) -> None:
    pol = Predictive()
    start = pol.current_epsilon
    live, ab = 500, 10
    for minute in range(30):
        for second in range(0, 60, 20):
            pol.decide(_snap(minute * 60 + second, live_answers=live, abandoned=ab))
        live += 20
        ab += abandoned_per_minute  # 0 % or 15 % of 20 answers a minute vs a 2.5 % target
    assert (pol.current_epsilon - start) * direction > 0


def test_loop_is_frozen_while_falling_back() -> None:
    pol = Predictive()
    start = pol.current_epsilon
    live = 10
    for minute in range(30):
        pol.decide(_snap(minute * 60, live_answers=live, abandoned=0))
        live += 3  # stays under 100 live answers: cold start the whole time
    assert pol.current_epsilon == start


# ------------------------------------------------------------ marginal rule, day budget, AMD
def test_marginal_rule_places_calls_while_each_ones_overflow_is_under_the_threshold() -> None:
    base = {"mean_answers": 1.0, "var_answers": 0.5, "mean_free": 6.0, "var_free": 1.0, "hit_rate": 0.2}
    n = marginal_calls(**base, threshold=0.1, max_calls=200)
    assert 0 < n < 200

    def over(k: int) -> float:
        ea = 1.0 + 0.2 * k
        return expected_positive_part(ea - 6.0, math.sqrt(0.5 + 0.16 * k + 0.25 + 1.0))

    assert over(n) - over(n - 1) <= 0.1 * 0.2 < over(n + 1) - over(n)
    assert marginal_calls(**base, threshold=0.3, max_calls=200) > n  # more tolerance, more calls
    assert marginal_calls(**{**base, "mean_free": 0.0, "var_free": 0.0}, threshold=0.1, max_calls=200) == 0


def test_auto_rule_is_marginal_for_small_teams_with_its_own_epsilon() -> None:
    pol = Predictive()
    assert pol.rule_for(5) == "marginal" and pol.rule_for(20) == "average"
    small = pol.decide(_snap(0, agents=6, idle_agents=3, busy_elapsed=(60.0,) * 3))
    assert small.mode == "predictive"
    assert pol.current_epsilon == pytest.approx(0.05)
    pol.decide(_snap(1))
    assert pol.current_epsilon == pytest.approx(0.007)
    with pytest.raises(ValueError, match="rule"):
        Predictive(rule="psychic")


def test_day_budget_slows_then_stops_a_day_running_over_the_cap() -> None:
    day = 8 * 3600.0
    pol = Predictive(day_seconds=day, day_origin=T0)
    assert pol.target == pytest.approx(0.027)  # every day is held under the cap: aim higher
    pol.decide(_snap(0, live_answers=500, abandoned=10))
    on_track = pol.day_factor(_snap(3600, live_answers=1500, abandoned=20))  # 10 of 1000 today
    assert on_track == 1.0
    # A small team (100 answers an hour) on track early in the day keeps its ε: the margin covers
    # the next hour's noise, which the loop can still correct after it ...
    small = pol.day_factor(_snap(3600, live_answers=600, abandoned=11))  # 1 of 100 today
    assert small is not None and small > 0.95
    hot = pol.day_factor(_snap(3600, live_answers=600, abandoned=14))  # 4 of 100 in the first hour
    assert hot is not None and 0.5 < hot < small
    # ... while a margin over the whole rest of the day (day_horizon=None) slows it already.
    whole = Predictive(day_seconds=day, day_origin=T0, day_horizon=None)
    whole.decide(_snap(0, live_answers=500, abandoned=10))
    small_whole = whole.day_factor(_snap(3600, live_answers=600, abandoned=11))
    assert small_whole is not None and 0.5 < small_whole < 1.0
    hot_whole = whole.day_factor(_snap(3600, live_answers=600, abandoned=14))
    assert hot_whole is not None and 0.0 < hot_whole < min(small_whole, hot)
    spent = pol.decide(_snap(4 * 3600, live_answers=900, abandoned=10 + 45))  # 45 of 400 today
    assert spent.mode == "progressive" and "today's abandonment allowance is spent" in spent.reason
    # a new day starts with a fresh allowance
    assert pol.day_factor(_snap(day + 3600, live_answers=1300, abandoned=56)) == 1.0
    assert Predictive().day_factor(_snap(0)) is None  # off unless configured


def test_day_budget_leaves_the_amd_false_positives_out_of_what_the_pacer_may_spend() -> None:
    """People taken for machines are abandoned whatever the pacing: the day budget plans for
    them, so a day whose allowance they already fill dials progressively."""
    day = 8 * 3600.0
    pol = Predictive(day_seconds=day, day_origin=T0)
    assert pol.day_factor(_snap(0, live_answers=0, abandoned=0)) == 1.0  # the day starts
    # 4 h in: 400 live answers, 8 abandoned (2 %): on track
    plain = _snap(4 * 3600, live_answers=400, abandoned=8)
    assert Predictive.floor_rate(plain) == 0.0
    assert pol.day_factor(plain) == 1.0
    # the same day, when 6 of the 8 were AMD false positives (1.5 % of live answers): the other
    # 4 h will bring about 6 more of those, give or take √6, which leaves the pacer little
    amd = _snap(4 * 3600, live_answers=400, abandoned=8, amd_false_positives=6)
    assert Predictive.floor_rate(amd) == pytest.approx(0.015)
    tight = pol.day_factor(amd)
    assert tight is not None and 0.0 < tight < 0.5
    # 12 of them already (3 %): nothing is left for the pacer's own abandons today
    spent = _snap(4 * 3600, live_answers=400, abandoned=13, amd_false_positives=12)
    assert pol.day_factor(spent) == 0.0
    d = pol.decide(spent)
    assert d.mode == "progressive" and "today's abandonment allowance is spent" in d.reason
    # a handful early on does not read as a high share
    assert Predictive.floor_rate(_snap(0, live_answers=20, abandoned=2, amd_false_positives=2)) == 0.01


def test_ringing_calls_are_likelier_live_when_non_live_calls_leave_early() -> None:
    """AMD and fast failures: non-live attempts that stop ringing early make a call still
    ringing at 10 s likelier to be a person than when every non-live rings to the timeout."""
    plain, amd = Estimates(), Estimates()
    delays = tuple(2.0 + 0.1 * i for i in range(160))
    plain.rebuild((130.0,) * 50, delays, tau=None)
    amd.rebuild((130.0,) * 50, delays, tau=None, non_live_times=(3.0,) * 200 + (25.0,) * 200)
    q_plain, _ = plain.answer_moments((10.0,))
    q_amd, _ = amd.answer_moments((10.0,))
    assert q_amd > 1.5 * q_plain


# ------------------------------------------------------------------- baselines
def _adaptive_run(pol: VicidialAdaptive, seconds: int, **kw: object) -> None:
    for s in range(seconds):
        pol.decide(_snap(s, **kw))


def test_vicidial_adaptive_raises_the_level_while_agents_sit_idle() -> None:
    pol = VicidialAdaptive()
    _adaptive_run(pol, 60, idle_agents=10, waiting=0, live_answers=0, abandoned=0, dials=0)
    assert 1.0 < pol.level <= pol.max_level


def test_vicidial_adaptive_lowers_the_level_when_answers_wait() -> None:
    pol = VicidialAdaptive(level=2.0)
    _adaptive_run(pol, 31, idle_agents=0, waiting=6, live_answers=0, abandoned=0, dials=0)
    assert 1.0 <= pol.level < 2.0


def test_vicidial_adaptive_hard_limit_when_today_is_over_the_cap() -> None:
    pol = VicidialAdaptive(level=2.5)
    pol.decide(_snap(0, idle_agents=10, live_answers=0, abandoned=0, dials=0))
    d = pol.decide(_snap(61, idle_agents=10, live_answers=100, abandoned=5, dials=400))  # 5 % today
    assert pol.level == 1.0
    assert "over 3%" in d.reason
    assert d.calls_to_place == 20  # level 1.0 × 20 agents − 0 active lines


def test_vicidial_adaptive_halves_on_a_drop_spike() -> None:
    pol = VicidialAdaptive(level=3.0)
    pol.decide(_snap(0, idle_agents=0, waiting=0, live_answers=0, abandoned=0, dials=0))
    pol.decide(_snap(61, idle_agents=0, waiting=0, live_answers=30, abandoned=20, dials=45))
    assert pol.level == pytest.approx(1.5, abs=0.1)


def test_vicidial_ratio_dials_to_its_level() -> None:
    d = VicidialRatio(level=2.0).decide(_snap(0, lines_in_use=25))
    assert d.calls_to_place == 15

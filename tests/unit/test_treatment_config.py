"""Per-campaign retry treatments: the spec syntax, final results, retry_at, and retries clamped
into the callee's window and the campaign schedule (across DST) by the tick's decide_next."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.daemon.tick import decide_next, retry_policy
from dialer.domain import windows
from dialer.domain.campaigns import Campaign
from dialer.domain.records import Record, RecordStatus
from dialer.domain.results import CallResult, Category
from dialer.domain.treatments import (
    DEFAULT_TREATMENTS,
    NEVER_RETRIED,
    Action,
    RetryPolicy,
    parse_duration,
    parse_treatment,
)
from dialer.domain.windows import CallingWindow

NY = "America/New_York"


def campaign(**options: Any) -> Campaign:
    return Campaign(id=1, name="c", flow_id="f", caller_ids=("+12125550100",), options=options)


def record(zone: str = NY, **kw: Any) -> Record:
    values: dict[str, Any] = {
        "id": 1,
        "campaign_id": 1,
        "handle": "R",
        "phone": "+12125550100",
        "caller_id": None,
        "user_data": {},
        "status": RecordStatus.DIALING,
        "next_dial_at": datetime(2026, 3, 2, tzinfo=UTC),
        "attempts": 1,
        "timezone": zone,
        "tz_candidates": (zone,),
    }
    values.update(kw)
    return Record(**values)


def test_every_default_treatment_round_trips_through_its_spec() -> None:
    for result, treatment in DEFAULT_TREATMENTS.items():
        assert parse_treatment(result, treatment.spec()) == treatment


@pytest.mark.parametrize(
    ("spec", "action", "describe"),
    [
        ("retry_in 30m +5m x3", Action.RETRY_IN, "retry 3× every 30m +5m/cycle"),
        ("retry_in 3h x3, retry_in 27h +2h x3", Action.RETRY_IN, "retry 3× every 3h, then 3× every 27h +2h/cycle"),
        ("retry_in 1h30m", Action.RETRY_IN, "retry 1× every 90m"),
        ("retry_at 10:00 after 12h +2h x2", Action.RETRY_AT, "retry 2× at 10:00 local +2h/cycle (at least 12h later)"),
        ("final", Action.FINAL, "final (exhausted)"),
        ("final cancelled", Action.FINAL, "final (cancelled)"),
        ("release", Action.RELEASE, "back to ready, attempt not counted"),
    ],
)
def test_treatment_specs(spec: str, action: Action, describe: str) -> None:
    t = parse_treatment(CallResult.BUSY, spec)
    assert t.action is action and t.describe() == describe
    assert parse_treatment(CallResult.BUSY, t.spec()) == t


@pytest.mark.parametrize(
    ("result", "spec", "message"),
    [
        (CallResult.BUSY, "retry_in soon", "not a duration"),
        (CallResult.BUSY, "retry_in 10m x0", "at least one cycle"),
        (CallResult.BUSY, "retry_at 25:00", "retry_at 10:00"),
        (CallResult.BUSY, "retry_in 1h, retry_at 10:00", "do not mix"),
        (CallResult.BUSY, "final ready", "not a final status"),
        (CallResult.BUSY, "call them again", "start with final"),
        (CallResult.DO_NOT_CALL, "retry_in 1h", "never retried"),
        (CallResult.SIT_VACANT, "final exhausted", "final bad_number"),
        (CallResult.ANSWER, "retry_in 1d", "final completed"),
    ],
)
def test_bad_treatments_are_refused_with_the_syntax(result: CallResult, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_treatment(result, spec)


def test_bad_numbers_dnc_and_completed_calls_are_final_in_the_defaults() -> None:
    for result in CallResult:
        if result.category in (Category.BAD_NUMBER, Category.DNC) or result is CallResult.ANSWER:
            assert result in NEVER_RETRIED
            assert DEFAULT_TREATMENTS[result].action is Action.FINAL
            assert DEFAULT_TREATMENTS[result].final_status is NEVER_RETRIED[result]


def test_durations() -> None:
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    with pytest.raises(ValueError):
        parse_duration("")


def test_campaign_overrides_reach_the_retry_policy() -> None:
    c = campaign(treatments={"BUSY": "retry_in 20m x2", "NO_ANSWER": "final"})
    policy = retry_policy(c)
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert policy.next_attempt(result=CallResult.BUSY, attempts=1, occurrences=2, now=now).retry_at == now + timedelta(
        minutes=20
    )
    assert policy.next_attempt(result=CallResult.BUSY, attempts=1, occurrences=3, now=now).status is (
        RecordStatus.EXHAUSTED
    )
    assert policy.next_attempt(result=CallResult.NO_ANSWER, attempts=1, occurrences=1, now=now).retry_at is None
    # Results the campaign does not override keep their defaults.
    assert policy.treatment_for(CallResult.SILENCE) == DEFAULT_TREATMENTS[CallResult.SILENCE]


def test_retry_at_lands_on_the_callees_wall_clock_across_dst() -> None:
    policy = RetryPolicy(max_attempts=10).with_overrides(
        {CallResult.ANSWERING_MACHINE: parse_treatment(CallResult.ANSWERING_MACHINE, "retry_at 10:00 after 20h +2h x2")}
    )
    saturday = datetime(2026, 3, 7, 16, 0, tzinfo=UTC)  # 11:00 EST; clocks go forward on Sunday
    first = policy.next_attempt(result=CallResult.ANSWERING_MACHINE, attempts=1, occurrences=1, now=saturday, zone=NY)
    assert first.retry_at == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # Sunday 10:00 EDT
    second = policy.next_attempt(result=CallResult.ANSWERING_MACHINE, attempts=2, occurrences=2, now=saturday, zone=NY)
    assert second.retry_at is not None
    assert second.retry_at.astimezone(ZoneInfo(NY)).time() == time(12, 0)  # a different hour next time


def test_retry_is_clamped_into_the_window_across_spring_forward() -> None:
    # Saturday 20:30 EST; BUSY retries in 30 min = 21:00 EST, closed. The window opens Sunday
    # 08:00, which is EDT after the clocks went forward: 12:00 UTC, not 13:00.
    late = datetime(2026, 3, 8, 1, 30, tzinfo=UTC)
    d = decide_next(campaign(), record(result_counts={"BUSY": 1}), CallResult.BUSY, now=late)
    assert d.retry_at == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert "calling window opens" in d.reason


def test_retry_is_clamped_into_the_window_across_fall_back() -> None:
    late = datetime(2026, 11, 1, 0, 45, tzinfo=UTC)  # Sat 20:45 EDT
    d = decide_next(campaign(), record(result_counts={"BUSY": 1}), CallResult.BUSY, now=late)
    assert d.retry_at == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # Sunday 08:00 EST


def test_retry_is_clamped_into_the_campaign_schedule_too() -> None:
    c = campaign(schedule_hours="09:00-17:00", schedule_days="mon-fri")
    friday = datetime(2026, 3, 6, 21, 45, tzinfo=UTC)  # Fri 16:45 EST: +30 min is after 17:00
    d = decide_next(c, record(result_counts={"BUSY": 1}), CallResult.BUSY, now=friday)
    assert d.retry_at == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # Monday 09:00 EDT
    assert "campaign schedule" in d.reason


def test_uk_profile_never_proposes_a_redial_inside_the_lockout() -> None:
    c = campaign(
        compliance_profile="uk", treatments={"ABANDONED": "retry_in 1h x3", "ANSWERING_MACHINE": "retry_in 2h"}
    )
    london = record(zone="Europe/London", phone="+442071234567")
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    abandoned = decide_next(c, london, CallResult.ABANDONED, now=now)
    assert abandoned.retry_at == now + timedelta(hours=72)
    assert "UK profile" in abandoned.reason
    machine = decide_next(c, london, CallResult.ANSWERING_MACHINE, now=now)
    assert machine.retry_at == now + timedelta(hours=24)
    us = decide_next(campaign(treatments={"ABANDONED": "retry_in 1h x3"}), record(), CallResult.ABANDONED, now=now)
    assert us.retry_at == now + timedelta(hours=1)


ZONES = ["America/New_York", "America/Denver", "America/Phoenix", "Pacific/Honolulu", "Europe/London", "Asia/Kolkata"]


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    result=st.sampled_from([CallResult.BUSY, CallResult.NO_ANSWER, CallResult.DIAL_ERROR, CallResult.SILENCE]),
    occurrences=st.integers(min_value=1, max_value=4),
    minutes=st.integers(min_value=0, max_value=366 * 24 * 60),
)
def test_retries_always_land_inside_the_window_and_never_earlier_than_proposed(
    zone: str, result: CallResult, occurrences: int, minutes: int
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    c = campaign(schedule_days="mon-fri")
    r = record(zone=zone, result_counts={result.value: occurrences})
    proposed = RetryPolicy(max_attempts=c.max_attempts).next_attempt(
        result=result, attempts=1, occurrences=occurrences, now=now, zone=zone
    )
    d = decide_next(c, r, result, now=now)
    assert d.status is proposed.status
    if d.retry_at is None:
        return
    assert proposed.retry_at is not None and d.retry_at >= proposed.retry_at
    assert windows.is_open(CallingWindow(), [zone], d.retry_at)
    assert d.retry_at.astimezone(ZoneInfo(c.zone)).weekday() < 5


def test_us_hours_may_only_be_narrowed_unless_relaxing_is_allowed() -> None:
    from dialer.domain.campaigns import CampaignSpec

    wide = CallingWindow.parse("07:00-22:00")
    with pytest.raises(ValueError, match=r"allows calls only 08:00–21:00 .*FTC TSR"):
        CampaignSpec(name="c", flow_id="f", window=wide)
    assert CampaignSpec(name="c", flow_id="f", window=wide, options={"allow_relaxing": True}).window == wide
    assert CampaignSpec(name="c", flow_id="f", window=wide, options={"compliance_profile": "uk"}).window == wide
    assert CampaignSpec(name="c", flow_id="f", window=CallingWindow.parse("09:00-20:00")).window.start == time(9, 0)
    with pytest.raises(ValueError, match="legal 3% cap"):
        CampaignSpec(name="c", flow_id="f", options={"abandon_target": 0.05})
    assert CampaignSpec(name="c", flow_id="f", options={"abandon_target": 0.05, "allow_relaxing": True})


def test_a_stored_campaign_with_wide_hours_still_loads_and_is_dialed_only_in_legal_hours() -> None:
    stored = Campaign(
        id=1, name="old", flow_id="f", caller_ids=("+12125550100",), window=CallingWindow.parse("07:00-22:00")
    )
    assert stored.effective_window() == CallingWindow()
    late = datetime(2026, 3, 3, 2, 30, tzinfo=UTC)  # 21:30 EST: inside the stored window, outside the law
    d = decide_next(stored, record(result_counts={"BUSY": 1}), CallResult.BUSY, now=late - timedelta(minutes=30))
    assert d.retry_at == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 EST, not 07:00

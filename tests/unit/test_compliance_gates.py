"""The compliance gates of issue 5: window (DST, half-hour zones), campaign schedule, ring
time, UK repeat lockouts and the abandon budget. The properties check the gates against an
independent oracle: the callee's local wall-clock time of the instant."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain import campaign_options, compliance, windows
from dialer.domain.compliance import AbandonBudget, RepeatHistory
from dialer.domain.records import Record, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.schedule import CampaignSchedule, ScheduleState
from dialer.domain.windows import CallingWindow
from tests.conftest import T0

RECORD = Record(
    id=1,
    campaign_id=1,
    handle="R-1",
    phone="+12125550100",
    caller_id=None,
    user_data={},
    status=RecordStatus.LEASED,
    next_dial_at=T0,
    timezone="America/New_York",
    tz_candidates=("America/New_York",),
    tz_source="number",
)
UK, US = compliance.PROFILES["uk"], compliance.PROFILES["us"]


def ctx(**overrides: object) -> compliance.DialContext:
    values: dict[str, object] = {
        "record": RECORD,
        "now": T0,  # Monday 10:00 in New York
        "window": CallingWindow(),
        "fallback_zones": ("America/New_York",),
        "caller_id": "+12125550199",
        "allow_random_caller_id": False,
        "on_dnc": False,
        "max_attempts": 6,
        "ring_timeout": 25,
    }
    values.update(overrides)
    return compliance.DialContext(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------- properties
#: Whole-hour, half-hour and 45-minute offsets; northern and southern DST; a 30-minute DST shift.
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/St_Johns",  # UTC-3:30 with DST
    "Europe/London",
    "Europe/Paris",
    "Asia/Kolkata",  # UTC+5:30
    "Asia/Kathmandu",  # UTC+5:45
    "Australia/Adelaide",  # UTC+9:30 with southern DST
    "Australia/Lord_Howe",  # DST moves the clock by 30 minutes
    "Pacific/Chatham",  # UTC+12:45 with DST
]
#: Days on which some zone above changes its clocks (2026).
TRANSITION_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),  # US spring forward
    datetime(2026, 11, 1, tzinfo=UTC),  # US fall back
    datetime(2026, 3, 29, tzinfo=UTC),  # EU spring forward
    datetime(2026, 10, 25, tzinfo=UTC),  # EU fall back
    datetime(2026, 4, 5, tzinfo=UTC),  # Australia / Chatham fall back
    datetime(2026, 10, 4, tzinfo=UTC),  # Australia spring forward
    datetime(2026, 9, 27, tzinfo=UTC),  # Chatham spring forward
]
instants = st.one_of(
    st.integers(min_value=0, max_value=366 * 24 * 60).map(
        lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
    ),
    st.builds(
        lambda day, minutes: day + timedelta(minutes=minutes),
        st.sampled_from(TRANSITION_DAYS),
        st.integers(min_value=-36 * 60, max_value=36 * 60),
    ),
)


@st.composite
def calling_windows(draw: st.DrawFn) -> CallingWindow:
    """Random windows, boundaries on the quarter hour, often in the small hours where DST bites."""
    start = draw(st.integers(min_value=0, max_value=95))
    end = draw(st.integers(min_value=start + 1, max_value=96))
    days = draw(st.frozensets(st.integers(min_value=0, max_value=6), min_size=1))

    def at(q: int) -> time:
        return time(23, 59, 59) if q == 96 else time(q // 4, (q % 4) * 15)

    return CallingWindow(start=at(start), end=at(end), days=days)


def locally_inside(window: CallingWindow, zone: str, now: datetime) -> bool:
    """The oracle: the callee's wall clock shows a time and weekday inside the window."""
    local = now.astimezone(ZoneInfo(zone))
    return local.weekday() in window.days and window.start <= local.time().replace(tzinfo=None) < window.end


def unambiguous(window: CallingWindow, zone: str, now: datetime) -> bool:
    """Neither boundary falls in a DST gap or overlap on the callee's local day."""
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date()
    for wall in (window.start, window.end):
        a = datetime.combine(day, wall, tzinfo=tz)
        if a.astimezone(UTC) != a.replace(fold=1).astimezone(UTC):
            return False
        if a.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != a.replace(tzinfo=None):
            return False
    return True


@settings(max_examples=600, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    window=calling_windows(),
    now=instants,
    on_dnc=st.booleans(),
)
def test_gates_never_allow_a_call_outside_the_callees_local_window_or_to_dnc(
    zones: list[str], window: CallingWindow, now: datetime, on_dnc: bool
) -> None:
    record = replace(RECORD, timezone=None, tz_candidates=tuple(zones))
    d = compliance.evaluate(ctx(record=record, now=now, window=window, on_dnc=on_dnc))
    if d.allowed:
        assert not on_dnc
        for zone in zones:
            assert locally_inside(window, zone, now), (zone, now.astimezone(ZoneInfo(zone)))
    elif on_dnc:
        assert d.rule == "dnc_internal" and d.final_status is RecordStatus.DO_NOT_CALL
    else:
        assert d.rule == "outside_window"
        assert d.until is None or d.until > now
        if d.until is not None:  # the proposed time is itself allowed, in every zone
            assert compliance.evaluate(ctx(record=record, now=d.until, window=window)).allowed
    # Completeness: inside everywhere with no DST ambiguity on the day → allowed.
    if not on_dnc and all(locally_inside(window, z, now) and unambiguous(window, z, now) for z in zones):
        assert d.allowed


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    campaign_zone=st.sampled_from(["America/New_York", "Europe/London", "Asia/Kolkata"]),
    schedule_window=calling_windows(),
    start_offset=st.integers(min_value=-20, max_value=20),
    length=st.integers(min_value=0, max_value=30),
    now=instants,
)
def test_gates_never_allow_a_call_outside_the_campaign_schedule(
    zone: str,
    campaign_zone: str,
    schedule_window: CallingWindow,
    start_offset: int,
    length: int,
    now: datetime,
) -> None:
    start = now.date() + timedelta(days=start_offset)
    schedule = CampaignSchedule(
        timezone=campaign_zone, window=schedule_window, start_date=start, end_date=start + timedelta(days=length)
    )
    record = replace(RECORD, timezone=zone, tz_candidates=(zone,))
    d = compliance.evaluate(ctx(record=record, now=now, schedule=schedule))
    local_day = now.astimezone(ZoneInfo(campaign_zone)).date()
    if d.allowed:
        assert locally_inside(CallingWindow(), zone, now)
        assert locally_inside(schedule_window, campaign_zone, now)
        assert schedule.start_date is not None and schedule.end_date is not None
        assert schedule.start_date <= local_day <= schedule.end_date
    elif d.until is not None:
        assert d.until > now
        assert compliance.evaluate(ctx(record=record, now=d.until, schedule=schedule)).allowed
    if d.rule == "campaign_ended":
        assert local_day > start + timedelta(days=length) or d.until is None


# --------------------------------------------------------------------- DST
def _transitions() -> list[tuple[str, datetime]]:
    """(zone, UTC day) pairs where the zone changes its clocks on that day."""
    out = []
    for zone in ZONES:
        tz = ZoneInfo(zone)
        for day in TRANSITION_DAYS:
            before, after = (day - timedelta(hours=18)).astimezone(tz), (day + timedelta(hours=30)).astimezone(tz)
            if before.utcoffset() != after.utcoffset():
                out.append((zone, day))
    return out


def test_window_boundaries_in_dst_gaps_and_overlaps_never_widen_the_window() -> None:
    """Every window opening and closing in the small hours, checked every 10 minutes across each
    zone's clock change: an instant is open only if the callee's wall clock is inside the window,
    and is open whenever it is inside and the boundaries are unambiguous that day."""
    pairs = _transitions()
    assert len(pairs) >= 10  # the sample really crosses clock changes
    quarter = [time(q // 4, (q % 4) * 15) for q in range(0, 21)]  # 00:00 … 05:00
    checked = 0
    for zone, day in pairs:
        # Clocks change between about 13:00 UTC the day before (Chatham) and 09:00 UTC (US).
        instants = [day - timedelta(hours=14) + timedelta(minutes=10 * k) for k in range(26 * 6)]
        for i, start in enumerate(quarter):
            for end in {*quarter[i + 1 : i + 5], time(21, 0)}:
                window = CallingWindow(start=start, end=end)
                for now in instants:
                    is_open = windows.is_open(window, [zone], now)
                    inside = locally_inside(window, zone, now)
                    assert not is_open or inside, (zone, window, now, now.astimezone(ZoneInfo(zone)))
                    if inside and unambiguous(window, zone, now):
                        assert is_open, (zone, window, now)
                    checked += 1
    assert checked > 25_000


@pytest.mark.parametrize(
    ("day", "opens_utc", "closes_utc"),
    [
        (date(2026, 3, 7), datetime(2026, 3, 7, 13, 0, tzinfo=UTC), datetime(2026, 3, 8, 2, 0, tzinfo=UTC)),
        (date(2026, 3, 8), datetime(2026, 3, 8, 12, 0, tzinfo=UTC), datetime(2026, 3, 9, 1, 0, tzinfo=UTC)),
        (date(2026, 10, 31), datetime(2026, 10, 31, 12, 0, tzinfo=UTC), datetime(2026, 11, 1, 1, 0, tzinfo=UTC)),
        (date(2026, 11, 1), datetime(2026, 11, 1, 13, 0, tzinfo=UTC), datetime(2026, 11, 2, 2, 0, tzinfo=UTC)),
    ],
)
def test_default_window_on_dst_days_in_new_york(day: date, opens_utc: datetime, closes_utc: datetime) -> None:
    """08:00–21:00 local on the days either side of a change: the UTC times move by an hour."""
    before_open = opens_utc - timedelta(minutes=1)
    d = compliance.evaluate(ctx(now=before_open))
    assert d.rule == "outside_window" and d.until == opens_utc
    assert compliance.evaluate(ctx(now=opens_utc)).allowed
    assert compliance.evaluate(ctx(now=closes_utc - timedelta(seconds=1))).allowed
    assert not compliance.evaluate(ctx(now=closes_utc)).allowed


def test_window_boundary_inside_the_fall_back_hour_takes_the_safe_instant() -> None:
    # 01:30 happens twice on 2026-11-01 in New York (05:30 UTC EDT, 06:30 UTC EST).
    window = CallingWindow.parse("01:30-21:00")
    assert not compliance.evaluate(ctx(window=window, now=datetime(2026, 11, 1, 6, 0, tzinfo=UTC))).allowed
    assert compliance.evaluate(ctx(window=window, now=datetime(2026, 11, 1, 6, 30, tzinfo=UTC))).allowed
    closing = CallingWindow.parse("00:00-01:30")
    assert compliance.evaluate(ctx(window=closing, now=datetime(2026, 11, 1, 5, 29, tzinfo=UTC))).allowed
    assert not compliance.evaluate(ctx(window=closing, now=datetime(2026, 11, 1, 6, 0, tzinfo=UTC))).allowed


# ----------------------------------------------------------------- schedule
def test_schedule_holds_until_the_campaign_hours_open() -> None:
    schedule = CampaignSchedule(timezone="America/Chicago", window=CallingWindow.parse("10:00-16:00", "mon-fri"))
    d = compliance.evaluate(ctx(schedule=schedule))  # 10:00 New York = 09:00 Chicago
    assert d.rule == "outside_schedule"
    assert d.until == T0 + timedelta(hours=1)
    assert "10:00–16:00 mon-fri America/Chicago" in d.reason
    saturday = T0 + timedelta(days=5)
    d = compliance.evaluate(ctx(schedule=schedule, now=saturday))
    # Monday 10:00 CDT: daylight saving time began on Sunday the 8th.
    assert d.rule == "outside_schedule" and d.until == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def test_schedule_waits_for_the_start_date_and_stops_after_the_end_date() -> None:
    tz = "America/New_York"
    schedule = CampaignSchedule(timezone=tz, start_date=date(2026, 3, 4), end_date=date(2026, 3, 6))
    d = compliance.evaluate(ctx(schedule=schedule))
    assert d.rule == "outside_schedule" and "starts on 2026-03-04" in d.reason
    assert d.until == datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 08:00 local: the window opens after midnight
    assert schedule.check(T0).state is ScheduleState.NOT_STARTED
    assert compliance.evaluate(ctx(schedule=schedule, now=T0 + timedelta(days=3))).allowed
    ended = compliance.evaluate(ctx(schedule=schedule, now=T0 + timedelta(days=5)))
    assert ended.rule == "campaign_ended" and ended.until is None and ended.final_status is None
    assert "set a later end date" in ended.reason


def test_the_window_hold_names_the_first_time_both_window_and_schedule_are_open() -> None:
    schedule = CampaignSchedule(timezone="America/New_York", window=CallingWindow.parse("09:00-17:00", "mon-fri"))
    la = replace(RECORD, timezone="America/Los_Angeles", tz_candidates=("America/Los_Angeles",))
    late = T0 + timedelta(hours=6)  # 16:00 New York, 13:00 LA: both open
    assert compliance.evaluate(ctx(record=la, schedule=schedule, now=late)).allowed
    friday_evening = T0 + timedelta(days=4, hours=7)  # Fri 17:00 New York
    d = compliance.evaluate(ctx(record=la, schedule=schedule, now=friday_evening))
    assert d.rule == "outside_schedule"
    # Monday: the LA window opens 08:00 PT = 11:00 ET, inside the 09:00-17:00 ET schedule.
    assert d.until == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


# ------------------------------------------------------------- ring timeout
def test_ring_timeout_below_15_seconds_is_refused_with_the_fix() -> None:
    d = compliance.evaluate(ctx(ring_timeout=10))
    assert d.rule == "ring_timeout_too_short" and d.final_status is None
    assert "--ring-timeout 15" in d.reason
    assert compliance.evaluate(ctx(ring_timeout=15)).allowed


# ---------------------------------------------------------- UK repeat rules
def test_uk_no_redial_within_72_hours_of_an_abandoned_call() -> None:
    abandoned_at = T0 - timedelta(hours=71)
    repeat = RepeatHistory(last_abandoned_at=abandoned_at)
    d = compliance.evaluate(ctx(profile=UK, repeat=repeat))
    assert d.rule == "repeat_lockout"
    assert d.until == abandoned_at + timedelta(hours=72)
    assert "abandoned call" in d.reason and "UK" in d.reason
    assert compliance.evaluate(
        ctx(profile=UK, repeat=RepeatHistory(last_abandoned_at=T0 - timedelta(hours=72)))
    ).allowed
    assert compliance.evaluate(ctx(profile=US, repeat=repeat)).allowed  # no such rule in the US profile
    assert compliance.evaluate(ctx(profile=UK, repeat=repeat, live_agent_guaranteed=True)).allowed


def test_uk_no_redial_within_24_hours_of_an_answering_machine() -> None:
    machine_at = T0 - timedelta(hours=23)
    d = compliance.evaluate(ctx(profile=UK, repeat=RepeatHistory(last_machine_at=machine_at)))
    assert d.rule == "repeat_lockout" and d.until == machine_at + timedelta(hours=24)
    assert "answering machine" in d.reason
    assert compliance.evaluate(ctx(profile=UK, repeat=RepeatHistory(last_machine_at=T0 - timedelta(hours=25)))).allowed


def test_the_later_lockout_wins() -> None:
    repeat = RepeatHistory(last_abandoned_at=T0 - timedelta(hours=70), last_machine_at=T0 - timedelta(hours=1))
    until, why = compliance.repeat_lockout_until(UK, repeat)
    assert until == T0 + timedelta(hours=23) and "answering machine" in why


def test_profiles_name_their_lockouts() -> None:
    assert UK.repeat_lockout(CallResult.DROPPED) == timedelta(hours=72)
    assert UK.repeat_lockout(CallResult.ANSWERING_MACHINE) == timedelta(hours=24)
    assert UK.repeat_lockout(CallResult.BUSY) is None
    assert US.repeat_lockout(CallResult.ABANDONED) is None
    assert UK.abandon_window == timedelta(hours=24) and US.abandon_window == timedelta(days=30)


# ------------------------------------------------------------ abandon budget
@pytest.mark.parametrize(
    ("live", "abandoned", "forced"),
    [
        (100, 0, False),
        (100, 2, False),  # 3/101 = 2.97 % after one more
        (100, 3, True),  # 3 % now; one more breaks the cap
        (1000, 29, False),
        (1000, 30, True),
        (1000, 45, True),  # over the cap
    ],
)
def test_abandon_budget_forces_progressive_when_one_more_abandon_would_break_the_cap(
    live: int, abandoned: int, forced: bool
) -> None:
    a = AbandonBudget(target=0.03).assess(live_answers=live, abandoned=abandoned)
    assert a.force_progressive is forced
    assert a.rule == ("abandon_budget" if forced else "ok")
    assert (a.rate is None) is (live == 0)
    assert ("abandon_budget" in a.reason) is forced
    assert "30 days" in a.reason
    assert ("leaves no room" in a.reason) is (forced and a.rate is not None and a.rate <= 0.03)


@pytest.mark.parametrize(
    ("live", "abandoned", "forced"),
    [(0, 0, True), (1, 0, True), (20, 0, True), (40, 0, False), (99, 2, False)],  # no abandon yet: 1 of 34 is 2.9 %
)
def test_a_small_sample_is_too_few_answers_not_a_spent_budget(live: int, abandoned: int, forced: bool) -> None:
    """A new campaign's meter has no sample: one abandoned call would be over the cap, so
    predictive dialing stays off, but no budget is spent and the meter does not say so."""
    a = AbandonBudget(target=0.03).assess(live_answers=live, abandoned=abandoned)
    assert a.rule == "too_few_answers"
    assert a.force_progressive is forced
    assert "no room" not in a.reason and "abandon_budget" not in a.reason and "over" not in a.summary
    assert f"{live} of the 100 a sample needs" in a.reason


def test_a_small_sample_over_the_cap_is_over_the_cap() -> None:
    a = AbandonBudget(target=0.03).assess(live_answers=10, abandoned=2)
    assert a.rule == "abandon_budget" and a.force_progressive
    assert a.reason.startswith("abandon_budget: abandon rate 20.00% (2 of 10 live answers") and "is over" in a.reason


def test_abandon_budget_uses_the_campaign_target_and_window() -> None:
    strict = AbandonBudget(target=0.01, window=timedelta(hours=24))
    a = strict.assess(live_answers=200, abandoned=2)
    assert a.force_progressive and "24 h" in a.reason and "1.0% cap" in a.reason
    assert not AbandonBudget(target=0.03).assess(live_answers=200, abandoned=2).force_progressive
    with pytest.raises(ValueError):
        strict.assess(live_answers=1, abandoned=2)


@settings(max_examples=300, deadline=None)
@given(live=st.integers(min_value=0, max_value=5000), share=st.floats(min_value=0, max_value=1))
def test_abandon_budget_never_lets_predictive_dialing_break_the_cap(live: int, share: float) -> None:
    abandoned = int(live * share)
    a = AbandonBudget(target=0.03).assess(live_answers=live, abandoned=abandoned)
    if not a.force_progressive:  # even if the very next live answer is abandoned, the cap holds
        assert (abandoned + 1) / (live + 1) <= 0.03


# ------------------------------------------------------------------ options
def test_campaign_options_defaults_and_validation() -> None:
    opts = campaign_options.parse({})
    assert opts.profile.name == "us" and opts.abandon_target == 0.03 and opts.min_agents_predictive == 5
    uk = campaign_options.parse({"compliance_profile": "UK", "abandon_target": "0.02", "min_agents_predictive": 8})
    assert uk.profile is UK and uk.abandon_target == 0.02 and uk.min_agents_predictive == 8
    for bad, message in [
        ({"compliance_profile": "fr"}, "use one of us, uk"),
        ({"abandon_target": 0.05}, "legal 3% cap"),
        ({"abandon_target": 0}, "above 0"),
        ({"abandon_target": "lots"}, "fraction"),
        ({"min_agents_predictive": 0}, "at least 1"),
        ({"min_agents_predictive": 2.5}, "whole number"),
        ({"schedule_hours": "9-5"}, "08:00-21:00"),
        ({"start_date": "next week"}, "2026-03-31"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "before its start date"),
        ({"treatments": {"BUSY": "sometimes"}}, "retry_in"),
        ({"treatments": {"NOPE": "final"}}, "unknown call result"),
    ]:
        with pytest.raises(ValueError, match=message):
            campaign_options.parse(bad)


def test_normalise_writes_canonical_json() -> None:
    out = campaign_options.normalise(
        {"compliance_profile": "UK", "start_date": date(2026, 3, 1), "treatments": {"busy": "retry_in  20m x2"}, "x": 1}
    )
    assert out == {
        "compliance_profile": "uk",
        "start_date": "2026-03-01",
        "treatments": {"BUSY": "retry_in 20m x2"},
        "x": 1,
    }


def test_a_lockout_ending_at_night_holds_the_record_until_the_window_opens() -> None:
    london = replace(RECORD, phone="+442071234567", timezone="Europe/London", tz_candidates=("Europe/London",))
    abandoned_at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # lockout ends Thu 5 March 02:00 GMT
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    d = compliance.evaluate(
        ctx(record=london, now=now, profile=UK, repeat=RepeatHistory(last_abandoned_at=abandoned_at))
    )
    assert d.rule == "repeat_lockout"
    assert "before 2026-03-05 02:00 UTC" in d.reason
    assert d.until == datetime(2026, 3, 5, 8, 0, tzinfo=UTC)  # 08:00 in London

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain import windows
from dialer.domain.windows import CallingWindow

NY, LA = "America/New_York", "America/Los_Angeles"
W = CallingWindow()  # 08:00-21:00 every day


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "zone", "expected"),
    [
        (utc(2026, 3, 2, 12, 59), NY, False),  # 07:59 EST
        (utc(2026, 3, 2, 13, 0), NY, True),  # 08:00 EST
        (utc(2026, 3, 3, 1, 59), NY, True),  # 20:59 EST
        (utc(2026, 3, 3, 2, 0), NY, False),  # 21:00 EST: closed
        (utc(2026, 7, 1, 12, 0), NY, True),  # 08:00 EDT
        (utc(2026, 7, 1, 11, 59), NY, False),
        (utc(2026, 7, 1, 15, 0), "America/Phoenix", True),  # 08:00 MST, no DST
        (utc(2026, 7, 1, 14, 59), "America/Phoenix", False),
    ],
)
def test_window_in_callee_local_time(at: datetime, zone: str, expected: bool) -> None:
    assert windows.is_open(W, [zone], at) is expected


def test_safe_window_is_the_intersection_of_candidate_zones() -> None:
    # 08:00-21:00 across Eastern and Pacific: 11:00-21:00 Eastern.
    day = utc(2026, 3, 2, 0, 0)
    assert not windows.is_open(W, [NY, LA], day.replace(hour=15, minute=59))  # 10:59 EST, 07:59 PST
    assert windows.is_open(W, [NY, LA], day.replace(hour=16))  # 11:00 EST, 08:00 PST
    assert not windows.is_open(W, [NY, LA], day + timedelta(days=1, hours=2))  # 21:00 EST
    assert windows.next_open(W, [NY, LA], day.replace(hour=13)) == day.replace(hour=16)


def test_next_open_skips_closed_days() -> None:
    weekdays = CallingWindow.parse("09:00-17:00", "mon-fri")
    saturday = utc(2026, 3, 7, 16, 0)
    opens = windows.next_open(weekdays, [NY], saturday)
    assert opens == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT (DST began on Sunday the 8th)
    assert opens.astimezone(ZoneInfo(NY)).time() == time(9, 0)


def test_spring_forward_boundary_never_widens_the_window() -> None:
    # 02:30 does not exist on 2026-03-08 in New York; a window opening then opens at 03:30 EDT.
    early = CallingWindow.parse("02:30-21:00")
    opens = windows.next_open(early, [NY], utc(2026, 3, 8, 5, 0))
    assert opens is not None
    assert opens >= utc(2026, 3, 8, 7, 30)  # 03:30 EDT


def test_fall_back_closing_takes_the_earlier_instant() -> None:
    # 01:30 happens twice on 2026-11-01 in New York; a window closing then closes the first time.
    late = CallingWindow.parse("00:30-01:30")
    closes = windows.closes_at(late, [NY], utc(2026, 11, 1, 4, 45))  # 00:45 EDT
    assert closes == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, not 01:30 EST


def test_record_daily_range_narrows_the_window() -> None:
    narrowed = W.narrowed(10 * 3600, 12 * 3600)
    assert narrowed.start == time(10) and narrowed.end == time(12)
    never = W.narrowed(22 * 3600, 23 * 3600)
    assert windows.next_open(never, [NY], utc(2026, 3, 2)) is None


def test_parse_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="08:00-21:00"):
        CallingWindow.parse("8am to 9pm")
    with pytest.raises(ValueError, match="start before it ends"):
        CallingWindow.parse("21:00-08:00")


ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
]


@settings(max_examples=300, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    minute=st.integers(min_value=0, max_value=366 * 24 * 60),
    start_h=st.integers(min_value=0, max_value=12),
    length_h=st.integers(min_value=1, max_value=11),
)
def test_next_open_is_open_in_every_zone_and_never_early(
    zones: list[str], minute: int, start_h: int, length_h: int
) -> None:
    window = CallingWindow(start=time(start_h), end=time(start_h + length_h))
    at = utc(2026, 1, 1) + timedelta(minutes=minute)
    opens = windows.next_open(window, zones, at)
    if opens is None:
        return  # the zones' windows never overlap (e.g. Sydney and Los Angeles)
    assert opens >= at
    for z in zones:
        local = opens.astimezone(ZoneInfo(z)).time()
        assert window.start <= local < window.end, (z, opens)
    assert windows.is_open(window, zones, opens)

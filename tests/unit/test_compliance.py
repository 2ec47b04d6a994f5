from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain import compliance, windows
from dialer.domain.records import Record, RecordStatus
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


def ctx(**overrides: object) -> compliance.DialContext:
    values: dict[str, object] = {
        "record": RECORD,
        "now": T0,  # 10:00 in New York
        "window": CallingWindow(),
        "fallback_zones": ("America/New_York",),
        "caller_id": "+12125550199",
        "allow_random_caller_id": False,
        "on_dnc": False,
        "max_attempts": 3,
    }
    values.update(overrides)
    return compliance.DialContext(**values)  # type: ignore[arg-type]


def test_all_gates_allow_a_normal_call() -> None:
    assert compliance.evaluate(ctx()).allowed


def test_dnc_ends_the_record_with_a_reason() -> None:
    d = compliance.evaluate(ctx(on_dnc=True))
    assert not d.allowed and d.rule == "dnc_internal"
    assert d.final_status is RecordStatus.DO_NOT_CALL
    assert "+12125550100" in d.reason


def test_max_attempts() -> None:
    d = compliance.evaluate(ctx(record=replace(RECORD, attempts=3)))
    assert d.rule == "max_attempts" and d.final_status is RecordStatus.EXHAUSTED


def test_no_caller_id_holds_the_record_and_names_the_fix() -> None:
    d = compliance.evaluate(ctx(caller_id=None))
    assert d.rule == "no_caller_id" and d.final_status is None
    assert "--caller-id" in d.reason
    assert compliance.evaluate(ctx(caller_id=None, allow_random_caller_id=True)).allowed


def test_outside_window_says_when_it_opens() -> None:
    early = T0.replace(hour=11)  # 06:00 in New York
    d = compliance.evaluate(ctx(now=early))
    assert d.rule == "outside_window"
    assert d.until == T0.replace(hour=13)  # 08:00 EST
    assert "America/New_York" in d.reason


def test_safe_window_for_ambiguous_zone() -> None:
    record = replace(RECORD, timezone=None, tz_candidates=("America/New_York", "America/Los_Angeles"), tz_source="safe")
    d = compliance.evaluate(ctx(record=record))  # 10:00 New York, 07:00 Los Angeles
    assert d.rule == "outside_window"
    assert d.until == T0.replace(hour=16)  # 08:00 in Los Angeles


ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]


@settings(max_examples=300, deadline=None)
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    minutes=st.integers(min_value=0, max_value=366 * 24 * 60),
    on_dnc=st.booleans(),
)
def test_gates_never_allow_outside_the_window_or_to_a_dnc_number(zones: list[str], minutes: int, on_dnc: bool) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    record = replace(RECORD, timezone=None, tz_candidates=tuple(zones))
    d = compliance.evaluate(ctx(record=record, now=now, on_dnc=on_dnc))
    if d.allowed:
        assert not on_dnc
        assert windows.is_open(CallingWindow(), zones, now)
    elif on_dnc:
        assert d.rule == "dnc_internal"

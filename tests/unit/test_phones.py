from __future__ import annotations

import pytest

from dialer.domain import phones


@pytest.mark.parametrize(
    "raw",
    [
        "(212) 555-0143",
        "212-555-0143",
        "+1 212 555 0143",
        "2125550143",
        "1-212-555-0143",
        "212.555.0143",
        "+12125550143",
    ],
)
def test_us_formats_normalise_to_e164(raw: str) -> None:
    assert phones.normalise(raw, "US").e164 == "+12125550143"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "missing_phone"),
        ("   ", "missing_phone"),
        ("555-0100", "invalid_phone"),
        ("(999) 555-0101", "invalid_phone"),
        ("CALL-ME-NOW", "invalid_phone"),
        ("hello", "invalid_phone"),
    ],
)
def test_invalid_numbers_have_reasons(raw: str, reason: str) -> None:
    with pytest.raises(phones.PhoneError) as err:
        phones.normalise(raw, "US")
    assert err.value.reason == reason


def test_extension_is_kept_apart() -> None:
    parsed = phones.normalise("(212) 555-0143 ext. 12", "US")
    assert parsed.e164 == "+12125550143" and parsed.extension == "12"


def test_zone_resolution() -> None:
    assert (
        phones.resolve_zone("+12125550143", explicit=None, fallback=("America/Chicago",)).timezone == "America/New_York"
    )
    explicit = phones.resolve_zone("+12125550143", explicit="America/Denver", fallback=())
    assert explicit.timezone == "America/Denver" and explicit.source == "record"
    tollfree = phones.resolve_zone("+18005550100", explicit=None, fallback=("America/New_York", "America/Los_Angeles"))
    assert tollfree.source == "safe" and tollfree.candidates == ("America/New_York", "America/Los_Angeles")

from __future__ import annotations

import pytest

from dialer.domain import campaigns, phones


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
    # A toll-free number maps to every NANP zone, Guam included: its country's safe set applies.
    tollfree = phones.resolve_zone("+18005550100", explicit=None, fallback=("America/New_York", "America/Los_Angeles"))
    assert tollfree.source == "safe" and tollfree.candidates == campaigns.REGION_SAFE_ZONES["US"]
    assert "Pacific/Guam" not in tollfree.candidates


@pytest.mark.parametrize(
    ("raw", "e164", "extension"),
    [
        ("2.125550143E+09", "+12125550143", None),  # every digit survived
        ("1.2125550143e+10", "+12125550143", None),
        ("2125550143.0", "+12125550143", None),
        ("(212) 555-0143 x12", "+12125550143", "12"),
        ("212-555-0143 ext. 12", "+12125550143", "12"),
        ("212.555.0143 Extension 7", "+12125550143", "7"),
        ("(212) 555-0143 #4", "+12125550143", "4"),
        ("212-555-0143,,99", "+12125550143", "99"),  # a dial string's pause: libphonenumber's extension
        ("tel:+1-212-555-0143", "+12125550143", None),
    ],
)
def test_spreadsheet_damage_is_repaired_and_extensions_kept(raw: str, e164: str, extension: str | None) -> None:
    parsed = phones.normalise(raw, "US")
    assert (parsed.e164, parsed.extension) == (e164, extension)


@pytest.mark.parametrize(
    ("raw", "reason", "message"),
    [
        ("8.14404E+09", "unrecoverable_format", "last digits are lost"),
        ("2,12556E+09", "unrecoverable_format", "scientific notation"),
        ("1-800-FLOWERS", "invalid_phone", "contains letters"),
        ("n/a", "invalid_phone", "contains letters"),
        ("555-0100", "invalid_phone", "a local number without its area code"),
        ("(999) 555-0101", "invalid_phone", "no such area code or number range"),
        ("2125550143999", "invalid_phone", "too long"),
        ("+999 12345678", "invalid_phone", "unknown country code"),
    ],
)
def test_reject_reasons_say_why(raw: str, reason: str, message: str) -> None:
    with pytest.raises(phones.PhoneError) as err:
        phones.normalise(raw, "US")
    assert err.value.reason == reason and message in str(err.value)


@pytest.mark.parametrize(
    ("value", "region"),
    [("US", "US"), ("us", "US"), ("USA", "US"), ("United States", "US"), ("1", "US"), ("+44", "GB"),
     ("0044", "GB"), ("UK", "GB"), ("Canada", "CA"), ("France", "FR"), ("Narnia", None), ("800", None), ("", None)],
)  # fmt: skip
def test_region_for_country(value: str, region: str | None) -> None:
    assert phones.region_for_country(value) == region


@pytest.mark.parametrize(
    ("value", "zones"),
    [
        ("America/Chicago", ("America/Chicago",)),
        ("america/chicago", ("America/Chicago",)),
        ("EST", ("America/New_York",)),  # what people mean, not IANA's fixed-offset EST
        ("PT", ("America/Los_Angeles",)),
        ("MST", ("America/Denver", "America/Phoenix")),
        ("Mars/Olympus", None),
    ],
)
def test_time_zone_cells(value: str, zones: tuple[str, ...] | None) -> None:
    assert phones.parse_zone(value) == zones


def test_a_zone_column_with_several_zones_means_the_safe_window() -> None:
    zone = phones.resolve_zone("+16025550100", explicit=("America/Denver", "America/Phoenix"), fallback=())
    assert zone.timezone is None and zone.source == "safe"
    assert zone.candidates == ("America/Denver", "America/Phoenix")


def test_a_number_with_no_zone_gets_the_campaign_fallback() -> None:
    zone = phones.resolve_zone("+80012345678", explicit=None, fallback=("America/New_York",))
    assert (zone.timezone, zone.source) == ("America/New_York", "campaign")


@pytest.mark.parametrize(
    ("value", "dialable"),
    [
        ("+12125550123", True),
        ("+442079460000", True),
        ("+80012345678", True),  # non-geographic (international freephone)
        ("+4930123456", True),
        ("+1212555", False),  # too short for its country code
        ("+121255501234", False),  # too long
        ("+9991234567", False),  # no such country code
        ("12125550123", False),
        ("+1 212 555 0123", False),
        ("", False),
    ],
)
def test_the_dialing_shape_check_agrees_with_validation_on_length(value: str, dialable: bool) -> None:
    assert phones.is_dialable(value) is dialable
    if dialable:
        assert phones.is_e164(value)

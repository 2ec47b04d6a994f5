"""Phone numbers: E.164 normalisation and the callee's candidate time zones.

Thin, pure wrappers over ``phonenumbers`` (Google's libphonenumber metadata), so every
module agrees on what a valid number is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as pn_timezone

_E164 = re.compile(r"\+[1-9]\d{1,14}")

#: ``phonenumbers`` answers this when it knows no zone for a number.
_UNKNOWN_ZONE = "Etc/Unknown"

#: A number that maps to more zones than this is treated as non-geographic (toll-free,
#: mobile ranges spanning a country): its zones come from the campaign's safe set instead.
MAX_GEOGRAPHIC_ZONES = 4


class PhoneError(ValueError):
    """A number that cannot be dialed; ``reason`` is a stable code for reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class ParsedPhone:
    e164: str
    region: str | None
    extension: str | None = None


def normalise(raw: str, region: str = "US") -> ParsedPhone:
    """Parse ``raw`` as dialed from ``region`` and return it in E.164, or raise :class:`PhoneError`."""
    text = raw.strip()
    if not text:
        raise PhoneError("missing_phone", "the phone number is empty")
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise PhoneError("invalid_phone", f"{text!r} is not a phone number ({exc})") from exc
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("invalid_phone", f"{text!r} is not a valid number for region {region.upper()}")
    return ParsedPhone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number),
        extension=number.extension or None,
    )


def is_e164(value: str) -> bool:
    """True when ``value`` is already a valid number written in E.164 (``+`` and digits only)."""
    if not _E164.fullmatch(value):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        return False


@lru_cache(maxsize=65536)
def zones_for(e164: str) -> tuple[str, ...]:
    """The IANA zones libphonenumber associates with ``e164`` (empty when unknown)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != _UNKNOWN_ZONE)
    return zones


def region_of(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


@dataclass(frozen=True, kw_only=True)
class ZoneResolution:
    """Where a record's time zone came from.

    ``source`` is ``record`` (a column in the file), ``number`` (one zone from the number),
    ``safe`` (several candidates: the safe window applies) or ``campaign`` (the campaign's
    default zones because the number told us nothing).
    """

    timezone: str | None
    candidates: tuple[str, ...]
    source: str


def resolve_zone(e164: str, *, explicit: str | None, fallback: tuple[str, ...]) -> ZoneResolution:
    """Pick the callee's zone: an explicit zone wins, then the number, then ``fallback``."""
    if explicit:
        return ZoneResolution(timezone=explicit, candidates=(explicit,), source="record")
    zones = zones_for(e164)
    if len(zones) == 1:
        return ZoneResolution(timezone=zones[0], candidates=zones, source="number")
    if 1 < len(zones) <= MAX_GEOGRAPHIC_ZONES:
        return ZoneResolution(timezone=None, candidates=zones, source="safe")
    if len(fallback) == 1:
        return ZoneResolution(timezone=fallback[0], candidates=fallback, source="campaign")
    return ZoneResolution(timezone=None, candidates=fallback, source="safe")

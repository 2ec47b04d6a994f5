"""Phone numbers: E.164 normalisation, reject reasons and the callee's candidate time zones.

Thin, pure wrappers over ``phonenumbers`` (Google's libphonenumber metadata), so every
module agrees on what a valid number is. :func:`normalise` is the reference;
:class:`dialer.domain.numbering.PhoneNormaliser` gives the same answers faster for imports.

Beyond libphonenumber, a few rules for what spreadsheets do to numbers:

* ``8.14404E+09`` (scientific notation written by a spreadsheet) lost its digits:
  ``unrecoverable_format``. When the mantissa still carries every digit
  (``2.125550143E+09``) or the number was written as a float (``2125550143.0``), the
  digits are recovered exactly.
* Letters make a number invalid (``CALL-ME``, ``n/a``); vanity numbers (``1-800-FLOWERS``)
  are not accepted in calling lists. The exception is an extension marker at the end
  (``x12``, ``ext. 12``, ``#12``): the number is kept and the extension returned apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import available_timezones

import phonenumbers
from phonenumbers import phonenumberutil as pnu
from phonenumbers import timezone as pn_timezone

from dialer.domain.campaigns import REGION_SAFE_ZONES

#: libphonenumber's region code for non-geographic ranges (+800, +808…).
NON_GEO_REGION = "001"

#: ``phonenumbers`` answers this when it knows no zone for a number.
_UNKNOWN_ZONE = "Etc/Unknown"

#: A number that maps to more zones than this is treated as non-geographic (toll-free,
#: mobile ranges spanning a country): its zones come from its country's safe set instead.
MAX_GEOGRAPHIC_ZONES = 4

#: At most this many digits, written without a country code: the length of an internal
#: extension (a PBX or contact-centre switch's number, like the ``5001`` of the Genesys
#: preview-record sample), which no public network dials.
EXTENSION_DIGITS = 6

_SCIENTIFIC = re.compile(r"([0-9])(?:[.,]([0-9]+))?[eE]\+?([0-9]{1,2})")
#: A number written as a float (``2125550143.0``), as pandas and some CRMs export it.
FLOAT_FORM = re.compile(r"(\+?[0-9]{5,})\.0+")
_EXTENSION = re.compile(
    r"(?P<main>.*?[0-9)])[\s,;]*(?:(?:ext(?:ension|n)?|x)\.?\s*[:.]?|#)\s*(?P<ext>[0-9]{1,10})#?",
    re.IGNORECASE,
)
_TEL = re.compile(r"tel:", re.IGNORECASE)

_LENGTH_PROBLEMS = {
    pnu.ValidationResult.TOO_SHORT: "too short",
    pnu.ValidationResult.TOO_LONG: "too long",
    pnu.ValidationResult.INVALID_LENGTH: "the wrong number of digits",
    pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
    pnu.ValidationResult.INVALID_COUNTRY_CODE: "an unknown country code",
}
_PARSE_PROBLEMS = {
    pnu.NumberParseException.INVALID_COUNTRY_CODE: "has an unknown country code",
    pnu.NumberParseException.NOT_A_NUMBER: "is not a phone number",
    pnu.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short after its international prefix",
    pnu.NumberParseException.TOO_SHORT_NSN: "is too short to be a phone number",
    pnu.NumberParseException.TOO_LONG: "is too long to be a phone number",
}


class PhoneError(ValueError):
    """A number that cannot be dialed; ``reason`` is a stable code for reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhoneError) and (self.reason, str(self)) == (other.reason, str(other))

    def __hash__(self) -> int:
        return hash((self.reason, str(self)))

    def __reduce__(self) -> tuple[type[PhoneError], tuple[str, str]]:
        return (PhoneError, (self.reason, str(self)))


class ParsedPhone(NamedTuple):
    e164: str
    region: str | None
    """ISO region of the number (``US``, ``PR``, ``GB``), None for non-geographic ranges."""
    extension: str | None = None
    zones: tuple[str, ...] = ()
    """IANA zones libphonenumber associates with the number (empty when unknown)."""


def normalise(raw: str, region: str = "US") -> ParsedPhone:
    """Parse ``raw`` as dialed from ``region`` and return it in E.164, or raise :class:`PhoneError`."""
    text = raw.strip()
    region = region.upper()
    if not text:
        raise PhoneError("missing_phone", "the phone number is empty")
    main, extension = split_number(text)
    try:
        number = phonenumbers.parse(main, region)
    except pnu.NumberParseException as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, "is not a phone number")
        raise PhoneError("invalid_phone", f"{text!r} {problem}") from None
    if not phonenumbers.is_valid_number(number):
        message = invalid_message(text, problem_of(number))
        digits = sum(ch.isdigit() for ch in main)
        if "+" not in main and digits <= EXTENSION_DIGITS:
            message += (
                f": {digits} digits is the length of an internal extension (a phone system's own number), not a "
                "public one, and calls go out to E.164 numbers. Write the full number with its country code"
                + (
                    f", or import with --region of the country where it is a national number{region_hint(main)}"
                    if regions_where_valid(main)
                    else ""
                )
            )
        raise PhoneError("invalid_phone", message)
    return ParsedPhone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number),
        extension=extension or number.extension or None,
        zones=known_zones(pn_timezone.time_zones_for_number(number)),
    )


@lru_cache(maxsize=4096)
def regions_where_valid(text: str) -> tuple[str, ...]:
    """The regions in which ``text``, written without a country code, is a valid number
    (``410004343``: AU, CH, DE, FR, LU…). Tries every region: for messages, not for rows."""
    if "+" in text:
        return ()
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        try:
            number = phonenumbers.parse(text, region)
        except pnu.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == region:
            found.append(region)
    return tuple(found)


def region_hint(text: str, *, shown: int = 8) -> str:
    """`` (it is a valid number in LU, NU)`` for a message, or ``""``."""
    regions = regions_where_valid(text)
    if not regions:
        return ""
    listed = ", ".join(regions[:shown]) + (f" and {len(regions) - shown} more" if len(regions) > shown else "")
    return f" (it is a valid number in {listed})"


def split_number(text: str) -> tuple[str, str | None]:
    """(the number part, an extension) of a stripped, non-empty cell, after undoing
    spreadsheet damage; raises :class:`PhoneError` for lost digits and letters."""
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific:
        lead, fraction, exponent = scientific.group(1), scientific.group(2) or "", int(scientific.group(3))
        if len(fraction) != exponent:
            raise PhoneError(
                "unrecoverable_format",
                f"{text!r} is scientific notation written by a spreadsheet; its last digits are lost. "
                "Format the column as text in the source and export again",
            )
        return lead + fraction, None
    as_float = FLOAT_FORM.fullmatch(text)
    if as_float:
        return as_float.group(1), None
    if _TEL.match(text):
        text = text[4:]
    extension = None
    if any(ch.isalpha() or ch == "#" for ch in text):
        split = _EXTENSION.fullmatch(text)
        if split:
            text, extension = split.group("main"), split.group("ext")
        if any(ch.isalpha() for ch in text):
            raise PhoneError("invalid_phone", f"{text!r} contains letters, not only digits")
    return text, extension


def problem_of(number: phonenumbers.PhoneNumber) -> str:
    """Why a parsed number is not valid, as a fragment for :func:`invalid_message`."""
    reason = phonenumbers.is_possible_number_with_reason(number)
    label = pnu.region_code_for_country_code(number.country_code or 0)
    if label in (pnu.UNKNOWN_REGION, NON_GEO_REGION):
        label = f"+{number.country_code}"
    detail = _LENGTH_PROBLEMS.get(reason, "no such area code or number range")
    return f"is not a valid {label} number ({detail})"


def invalid_message(text: str, problem: str) -> str:
    return f"{text!r} {problem}"


def known_zones(zones: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(z for z in zones if z != _UNKNOWN_ZONE)


_E164 = re.compile(r"\+[1-9]\d{1,14}")


@lru_cache(maxsize=4096)
def is_e164(value: str) -> bool:
    """True when ``value`` is already a valid number written in E.164 (``+`` and digits only).

    Cached: the poll asks it of every session's caller ID, a handful of numbers asked again
    and again (a full parse and validation each time was a tenth of the daemon's CPU)."""
    if not _E164.fullmatch(value):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except pnu.NumberParseException:
        return False


def is_dialable(value: str) -> bool:
    """A cheap check, for the dialing path, that ``value`` has the shape of an E.164 number:
    ``+``, a country calling code libphonenumber knows, and a national number of a length
    possible there. It parses nothing, so it costs microseconds where :func:`is_e164` costs
    a full validation. Numbers reach dialing already validated (by the import, the DNC file
    or the desk); this guards the provider against anything else."""
    if not _E164.fullmatch(value):
        return False
    for digits in (1, 2, 3):
        lengths = _national_lengths(value[1 : 1 + digits])
        if lengths:
            return len(value) - 1 - digits in lengths
    return False


@lru_cache(maxsize=512)
def _national_lengths(country_code: str) -> frozenset[int]:
    """Possible national-number lengths under a country calling code (empty: no such code)."""
    code = int(country_code)
    lengths: set[int] = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        if region == NON_GEO_REGION:
            metadata = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
        else:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is not None and metadata.general_desc is not None:
            lengths.update(metadata.general_desc.possible_length or ())
    return frozenset(lengths)


@lru_cache(maxsize=65536)
def zones_for(e164: str) -> tuple[str, ...]:
    """The IANA zones libphonenumber associates with ``e164`` (empty when unknown)."""
    try:
        number = phonenumbers.parse(e164, None)
    except pnu.NumberParseException:
        return ()
    return known_zones(pn_timezone.time_zones_for_number(number))


def region_of(e164: str) -> str | None:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except pnu.NumberParseException:
        return None


# ---------------------------------------------------------------- time zones
#: What people write in a time-zone column besides IANA names. Several zones mean the safe
#: window across them ("MST" is Denver in winter and Phoenix all year).
ZONE_ALIASES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("et", "est", "edt", "eastern", "us/eastern"), ("America/New_York",)),
    **dict.fromkeys(("ct", "cst", "cdt", "central", "us/central"), ("America/Chicago",)),
    **dict.fromkeys(("mt", "mdt", "mountain", "us/mountain"), ("America/Denver",)),
    "mst": ("America/Denver", "America/Phoenix"),
    **dict.fromkeys(("az", "arizona", "us/arizona"), ("America/Phoenix",)),
    **dict.fromkeys(("pt", "pst", "pdt", "pacific", "us/pacific"), ("America/Los_Angeles",)),
    **dict.fromkeys(("akst", "akdt", "akt", "alaska", "us/alaska"), ("America/Anchorage",)),
    **dict.fromkeys(("hst", "ht", "hawaii", "us/hawaii"), ("Pacific/Honolulu",)),
    **dict.fromkeys(("ast", "atlantic"), ("America/Halifax",)),
    **dict.fromkeys(("nst", "ndt", "newfoundland"), ("America/St_Johns",)),
    **dict.fromkeys(("gmt", "bst", "uk"), ("Europe/London",)),
    **dict.fromkeys(("cet", "cest"), ("Europe/Paris",)),
}


@lru_cache(maxsize=1)
def _iana_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


@lru_cache(maxsize=4096)
def parse_zone(value: str) -> tuple[str, ...] | None:
    """The zones a time-zone cell names (IANA, any case, or a common abbreviation); None if unknown."""
    key = value.strip().lower()
    if key in ZONE_ALIASES:
        return ZONE_ALIASES[key]
    name = _iana_names().get(key)
    return (name,) if name else None


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


def resolve_zone(
    e164: str,
    *,
    explicit: str | tuple[str, ...] | None,
    fallback: tuple[str, ...],
    zones: tuple[str, ...] | None = None,
    region: str | None = None,
) -> ZoneResolution:
    """Pick the callee's zones: an explicit zone wins, then the number, then ``fallback``.

    A number with a handful of zones (an area code spanning two) gets all of them: the safe
    window. One with more (a toll-free or country-wide mobile range: every zone of the
    NANP from Guam to Newfoundland) says nothing useful, so its country's safe set applies
    (``REGION_SAFE_ZONES``: the continental US for ``+1 800``), else its own zones.
    ``zones`` and ``region`` spare a second parse when the caller has them.
    """
    if explicit:
        chosen = (explicit,) if isinstance(explicit, str) else explicit
        return _resolution(chosen, "record")
    if zones is None:
        zones = zones_for(e164)
    if region is None and len(zones) > MAX_GEOGRAPHIC_ZONES:
        region = region_of(e164)
    return _resolve_number_zones(zones, region, fallback)


@lru_cache(maxsize=4096)
def _resolve_number_zones(zones: tuple[str, ...], region: str | None, fallback: tuple[str, ...]) -> ZoneResolution:
    if 1 <= len(zones) <= MAX_GEOGRAPHIC_ZONES:
        return _resolution(zones, "number")
    country = REGION_SAFE_ZONES.get(region or "")
    if country:
        return _resolution(country, "number")
    if zones:
        return _resolution(zones, "number")
    return _resolution(fallback, "campaign")


def _resolution(zones: tuple[str, ...], source: str) -> ZoneResolution:
    if len(zones) == 1:
        return ZoneResolution(timezone=zones[0], candidates=zones, source=source)
    return ZoneResolution(timezone=None, candidates=zones, source="safe" if zones else source)


# ------------------------------------------------------------------ countries
#: ISO 3166 alpha-3 codes seen in CRM and dialer exports (VICIdial, Salesforce), mapped to
#: the alpha-2 regions libphonenumber uses.
_ALPHA3 = {
    "USA": "US", "CAN": "CA", "PRI": "PR", "MEX": "MX", "GBR": "GB", "IRL": "IE", "FRA": "FR",
    "DEU": "DE", "ESP": "ES", "ITA": "IT", "PRT": "PT", "NLD": "NL", "BEL": "BE", "LUX": "LU",
    "CHE": "CH", "AUT": "AT", "SWE": "SE", "NOR": "NO", "DNK": "DK", "FIN": "FI", "POL": "PL",
    "AUS": "AU", "NZL": "NZ", "IND": "IN", "ZAF": "ZA", "BRA": "BR", "ARG": "AR", "JPN": "JP",
}  # fmt: skip


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    from phonenumbers.geodata.locale import LOCALE_DATA

    names: dict[str, str] = {}
    for region, by_language in LOCALE_DATA.items():
        name = by_language.get("en")
        if name and name.startswith("*"):
            name = by_language.get(name[1:])
        if name:
            names[name.lower()] = region
    names.update({"usa": "US", "united states of america": "US", "uk": "GB", "great britain": "GB"})
    return names


@lru_cache(maxsize=4096)
def region_for_country(value: str) -> str | None:
    """The dialing region a country cell names: ``US``, ``usa``, ``United States``, ``1``, ``+44``.

    A calling code shared by several countries (``1``) gives its main one (``US``); numbers
    of the others (Canada, Puerto Rico…) still parse and validate correctly from it.
    """
    text = value.strip()
    digits = text.lstrip("+").lstrip("0") if text[:1] in "+0123456789" else ""
    if digits.isdigit():
        region = pnu.region_code_for_country_code(int(digits))
        if region == NON_GEO_REGION:
            return None
        return None if region == pnu.UNKNOWN_REGION else region
    upper = text.upper()
    if upper == "UK":
        return "GB"
    if len(upper) == 2 and upper in phonenumbers.SUPPORTED_REGIONS:
        return upper
    if len(upper) == 3 and upper in _ALPHA3:
        return _ALPHA3[upper]
    return _country_names().get(text.lower())

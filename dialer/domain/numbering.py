"""Fast, exact phone normalisation for bulk imports.

:func:`dialer.domain.phones.normalise` is the reference: it hands every number to
libphonenumber (``phonenumbers``), which costs about 100 µs. An import of a million rows
cannot pay that, so :class:`PhoneNormaliser` gives the *same answer* (same E.164, region,
extension, time zones, reject reason and message — the property tests compare it with the
reference) in a few microseconds for the shapes that make up real lists:

1. **Plain shapes.** After the spreadsheet repairs and the extension split of
   :func:`phones.split_number` (shared with the reference), a number made only of ASCII
   digits, spaces, ``( ) - .`` and an optional leading ``+`` (``(212) 555-0143``,
   ``+1 212.555.0143``, ``12125550143``) is parsed by libphonenumber exactly as its digit
   string with the plus sign kept: such characters cannot form an extension, a second
   number, letters or an RFC 3966 part. Its country code and national significant number
   are then split off with libphonenumber's own helpers, in the order
   :func:`phonenumbers.parse` calls them; the cases where ``parse`` would raise, or strip
   an international prefix, go to the reference instead.
2. **Deciding prefixes.** Validity, region and number type depend on the national number
   only through full matches of the metadata patterns of its country, plus ``leading_digits``
   prefix matches. :mod:`dialer.domain.digitpatterns` finds, per number, the shortest prefix
   after which every one of those patterns is decided for that length; libphonenumber's
   verdict for the first number with that prefix is then exact for all the others
   (``212 5xx xxxx`` are all valid New York numbers).
3. **Time zones** are libphonenumber's prefix table looked up on the E.164 digits, as
   ``time_zones_for_geographical_number`` does, or the country's list for non-geographic
   types, as ``time_zones_for_number`` does; when the deciding prefix also decides the
   lookup, the zones come with the verdict.
4. **A memo** of the reference's answers for everything else (caller IDs, ``n/a``…).

Everything else (letters, other punctuation, international prefixes, short numbers) goes
through the reference. The private helpers used here are pinned by the property tests
against :func:`phonenumbers.parse`, so a phonenumbers upgrade that changes them fails the
tests instead of changing answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from dialer.domain import digitpatterns, phones
from dialer.domain.digitpatterns import Decision

#: Every pattern-carrying description of a region's metadata.
_DESCRIPTIONS = (
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)
_PLAIN = re.compile(r"[0-9 ().+-]{7,40}")
_PUNCTUATION = b" ().+-"
_NO_STRIP = (
    pnu.ValidationResult.TOO_SHORT,
    pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    pnu.ValidationResult.INVALID_LENGTH,
)
_OPEN: Final = object()
_tuple_new = tuple.__new__
_MEMO_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """libphonenumber's answer for every number of one length sharing one deciding prefix."""

    valid: bool
    region: str | None
    number_type: int
    geographic: bool
    """Time zones come from the number's prefix (else from its country calling code)."""
    zones: tuple[str, ...] | None
    """The zones, when the deciding prefix also decides them (else looked up per number)."""
    problem: str
    """Why an invalid number is invalid (see :func:`phones.invalid_message`)."""
    zone_from: int = 2
    """Where the time-zone lookup of a number with this verdict resumes (``e164[1:zone_from]``
    and every shorter prefix are proper prefixes of keys of the table) when ``zones`` is None."""


class _Country:
    """The metadata patterns of one country calling code, as automata."""

    def __init__(self, country_code: int) -> None:
        self.country_code = country_code
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
        metas = [
            PhoneMetadata.metadata_for_nongeo_region(country_code)
            if region == phones.NON_GEO_REGION
            else PhoneMetadata.metadata_for_region(region)
            for region in regions
        ]
        patterns: dict[str, None] = {}
        widths = [0]
        for meta in metas:
            if meta is None:
                continue
            for name in _DESCRIPTIONS:
                desc = getattr(meta, name)
                if desc is not None and desc.national_number_pattern:
                    patterns.setdefault(desc.national_number_pattern, None)
            if meta.leading_digits is not None:
                digitpatterns.compile_digits(meta.leading_digits)  # rejects anchors and look-arounds
                width = digitpatterns.prefix_width(meta.leading_digits)
                if width is None:
                    raise digitpatterns.Unsupported(f"unbounded leading digits {meta.leading_digits!r}")
                widths.append(width)
        self.automata = [digitpatterns.compile_digits(p) for p in patterns]
        self.min_head = max(widths)
        # (length, prefix) → Verdict, or _OPEN when the prefix does not decide every pattern.
        self.heads: dict[tuple[int, str], Verdict | object] = {}
        # (length, prefix) → the automata still open after the prefix, with their states.
        self._open: dict[tuple[int, str], tuple[tuple[digitpatterns.DigitAutomaton, frozenset[int]], ...]] = {}

    def still_open(self, length: int, prefix: str) -> tuple[tuple[digitpatterns.DigitAutomaton, frozenset[int]], ...]:
        """The automata not yet decided after ``prefix`` for numbers of ``length`` digits."""
        key = (length, prefix)
        found = self._open.get(key)
        if found is not None:
            return found
        if prefix:
            parent = self.still_open(length, prefix[:-1])
            digit = ord(prefix[-1]) - 48
            candidates = [(a, a.step(s, digit)) for a, s in parent]
        else:
            candidates = [(a, a.start) for a in self.automata]
        remaining = length - len(prefix)
        found = tuple((a, s) for a, s in candidates if a.decide(s, remaining) is Decision.OPEN)
        self._open[key] = found
        return found


@dataclass(frozen=True, slots=True)
class _Region:
    """A parsing region's metadata, with the patterns ``parse`` applies to every number compiled once."""

    meta: PhoneMetadata
    code: str
    """The region's country calling code, as text."""
    country_code: int
    idd: re.Pattern[str] | None
    general: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    special: re.Pattern[str]
    """Matches the start of digits that begin with an IDD, the region's own calling code or a
    national prefix: only those need ``parse``'s prefix handling; the others are the national
    number as they stand (the common case, tested with one match)."""
    special_literals: tuple[str, ...] | None = None
    """``special``'s alternatives when all are plain digit strings (``1``, ``011``): then
    ``digits.startswith(special_literals)`` is the same test as ``special.match(digits)``, faster."""

    def starts_special(self, digits: str) -> bool:
        """``special.match(digits)``."""
        if self.special_literals is not None:
            return digits.startswith(self.special_literals)
        return self.special.match(digits) is not None


def _literals(patterns: list[str | None]) -> tuple[str, ...] | None:
    """The patterns given (None: absent) when every one is a plain string of digits, else None."""
    present = [p for p in patterns if p]
    return tuple(present) if all(p.isdigit() and p.isascii() for p in present) else None


class PhoneNormaliser:
    """:func:`phones.normalise`, fast and with the same answers. Not thread-safe; one per process."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], phones.ParsedPhone | tuple[str, str]] = {}
        self._regions: dict[str, _Region | None] = {}
        self._prefixes: dict[int, re.Pattern[str] | None] = {}
        self._too_long: dict[tuple[str, int], bool] = {}
        self._codes: dict[str, int] = {}
        self._number_meta: dict[int, PhoneMetadata] = {}
        self._countries: dict[int, _Country | None] = {}
        self._zones: dict[str, tuple[str, ...]] = {}
        self.fast = 0
        self.reference = 0

    def normalise(self, raw: str, region: str) -> phones.ParsedPhone:
        """E.164 and friends for ``raw`` dialed from ``region``; raises :class:`phones.PhoneError`.

        Errors are remembered as (reason, message) and raised as new exceptions: re-raising a
        stored exception would grow its traceback on every raise."""
        text = raw.strip()
        extension = None
        if _PLAIN.fullmatch(text) and not (text[-1] == "0" and phones.FLOAT_FORM.fullmatch(text)):
            main = text  # the common case: digits and punctuation only
        elif text:
            try:
                main, extension = phones.split_number(text)
            except phones.PhoneError:
                main = ""  # the reference raises the same error (memoised below)
            if not _PLAIN.fullmatch(main):
                main = ""
        else:
            main = ""
        if main:
            plus = main.find("+")
            # One plus sign at most, with no digit before it (only ``( ) - .`` and spaces).
            if plus < 0 or (plus == main.rfind("+") and not main[:plus].strip(" ().-")):
                digits = main.encode().translate(None, _PUNCTUATION).decode()  # ASCII: _PLAIN matched
                if len(digits) >= 7:
                    answer = self._plain(text, plus >= 0, digits, region)
                    if answer is not None:
                        self.fast += 1
                        if answer.__class__ is phones.ParsedPhone:
                            return answer._replace(extension=extension) if extension else answer
                        raise phones.PhoneError(*answer)
        key = (region, text)
        found = self._memo.get(key)
        if found is None:
            self.reference += 1
            try:
                found = phones.normalise(text, region)
            except phones.PhoneError as exc:
                found = (exc.reason, str(exc))
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = found
        if isinstance(found, phones.ParsedPhone):
            return found
        raise phones.PhoneError(*found)

    def _plain(self, text: str, plus: bool, digits: str, region: str) -> phones.ParsedPhone | tuple[str, str] | None:
        """The answer for a plain number: parsed, (reason, message), or None for the reference."""
        info = self._regions.get(region)
        if (
            not plus
            and info is not None
            and not info.starts_special(digits)
            and pnu._MIN_LENGTH_FOR_NSN <= len(digits) <= pnu._MAX_LENGTH_FOR_NSN
        ):
            country_code, national = info.country_code, digits  # as _split would find them
        else:
            split = self._split(plus, digits, region)
            if split is None:
                return None
            country_code, national = split
        country = self._countries.get(country_code)
        verdict: Verdict | None = None
        if country is not None:  # the first lookup of _verdict, inline: most numbers stop there
            length = len(national)
            found = country.heads.get((length, national[: min(country.min_head, length)]))
            if found is not None and found is not _OPEN:
                verdict = found  # type: ignore[assignment]
        if verdict is None:
            verdict = self._verdict(country_code, national)
            if verdict is None:
                return None
        if not verdict.valid:
            return ("invalid_phone", phones.invalid_message(text, verdict.problem))
        e164 = f"+{country_code}{national}"
        zones = verdict.zones
        if zones is None:
            # The table lookup reads only the digits up to the first prefix no longer key extends;
            # every prefix within the verdict's is one (else the verdict would hold the zones).
            stems, j = _zone_stems(), verdict.zone_from
            while j <= len(e164) and e164[1:j] in stems:
                j += 1
            zones = self._zones.get(e164[:j])
            if zones is None:
                zones = self._zones[e164[:j]] = _geographic_zones(e164)
        return _tuple_new(phones.ParsedPhone, (e164, verdict.region, None, zones))

    # ------------------------------------------------------------------ parsing
    def _region(self, region: str) -> _Region | None:
        if region not in self._regions:
            meta = PhoneMetadata.metadata_for_region(region, None)
            if meta is None:
                self._regions[region] = None
            else:
                general = meta.general_desc.national_number_pattern if meta.general_desc else None
                code = str(meta.country_code)
                starts = [re.escape(code)] + [
                    f"(?:{p})" for p in (meta.international_prefix, meta.national_prefix_for_parsing) if p
                ]
                self._regions[region] = _Region(
                    meta=meta,
                    code=code,
                    country_code=int(code),
                    idd=re.compile(meta.international_prefix) if meta.international_prefix else None,
                    general=re.compile(general) if general else None,
                    national_prefix=self._national_prefix(meta),
                    special=re.compile("|".join(starts)),
                    special_literals=_literals([code, meta.international_prefix, meta.national_prefix_for_parsing]),
                )
        return self._regions[region]

    def _national_prefix(self, meta: PhoneMetadata) -> re.Pattern[str] | None:
        key = id(meta)
        if key not in self._prefixes:
            pattern = getattr(meta, "national_prefix_for_parsing", None)
            self._prefixes[key] = re.compile(pattern) if pattern else None
        return self._prefixes[key]

    def _strip_national_prefix(self, number: str, meta: PhoneMetadata) -> str:
        """``_maybe_strip_national_prefix_carrier_code(number, meta)[1]``, skipped when its
        prefix pattern does not match (it then returns the number unchanged)."""
        prefix = self._national_prefix(meta)
        if prefix is None or not prefix.match(number):
            return number
        return str(pnu._maybe_strip_national_prefix_carrier_code(number, meta)[1])

    def _split(self, plus: bool, digits: str, region: str) -> tuple[int, str] | None:
        """(country code, national significant number) as :func:`phonenumbers.parse` finds them
        for a plain text with these digits, or None where parse would raise or strip an IDD."""
        info = self._region(region)
        if info is None:
            return None
        number_meta: PhoneMetadata = info.meta
        if plus:
            # _extract_country_code reads at most three digits (none starts with 0).
            country_code = self._codes.get(digits[:3])
            if country_code is None:
                country_code = self._codes[digits[:3]] = int(pnu._extract_country_code(digits[:3])[0])
            if country_code == 0:
                return None  # parse retries without the plus sign: leave it to parse
            national = digits[len(str(country_code)) :]
            number_meta = self._meta_for_code(country_code, region, info)
        elif not info.starts_special(digits):
            # No IDD, no own calling code, no national prefix: parse keeps the digits as they
            # are, in the region's metadata (a match-free _maybe_strip_national_prefix... is a
            # no-op); only the length limits remain.
            if not pnu._MIN_LENGTH_FOR_NSN <= len(digits) <= pnu._MAX_LENGTH_FOR_NSN:
                return None
            return info.country_code, digits
        else:
            if info.idd is not None and info.idd.match(digits):
                return None  # an international prefix (011…, 00…): leave it to parse
            country_code, national = info.country_code, digits
            if digits.startswith(info.code):
                # _maybe_extract_country_code: the region's own code written without a plus.
                potential = self._strip_national_prefix(digits[len(info.code) :], info.meta)
                general = info.general
                too_long = self._too_long.get((region, len(digits)))
                if too_long is None:
                    result = pnu._test_number_length(digits, info.meta)
                    too_long = self._too_long[(region, len(digits))] = result == pnu.ValidationResult.TOO_LONG
                if (general is not None and not general.fullmatch(digits) and general.fullmatch(potential)) or too_long:
                    national = potential
                    number_meta = self._meta_for_code(country_code, region, info)
        if len(national) < pnu._MIN_LENGTH_FOR_NSN:
            return None
        stripped = self._strip_national_prefix(national, number_meta)
        if stripped is not national and pnu._test_number_length(stripped, number_meta) not in _NO_STRIP:
            national = stripped
        if not pnu._MIN_LENGTH_FOR_NSN <= len(national) <= pnu._MAX_LENGTH_FOR_NSN:
            return None
        return country_code, national

    def _meta_for_code(self, country_code: int, region: str, info: _Region) -> PhoneMetadata:
        """The metadata ``parse`` switches to once it has extracted a country calling code."""
        if pnu.region_code_for_country_code(country_code) == region:
            return info.meta
        found = self._number_meta.get(country_code)
        if found is None:
            number_region = pnu.region_code_for_country_code(country_code)
            meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
            assert meta is not None, "a known country calling code has metadata"
            found = self._number_meta[country_code] = meta
        return found

    # --------------------------------------------------------------- validation
    def _country(self, country_code: int) -> _Country | None:
        if country_code not in self._countries:
            try:
                self._countries[country_code] = _Country(country_code)
            except digitpatterns.Unsupported:
                self._countries[country_code] = None
        return self._countries[country_code]

    def _verdict(self, country_code: int, national: str) -> Verdict | None:
        country = self._country(country_code)
        if country is None:
            return None
        length = len(national)
        heads = country.heads
        k = min(country.min_head, length)
        while True:
            key = (length, national[:k])
            verdict = heads.get(key)
            if verdict is None:
                verdict = _OPEN if k < length and country.still_open(length, national[:k]) else None
                if verdict is None:
                    verdict = _libphonenumber_verdict(country_code, national, head=k)
                heads[key] = verdict
            if verdict is not _OPEN:
                return verdict  # type: ignore[return-value]
            k += 1


@lru_cache(maxsize=1)
def _zone_stems() -> frozenset[str]:
    """Every proper prefix of a key of libphonenumber's time-zone table."""
    return frozenset(k[:i] for k in TIMEZONE_DATA for i in range(1, len(k)))


def _libphonenumber_verdict(country_code: int, national: str, *, head: int) -> Verdict:
    number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    pnu._set_italian_leading_zeros_for_phone_number(national, number)
    region = phonenumbers.region_code_for_number(number)
    valid = region is not None and phonenumbers.is_valid_number_for_region(number, region)
    number_type = phonenumbers.number_type(number)
    geographic = phonenumbers.is_number_type_geographical(number_type, country_code)
    zones: tuple[str, ...] | None = None
    if not geographic:
        zones = _country_level_zones(country_code)
    else:
        digits, stems, j = f"{country_code}{national}", _zone_stems(), 1
        while j <= len(digits) and digits[:j] in stems:
            j += 1
        if j <= len(str(country_code)) + head:  # the prefix shared by the verdict decides the zones
            zones = _geographic_zones(f"+{digits}")
    # Zones not decided: digits[:i] is a stem for every i up to the verdict's prefix, so the
    # lookup's walk over e164[1:j] resumes past it.
    zone_from = len(str(country_code)) + head + 2 if zones is None else 2
    return Verdict(
        valid=valid,
        region=region,
        number_type=number_type,
        geographic=geographic,
        zones=zones,
        problem="" if valid else phones.problem_of(number),
        zone_from=zone_from,
    )


def _country_level_zones(country_code: int) -> tuple[str, ...]:
    """``_country_level_time_zones_for_number``: the table entry of the country calling code."""
    code = str(country_code)
    for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        found = TIMEZONE_DATA.get(code[: 1 + length])
        if found is not None:
            return phones.known_zones(found)
    return ()


def _geographic_zones(e164: str) -> tuple[str, ...]:
    """``time_zones_for_geographical_number``: the longest prefix of the digits in the table.

    Only keys that are prefixes of the digits can match, so once a prefix of the digits is
    no proper prefix of any key, the answer is fixed: :class:`PhoneNormaliser` caches it by
    that prefix."""
    for length in range(TIMEZONE_LONGEST_PREFIX, 0, -1):
        found = TIMEZONE_DATA.get(e164[1 : 1 + length])
        if found is not None:
            return phones.known_zones(found)
    return ()

"""The fast normaliser against libphonenumber itself: same answers, every format.

Property tests render valid numbers of many countries in the ways lists write them and check
that both :func:`phones.normalise` and :class:`PhoneNormaliser` give back the number's E.164;
others feed arbitrary phone-like text to both and require identical answers (value or reject
reason and message), including for numbers sharing cached prefixes.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from dialer.domain import phones
from dialer.domain.numbering import PhoneNormaliser

REGIONS = ("US", "CA", "PR", "JM", "GB", "IE", "FR", "DE", "ES", "IT", "NL", "AU", "NZ", "MX", "BR", "IN", "JP", "ZA")
TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# One normaliser for the whole module: its caches fill up across examples, as in an import.
SHARED = PhoneNormaliser()


def answer(normalise: object, text: str, region: str) -> object:
    try:
        return normalise(text, region)  # type: ignore[operator]
    except phones.PhoneError as exc:
        return ("error", exc.reason, str(exc))


@st.composite
def valid_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """A valid number: a region's example number with its last digits redrawn."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from(TYPES))
    example_number = phonenumbers.example_number_for_type(region, kind)
    assume(example_number is not None)
    national = phonenumbers.national_significant_number(example_number)
    keep = draw(st.integers(min_value=min(3, len(national)), max_value=len(national)))
    tail = draw(st.text(alphabet="0123456789", min_size=len(national) - keep, max_size=len(national) - keep))
    number = phonenumbers.parse(f"+{example_number.country_code}{national[:keep]}{tail}", None)
    assume(phonenumbers.is_valid_number(number))
    return number


def renderings(number: phonenumbers.PhoneNumber, separator: str) -> list[tuple[str, str]]:
    """(text, region it is dialed from) as lists write the number."""
    region = phonenumbers.region_code_for_number(number) or "US"
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    nsn = phonenumbers.national_significant_number(number)
    return [
        (e164, "US"),
        (e164, region),
        (international, "GB"),
        (international.replace(" ", separator), region),
        (national, region),
        (national.replace(" ", separator), region),
        (national.replace(" ", ""), region),
        (f"  {national}  ", region),
        (f"+{number.country_code} ({nsn[:3]}) {nsn[3:]}", "FR"),
        (phonenumbers.format_number(number, PhoneNumberFormat.RFC3966), "DE"),
        (f"{international} ext. 42", region),
    ]


@SETTINGS
@given(number=valid_numbers(), separator=st.sampled_from(["-", ".", " ", "  ", "/"]))
def test_valid_numbers_in_any_format_give_back_their_e164(number: phonenumbers.PhoneNumber, separator: str) -> None:
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    for text, region in renderings(number, separator):
        reference = phones.normalise(text, region)
        assert reference.e164 == e164, (text, region)
        assert SHARED.normalise(text, region) == reference, (text, region)
        assert PhoneNormaliser().normalise(text, region) == reference, (text, region)


PHONE_LIKE = st.text(alphabet="0123456789 ()-.+", min_size=0, max_size=22)


@SETTINGS
@given(text=PHONE_LIKE, region=st.sampled_from(REGIONS))
@example(text="2125550155.0", region="US")
@example(text="011 44 20 7946 0958", region="US")
@example(text="+1 (+1) 212", region="US")
@example(text="(212) 555-0143", region="US")
@example(text="000000000000", region="IT")
@example(text="0 20 7946 0958", region="GB")
@example(text="+4402079460958", region="US")
@example(text="1 212 555 0143", region="CA")
def test_fast_and_reference_agree_on_phone_like_text(text: str, region: str) -> None:
    reference = answer(phones.normalise, text, region)
    assert answer(SHARED.normalise, text, region) == reference
    assert answer(PhoneNormaliser().normalise, text, region) == reference


@SETTINGS
@given(
    plus=st.booleans(),
    digits=st.text(alphabet="0123456789", min_size=6, max_size=16),
    style=st.sampled_from(["{}", "({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "{} {} {}"]),
    region=st.sampled_from(REGIONS),
)
def test_fast_and_reference_agree_on_digit_strings(plus: bool, digits: str, style: str, region: str) -> None:
    parts = [digits] if style == "{}" else [digits[:3], digits[3:6], digits[6:]]
    text = ("+" if plus else "") + style.format(*parts)
    reference = answer(phones.normalise, text, region)
    assert answer(SHARED.normalise, text, region) == reference


@SETTINGS
@given(text=st.text(min_size=0, max_size=30), region=st.sampled_from(REGIONS))
@example(text="8.14404E+09", region="US")
@example(text="2.125550143E+09", region="US")
@example(text="(212) 555-0143 x12", region="US")
@example(text="212-555-0143 ext. 9", region="US")
@example(text="1-800-FLOWERS", region="US")
@example(text="tel:+1-212-555-0143", region="US")
@example(text="２１２５５５０１４３", region="US")
def test_fast_and_reference_agree_on_any_text(text: str, region: str) -> None:
    reference = answer(phones.normalise, text, region)
    assert answer(SHARED.normalise, text, region) == reference


def test_every_us_area_code_agrees() -> None:
    """Each NPA and several exchanges: the cache keyed on deciding prefixes never lies."""
    rng = random.Random(7)
    normaliser = PhoneNormaliser()
    for npa in range(200, 1000):
        for _ in range(3):
            digits = f"{npa}{rng.randrange(10)}{rng.randrange(100):02d}{rng.randrange(10000):04d}"
            for text in (digits, f"1{digits}", f"+1{digits}", f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"):
                assert answer(normaliser.normalise, text, "US") == answer(phones.normalise, text, "US"), text
    assert normaliser.fast > 0.9 * (normaliser.fast + normaliser.reference)


@pytest.mark.parametrize(
    ("text", "region", "e164", "zones"),
    [
        ("(212) 555-0143", "US", "+12125550143", ("America/New_York",)),
        ("1-907-555-0103", "US", "+19075550103", ("America/Adak", "America/Anchorage")),
        ("416 555 0101", "CA", "+14165550101", ("America/Toronto",)),
        ("020 7946 0958", "GB", "+442079460958", ("Europe/London",)),
        ("+61 2 9374 4000", "US", "+61293744000", ("Australia/Sydney",)),
    ],
)
def test_zones_come_with_the_number(text: str, region: str, e164: str, zones: tuple[str, ...]) -> None:
    parsed = SHARED.normalise(text, region)
    assert (parsed.e164, parsed.zones) == (e164, zones)


def test_errors_are_fresh_exceptions() -> None:
    """A remembered error is raised anew each time (re-raising one object grows its traceback)."""
    normaliser = PhoneNormaliser()
    caught = []
    for _ in range(3):
        with pytest.raises(phones.PhoneError) as info:
            normaliser.normalise("CALL ME", "US")
        caught.append(info.value)
    assert caught[0] is not caught[1] and caught[0] == caught[1]

"""Digit automata against Python's re, and their decisions against brute force."""

from __future__ import annotations

import itertools
import re

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers.phonemetadata import PhoneMetadata

from dialer.domain import digitpatterns
from dialer.domain.digitpatterns import Decision

DESCRIPTIONS = ("general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "personal_number", "voip", "uan")
PATTERNS = sorted(
    {
        getattr(meta, name).national_number_pattern
        for region in phonenumbers.SUPPORTED_REGIONS
        if (meta := PhoneMetadata.metadata_for_region(region)) is not None
        for name in DESCRIPTIONS
        if getattr(meta, name) is not None and getattr(meta, name).national_number_pattern
    }
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(pattern=st.sampled_from(PATTERNS), data=st.data())
def test_the_automaton_matches_what_re_matches(pattern: str, data: st.DataObject) -> None:
    automaton = digitpatterns.compile_digits(pattern)
    matching = data.draw(st.from_regex(re.compile(pattern, re.ASCII), fullmatch=True))
    if matching.isdigit() and matching.isascii():
        assert automaton.matches(matching)
    other = data.draw(st.text(alphabet="0123456789", max_size=14))
    assert automaton.matches(other) == bool(re.fullmatch(pattern, other))


@SETTINGS
@given(
    pattern=st.sampled_from(PATTERNS),
    prefix=st.text(alphabet="0123456789", max_size=6),
    remaining=st.integers(min_value=0, max_value=3),
)
def test_decisions_agree_with_every_completion(pattern: str, prefix: str, remaining: int) -> None:
    automaton = digitpatterns.compile_digits(pattern)
    compiled = re.compile(pattern)
    outcomes = {
        bool(compiled.fullmatch(prefix + "".join(tail))) for tail in itertools.product("0123456789", repeat=remaining)
    }
    expected = Decision.ALL if outcomes == {True} else Decision.NONE if outcomes == {False} else Decision.OPEN
    assert automaton.decide(automaton.run(prefix), remaining) is expected


@pytest.mark.parametrize(
    ("pattern", "prefix", "remaining", "decision"),
    [
        (r"212[2-9]\d{6}", "2125", 6, Decision.ALL),
        (r"212[2-9]\d{6}", "212", 7, Decision.OPEN),
        (r"212[2-9]\d{6}", "2121", 6, Decision.NONE),
        (r"212[2-9]\d{6}", "2125", 5, Decision.NONE),  # wrong length
        (r"(?:8(?:00|33)|9)\d{2,3}", "8", 4, Decision.OPEN),
        (r"1\d*", "1", 9, Decision.ALL),
    ],
)
def test_decide(pattern: str, prefix: str, remaining: int, decision: Decision) -> None:
    automaton = digitpatterns.DigitAutomaton(pattern)
    assert automaton.decide(automaton.run(prefix), remaining) is decision


@pytest.mark.parametrize("pattern", [r"^12", r"1(?=2)", r"(1)\1", r"1++", r"(?>12)"])
def test_features_it_cannot_model_are_refused(pattern: str) -> None:
    with pytest.raises(digitpatterns.Unsupported):
        digitpatterns.DigitAutomaton(pattern)


def test_every_metadata_pattern_is_modelled() -> None:
    for pattern in PATTERNS:
        digitpatterns.compile_digits(pattern)
    assert digitpatterns.prefix_width("8(?:00|33)[2-9]") == 4
    assert digitpatterns.prefix_width(r"8\d*") is None

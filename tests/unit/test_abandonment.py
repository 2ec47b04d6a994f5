"""The one function that decides what counts for the abandonment rate."""

from __future__ import annotations

import pytest

from dialer.domain.abandonment import abandonment_counts, amd_class
from dialer.reports.figures import Tally
from dialer.store.types import OutcomeCounts

BY_OUTCOME = {"ANSWER": 90, "SILENCE": 2, "ABANDONED": 3, "DROPPED": 5, "ANSWERING_MACHINE": 40, "NO_ANSWER": 60}
PREVIEW = {"ANSWER": 10, "ABANDONED": 1}
PLAYED = {"DROPPED": 4, "ABANDONED": 1}


def test_preview_calls_leave_both_counts() -> None:
    c = abandonment_counts(BY_OUTCOME, preview=PREVIEW)
    assert (c.live_answers, c.abandoned) == (100 - 11 + 0, 7)
    assert c.preview_live_answers == 11
    assert c.rate == pytest.approx(7 / 89)


def test_message_played_is_counted_separately_and_stays_in_the_rate() -> None:
    c = abandonment_counts(BY_OUTCOME, preview=PREVIEW, message_played=PLAYED)
    assert c.abandoned == 7 and c.message_played == 5 and c.silent == 2
    assert c.rate == abandonment_counts(BY_OUTCOME, preview=PREVIEW).rate


def test_amd_false_positives_are_an_estimate_added_to_both_counts() -> None:
    c = abandonment_counts(BY_OUTCOME, amd_machines=40, amd_false_positive_rate=0.05)
    assert c.amd_false_positives == 2
    assert (c.live_answers, c.abandoned) == (100 + 2, 8 + 2)
    # the estimate is not a silent call: it is already part of the numerator
    assert c.silent == 8
    with pytest.raises(ValueError, match="fraction"):
        abandonment_counts(BY_OUTCOME, amd_false_positive_rate=1.5)


def test_in_flight_attempts_are_ignored() -> None:
    assert abandonment_counts({None: 5, "ANSWER": 1}).live_answers == 1


def test_reports_and_the_store_agree() -> None:
    """``Tally`` (reports) and ``OutcomeCounts`` (the live meter) both use the one function."""
    tally = Tally(
        by_outcome=dict(BY_OUTCOME),
        preview=dict(PREVIEW),
        message_played=dict(PLAYED),
        amd_machines=40,
        amd_false_positive_rate=0.05,
    )
    counts = OutcomeCounts(
        by_outcome=BY_OUTCOME, preview=PREVIEW, message_played=PLAYED, amd_machines=40, amd_false_positive_rate=0.05
    )
    expected = abandonment_counts(
        BY_OUTCOME, preview=PREVIEW, message_played=PLAYED, amd_machines=40, amd_false_positive_rate=0.05
    )
    assert tally.abandonment == counts.abandonment == expected
    assert (tally.live_answers, tally.abandoned) == (counts.live_answers, counts.abandoned)
    assert tally.message_played_abandoned == 5 and tally.silent_calls == 2
    both = tally + tally
    assert both.abandoned == 2 * (7 + 0) + 4  # the estimate is re-derived over the summed machines


@pytest.mark.parametrize(
    ("answered_by", "expected"),
    [
        ("human", "human"),
        ("machine_start", "machine"),
        ("machine_end_beep", "machine"),
        ("fax", "fax"),
        ("unknown", "unknown"),
        (None, None),
        ("", None),
    ],
)
def test_amd_class(answered_by: str | None, expected: str | None) -> None:
    assert amd_class(answered_by) == expected

from __future__ import annotations

import pytest

from dialer.domain.results import ABANDON_RESULTS, LIVE_RESULTS, CallResult, Category


def test_every_result_has_a_category() -> None:
    for result in CallResult:
        assert isinstance(result.category, Category)


@pytest.mark.parametrize(
    ("result", "code", "category"),
    [
        (CallResult.ANSWER, 33, Category.HUMAN),
        (CallResult.BUSY, 6, Category.BUSY),
        (CallResult.NO_ANSWER, 7, Category.NO_ANSWER),
        (CallResult.ANSWERING_MACHINE, 9, Category.MACHINE),
        (CallResult.SIT_INVALID_NUM, 11, Category.BAD_NUMBER),
        (CallResult.ABANDONED, 21, Category.ABANDONED),
        (CallResult.DROPPED, 26, Category.ABANDONED),
        (CallResult.UNKNOWN, 28, Category.UNKNOWN),
        (CallResult.DO_NOT_CALL, 51, Category.DNC),
    ],
)
def test_genesys_codes_and_categories(result: CallResult, code: int, category: Category) -> None:
    assert result.ocs_code == code
    assert result.category is category


def test_abandonment_rate_terms() -> None:
    # Numerator: abandoned and dropped. Denominator: every live answer, the abandoned included.
    assert ABANDON_RESULTS == {CallResult.ABANDONED, CallResult.DROPPED}
    assert ABANDON_RESULTS <= LIVE_RESULTS
    assert CallResult.SILENCE in LIVE_RESULTS  # answered, unclassified: counts as live
    assert CallResult.ANSWERING_MACHINE not in LIVE_RESULTS
    assert CallResult.NO_ANSWER not in LIVE_RESULTS


def test_bad_numbers_and_network_errors_do_not_count_toward_attempt_caps() -> None:
    assert not CallResult.SIT_VACANT.counts_attempt
    assert not CallResult.DIAL_ERROR.counts_attempt
    assert not CallResult.CANCELLED.counts_attempt
    assert CallResult.NO_ANSWER.counts_attempt
    assert CallResult.ABANDONED.counts_attempt

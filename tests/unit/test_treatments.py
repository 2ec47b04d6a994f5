from __future__ import annotations

from datetime import timedelta

import pytest

from dialer.domain.records import RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryPolicy
from tests.conftest import T0


@pytest.mark.parametrize(
    ("result", "occurrence", "expected"),
    [
        (CallResult.BUSY, 1, timedelta(minutes=30)),
        (CallResult.BUSY, 2, timedelta(minutes=35)),
        (CallResult.BUSY, 3, timedelta(minutes=40)),
        (CallResult.NO_ANSWER, 1, timedelta(hours=3)),
        (CallResult.NO_ANSWER, 4, timedelta(hours=27)),
        (CallResult.NO_ANSWER, 5, timedelta(hours=29)),
        (CallResult.DIAL_ERROR, 1, timedelta(minutes=10)),
        (CallResult.DIAL_ERROR, 3, timedelta(hours=3)),  # then treated like a no-answer
        (CallResult.ABANDONED, 1, timedelta(hours=72)),
    ],
)
def test_retry_intervals(result: CallResult, occurrence: int, expected: timedelta) -> None:
    decision = RetryPolicy(max_attempts=20).next_attempt(result=result, attempts=1, occurrences=occurrence, now=T0)
    assert decision.status is RecordStatus.READY
    assert decision.retry_at == T0 + expected


@pytest.mark.parametrize(
    ("result", "status"),
    [
        (CallResult.ANSWER, RecordStatus.COMPLETED),
        (CallResult.SIT_VACANT, RecordStatus.BAD_NUMBER),
        (CallResult.FAX, RecordStatus.BAD_NUMBER),
        (CallResult.DO_NOT_CALL, RecordStatus.DO_NOT_CALL),
    ],
)
def test_final_results_are_never_retried(result: CallResult, status: RecordStatus) -> None:
    decision = RetryPolicy().next_attempt(result=result, attempts=1, occurrences=1, now=T0)
    assert decision.status is status
    assert decision.retry_at is None


def test_max_attempts_ends_the_record() -> None:
    decision = RetryPolicy(max_attempts=3).next_attempt(result=CallResult.BUSY, attempts=3, occurrences=1, now=T0)
    assert decision.status is RecordStatus.EXHAUSTED
    assert "3/3" in decision.reason


def test_treatment_used_up_ends_the_record() -> None:
    decision = RetryPolicy(max_attempts=50).next_attempt(result=CallResult.BUSY, attempts=4, occurrences=4, now=T0)
    assert decision.status is RecordStatus.EXHAUSTED


def test_cancelled_call_goes_straight_back() -> None:
    decision = RetryPolicy().next_attempt(result=CallResult.CANCELLED, attempts=0, occurrences=1, now=T0)
    assert decision.status is RecordStatus.READY and decision.retry_at == T0

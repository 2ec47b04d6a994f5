from __future__ import annotations

import itertools

import pytest

from dialer.domain.records import (
    FINAL_STATUSES,
    RECORD_TRANSITIONS,
    AttemptState,
    RecordStatus,
    advance_attempt_state,
    check_record_transition,
)
from dialer.errors import InvalidTransition


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RecordStatus.READY, RecordStatus.LEASED),
        (RecordStatus.LEASED, RecordStatus.DIALING),
        (RecordStatus.LEASED, RecordStatus.READY),
        (RecordStatus.DIALING, RecordStatus.READY),
        (RecordStatus.DIALING, RecordStatus.COMPLETED),
        (RecordStatus.READY, RecordStatus.DO_NOT_CALL),
        (RecordStatus.EXHAUSTED, RecordStatus.READY),
    ],
)
def test_allowed_record_transitions(current: RecordStatus, target: RecordStatus) -> None:
    check_record_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RecordStatus.READY, RecordStatus.DIALING),  # must be claimed first
        (RecordStatus.READY, RecordStatus.COMPLETED),  # completed only by a call result
        (RecordStatus.COMPLETED, RecordStatus.READY),
        (RecordStatus.DO_NOT_CALL, RecordStatus.READY),  # never dialed again
        (RecordStatus.BAD_NUMBER, RecordStatus.LEASED),
    ],
)
def test_forbidden_record_transitions(current: RecordStatus, target: RecordStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
        check_record_transition(current, target, handle="R-1")


def test_final_statuses_cannot_be_dialed_again() -> None:
    for status in FINAL_STATUSES:
        assert RecordStatus.LEASED not in RECORD_TRANSITIONS[status]
        assert RecordStatus.DIALING not in RECORD_TRANSITIONS[status]


def test_only_dialing_records_reach_completed() -> None:
    sources = {s for s, targets in RECORD_TRANSITIONS.items() if RecordStatus.COMPLETED in targets}
    assert sources == {RecordStatus.DIALING}


def test_attempt_states_only_move_forward() -> None:
    for a, b in itertools.product(AttemptState, repeat=2):
        result = advance_attempt_state(a, b)
        assert result.rank == max(a.rank, b.rank)
    assert advance_attempt_state(AttemptState.CONNECTED, AttemptState.RINGING) is AttemptState.CONNECTED
    assert advance_attempt_state(AttemptState.PLACED, AttemptState.ENDED) is AttemptState.ENDED

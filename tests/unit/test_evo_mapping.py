"""SessionInfo → canonical results, on payloads shaped like the seed documents."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult
from dialer.telephony import evo_mapping

ENDED = {"ended": True, "callState": "Disconnected", "queueState": "None", "dialState": "None"}


@pytest.mark.parametrize(
    ("session", "seen_answer", "expected"),
    [
        ({**ENDED, "outcome": "Busy"}, False, CallResult.BUSY),
        ({**ENDED, "outcome": "No Answer"}, False, CallResult.NO_ANSWER),
        ({**ENDED, "outcome": "no-answer"}, False, CallResult.NO_ANSWER),
        ({**ENDED, "outcome": "Answering Machine"}, True, CallResult.ANSWERING_MACHINE),
        ({**ENDED, "outcome": "Voicemail left"}, True, CallResult.ANSWERING_MACHINE),
        ({**ENDED, "outcome": "Failed: number not in service"}, False, CallResult.SIT_VACANT),
        ({**ENDED, "outcome": "Failed"}, False, CallResult.DIAL_ERROR),
        # wasMissed on an answered session: an answered callee no agent took → abandoned
        ({**ENDED, "outcome": "Missed", "wasMissed": True, "queueState": "Disconnected"}, False, CallResult.ABANDONED),
        ({**ENDED, "wasMissed": True}, True, CallResult.ABANDONED),
        # wasMissed with no sign of an answer → no answer
        ({**ENDED, "wasMissed": True}, False, CallResult.NO_ANSWER),
        ({**ENDED, "outcome": "Completed", "answeredById": "agent-1", "wasMissed": False}, False, CallResult.ANSWER),
        ({**ENDED, "outcome": "Something new", "wasMissed": False}, True, CallResult.ANSWER),
        ({**ENDED, "outcome": "Something new"}, False, CallResult.UNKNOWN),
        ({**ENDED, "log": [{"date": "2026-03-02T15:00:10Z", "message": "Call answered"}]}, False, CallResult.ANSWER),
    ],
)
def test_classify(session: dict[str, object], seen_answer: bool, expected: CallResult) -> None:
    assert evo_mapping.classify(session, seen_answer=seen_answer) is expected


@pytest.mark.parametrize(
    ("session", "state"),
    [
        ({"ended": False, "callState": "Ringing", "queueState": "None"}, AttemptState.RINGING),
        ({"ended": False, "callState": "Connected", "queueState": "Queued"}, AttemptState.ANSWERED),
        ({"ended": False, "callState": "Connected", "queueState": "Connected"}, AttemptState.CONNECTED),
        ({"ended": False, "callState": "Connected", "answeredById": "a"}, AttemptState.CONNECTED),
        ({"ended": False, "callState": "Disconnected"}, AttemptState.PLACED),
        ({"ended": True, "callState": "Connected"}, AttemptState.ENDED),
        ({}, AttemptState.PLACED),
    ],
)
def test_progress_state(session: dict[str, object], state: AttemptState) -> None:
    assert evo_mapping.progress_state(session) is state


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T15:00:00Z", datetime(2026, 3, 2, 15, tzinfo=UTC)),
        ("2026-03-02T15:00:00.123+00:00", datetime(2026, 3, 2, 15, 0, 0, 123000, tzinfo=UTC)),
        ("2026-03-02T10:00:00-05:00", datetime(2026, 3, 2, 15, tzinfo=UTC)),
        ("2026-03-02T15:00:00", datetime(2026, 3, 2, 15, tzinfo=UTC)),  # no offset: UTC
        ("/Date(1772463600000-0000)/", datetime(2026, 3, 2, 15, tzinfo=UTC)),
        ("String", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_evo_dates(text: object, expected: datetime | None) -> None:
    assert evo_mapping.parse_evo_datetime(text) == expected


def test_times_come_from_the_log_when_present() -> None:
    session = {
        "ended": True,
        "dateCreated": "2026-03-02T15:00:00Z",
        "dateCompleted": "2026-03-02T15:02:30Z",
        "log": [
            {"date": "2026-03-02T15:00:00Z", "message": "Dialing +12125550100"},
            {"date": "2026-03-02T15:00:09Z", "message": "Call answered"},
            {"date": "2026-03-02T15:00:09Z", "message": "Connected to Agent 3"},
        ],
    }
    observed = datetime(2026, 3, 2, 15, 5, tzinfo=UTC)
    answered, connected, ended = evo_mapping.session_times(session, observed_at=observed)
    assert answered == datetime(2026, 3, 2, 15, 0, 9, tzinfo=UTC)
    assert connected == answered
    assert ended == datetime(2026, 3, 2, 15, 2, 30, tzinfo=UTC)
    assert evo_mapping.duration_seconds(session) == 150.0

"""Twilio status, AMD and queue results → canonical results (outbound-domain.md §2.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException, TwilioServiceException

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult
from dialer.errors import TelephonyAuthError, TelephonyRejected, TelephonyUnavailable
from dialer.telephony import twilio_mapping as m
from dialer.telephony.twilio_voice import classify_error


@pytest.mark.parametrize(
    ("status", "answered_by", "sip", "queue", "expected", "missed"),
    [
        ("completed", None, 200, None, CallResult.ANSWER, None),
        ("completed", "human", 200, None, CallResult.ANSWER, None),
        ("completed", "machine_start", 200, None, CallResult.ANSWERING_MACHINE, False),
        ("completed", "machine_end_beep", 200, None, CallResult.ANSWERING_MACHINE, False),
        ("completed", "machine_end_silence", 200, None, CallResult.ANSWERING_MACHINE, False),
        ("completed", "machine_end_other", 200, None, CallResult.ANSWERING_MACHINE, False),
        ("completed", "fax", 200, None, CallResult.FAX, False),
        ("completed", "unknown", 200, None, CallResult.SILENCE, None),
        ("completed", "human", 200, ("bridged", 1.0), CallResult.ANSWER, False),
        ("completed", "human", 200, ("leave", 2.0), CallResult.ABANDONED, True),
        ("completed", None, 200, ("hangup", 1.0), CallResult.ABANDONED, True),
        ("completed", "human", 200, ("bridged", 5.0), CallResult.ANSWER, True),  # bridged too late
        ("busy", None, 486, None, CallResult.BUSY, False),
        ("busy", None, 600, None, CallResult.BUSY, False),
        ("no-answer", None, 480, None, CallResult.NO_ANSWER, False),
        ("no-answer", None, None, None, CallResult.NO_ANSWER, False),
        ("failed", None, 404, None, CallResult.SIT_VACANT, False),
        ("failed", None, 604, None, CallResult.SIT_VACANT, False),
        ("failed", None, 410, None, CallResult.SIT_INVALID_NUM, False),
        ("failed", None, 484, None, CallResult.SIT_INVALID_NUM, False),
        ("failed", None, 503, None, CallResult.SIT_NO_CIRCUIT, False),
        ("failed", None, 500, None, CallResult.SIT_NO_CIRCUIT, False),
        ("failed", None, None, None, CallResult.DIAL_ERROR, False),
        ("canceled", None, None, None, CallResult.CANCELLED, False),
        ("something-new", None, None, None, CallResult.UNKNOWN, None),
    ],
)
def test_map_result(
    status: str,
    answered_by: str | None,
    sip: int | None,
    queue: tuple[str, float] | None,
    expected: CallResult,
    missed: bool | None,
) -> None:
    result, was_missed = m.map_result(
        status,
        answered_by=answered_by,
        sip_code=sip,
        queue_result=queue[0] if queue else None,
        queue_time=queue[1] if queue else None,
    )
    assert (result, was_missed) == (expected, missed)


T = datetime(2026, 3, 2, 15, tzinfo=UTC)


def status(seq: int, call_status: str, at: datetime, **extra: str) -> tuple[str, int, dict[str, object]]:
    return (
        "status",
        seq,
        {
            "CallStatus": call_status,
            "Timestamp": at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            "SequenceNumber": str(seq),
            **extra,
        },
    )


def test_fold_orders_by_sequence_not_arrival() -> None:
    events = [
        status(3, "completed", T + timedelta(seconds=130), CallDuration="120", SipResponseCode="200"),
        status(0, "initiated", T),
        status(2, "in-progress", T + timedelta(seconds=10)),
        status(1, "ringing", T + timedelta(seconds=1)),
        status(2, "in-progress", T + timedelta(seconds=10)),  # delivered twice
        ("queue", 0, {"QueueResult": "bridged", "QueueTime": "1"}),
    ]
    view = m.fold(events)
    assert view.state is AttemptState.ENDED and view.outcome is CallResult.ANSWER and view.was_missed is False
    assert view.answered_at == T + timedelta(seconds=10)
    assert view.connected_at == T + timedelta(seconds=11)
    assert view.ended_at == T + timedelta(seconds=130) and view.duration_s == 120


def test_fold_progress_before_the_end() -> None:
    assert m.fold([status(0, "initiated", T), status(1, "ringing", T)]).state is AttemptState.RINGING
    answered = m.fold([status(1, "ringing", T), status(2, "in-progress", T)])
    assert answered.state is AttemptState.ANSWERED
    bridged = m.fold([status(2, "in-progress", T), ("queue", 0, {"QueueResult": "bridged", "QueueTime": "0"})])
    assert bridged.state is AttemptState.CONNECTED


def test_fold_waits_briefly_for_a_late_amd_result() -> None:
    ended = T + timedelta(seconds=20)
    events = [status(2, "in-progress", T), status(3, "completed", ended, SipResponseCode="200")]
    early = m.fold(events, expects_amd=True, now=ended + timedelta(seconds=2), settle_seconds=10)
    assert early.state is AttemptState.ANSWERED  # the AMD callback may still be on its way
    with_amd = m.fold([*events, ("amd", 0, {"AnsweredBy": "machine_start"})], expects_amd=True, now=ended)
    assert with_amd.outcome is CallResult.ANSWERING_MACHINE
    late = m.fold(events, expects_amd=True, now=ended + timedelta(seconds=11), settle_seconds=10)
    assert late.state is AttemptState.ENDED and late.outcome is CallResult.ANSWER


def test_rest_resource_view() -> None:
    view = m.view_from_resource(
        {
            "status": "completed",
            "answered_by": "human",
            "duration": "42",
            "start_time": "Mon, 02 Mar 2026 15:00:10 +0000",
            "end_time": "2026-03-02T15:00:52+00:00",
        }
    )
    assert view.outcome is CallResult.ANSWER and view.duration_s == 42
    assert view.answered_at == T + timedelta(seconds=10) and view.ended_at == T + timedelta(seconds=52)
    assert m.view_from_resource({"status": "ringing"}).state is AttemptState.RINGING
    assert m.view_from_resource({"status": "queued"}).state is AttemptState.PLACED


def rest(status: int, code: int) -> TwilioRestException:
    return TwilioRestException(status, "/Calls.json", "Unable to create record: boom", code, "POST")


@pytest.mark.parametrize(
    ("exc", "kind", "flag"),
    [
        (rest(400, 21211), TelephonyRejected, "bad_number"),
        (rest(400, 21214), TelephonyRejected, "bad_number"),
        (rest(400, 21217), TelephonyRejected, "bad_number"),
        (rest(400, 21210), TelephonyRejected, "bad_caller_id"),
        (rest(400, 21212), TelephonyRejected, "bad_caller_id"),
        (rest(400, 21215), TelephonyRejected, None),
        (rest(401, 20003), TelephonyAuthError, None),
        (rest(429, 20429), TelephonyUnavailable, None),
        (rest(503, 20503), TelephonyUnavailable, None),
        (
            TwilioServiceException("https://www.twilio.com/docs/errors/20429", "Too Many Requests", 429, 20429),
            TelephonyUnavailable,
            None,
        ),
        (
            TwilioServiceException(
                "https://www.twilio.com/docs/errors/21211",
                "Invalid To",
                400,
                21211,
                detail="The 'To' number is not valid",
            ),
            TelephonyRejected,
            "bad_number",
        ),
    ],
)
def test_twilio_errors_are_classified(exc: Exception, kind: type, flag: str | None) -> None:
    error = classify_error(exc, action="place a call")  # type: ignore[arg-type]
    assert type(error) is kind
    if flag:
        assert getattr(error, flag) is True
    assert "\x1b[" not in error.message  # no terminal colours from the library's __str__


@pytest.mark.parametrize(
    ("status", "queue_result", "played"),
    [
        ("completed", "leave", True),
        ("completed", "hangup", False),
        ("completed", "bridged", None),
        ("busy", None, None),
    ],
)
def test_the_information_message_is_known_from_how_the_queue_was_left(
    status: str, queue_result: str | None, played: bool | None
) -> None:
    """The wait TwiML plays the message after the grace time and then leaves the queue."""
    outcome, _ = m.map_result(status, queue_result=queue_result)
    view = m.CallView(state=AttemptState.ENDED, status=status, queue_result=queue_result, outcome=outcome)
    assert m.message_played(view) is played

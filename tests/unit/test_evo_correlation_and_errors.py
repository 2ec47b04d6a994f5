"""Pure Evo Voice mappings: session matching, ServiceStack errors, live hints, the outcome table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dialer.domain.results import CallResult
from dialer.errors import TelephonyAuthError, TelephonyRejected, TelephonyUnavailable
from dialer.telephony import evo_mapping

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def s(sid: str, *, at: str = "2026-03-02T15:00:02Z", to: str = "+12125550123", **extra: object) -> dict[str, object]:
    return {"id": sid, "dateCreated": at, "toAddress": to, "direction": "Outgoing", "channel": "Voice", **extra}


@pytest.mark.parametrize(
    ("sessions", "claimed", "expected"),
    [
        ([s("a")], (), "a"),
        ([s("a", at="2026-03-02T15:00:01Z"), s("b", at="2026-03-02T15:00:05Z")], (), "b"),  # newest
        ([s("a", at="2026-03-02T15:00:01Z"), s("b", at="2026-03-02T15:00:05Z")], ("b",), "a"),  # never twice
        ([s("a", to="+121255501234")], (), None),  # `to` is a contains search: compare exactly
        ([s("a", to="", destination="+1 (212) 555-0123")], (), "a"),  # destination when no toAddress
        ([s("a", at="2026-03-02T14:58:59Z")], (), None),  # older than t0 - skew
        ([s("a", at="2026-03-02T14:59:30Z")], (), "a"),  # inside the skew allowance
        ([s("a", at="String")], (), None),  # unreadable date: cannot be told from an older call
        ([s("a", direction="Incoming")], (), None),
        ([s("a", channel="Chat")], (), None),
        ([{"dateCreated": "2026-03-02T15:00:02Z", "toAddress": "+12125550123"}], (), None),  # no id
        ([], (), None),
    ],
)
def test_match_session(sessions: list[dict[str, object]], claimed: tuple[str, ...], expected: str | None) -> None:
    found = evo_mapping.match_session(
        sessions, number="+12125550123", since=T0, skew=timedelta(seconds=60), claimed=claimed
    )
    assert (found or {}).get("id") == expected


def body(code: str = "", message: str = "", *fields: str) -> dict[str, object]:
    return {
        "responseStatus": {
            "errorCode": code,
            "message": message,
            "errors": [{"errorCode": "Invalid", "fieldName": f, "message": f"{f} is invalid"} for f in fields],
        }
    }


@pytest.mark.parametrize(
    ("status", "content", "kind", "bad_number", "bad_caller_id"),
    [
        (400, body("ValidationException", "Validation failed", "NumberToDial"), TelephonyRejected, True, False),
        (400, body("ValidationException", "Validation failed", "callerId"), TelephonyRejected, False, True),
        (400, body("ArgumentException", "flowId missing", "FlowId"), TelephonyRejected, False, False),
        (401, body("Unauthorized"), TelephonyAuthError, False, False),
        (403, body("Forbidden", "Invalid Role"), TelephonyAuthError, False, False),
        (404, b"", TelephonyRejected, False, False),
        (409, body("OptimisticConcurrencyException"), TelephonyUnavailable, False, False),
        (429, b"", TelephonyUnavailable, False, False),
        (500, b"<html>oops</html>", TelephonyUnavailable, False, False),
        (503, b"not json", TelephonyUnavailable, False, False),
    ],
)
def test_error_from_response(
    status: int, content: object, kind: type[Exception], bad_number: bool, bad_caller_id: bool
) -> None:
    raw = content if isinstance(content, bytes) else json.dumps(content).encode()
    error = evo_mapping.error_from_response(status, raw, operation="place a call")
    assert type(error) is kind and error.status == status
    if isinstance(error, TelephonyRejected):
        assert (error.bad_number, error.bad_caller_id) == (bad_number, bad_caller_id)
    assert f"HTTP {status}" in str(error)


def test_error_messages_carry_the_servicestack_details_and_the_role() -> None:
    error = evo_mapping.error_from_response(
        403, json.dumps(body("Forbidden", "Invalid Role")).encode(), operation="place a call"
    )
    assert "Forbidden: Invalid Role" in str(error) and "Manager or SystemAdministrator" in str(error)
    assert error.code == "Forbidden"
    pascal = json.dumps({"ResponseStatus": {"ErrorCode": "Oops", "Message": "Pascal case"}}).encode()
    assert evo_mapping.parse_response_status(pascal).message == "Pascal case"


@pytest.mark.parametrize(
    ("session", "live_status", "answered_by", "expected"),
    [
        ({"ended": True}, "in-progress", None, CallResult.ANSWER),
        ({"ended": True}, "in-progress", "machine_start", CallResult.ANSWERING_MACHINE),
        ({"ended": True}, "in-progress", "fax", CallResult.FAX),
        ({"ended": True, "wasMissed": True}, "in-progress", None, CallResult.ABANDONED),
        ({"ended": True, "outcome": "Busy"}, "in-progress", "machine_start", CallResult.BUSY),  # the table wins
        ({"ended": True}, "ringing", None, CallResult.UNKNOWN),
    ],
)
def test_live_hints_refine_the_result(
    session: dict[str, object], live_status: str, answered_by: str | None, expected: CallResult
) -> None:
    got = evo_mapping.classify(session, live_status=live_status, live_answered_by=answered_by)
    assert got is expected


def test_the_configured_outcome_table_comes_first() -> None:
    table = evo_mapping.outcome_map_from_settings({"declined|rejected": "busy", "completed": "ANSWER"})
    assert evo_mapping.classify({"ended": True, "outcome": "Call Rejected"}, outcome_map=table) is CallResult.BUSY
    assert evo_mapping.classify({"ended": True, "outcome": "Completed"}, outcome_map=table) is CallResult.ANSWER
    assert evo_mapping.classify({"ended": True, "outcome": "No answer"}, outcome_map=table) is CallResult.NO_ANSWER


@pytest.mark.parametrize(
    ("table", "message"), [({"busy": "NOPE"}, "not a call result"), ({"(unclosed": "BUSY"}, "not a regular")]
)
def test_a_bad_outcome_table_is_refused_with_the_entry(table: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evo_mapping.outcome_map_from_settings(table)

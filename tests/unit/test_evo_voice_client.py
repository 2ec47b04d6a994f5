"""The Evo Voice client's wire behaviour, on httpx.MockTransport (no sockets).

What is pinned here: request shapes (auth, headers, query parameters, body), every
documented response shape of NewOutgoingSession, the error table, retries of reads only,
polling budgets, correlation and the never-claim-twice rule. The same client runs over
real HTTP against the sandbox in tests/contract and tests/integration.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult
from dialer.errors import (
    ConfigError,
    PlacementUncertain,
    TelephonyAuthError,
    TelephonyRejected,
    TelephonyUnavailable,
)
from dialer.settings import load_settings
from dialer.telephony.base import CallHandle, CallRequest
from dialer.telephony.evo_voice import EvoVoiceApi, EvoVoiceTelephony

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NUMBER = "+12125550123"
USER = {
    "id": "u1",
    "isAuthenticated": True,
    "emailAddress": "boss@example.test",
    "roles": ["Manager"],
    "accountIds": ["A1"],
    "accountNames": ["Acme"],
}

Handler = Callable[[httpx.Request], httpx.Response]


class Wire:
    """A scripted Evo Voice: routes map ``METHOD /path`` to a response or a list of them."""

    def __init__(self, routes: dict[str, Any] | None = None) -> None:
        self.routes: dict[str, Any] = {"GET /auth/status": USER, "GET /calls/active": {"calls": []}, **(routes or {})}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.method} {request.url.path}"
        answer = self.routes.get(key)
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        if answer is None:
            return httpx.Response(404, json={"responseStatus": {"errorCode": "NotFound", "message": key}})
        return httpx.Response(200, json=answer)

    def sent(self, key: str) -> list[httpx.Request]:
        return [r for r in self.requests if f"{r.method} {r.url.path}" == key]


def client(wire: Wire, **options: Any) -> EvoVoiceTelephony:
    api = EvoVoiceApi(
        base_url="https://evo.example.test",
        username="boss@example.test",
        password="s3cret",
        transport=httpx.MockTransport(wire),
        sleep=wire_sleeps.append,
        rng=random.Random(0),
        backoff=0.5,
        backoff_cap=4.0,
    )
    return EvoVoiceTelephony(api=api, **options)


wire_sleeps: list[float] = []


@pytest.fixture(autouse=True)
def _no_sleeps() -> None:
    wire_sleeps.clear()


def request(number: str = NUMBER, **overrides: Any) -> CallRequest:
    values: dict[str, Any] = {
        "attempt_id": "a1",
        "campaign": "c",
        "flow_id": "flow-1",
        "number": number,
        "caller_id": "+12125550100",
        "user_data": {"name": "Zoë", "account": "007"},
    }
    values.update(overrides)
    return CallRequest(**values)


def session(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "s1",
        "dateCreated": "2026-03-02T15:00:01Z",
        "toAddress": NUMBER,
        "direction": "Outgoing",
        "channel": "Voice",
        "callState": "Ringing",
        "queueState": "None",
        "ended": False,
        "callSid": "CA1",
    }
    base.update(fields)
    return base


def listing(*items: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(items), "totalCount": 0, "totalPages": 0, "hasMorePages": False}


def handle(ref: str | None = None, *, state: AttemptState = AttemptState.PLACED, attempt: str = "a1") -> CallHandle:
    return CallHandle(attempt_id=attempt, campaign="c", number=NUMBER, placed_at=T0, provider_ref=ref, state=state)


# ------------------------------------------------------------------ requests
def test_every_request_carries_basic_auth_and_json_headers() -> None:
    wire = Wire({"POST /sessions/outgoing": httpx.Response(200)})
    evo = client(wire)
    evo.place_call(request(), now=T0)
    expected = "Basic " + base64.b64encode(b"boss@example.test:s3cret").decode()
    assert wire.requests and all(r.headers["authorization"] == expected for r in wire.requests)
    assert all(r.headers["accept"] == "application/json" for r in wire.requests)
    (post,) = wire.sent("POST /sessions/outgoing")
    assert post.headers["content-type"] == "application/json"
    assert json.loads(post.content) == {"flowId": "flow-1", "numberToDial": NUMBER, "callerId": "+12125550100"}


def test_without_a_caller_id_the_field_is_left_out() -> None:
    wire = Wire({"POST /sessions/outgoing": httpx.Response(204)})
    client(wire).place_call(request(caller_id=None), now=T0)
    assert "callerId" not in json.loads(wire.sent("POST /sessions/outgoing")[0].content)


@pytest.mark.parametrize(
    ("response", "ref", "correlation"),
    [
        (httpx.Response(200), None, "pending"),
        (httpx.Response(204), None, "pending"),
        (httpx.Response(200, json={}), None, "pending"),
        (httpx.Response(200, json=session(id="s9")), "s9", "direct"),
        (httpx.Response(200, json={"id": "s7"}), "s7", "direct"),
        (httpx.Response(200, json={"result": "queued"}), None, "pending"),
        (httpx.Response(200, text="OK"), None, "pending"),
    ],
    ids=["empty-200", "204", "empty-object", "session-info", "bare-id", "other-object", "text"],
)
def test_every_documented_placement_answer_is_accepted(
    response: httpx.Response, ref: str | None, correlation: str
) -> None:
    placement = client(Wire({"POST /sessions/outgoing": response})).place_call(request(), now=T0)
    assert placement.provider_ref == ref and placement.correlation == correlation


# -------------------------------------------------------------------- errors
def status(code: int, *, field: str | None = None, body: Any = None) -> httpx.Response:
    if body is not None:
        return httpx.Response(code, text=body) if isinstance(body, str) else httpx.Response(code, json=body)
    errors = [{"errorCode": "Invalid", "fieldName": field, "message": "bad value"}] if field else []
    return httpx.Response(
        code, json={"responseStatus": {"errorCode": "ArgumentException", "message": "no", "errors": errors}}
    )


@pytest.mark.parametrize(
    ("response", "error", "flags"),
    [
        (status(400, field="NumberToDial"), TelephonyRejected, {"bad_number": True, "bad_caller_id": False}),
        (status(400, field="CallerId"), TelephonyRejected, {"bad_number": False, "bad_caller_id": True}),
        (status(400), TelephonyRejected, {"bad_number": False, "bad_caller_id": False}),
        (status(401), TelephonyAuthError, {}),
        (status(403), TelephonyAuthError, {}),
        (status(404), TelephonyRejected, {}),
        (status(405), TelephonyRejected, {}),
        (status(429), TelephonyUnavailable, {}),
        (status(409), TelephonyUnavailable, {}),
        (status(500), PlacementUncertain, {}),
        (status(502, body="<html>Bad Gateway</html>"), PlacementUncertain, {}),
        (status(503, body=""), PlacementUncertain, {}),
    ],
)
def test_placement_errors_follow_the_table(response: httpx.Response, error: type[Exception], flags: dict) -> None:
    wire = Wire({"POST /sessions/outgoing": response})
    with pytest.raises(error) as caught:
        client(wire).place_call(request(), now=T0)
    for name, value in flags.items():
        assert getattr(caught.value, name) is value
    assert getattr(caught.value, "status", None) == response.status_code
    assert len(wire.sent("POST /sessions/outgoing")) == 1  # a placement is never re-sent


def test_error_messages_name_the_fix() -> None:
    with pytest.raises(TelephonyAuthError, match=r"DIALER_EVOVOICE_USERNAME.*DIALER_EVOVOICE_PASSWORD"):
        client(Wire({"GET /auth/status": status(401)})).check_credentials()
    with pytest.raises(TelephonyRejected, match="NumberToDial: bad value"):
        client(Wire({"POST /sessions/outgoing": status(400, field="NumberToDial")})).place_call(request(), now=T0)


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ReadTimeout("read timed out"), PlacementUncertain),
        (httpx.WriteTimeout("write timed out"), PlacementUncertain),
        (httpx.RemoteProtocolError("Server disconnected without sending a response"), PlacementUncertain),
        (httpx.ConnectError("connection refused"), TelephonyUnavailable),
        (httpx.ConnectTimeout("connect timed out"), TelephonyUnavailable),
    ],
)
def test_a_placement_lost_in_transit_is_uncertain_one_never_sent_is_not(
    failure: Exception, error: type[Exception]
) -> None:
    wire = Wire({"POST /sessions/outgoing": failure})
    with pytest.raises(error) as caught:
        client(wire).place_call(request(), now=T0)
    assert caught.value.__cause__ is failure
    assert len(wire.sent("POST /sessions/outgoing")) == 1


def test_bad_numbers_and_caller_ids_are_refused_before_sending() -> None:
    wire = Wire()
    evo = client(wire)
    with pytest.raises(TelephonyRejected) as bad_number:
        evo.place_call(request("555-0123"), now=T0)
    with pytest.raises(TelephonyRejected) as bad_caller:
        evo.place_call(request(caller_id="0800 FLOWERS"), now=T0)
    assert bad_number.value.bad_number and bad_caller.value.bad_caller_id
    assert wire.sent("POST /sessions/outgoing") == []


def test_reads_are_retried_with_backoff_then_succeed() -> None:
    wire = Wire({"GET /auth/status": [status(503), status(502, body="proxy"), USER]})
    assert "boss@example.test" in client(wire).check_credentials()
    assert len(wire.sent("GET /auth/status")) == 3
    assert len(wire_sleeps) == 2 and all(0 <= s <= 4.0 for s in wire_sleeps)


def test_a_read_honours_retry_after_and_gives_up_after_its_attempts() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "3"}, json={"responseStatus": {"errorCode": "Throttled"}})
    wire = Wire({"GET /auth/status": [limited]})
    with pytest.raises(TelephonyUnavailable) as caught:
        client(wire).check_credentials()
    assert caught.value.status == 429 and len(wire.sent("GET /auth/status")) == 3
    assert wire_sleeps == [3.0, 3.0]


def test_a_429_on_placement_stops_placing_for_a_cool_down() -> None:
    wire = Wire({"POST /sessions/outgoing": status(429)})
    evo = client(wire)
    with pytest.raises(TelephonyUnavailable):
        evo.place_call(request(), now=T0)
    with pytest.raises(TelephonyUnavailable, match="slow down"):
        evo.place_call(request(attempt_id="a2"), now=T0 + timedelta(seconds=2))
    assert len(wire.sent("POST /sessions/outgoing")) == 1
    wire.routes["POST /sessions/outgoing"] = httpx.Response(200)
    evo.place_call(request(attempt_id="a3"), now=T0 + timedelta(seconds=6))
    assert len(wire.sent("POST /sessions/outgoing")) == 2


# --------------------------------------------------------------- credentials
@pytest.mark.parametrize(
    ("user", "account", "error", "text"),
    [
        ({**USER, "roles": ["User"]}, None, TelephonyAuthError, "needs Manager or SystemAdministrator"),
        ({**USER, "isAuthenticated": False}, None, TelephonyAuthError, "signed in"),
        ({**USER, "accountIds": ["A1", "A2"], "accountNames": ["Acme", "Beta"]}, None, ConfigError, r"A2 \(Beta\)"),
        (USER, "A9", TelephonyAuthError, "DIALER_EVOVOICE_ACCOUNT_ID=A9 is not an account"),
    ],
)
def test_the_login_must_hold_a_dialing_role_and_the_account(
    user: dict[str, Any], account: str | None, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        client(Wire({"GET /auth/status": user}), account_id=account).check_credentials()


def test_the_only_account_is_used_when_none_is_configured() -> None:
    wire = Wire({"GET /endpoints": listing({"type": "PhoneNumber", "phoneNumber": "+12125550100"})})
    evo = client(wire)
    assert evo.check_caller_ids(["+12125550100"]) == {"+12125550100": True}
    (query,) = wire.sent("GET /endpoints")
    assert dict(query.url.params) == {
        "type": "PhoneNumber",
        "phoneNumberFilter": "12125550100",
        "countPerPage": "25",
        "accountIds": "A1",
    }


def test_a_caller_id_is_owned_only_when_an_endpoint_is_exactly_that_number() -> None:
    rows = listing({"type": "PhoneNumber", "phoneNumber": "+121255501001"})  # a contains-match, not this number
    assert client(Wire({"GET /endpoints": rows})).check_caller_ids(["+12125550100"]) == {"+12125550100": False}
    assert client(Wire({"GET /endpoints": listing()})).check_caller_ids(["+12125550100"]) == {"+12125550100": False}


# --------------------------------------------------------------- correlation
def test_correlation_lists_sessions_to_the_number_since_the_placement() -> None:
    wire = Wire({"POST /sessions/outgoing": httpx.Response(200), "GET /sessions": listing(session())})
    evo = client(wire)
    evo.place_call(request(), now=T0)
    (update,) = evo.poll([handle()], now=T0 + timedelta(seconds=1))
    assert update.provider_ref == "s1" and update.correlation == "matched" and update.state is AttemptState.RINGING
    (query,) = wire.sent("GET /sessions")
    assert dict(query.url.params) == {
        "simplifiedPaging": "true",
        "accountIds": "A1",
        "to": "12125550123",
        "startDate": "2026-03-01",
        "sortOrder": "Descend",
        "countPerPage": "10",
    }


def test_a_session_is_never_claimed_twice() -> None:
    old = session(id="s1", ended=True, callState="Disconnected", outcome="Busy")
    wire = Wire({"POST /sessions/outgoing": httpx.Response(200), "GET /sessions": listing(old)})
    evo = client(wire)
    evo.place_call(request(attempt_id="a1"), now=T0)
    (first,) = evo.poll([handle(attempt="a1")], now=T0 + timedelta(seconds=1))
    assert first.provider_ref == "s1" and first.outcome is CallResult.BUSY
    # A retry to the same number a few seconds later sees the same, already claimed, session.
    later = T0 + timedelta(seconds=10)
    evo.place_call(request(attempt_id="a2"), now=later)
    retry = CallHandle(attempt_id="a2", campaign="c", number=NUMBER, placed_at=later)
    assert evo.poll([retry], now=later + timedelta(seconds=1)) == []


def test_a_placed_call_whose_session_never_appears_ends_unknown() -> None:
    wire = Wire({"POST /sessions/outgoing": httpx.Response(200), "GET /sessions": listing()})
    evo = client(wire)
    evo.place_call(request(ring_timeout=25), now=T0)
    assert evo.poll([handle()], now=T0 + timedelta(seconds=30)) == []
    (update,) = evo.poll([handle()], now=T0 + timedelta(seconds=86))
    assert update.state is AttemptState.ENDED and update.outcome is CallResult.UNKNOWN
    assert update.correlation == "not_found" and "session_not_found" in (update.note or "")


def test_a_young_uncertain_placement_is_not_settled_and_an_old_one_without_session_is() -> None:
    wire = Wire({"GET /sessions": listing()})
    evo = client(wire)
    uncertain = handle(state=AttemptState.UNCERTAIN)
    young = evo.reconcile(uncertain, now=T0 + timedelta(seconds=10))
    assert young is not None and young.state is AttemptState.UNCERTAIN and young.provider_ref is None
    assert evo.reconcile(uncertain, now=T0 + timedelta(seconds=11)) is not None  # searched a second ago
    assert len(wire.sent("GET /sessions")) == 1
    assert evo.reconcile(uncertain, now=T0 + timedelta(seconds=90)) is None
    assert len(wire.sent("GET /sessions")) == 2  # the deciding search always goes to Evo Voice


# ------------------------------------------------------------------- polling
def test_polls_batch_session_ids_and_respect_the_poll_interval() -> None:
    handles = [handle(f"s{i}", attempt=f"a{i}") for i in range(60)]
    rows = listing(*[session(id=f"s{i}") for i in range(60)])
    wire = Wire({"GET /sessions": rows, "GET /calls/active": {"calls": []}})
    evo = client(wire, batch_size=25, poll_interval=2.0)
    evo.poll(handles, now=T0)
    batches = [r.url.params["specificIds"].split(",") for r in wire.sent("GET /sessions")]
    assert [len(b) for b in batches] == [25, 25, 10]
    assert sorted(i for b in batches for i in b) == sorted(f"s{i}" for i in range(60))
    evo.poll(handles, now=T0 + timedelta(seconds=1))  # too soon: nothing is read again
    assert len(wire.sent("GET /sessions")) == 3
    evo.poll(handles, now=T0 + timedelta(seconds=2))
    assert len(wire.sent("GET /sessions")) == 6


def test_a_poll_spends_at_most_its_request_budget() -> None:
    handles = [handle(f"s{i}", attempt=f"a{i}") for i in range(100)]
    wire = Wire({"GET /sessions": listing(), "GET /calls/active": {"calls": []}})
    client(wire, batch_size=10, max_requests=4, tag_sessions=False).poll(handles, now=T0)
    assert len(wire.requests) - 1 == 4  # the login check, then four reads


def test_a_failed_poll_backs_off() -> None:
    wire = Wire({"GET /sessions": status(503), "GET /calls/active": {"calls": []}})
    evo = client(wire, poll_interval=2.0)
    assert evo.poll([handle("s1")], now=T0) == []
    reads = len(wire.requests)
    assert evo.poll([handle("s1")], now=T0 + timedelta(seconds=3)) == []  # backing off (4 s)
    assert len(wire.requests) == reads
    wire.routes["GET /sessions"] = listing(session(id="s1", callState="Connected", queueState="Queued"))
    (update,) = evo.poll([handle("s1")], now=T0 + timedelta(seconds=5))
    assert update.state is AttemptState.ANSWERED


def test_an_ended_session_is_written_back_with_its_raw_fields() -> None:
    ended = session(
        ended=True,
        callState="Disconnected",
        queueState="Disconnected",
        outcome="Completed",
        wasMissed=False,
        answeredById="agent-7",
        answeredByName="Agent 7",
        dateCompleted="2026-03-02T15:02:01Z",
        log=[{"date": "2026-03-02T15:00:09Z", "message": "Call answered"}],
    )
    evo = client(Wire({"GET /sessions": listing(ended), "GET /calls/active": {"calls": []}}))
    (update,) = evo.poll([handle("s1", state=AttemptState.CONNECTED)], now=T0 + timedelta(minutes=5))
    assert update.state is AttemptState.ENDED and update.outcome is CallResult.ANSWER
    assert (update.raw_outcome, update.was_missed, update.agent, update.call_sid) == (
        "Completed",
        False,
        "Agent 7",
        "CA1",
    )
    assert update.ended_at == datetime(2026, 3, 2, 15, 2, 1, tzinfo=UTC)
    assert update.answered_at == datetime(2026, 3, 2, 15, 0, 9, tzinfo=UTC)
    assert update.raw == ended and update.duration_s == 120.0


def test_missed_after_an_answer_seen_while_polling_is_abandoned() -> None:
    wire = Wire({"GET /calls/active": {"calls": []}})
    evo = client(wire)
    wire.routes["GET /sessions"] = listing(session(callState="Connected", queueState="Queued"))
    (answered,) = evo.poll([handle("s1")], now=T0)
    assert answered.state is AttemptState.ANSWERED
    # The ended session no longer shows the answer; the call-state history does.
    wire.routes["GET /sessions"] = listing(session(ended=True, callState="Disconnected", wasMissed=True))
    (end,) = evo.poll([handle("s1", state=AttemptState.ANSWERED)], now=T0 + timedelta(seconds=5))
    assert end.outcome is CallResult.ABANDONED and end.was_missed is True


def test_live_calls_move_a_ringing_call_to_answered_and_classify_machines() -> None:
    live = {"calls": [{"sid": "CA1", "status": "in-progress", "answeredBy": "machine_start"}]}
    wire = Wire({"GET /calls/active": live, "GET /sessions": listing(session())})
    evo = client(wire)
    (update,) = evo.poll([handle("s1", state=AttemptState.RINGING)], now=T0)
    assert update.state is AttemptState.ANSWERED  # the session still says Ringing
    wire.routes["GET /sessions"] = listing(session(ended=True, callState="Disconnected"))
    (end,) = evo.poll([handle("s1", state=AttemptState.ANSWERED)], now=T0 + timedelta(seconds=5))
    assert end.outcome is CallResult.ANSWERING_MACHINE
    assert evo.live_calls == 1


def test_a_forbidden_live_calls_list_only_disables_the_hints() -> None:
    wire = Wire({"GET /calls/active": status(403), "GET /sessions": listing(session())})
    evo = client(wire)
    assert evo.poll([handle("s1", state=AttemptState.PLACED)], now=T0)[0].state is AttemptState.RINGING
    evo.poll([handle("s1", state=AttemptState.RINGING)], now=T0 + timedelta(seconds=5))
    assert len(wire.sent("GET /calls/active")) == 1


def test_a_session_missing_from_the_listing_is_looked_for_in_the_archive() -> None:
    def sessions(req: httpx.Request) -> httpx.Response:
        archived = req.url.params.get("searchArchive") == "true"
        return httpx.Response(200, json=listing(session(ended=True, outcome="Busy")) if archived else listing())

    wire = Wire({"GET /sessions": sessions, "GET /calls/active": {"calls": []}})
    (update,) = client(wire).poll([handle("s1")], now=T0)
    assert update.outcome is CallResult.BUSY


def test_console_data_is_patched_once_with_the_record_user_data() -> None:
    wire = Wire(
        {
            "POST /sessions/outgoing": httpx.Response(200, json=session()),
            "GET /sessions": listing(session()),
            "GET /calls/active": {"calls": []},
            "PATCH /sessions/s1": session(),
        }
    )
    evo = client(wire)
    evo.place_call(request(), now=T0)
    evo.poll([handle("s1")], now=T0 + timedelta(seconds=1))
    evo.poll([handle("s1", state=AttemptState.RINGING)], now=T0 + timedelta(seconds=5))
    (patch,) = wire.sent("PATCH /sessions/s1")
    assert json.loads(patch.content) == {
        "consoleData": json.dumps({"name": "Zoë", "account": "007"}, ensure_ascii=False)
    }


def test_console_data_is_left_alone_when_tagging_is_off() -> None:
    wire = Wire({"POST /sessions/outgoing": httpx.Response(200, json=session()), "GET /sessions": listing(session())})
    evo = client(wire, tag_sessions=False)
    evo.place_call(request(), now=T0)
    evo.poll([handle("s1")], now=T0 + timedelta(seconds=1))
    assert not wire.sent("PATCH /sessions/s1")


def test_hang_up_ends_the_session() -> None:
    wire = Wire({"DELETE /sessions/s1": httpx.Response(204)})
    client(wire).hang_up(handle("s1"), now=T0)
    assert len(wire.sent("DELETE /sessions/s1")) == 1


def test_hang_up_refused_for_lack_of_the_user_role_names_it() -> None:
    wire = Wire({"DELETE /sessions/s1": status(403)})
    with pytest.raises(TelephonyAuthError, match="role User"):
        client(wire).hang_up(handle("s1"), now=T0)


# ------------------------------------------------------------------ settings
def test_the_backend_is_built_from_settings_and_refuses_a_missing_login() -> None:
    with pytest.raises(ConfigError, match="DIALER_EVOVOICE_USERNAME"):
        EvoVoiceTelephony.from_settings(load_settings(backend="evovoice"))
    settings = load_settings(
        backend="evovoice",
        evovoice_username="boss@example.test",
        evovoice_password="pw",
        evovoice_outcome_map={"left message": "ANSWERING_MACHINE"},
    )
    evo = EvoVoiceTelephony.from_settings(settings)
    assert evo.max_cps == 1.0  # Evo Voice dials through Twilio: 1 call/s unless the account has more
    assert evo.outcome_map[0][1] is CallResult.ANSWERING_MACHINE and evo.outcome_map[0][0].search("Left Message")
    evo.close()
    bad = settings.model_copy(update={"evovoice_outcome_map": {"busy": "BUSYISH"}})
    with pytest.raises(ConfigError, match="BUSYISH"):
        EvoVoiceTelephony.from_settings(bad)


def test_a_login_revoked_mid_run_stops_polls_quietly_and_the_next_placement_reports_it() -> None:
    wire = Wire({"GET /sessions": listing(session())})
    evo = client(wire)
    evo.check_credentials()
    wire.routes["GET /sessions"] = status(401)
    wire.routes["GET /calls/active"] = status(401)
    wire.routes["GET /auth/status"] = status(401)
    assert evo.poll([handle("s1")], now=T0) == []  # the tick goes on; results wait
    with pytest.raises(TelephonyAuthError, match="refused the login"):
        evo.place_call(request(attempt_id="a2"), now=T0 + timedelta(seconds=1))
    assert wire.sent("POST /sessions/outgoing") == []

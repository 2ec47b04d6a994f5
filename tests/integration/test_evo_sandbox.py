"""The Evo Voice sandbox over HTTP, checked with a plain HTTP client against the documented contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import httpx
import pytest

from dialer.domain.clock import VirtualClock
from dialer.sandbox.evovoice import EvoSandbox, Faults
from dialer.sim.callcentre import CallModel
from tests.telephony_lines import MANAGER, NOT_OWNED, OWNED, evo_sandbox

Http = Callable[..., tuple[EvoSandbox, httpx.Client]]
NUMBER = "+12125550123"


@pytest.fixture
def http(clock: VirtualClock) -> Iterator[Http]:
    """``http(**sandbox_config)`` → (sandbox, an httpx client logged in as the manager)."""
    with ExitStack() as stack:

        def make(*, user: tuple[str, str] | None = MANAGER, **config: Any) -> tuple[EvoSandbox, httpx.Client]:
            config.setdefault("model", CallModel(hit_rate=1.0, talk_mean=30))
            sandbox, url = stack.enter_context(evo_sandbox(clock=clock, **config))
            client = stack.enter_context(httpx.Client(base_url=url, auth=user, timeout=5))
            return sandbox, client

        yield make


def dial(client: httpx.Client, number: str = NUMBER, **fields: Any) -> httpx.Response:
    return client.post("/sessions/outgoing", json={"flowId": "flow-1", "numberToDial": number, **fields})


def status_of(response: httpx.Response) -> dict[str, Any]:
    return response.json()["responseStatus"]  # type: ignore[no-any-return]


# ----------------------------------------------------------------------- auth
def test_requests_without_a_valid_login_get_401_with_a_servicestack_body(http: Http) -> None:
    _, client = http(user=None)
    response = client.get("/auth/status")
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic")
    assert status_of(response)["errorCode"] == "Unauthorized"
    wrong = client.get("/auth/status", auth=("manager@sandbox.test", "nope"))
    assert wrong.status_code == 401


def test_auth_status_describes_the_user(http: Http) -> None:
    _, client = http()
    user = client.get("/auth/status").json()
    assert user["isAuthenticated"] is True and user["emailAddress"] == MANAGER[0]
    assert "Manager" in user["roles"] and user["accountIds"] == ["sandbox-account"]
    assert set(user) >= {"id", "firstName", "lastName", "name", "accountNames", "managerAccess", "dashboardPermissions"}


def test_a_user_without_a_dialing_role_gets_403(http: Http) -> None:
    sandbox, client = http(user=("agent@sandbox.test", "sandbox"))
    for response in (dial(client), client.get("/calls/active")):
        assert response.status_code == 403 and "Manager" in status_of(response)["message"]
    assert sandbox.placements == []


def test_another_account_is_forbidden(http: Http) -> None:
    _, client = http()
    assert client.get("/sessions", params={"accountIds": "someone-else"}).status_code == 403


# ------------------------------------------------------------------- placing
def test_placing_answers_an_empty_body_as_documented(http: Http) -> None:
    sandbox, client = http()
    response = dial(client, callerId=OWNED[0])
    assert response.status_code == 200 and response.content == b""
    (placed,) = sandbox.placements
    assert (placed.number, placed.caller_id, placed.flow_id) == (NUMBER, OWNED[0], "flow-1")


@pytest.mark.parametrize(
    ("shape", "status", "check"),
    [
        ("no-content", 204, lambda r: r.content == b""),
        ("empty-object", 200, lambda r: r.json() == {}),
        ("session", 200, lambda r: r.json()["toAddress"] == NUMBER and r.json()["callState"] == "Ringing"),
    ],
)
def test_the_placement_answer_can_take_every_shape_the_client_accepts(
    http: Http, shape: str, status: int, check: Callable[[httpx.Response], bool]
) -> None:
    _, client = http(placement_response=shape)
    response = dial(client)
    assert response.status_code == status and check(response)


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"numberToDial": "2125550123"}, "NumberToDial"),
        ({"numberToDial": "+1 212 555 0123"}, "NumberToDial"),
        ({"numberToDial": "+999"}, "NumberToDial"),
        ({"callerId": NOT_OWNED}, "CallerId"),
        ({"flowId": ""}, "FlowId"),
    ],
)
def test_invalid_placements_get_400_naming_the_field(http: Http, fields: dict[str, str], field_name: str) -> None:
    sandbox, client = http()
    response = client.post("/sessions/outgoing", json={"flowId": "f", "numberToDial": NUMBER, **fields})
    assert response.status_code == 400
    errors = status_of(response)["errors"]
    assert [e["fieldName"] for e in errors] == [field_name] and errors[0]["message"]
    assert sandbox.placements == []


def test_without_a_caller_id_a_random_owned_number_is_used(http: Http) -> None:
    sandbox, client = http()
    for i in range(12):
        assert dial(client, f"+1212555{2000 + i:04d}").status_code == 200
    used = {p.caller_id for p in sandbox.placements}
    assert used <= set(OWNED) and len(used) > 1


def test_fields_bind_case_insensitively_from_the_query_string_too(http: Http) -> None:
    sandbox, client = http()
    response = client.post("/sessions/outgoing", params={"FlowId": "f", "NumberToDial": NUMBER})
    assert response.status_code == 200 and sandbox.placements[0].number == NUMBER


# ------------------------------------------------------------------- reading
def test_sessions_come_in_a_list_response_with_camel_case_and_string_enums(http: Http, clock: VirtualClock) -> None:
    _, client = http()
    dial(client)
    clock.advance(1)
    page = client.get("/sessions").json()
    assert set(page) == {"items", "totalCount", "totalPages", "hasMorePages"}
    assert page["totalCount"] == 1 and page["totalPages"] == 1 and page["hasMorePages"] is False
    (session,) = page["items"]
    assert session["callState"] == "Ringing" and session["direction"] == "Outgoing" and session["channel"] == "Voice"
    assert session["ended"] is False and session["toAddress"] == NUMBER and session["log"]
    assert session["dateCreated"].endswith("Z") and session["accountId"] == "sandbox-account"


def test_a_session_lives_through_answer_queue_agent_and_end(http: Http, clock: VirtualClock) -> None:
    _, client = http(agents=1)
    dial(client)
    seen = []
    for _ in range(600):
        clock.advance(1)
        (session,) = client.get("/sessions").json()["items"]
        seen.append((session["callState"], session["queueState"], session["ended"]))
        if session["ended"]:
            break
    assert seen[0] == ("Ringing", "None", False)
    assert ("Connected", "Connected", False) in seen and seen[-1][2] is True
    assert session["answeredById"] and session["answeredByName"] and session["wasMissed"] is False
    assert session["outcome"] and session["dateCompleted"]


def test_an_answered_call_nobody_takes_is_missed(http: Http, clock: VirtualClock) -> None:
    _, client = http(agents=0)
    dial(client)
    clock.advance(60)
    (session,) = client.get("/sessions").json()["items"]
    assert session["ended"] is True and session["wasMissed"] is True and session["queueState"] == "Disconnected"


def test_get_session_strips_the_log_and_specific_ids_keeps_it(http: Http, clock: VirtualClock) -> None:
    _, client = http()
    dial(client)
    clock.advance(5)
    (listed,) = client.get("/sessions").json()["items"]
    one = client.get(f"/sessions/{listed['id']}").json()
    assert one["id"] == listed["id"] and one["log"] == []
    (with_log,) = client.get("/sessions", params={"specificIds": listed["id"], "simplifiedPaging": "true"}).json()[
        "items"
    ]
    assert with_log["log"] and with_log["log"][0]["message"].startswith("Dialing")


def test_unknown_sessions_and_routes_are_404_with_a_servicestack_body(http: Http) -> None:
    _, client = http()
    for response in (client.get("/sessions/nope"), client.get("/no/such/route")):
        assert response.status_code == 404 and status_of(response)["errorCode"] == "NotFound"
    assert client.put("/sessions/outgoing").status_code == 405


def test_the_documented_filters(http: Http, clock: VirtualClock) -> None:
    _, client = http()
    numbers = ["+12125550101", "+12125550102", "+13125550103"]
    for number in numbers:
        dial(client, number)
        clock.advance(10)

    def ids(**params: str) -> list[str]:
        return [s["toAddress"] for s in client.get("/sessions", params=params).json()["items"]]

    assert ids() == numbers[::-1]  # newest first by default
    assert ids(sortOrder="Ascend") == numbers
    assert ids(to="1212555") == numbers[1::-1]  # a contains search
    assert ids(to="+13125550103") == ["+13125550103"]
    assert ids(startDate="2026-03-03") == [] and ids(startDate="2026-03-02") == numbers[::-1]
    assert ids(endDate="2026-03-01") == []
    assert ids(log="dialing +1312") == ["+13125550103"]
    assert ids(countPerPage="2") == numbers[:0:-1] and ids(countPerPage="2", page="1") == [numbers[0]]
    page = client.get("/sessions", params={"countPerPage": "2", "simplifiedPaging": "true"}).json()
    assert page["totalCount"] == 0 and page["hasMorePages"] is True
    assert client.get("/sessions", params={"countPerPage": "2", "page": "5"}).json()["items"] == []
    every = client.get("/sessions").json()["items"]
    picked = f"{every[0]['id']},{every[2]['id']}"
    assert len(client.get("/sessions", params={"specificIds": picked}).json()["items"]) == 2
    assert len(client.get("/sessions", params={"specificIds": f"[{picked}]"}).json()["items"]) == 2
    assert ids(customerIds="c1") == []
    assert client.get("/sessions", params={"sortOrder": "Sideways"}).status_code == 400


def test_old_sessions_move_to_the_archive(http: Http, clock: VirtualClock) -> None:
    _, client = http()
    dial(client)
    (session,) = client.get("/sessions").json()["items"]
    clock.advance(timedelta(days=16).total_seconds())
    assert client.get("/sessions").json()["items"] == []
    assert client.get(f"/sessions/{session['id']}").status_code == 404
    archived = client.get("/sessions", params={"specificIds": session["id"], "searchArchive": "true"}).json()
    assert [s["id"] for s in archived["items"]] == [session["id"]]


def test_patch_stores_console_data_and_validates_enums(http: Http) -> None:
    _, client = http()
    dial(client)
    (session,) = client.get("/sessions").json()["items"]
    patched = client.patch(f"/sessions/{session['id']}", json={"consoleData": '{"name": "Zoë"}'})
    assert patched.status_code == 200 and patched.json()["consoleData"] == '{"name": "Zoë"}'
    assert client.get(f"/sessions/{session['id']}").json()["consoleData"] == '{"name": "Zoë"}'
    via_query = client.patch(f"/sessions/{session['id']}", params={"consoleData": "x"})
    assert via_query.json()["consoleData"] == "x"
    bad = client.patch(f"/sessions/{session['id']}", json={"callState": "Exploded"})
    assert bad.status_code == 400 and status_of(bad)["errors"][0]["fieldName"] == "CallState"


def test_delete_hangs_up(http: Http, clock: VirtualClock) -> None:
    _, client = http(model=CallModel(hit_rate=0.0))
    dial(client)
    (session,) = client.get("/sessions").json()["items"]
    assert client.delete(f"/sessions/{session['id']}").status_code == 204
    after = client.get(f"/sessions/{session['id']}").json()
    assert after["ended"] is True and after["outcome"] == "Canceled"
    assert client.delete("/sessions/nope").status_code == 404


def test_active_calls_are_twilio_shaped_with_agent_legs(http: Http, clock: VirtualClock) -> None:
    _, client = http(agents=1, model=CallModel(hit_rate=1.0, talk_mean=600))
    dial(client)
    calls = client.get("/calls/active", params={"accountId": "sandbox-account"}).json()["calls"]
    assert [c["status"] for c in calls] == ["ringing"]
    assert set(calls[0]) >= {"sid", "status", "answeredBy", "direction", "from", "to", "parentCallSid", "dateCreated"}
    clock.advance(40)
    calls = client.get("/calls/active").json()["calls"]
    assert [c["status"] for c in calls] == ["in-progress", "in-progress"]
    callee, agent = calls
    assert agent["parentCallSid"] == callee["sid"] and agent["to"].startswith("client:")
    (session,) = client.get("/sessions").json()["items"]
    assert session["callSid"] == callee["sid"]


def test_endpoints_list_the_owned_numbers(http: Http) -> None:
    _, client = http()

    def numbers(**params: str) -> list[str]:
        return [e["phoneNumber"] for e in client.get("/endpoints", params=params).json()["items"]]

    assert numbers(type="PhoneNumber") == list(OWNED)
    assert numbers(type="PhoneNumber", phoneNumberFilter="13125550100") == [OWNED[1]]
    assert numbers(type="PhoneNumber", phoneNumberFilter=NOT_OWNED[1:]) == []
    users = client.get("/endpoints", params={"type": "User"}).json()["items"]
    assert users and all(u["type"] == "User" for u in users)


# -------------------------------------------------------------------- faults
def test_injected_errors_and_429_bursts(http: Http) -> None:
    sandbox, client = http(faults=Faults(error_rate=0.3, burst_rate=0.05, burst_length=4))
    codes = [client.get("/auth/status").status_code for _ in range(200)]
    assert {500, 502, 503, 429, 200} <= set(codes)
    runs = "".join("x" if c == 429 else "." for c in codes)
    assert "xxxx" in runs  # a burst is several 429s in a row
    limited = next(r for r in (client.get("/auth/status") for _ in range(200)) if r.status_code == 429)
    assert limited.headers["retry-after"] == "1" and status_of(limited)["errorCode"] == "TooManyRequests"
    gateway = next(r for r in (client.get("/auth/status") for _ in range(300)) if r.status_code == 502)
    assert gateway.headers["content-type"].startswith("text/plain")  # a proxy's body, not JSON
    assert sandbox.requests >= 200


def test_commit_then_time_out_dials_the_call_but_answers_too_late(http: Http) -> None:
    sandbox, client = http(faults=Faults(commit_timeout_rate=1.0, hang_seconds=2.0))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/sessions/outgoing", json={"flowId": "f", "numberToDial": NUMBER}, timeout=0.2)
    (placed,) = sandbox.placements
    assert placed.answered_late
    (session,) = client.get("/sessions").json()["items"]
    assert session["id"] == placed.session_id  # the call is ringing all the same


def test_latency_is_added_to_every_response(http: Http) -> None:
    _, client = http(faults=Faults(latency=0.2))
    response = client.get("/auth/status")
    assert response.status_code == 200 and response.elapsed >= timedelta(seconds=0.2)

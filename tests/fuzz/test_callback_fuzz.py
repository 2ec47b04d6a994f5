"""Fuzzing the Twilio callback receiver (`dialer webhooks serve`, or in-process in `dialer
run`): whatever arrives — unsigned, badly signed or correctly signed with hostile values,
any body, any content type — the answer is never a 5xx and never carries a traceback.

Correctly signed requests matter most: they get past the signature check into the code that
parses and stores the callback. (Evo Voice sends no callbacks; its sessions are polled.)
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from dialer.store.repository import SqlStore
from dialer.telephony.twilio_voice import CALLBACK_PATHS, sign
from dialer.web.twilio_callbacks import create_app
from tests.conftest import T0

TOKEN = "fuzz-auth-token"
PUBLIC = "https://dialer.example.test"

FIELDS = [
    "CallSid",
    "CallStatus",
    "SequenceNumber",
    "AnsweredBy",
    "QueueResult",
    "QueueTime",
    "CallDuration",
    "From",
    "To",
    "Caller",
    "Timestamp",
    "ErrorCode",
    "MachineDetectionDuration",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "CA" + "0" * 32,
            "completed",
            "in-progress",
            "no-answer",
            "human",
            "machine_start",
            "hangup",
            "0",
            "-1",
            "99999999999999999999999999",  # past any integer column
            "²",  # str.isdigit() says yes, int() says no
            "١٢٣",  # Arabic-Indic digits
            "1e9",
            "\x00",
            "a\x00b",
            "\ud7ff",
            "💥",
            "x" * 5000,
        ]
    ),
)
FORMS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), VALUES, max_size=8)
PATHS = st.one_of(st.sampled_from(list(CALLBACK_PATHS.values())), st.just("/webhooks/twilio/nope"))
QUERIES = st.one_of(
    st.just(""),
    st.builds(lambda a, c: urlencode({"attempt": a, "campaign": c}), st.text(max_size=10), st.text(max_size=10)),
)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    if request.param == "sqlite":
        store = SqlStore.open(f"sqlite:///{tmp_path_factory.mktemp('fuzz-callbacks') / 'cb.db'}")
    else:
        store = SqlStore.open(request.getfixturevalue("pg_url"))
    app = create_app(
        store=store,
        auth_token=TOKEN,
        public_base_url=PUBLIC,
        now=lambda: T0,
        abandon_message=lambda name: None,
    )
    with TestClient(app, base_url=PUBLIC, raise_server_exceptions=False) as test_client:
        yield test_client
    store.close()


def assert_handled(response_status: int, body: str) -> None:
    assert response_status < 500, body
    assert "Traceback" not in body


@given(path=PATHS, query=QUERIES, form=FORMS)
@example(path=CALLBACK_PATHS["status"], query="", form={"CallSid": "CA1", "SequenceNumber": "²"})
@example(path=CALLBACK_PATHS["status"], query="", form={"CallSid": "CA1", "SequenceNumber": "9" * 30})
@example(path=CALLBACK_PATHS["amd"], query="", form={"CallSid": "CA1", "AnsweredBy": "a\x00b"})
def test_signed_callbacks_with_hostile_values(client: TestClient, path: str, query: str, form: dict[str, str]) -> None:
    url = f"{PUBLIC}{path}" + (f"?{query}" if query else "")
    response = client.post(url, data=form, headers={"X-Twilio-Signature": sign(TOKEN, url, form)})
    assert_handled(response.status_code, response.text)
    if path in CALLBACK_PATHS.values() and response.status_code < 300:
        assert path != CALLBACK_PATHS["status"] or form.get("CallSid"), "a status callback needs its CallSid"


@given(
    path=PATHS,
    body=st.binary(max_size=512),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
            "application/json",
            "text/plain",
            "",
        ]
    ),
    signature=st.binary(max_size=40).filter(lambda b: not set(b) & {0, 10, 13}),  # any header bytes
)
def test_arbitrary_bodies(client: TestClient, path: str, body: bytes, content_type: str, signature: bytes) -> None:
    headers: dict[str, str | bytes] = {"X-Twilio-Signature": signature}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(f"{PUBLIC}{path}", content=body, headers=headers)
    assert_handled(response.status_code, response.text)


def test_an_unsigned_callback_is_refused(client: TestClient) -> None:
    response = client.post(f"{PUBLIC}{CALLBACK_PATHS['status']}", data={"CallSid": "CA1"})
    assert response.status_code == 403

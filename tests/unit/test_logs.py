"""JSON log lines: their fields, and no secret in them — neither the configured secrets nor
anything shaped like a credential."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from dialer import logs
from dialer.settings import load_settings

EVO_PASSWORD = "evo-Pa55w0rd-xyz"
TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
DB_PASSWORD = "db-s3cret-77"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    settings = load_settings(
        backend="twilio",
        evovoice_password=EVO_PASSWORD,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=TWILIO_TOKEN,
        database_url=f"postgresql+psycopg://dialer:{DB_PASSWORD}@db.internal/dialer",
        log_format="json",
    )
    stream = io.StringIO()
    logs.configure(settings, level=logging.DEBUG, text_handler=logging.StreamHandler(), stream=stream)
    yield stream
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_extra_fields(captured: io.StringIO) -> None:
    logging.getLogger("dialer.daemon.tick").info(
        "tick %s: placed %d — %s",
        "spring",
        2,
        "progressive: 2 idle agents",
        extra={"action": "tick", "campaign": "spring", "placed": 2, "reason": "progressive: 2 idle agents"},
    )
    (entry,) = lines(captured)
    assert entry["level"] == "info" and entry["logger"] == "dialer.daemon.tick"
    assert entry["message"] == "tick spring: placed 2 — progressive: 2 idle agents"
    assert entry["action"] == "tick" and entry["campaign"] == "spring" and entry["placed"] == 2
    assert str(entry["ts"]).endswith("+00:00")


@pytest.mark.parametrize(
    "message",
    [
        f"login with password {EVO_PASSWORD} refused",
        f"Twilio token {TWILIO_TOKEN}",
        f"cannot connect to postgresql+psycopg://dialer:{DB_PASSWORD}@db.internal/dialer",
        "request headers {'Authorization': 'Basic b3BzQHNhbmRib3gudGVzdDpodW50ZXIy'}",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature",
        "POST /login password=hunter2hunter2&user=ann",
        'body {"auth_token": "another-token-42"}',
    ],
)
def test_secrets_never_appear(captured: io.StringIO, message: str) -> None:
    logging.getLogger("dialer").warning(message)
    logging.getLogger("dialer").error("failed", extra={"detail": message, "nested": {"headers": [message]}})
    try:
        raise RuntimeError(message)
    except RuntimeError:
        logging.getLogger("dialer").exception("with a traceback")
    text = captured.getvalue()
    for secret in (
        EVO_PASSWORD,
        TWILIO_TOKEN,
        DB_PASSWORD,
        "b3BzQHNhbmRib3gudGVzdDpodW50ZXIy",
        "eyJhbGciOiJIUzI1NiJ9",
        "hunter2hunter2",
        "another-token-42",
    ):
        assert secret not in text
    assert logs.MASK in text
    entries = lines(captured)
    assert entries[2]["exc_type"] == "RuntimeError" and "Traceback" in str(entries[2]["exc"])


def test_ordinary_text_is_left_alone(captured: io.StringIO) -> None:
    logging.getLogger("dialer").info("campaign spring paused: caller ID +12125550100 not owned; 3 records")
    assert lines(captured)[0]["message"] == "campaign spring paused: caller ID +12125550100 not owned; 3 records"


def test_the_text_format_masks_secrets_too(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(evovoice_password=EVO_PASSWORD)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logs.configure(settings, level=logging.INFO, text_handler=handler)
    try:
        logging.getLogger("dialer").warning("password is %s", EVO_PASSWORD)
    finally:
        logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    assert EVO_PASSWORD not in stream.getvalue() and logs.MASK in stream.getvalue()

"""`dialer doctor` through the CLI, against the Evo Voice and Twilio sandboxes over real HTTP.

Each check is shown passing on a ready installation and failing on the fault it exists for,
with its fix; the full list of checks is pinned, so removing one fails here."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dialer import doctor
from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import SystemClock, VirtualClock
from dialer.errors import StoreError
from dialer.sandbox.server import BackgroundServer, bind, url_of
from dialer.sandbox.twilio import TwilioSandbox
from dialer.settings import load_settings
from dialer.store import migrate
from dialer.store.repository import SqlStore
from dialer.web.twilio_callbacks import create_app as create_receiver
from tests.integration.conftest import CliResult
from tests.telephony_lines import NOT_OWNED, OWNED, evo_sandbox

Dialer = Callable[..., CliResult]
EXPECTED = ["settings", "database", "migrations", "campaigns", "telephony", "caller_ids", "callback_url", "clock"]


def diagnose(dialer: Dialer, *args: str) -> tuple[int, dict[str, dict[str, str | None]]]:
    result = dialer("doctor", "--json", *args)
    assert result.out, result.err
    data = json.loads(result.out)
    assert [c["name"] for c in data["checks"]] == EXPECTED, "every check runs, in order"
    assert data["ok"] is (result.code == 0)
    return result.code, {c["name"]: c for c in data["checks"]}


def statuses(checks: dict[str, dict[str, str | None]]) -> dict[str, str | None]:
    return {name: c["status"] for name, c in checks.items()}


def assert_fails_with_fix(check: dict[str, str | None], *words: str) -> None:
    assert check["status"] == "fail"
    assert check["fix"], "a failure names its fix"
    text = f"{check['detail']} {check['fix']}"
    for word in words:
        assert word in text, (word, text)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'dialer.db'}"
    monkeypatch.setenv("DIALER_DATABASE_URL", url)
    return url


def make_campaign(url: str, *caller_ids: str, name: str = "spring") -> None:
    store = SqlStore.open(url)
    try:
        store.create_campaign(
            CampaignSpec(name=name, flow_id="flow-1", caller_ids=caller_ids, agents=2), now=SystemClock().now()
        )
    finally:
        store.close()


# ------------------------------------------------------------------ Evo Voice
@pytest.fixture
def evo(monkeypatch: pytest.MonkeyPatch, database: str) -> Iterator[str]:
    with evo_sandbox(clock=SystemClock(), agents=2) as (_, url):
        monkeypatch.setenv("DIALER_BACKEND", "evovoice")
        monkeypatch.setenv("DIALER_EVOVOICE_BASE_URL", url)
        monkeypatch.setenv("DIALER_EVOVOICE_USERNAME", "manager@sandbox.test")
        monkeypatch.setenv("DIALER_EVOVOICE_PASSWORD", "sandbox")
        monkeypatch.setenv("DIALER_EVOVOICE_TIMEOUT", "2")
        make_campaign(database, OWNED[0])
        yield url


def test_a_ready_evo_voice_installation_passes(dialer: Dialer, evo: str) -> None:
    code, checks = diagnose(dialer)
    assert code == 0
    assert statuses(checks) == {
        "settings": "ok",
        "database": "ok",
        "migrations": "ok",
        "campaigns": "ok",
        "telephony": "ok",
        "caller_ids": "ok",
        "callback_url": "skip",
        "clock": "ok",
    }
    assert "manager@sandbox.test" in str(checks["telephony"]["detail"])
    assert "Manager" in str(checks["telephony"]["detail"])
    text = dialer("doctor")
    assert text.code == 0 and "telephony: OK" in text.out and "Ready to dial." in text.out


def test_a_wrong_password_fails_the_telephony_check(dialer: Dialer, evo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_EVOVOICE_PASSWORD", "wrong")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["telephony"], "401", "DIALER_EVOVOICE_PASSWORD")
    assert checks["caller_ids"]["status"] == "skip"
    shown = dialer("doctor")
    assert shown.code == 1 and "telephony: FAIL" in shown.out and "fix:" in shown.out
    assert "failed check(s): telephony" in shown.err


def test_a_login_without_a_dialing_role_fails(dialer: Dialer, evo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_EVOVOICE_USERNAME", "agent@sandbox.test")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["telephony"], "Manager or SystemAdministrator")


def test_a_caller_id_the_account_does_not_own_fails(dialer: Dialer, evo: str, database: str) -> None:
    make_campaign(database, NOT_OWNED, name="summer")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["caller_ids"], "summer", NOT_OWNED, "--caller-id")
    assert "spring" not in str(checks["caller_ids"]["detail"])


def test_missing_credentials_fail_the_settings_check(dialer: Dialer, evo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALER_EVOVOICE_PASSWORD")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["settings"], "DIALER_EVOVOICE_PASSWORD")
    assert checks["database"]["status"] == "ok" and checks["telephony"]["status"] == "skip"


def test_invalid_settings_fail_and_skip_the_rest(dialer: Dialer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_TICK_SECONDS", "-1")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["settings"], "DIALER_TICK_SECONDS")
    assert {c["status"] for n, c in checks.items() if n != "settings"} == {"skip"}


def test_a_clock_off_by_minutes_fails(evo: str) -> None:
    skewed = VirtualClock(SystemClock().now() + timedelta(minutes=4))
    result = doctor.diagnose(load_settings, clock=skewed)
    clock = next(c for c in result.checks if c.name == "clock")
    assert not result.ok and clock.status == "fail"
    assert re.search(r"24[01] s ahead of evovoice's", clock.detail), clock.detail  # Date has 1 s resolution
    assert clock.fix and "NTP" in clock.fix
    behind = doctor.diagnose(load_settings, clock=VirtualClock(SystemClock().now() - timedelta(minutes=1)))
    assert "behind" in next(c for c in behind.checks if c.name == "clock").detail
    assert doctor.diagnose(load_settings, clock=skewed, max_skew=600).ok


def test_a_campaign_whose_options_do_not_parse_fails(dialer: Dialer, evo: str, tmp_path: Path) -> None:
    """Options written by hand or by another version: the check names the campaign."""
    with sqlite3.connect(tmp_path / "dialer.db") as conn:
        conn.execute("""UPDATE campaigns SET options = '{"compliance_profile": "mars"}' WHERE name = 'spring'""")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["campaigns"], "spring", "mars", "dialer campaign create")


def test_a_campaign_row_that_does_not_validate_is_a_store_error(tmp_path: Path, database: str) -> None:
    """Regression: listing campaigns used to crash with a bare ValueError (`dialer run`: "a bug")."""
    make_campaign(database, OWNED[0])
    with sqlite3.connect(tmp_path / "dialer.db") as conn:
        conn.execute("""UPDATE campaigns SET options = '{"compliance_profile": "mars"}' WHERE name = 'spring'""")
    store = SqlStore.open(database)
    try:
        with pytest.raises(StoreError, match="campaign 'spring' in the database is invalid"):
            store.list_campaigns()
    finally:
        store.close()


# ------------------------------------------------------------------- database
def test_a_missing_sqlite_file_is_reported_not_created(dialer: Dialer, database: str, tmp_path: Path) -> None:
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["database"], "dialer db upgrade")
    assert checks["migrations"]["status"] == "skip"
    assert not (tmp_path / "dialer.db").exists()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound but never listening: connecting is refused, and while the test
    runs no other process (a parallel test) can start a server on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_an_unreachable_database_fails(dialer: Dialer, monkeypatch: pytest.MonkeyPatch, refused_port: int) -> None:
    monkeypatch.setenv("DIALER_DATABASE_URL", f"postgresql+psycopg://dialer:pw@127.0.0.1:{refused_port}/dialer")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["database"], "DIALER_DATABASE_URL", "127.0.0.1")
    assert "pw@" not in json.dumps(checks), "the password is not shown"


def test_a_database_behind_on_migrations_fails(dialer: Dialer, database: str) -> None:
    store = SqlStore.open(database, migrate_schema=False)
    try:
        migrate.upgrade(store.engine, "0009_number_history")
    finally:
        store.close()
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["migrations"], "0009_number_history", "dialer db upgrade")
    assert checks["campaigns"]["status"] == "skip"
    assert dialer("db", "upgrade").code == 0
    assert diagnose(dialer)[0] == 0


def test_an_empty_database_has_no_schema(dialer: Dialer, database: str, tmp_path: Path) -> None:
    (tmp_path / "dialer.db").write_bytes(b"")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["migrations"], "no dialer schema", "dialer db upgrade")


@pytest.mark.postgresql
def test_a_postgresql_database_passes(dialer: Dialer, monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
    monkeypatch.setenv("DIALER_DATABASE_URL", pg_url)
    code, checks = diagnose(dialer)
    assert code == 0 and checks["database"]["status"] == "ok" and checks["migrations"]["status"] == "ok"


# --------------------------------------------------------------------- Twilio
@pytest.fixture
def twilio(monkeypatch: pytest.MonkeyPatch, database: str, tmp_path: Path) -> Iterator[TwilioSandbox]:
    sandbox = TwilioSandbox(numbers=(OWNED[0],), agents=2, clock=SystemClock(), seed=3)
    store = SqlStore.open(f"sqlite:///{tmp_path / 'receiver.db'}")
    sock = bind("127.0.0.1", 0)  # held until it serves: no other test can take the port meanwhile
    public = url_of(sock)
    receiver = BackgroundServer(
        create_receiver(store=store, auth_token=sandbox.auth_token, public_base_url=public, now=SystemClock().now),
        sock=sock,
    )
    with BackgroundServer(sandbox.app) as api, receiver:
        monkeypatch.setenv("DIALER_BACKEND", "twilio")
        monkeypatch.setenv("DIALER_TWILIO_ACCOUNT_SID", sandbox.account_sid)
        monkeypatch.setenv("DIALER_TWILIO_AUTH_TOKEN", sandbox.auth_token)
        monkeypatch.setenv("DIALER_TWILIO_API_BASE_URL", api)
        monkeypatch.setenv("DIALER_TWILIO_PUBLIC_BASE_URL", public)
        monkeypatch.setenv("DIALER_TWILIO_TIMEOUT", "3")
        make_campaign(database, OWNED[0])
        yield sandbox
    store.close()


def test_a_ready_twilio_installation_passes(dialer: Dialer, twilio: TwilioSandbox) -> None:
    code, checks = diagnose(dialer)
    assert code == 0, checks
    assert statuses(checks) == dict.fromkeys(EXPECTED, "ok")
    assert "refused an unsigned request" in str(checks["callback_url"]["detail"])


def test_a_wrong_twilio_token_fails(dialer: Dialer, twilio: TwilioSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_TWILIO_AUTH_TOKEN", "not-the-token")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["telephony"], "DIALER_TWILIO_AUTH_TOKEN")


def test_a_twilio_caller_id_not_owned_fails(dialer: Dialer, twilio: TwilioSandbox, database: str) -> None:
    make_campaign(database, NOT_OWNED, name="summer")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["caller_ids"], NOT_OWNED, "twilio")


def test_an_unreachable_callback_url_fails(
    dialer: Dialer, twilio: TwilioSandbox, monkeypatch: pytest.MonkeyPatch, refused_port: int
) -> None:
    monkeypatch.setenv("DIALER_TWILIO_PUBLIC_BASE_URL", f"http://127.0.0.1:{refused_port}")
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["callback_url"], "cannot be reached", "dialer webhooks serve")


def test_a_callback_url_that_is_not_the_receiver_fails(
    dialer: Dialer, twilio: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_TWILIO_PUBLIC_BASE_URL", os.environ["DIALER_TWILIO_API_BASE_URL"])
    code, checks = diagnose(dialer)
    assert code == 1
    assert_fails_with_fix(checks["callback_url"], "not the dialer's receiver")


def test_without_a_public_url_callbacks_are_skipped(
    dialer: Dialer, twilio: TwilioSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIALER_TWILIO_PUBLIC_BASE_URL")
    code, checks = diagnose(dialer)
    assert code == 0 and checks["callback_url"]["status"] == "skip"

"""`dialer run --backend evovoice` and `dialer sandbox evovoice`, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from dialer.domain.clock import SystemClock
from dialer.errors import ConfigError
from dialer.sandbox.evovoice import EvoSandbox
from tests.integration.conftest import CliResult
from tests.telephony_lines import OWNED, evo_sandbox

Dialer = Callable[..., CliResult]
#: Spread around the globe: one of them is always in the middle of its day.
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/New_York", "Pacific/Honolulu")


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[EvoSandbox]:
    """A real-time sandbox, and the environment that points the dialer at it."""
    with evo_sandbox(clock=SystemClock(), agents=2) as (state, url):
        monkeypatch.setenv("DIALER_EVOVOICE_BASE_URL", url)
        monkeypatch.setenv("DIALER_EVOVOICE_USERNAME", "manager@sandbox.test")
        monkeypatch.setenv("DIALER_EVOVOICE_PASSWORD", "sandbox")
        monkeypatch.setenv("DIALER_EVOVOICE_TIMEOUT", "2")
        monkeypatch.setenv("DIALER_EVOVOICE_MAX_CPS", "10")  # the default 1 call/s would spread the first tick
        yield state


@pytest.fixture
def campaign(dialer: Dialer, tmp_path: Path) -> str:
    created = dialer("campaign", "create", "rehearsal", "--flow-id", "flow-1", "--caller-id", OWNED[0], "--agents", "2")
    assert created.code == 0, created.err
    records = tmp_path / "records.csv"
    zone = daytime_zone()
    records.write_text(
        "recordHandle,phoneNumber,timezone,first_name\n"
        f"R-1,(212) 555-0101,{zone},Zoë\n"
        f"R-2,(212) 555-0102,{zone},José\n"
        f"R-3,(212) 555-0103,{zone},Ann\n",
        encoding="utf-8",
    )
    imported = dialer("import", str(records), "--campaign", "rehearsal")
    assert imported.code == 0, imported.err
    return "rehearsal"


def test_run_once_dials_through_the_evo_voice_client(dialer: Dialer, sandbox: EvoSandbox, campaign: str) -> None:
    result = dialer("run", "--backend", "evovoice", "--once", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["backend"] == "evovoice" and summary["placed"] == 2  # one line per agent
    assert sorted(p.number for p in sandbox.placements) == ["+12125550101", "+12125550102"]
    assert {p.caller_id for p in sandbox.placements} == {OWNED[0]}
    status = json.loads(dialer("status", "--json").out)
    assert status["campaigns"][0]["campaign"] == "rehearsal"
    # A second run reconciles the calls left in flight: nothing is dialed twice.
    again = dialer("run", "--backend", "evovoice", "--once", "--json")
    assert again.code == 0, again.err
    numbers = [p.number for p in sandbox.placements]
    assert len(numbers) == len(set(numbers))


def test_a_wrong_password_stops_with_the_setting_to_fix(
    dialer: Dialer, sandbox: EvoSandbox, campaign: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_EVOVOICE_PASSWORD", "wrong")
    result = dialer("run", "--backend", "evovoice", "--once")
    assert result.code == 1
    assert "Error: Evo Voice refused the login (HTTP 401" in result.err and "DIALER_EVOVOICE_PASSWORD" in result.err
    assert sandbox.placements == []


def test_a_login_without_a_dialing_role_is_refused_before_anything_is_dialed(
    dialer: Dialer, sandbox: EvoSandbox, campaign: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALER_EVOVOICE_USERNAME", "agent@sandbox.test")
    result = dialer("run", "--backend", "evovoice", "--once")
    assert result.code == 1
    assert "has role(s) User" in result.err and "Manager or SystemAdministrator" in result.err
    assert sandbox.placements == []


def test_a_missing_login_is_a_configuration_error(dialer: Dialer, campaign: str) -> None:
    result = dialer("run", "--backend", "evovoice", "--once")
    assert result.code == ConfigError.exit_code and "DIALER_EVOVOICE_USERNAME" in result.err


def test_an_unowned_caller_id_pauses_the_campaign_with_the_reason(
    dialer: Dialer, sandbox: EvoSandbox, campaign: str
) -> None:
    dialer("campaign", "create", "other", "--flow-id", "f", "--caller-id", "+12025550142")
    result = dialer("run", "--backend", "evovoice", "--once", "--json")
    assert result.code == 0, result.err
    shown = json.loads(dialer("campaign", "show", "other", "--json").out)
    assert shown["status"] == "paused" and "+12025550142" in shown["pause_reason"]


def test_the_sandbox_command_serves_until_interrupted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "dialer", "sandbox", "evovoice", "--port", "0", "--agents", "3", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(7)]
        text = "".join(banner)
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", text)
        assert url, text
        assert "manager@sandbox.test / sandbox (Manager+User)" in text
        assert f"DIALER_EVOVOICE_BASE_URL={url.group(1)}" in text
        user = httpx.get(f"{url.group(1)}/auth/status", auth=("manager@sandbox.test", "sandbox"), timeout=5).json()
        assert user["roles"] == ["Manager", "User"]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "Sandbox stopped" in err

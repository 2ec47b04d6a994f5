"""`dialer run` as an operating system process against the Evo Voice sandbox on loopback.

SIGTERM: the daemon stops placing, collects the calls in flight and exits 0 with every
attempt ended. SIGKILL (a crash): a new process reconciles the attempts left in flight with
the provider before their records can be dialed again, so no session is lost or duplicated.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.domain.clock import SystemClock
from dialer.sandbox.evovoice import EvoSandbox
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from tests.daemon_processes import cli, start_run
from tests.daemon_processes import environment as daemon_environment
from tests.telephony_lines import OWNED, evo_sandbox

#: Seconds, not minutes: answers after ~0.5 s, talk ~1 s, no-answers released at 2 s.
FAST = CallModel(
    hit_rate=0.5, answer_min=0.3, answer_shape=3.0, answer_scale=0.1, ring_timeout=2.0, talk_mean=1.0, wrap=0.2
)
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/New_York", "Pacific/Honolulu")


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


@pytest.fixture
def sandbox() -> Iterator[tuple[EvoSandbox, str]]:
    with evo_sandbox(clock=SystemClock(), agents=3, model=FAST) as pair:
        yield pair


def environment(tmp_path: Path, url: str) -> dict[str, str]:
    """A `dialer` process on an SQLite database in ``tmp_path``, dialing the sandbox at ``url``."""
    return daemon_environment(f"sqlite:///{tmp_path / 'dialer.db'}", evo_url=url, DIALER_SHUTDOWN_GRACE_SECONDS="30")


def prepare(tmp_path: Path, env: dict[str, str], records: int) -> None:
    created = cli(
        env, tmp_path, "campaign", "create", "night", "--flow-id", "flow-1", "--caller-id", OWNED[0],
        "--agents", "3", "--max-attempts", "1",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    zone = daytime_zone()
    source = tmp_path / "records.csv"
    lines = [f"R-{i},+1212555{i:04d},{zone}" for i in range(records)]
    source.write_text("recordHandle,phoneNumber,timezone\n" + "\n".join(lines) + "\n", encoding="utf-8")
    imported = cli(env, tmp_path, "import", str(source), "--campaign", "night")
    assert imported.returncode == 0, imported.stderr


def start(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return start_run(env, cwd, "--json")


def wait_for_placements(sandbox: EvoSandbox, process: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 60
    while len(sandbox.placements) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"only {len(sandbox.placements)} placements in 60 s"
        time.sleep(0.05)


def test_sigterm_stops_dialing_collects_in_flight_and_exits_0(sandbox: tuple[EvoSandbox, str], tmp_path: Path) -> None:
    state, url = sandbox
    env = environment(tmp_path, url)
    prepare(tmp_path, env, records=200)
    process = start(env, tmp_path)
    wait_for_placements(state, process, 3)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    summary = json.loads(out)
    assert summary["stopped_by_signal"] is True and summary["in_flight_at_exit"] == 0

    store = SqlStore.open(env["DIALER_DATABASE_URL"])
    try:
        campaign = store.get_campaign("night")
        attempts = list(store.iter_attempts(campaign.id))
        # Every session the provider created is one attempt, and every attempt has its outcome.
        assert sorted(a.provider_ref or "" for a in attempts) == sorted(p.session_id for p in state.placements)
        assert all(a.ended_at is not None and a.outcome is not None for a in attempts)
        assert store.in_flight() == []
        # Nothing was placed after the stop: most records were never touched and are still ready.
        assert store.count_records(campaign.id).get("ready", 0) >= 200 - len(attempts)
        assert len(attempts) < 200
    finally:
        store.close()


def test_a_crash_leaves_calls_in_flight_that_the_next_process_reconciles(
    sandbox: tuple[EvoSandbox, str], tmp_path: Path
) -> None:
    state, url = sandbox
    env = environment(tmp_path, url)
    prepare(tmp_path, env, records=6)
    process = start(env, tmp_path)
    wait_for_placements(state, process, 3)
    process.kill()  # SIGKILL: no handler runs, calls are left ringing or talking
    process.communicate(timeout=30)

    store = SqlStore.open(env["DIALER_DATABASE_URL"])
    try:
        campaign = store.get_campaign("night")
        left = store.in_flight(campaign.id)
    finally:
        store.close()
    assert left, "the crash left attempts in flight"

    finish = cli(env, tmp_path, "run", "--until-done", "--json")
    assert finish.returncode == 0, finish.stderr
    assert json.loads(finish.stdout)["done"] is True

    store = SqlStore.open(env["DIALER_DATABASE_URL"])
    try:
        attempts = list(store.iter_attempts(campaign.id))
        by_id = {a.id: a for a in attempts}
        # The attempts the crash left behind got their outcome from the provider's session ...
        for stale in left:
            assert by_id[stale.id].outcome is not None and by_id[stale.id].ended_at is not None
        # ... every session is exactly one attempt, and with one attempt per record, no number
        # was dialed twice.
        sessions = [p.session_id for p in state.placements]
        assert len(sessions) == len(set(sessions))
        assert sorted(a.provider_ref or "" for a in attempts) == sorted(sessions)
        numbers = [p.number for p in state.placements]
        assert len(numbers) == len(set(numbers)) == 6
        assert store.in_flight() == [] and store.count_records(campaign.id).get("ready", 0) == 0
    finally:
        store.close()

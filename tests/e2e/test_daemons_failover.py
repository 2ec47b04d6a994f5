"""Three `dialer run` daemons on one PostgreSQL database against the Evo Voice sandbox on
loopback, one of them killed (SIGKILL) every few seconds and started again: each campaign is
paced by one daemon at a time, a dead daemon's campaigns are taken over within 10 s and its
calls in flight reconciled with the provider, and the run ends with no number dialed twice,
every provider session written back as exactly one attempt with its outcome, and every record
final."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import SystemClock
from dialer.domain.records import NewRecord, RecordStatus
from dialer.sandbox.evovoice import EvoSandbox
from dialer.store.repository import SqlStore
from tests.conftest import _truncate
from tests.daemon_processes import environment as daemon_environment
from tests.daemon_processes import start_run
from tests.e2e.test_daemon_process import FAST, daytime_zone
from tests.telephony_lines import OWNED, evo_sandbox

pytestmark = pytest.mark.postgresql

CAMPAIGNS = ("north", "south", "east")
RECORDS = 15
LEASE, HEARTBEAT = 4.0, 1.0
KILL_EVERY = 4.0


@pytest.fixture
def database(pg_url: str) -> Iterator[str]:
    store = SqlStore.open(pg_url)
    _truncate(store)
    store.close()
    yield pg_url


@pytest.fixture
def sandbox() -> Iterator[tuple[EvoSandbox, str]]:
    with evo_sandbox(clock=SystemClock(), agents=12, model=FAST) as pair:
        yield pair


def environment(url: str, evo_url: str, tmp_path: Path) -> dict[str, str]:
    return daemon_environment(
        url,
        evo_url=evo_url,
        DIALER_DATA_DIR=str(tmp_path / "data"),
        DIALER_SHUTDOWN_GRACE_SECONDS="20",
        DIALER_PACER_LEASE_SECONDS=str(LEASE),
        DIALER_PACER_HEARTBEAT_SECONDS=str(HEARTBEAT),
    )


class Daemons:
    """``dialer run`` processes, each logging to its own file."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: list[Path] = []

    def start(self) -> subprocess.Popen[str]:
        log = self.cwd / f"daemon-{len(self.logs)}.log"
        with log.open("w") as sink:
            process = start_run(self.env, self.cwd, "--json", verbose=True, stdout=sink, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.logs.append(log)
        return process

    def live(self) -> list[subprocess.Popen[str]]:
        return [p for p in self.processes if p.poll() is None]

    def stop(self) -> None:
        for p in self.live():
            p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def unfinished(store: SqlStore, ids: list[int]) -> int:
    final = {s.value for s in RecordStatus if s.is_final}
    return sum(n for cid in ids for status, n in store.count_records(cid).items() if status not in final)


def test_three_daemons_one_killed_every_few_seconds_no_double_dials_no_lost_outcomes(
    database: str, sandbox: tuple[EvoSandbox, str], tmp_path: Path
) -> None:
    state, evo_url = sandbox
    env = environment(database, evo_url, tmp_path)
    zone = daytime_zone()
    store = SqlStore.open(database)
    now = SystemClock().now()
    for k, name in enumerate(CAMPAIGNS):  # what `dialer campaign create` and `dialer import` store
        spec = CampaignSpec(name=name, flow_id="flow-1", caller_ids=(OWNED[0],), agents=3, max_attempts=1)
        campaign = store.create_campaign(spec, now=now)
        records = [
            NewRecord(
                handle=f"{name}-{i}",
                phone=f"+1{212 + k}555{i:04d}",
                caller_id=None,
                user_data={},
                next_dial_at=now,
                timezone=zone,
                tz_candidates=(zone,),
                tz_source="column",
            )
            for i in range(RECORDS)
        ]
        store.insert_records(campaign.id, records, now=now)
    daemons = Daemons(env, tmp_path)
    owners: dict[int, set[str]] = {}
    takeovers: list[float] = []
    kills = 0
    try:
        ids = [store.get_campaign(n).id for n in CAMPAIGNS]
        for _ in range(3):
            daemons.start()
        deadline = time.monotonic() + 90
        while len(store.pacer_leases()) < len(CAMPAIGNS):  # the daemons have started and shared them out
            assert time.monotonic() < deadline and all(p.poll() is None for p in daemons.processes)
            time.sleep(0.1)
        next_kill = time.monotonic() + KILL_EVERY
        orphaned: tuple[float, set[int], str] | None = None  # (killed at, its campaigns, its owner id)
        while unfinished(store, ids) or store.in_flight():
            assert time.monotonic() < deadline, (
                f"{unfinished(store, ids)} records unfinished: {[store.count_records(c) for c in ids]}; in flight: "
                f"{[(a.id, a.state.value, a.created_at.isoformat()) for a in store.in_flight()]}"
            )
            now = time.monotonic()
            leases = store.pacer_leases()
            for cid, lease in leases.items():
                owners.setdefault(cid, set()).add(lease.owner)
            if orphaned is not None:
                killed_at, held, dead = orphaned
                if all(cid in leases and leases[cid].owner != dead for cid in held):
                    takeovers.append(now - killed_at)
                    orphaned = None
            if orphaned is None and now >= next_kill and kills < 3 and unfinished(store, ids) > 10:
                holders = {lease.pid for lease in leases.values()}
                victim = next(p for p in daemons.live() if p.pid in holders)
                held = {cid for cid, lease in leases.items() if lease.pid == victim.pid}
                dead = next((lease.owner for lease in leases.values() if lease.pid == victim.pid), "")
                victim.kill()  # SIGKILL: no handler, no release; calls left ringing or talking
                victim.wait()
                kills += 1
                daemons.start()
                if held:
                    orphaned = (now, held, dead)
                next_kill = now + KILL_EVERY
            time.sleep(0.1)
    finally:
        daemons.stop()

    try:
        logs = "\n".join(log.read_text() for log in daemons.logs)
        assert "a bug" not in logs and "cannot go from" not in logs, logs[-3000:]
        assert kills >= 3 and takeovers, f"{kills} kills, takeovers {takeovers}"
        # A dead daemon's campaigns were taken over within 10 s (lease 4 s + heartbeat 1 s here).
        assert max(takeovers) <= 10, takeovers
        assert any(len(o) >= 2 for o in owners.values()), owners

        placements = state.placements
        numbers = Counter(p.number for p in placements)
        assert max(numbers.values()) == 1, [n for n, c in numbers.items() if c > 1]  # no double dials
        attempts = [a for cid in ids for a in store.iter_attempts(cid)]
        # Every session the provider created is exactly one attempt, and every attempt ended
        # with its outcome written back: nothing lost.
        sessions = sorted(p.session_id for p in placements)
        assert sorted(a.provider_ref for a in attempts if a.provider_ref) == sessions
        assert all(a.ended_at is not None and a.outcome is not None for a in attempts)
        assert store.in_flight() == []
        assert unfinished(store, ids) == 0
        assert len(numbers) == len(CAMPAIGNS) * RECORDS  # every record was dialed once
        assert store.pacer_leases() == {}  # the daemons released their leases when they stopped
    finally:
        store.close()

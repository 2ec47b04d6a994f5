"""`dialer run` with its SQLite database on a disk that fills up, for real.

Two ways to make a real full disk, each a parametrisation:

* ``tmpfs``: the database on a 16 MiB tmpfs mounted for the test (needs root; skipped
  otherwise), filled to the last byte by a filler file and freed by deleting it;
* ``rlimit``: the daemon process runs with ``RLIMIT_FSIZE`` (and SIGXFSZ ignored), lowered from
  outside with ``prlimit`` to a size every database write exceeds, then raised again. The
  kernel refuses the writes (EFBIG): what a quota or a file-size limit does. Works for any user.

The daemon must log the condition once when it starts and once when it clears — no traceback
a tick — and honour its shutdown grace period even while it cannot write.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dialer.domain.clock import SystemClock
from dialer.sandbox.evovoice import EvoSandbox
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from tests.daemon_processes import start_run
from tests.e2e.test_daemon_process import cli, daytime_zone, environment, wait_for_placements
from tests.telephony_lines import OWNED, evo_sandbox

#: Calls answered within a second that talk for about a minute: in flight when the disk fills.
LONG_TALK = CallModel(hit_rate=1.0, answer_min=0.3, answer_shape=3.0, answer_scale=0.1, talk_mean=60, talk_cv=0.1)
GRACE = 2.0
#: Enough agents that, at 2 calls a second, calls are placed all through the test.
AGENTS = 60
FULL = "the database cannot write"


@dataclass
class Disk:
    path: Path
    fill: Callable[[int], None]
    free: Callable[[int], None]
    preexec: Callable[[], None] | None = None
    mode: str = ""
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def _tmpfs(base: Path) -> Disk:
    mount = base / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the rlimit variant runs instead")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    filler = mount / "filler"

    def fill(pid: int) -> None:
        with filler.open("ab", buffering=0) as handle:
            for size in (1 << 16, 4096, 1):
                with contextlib.suppress(OSError):
                    while handle.write(b"\0" * size):
                        pass
        assert os.statvfs(mount).f_bavail == 0

    def free(pid: int) -> None:
        filler.unlink()

    disk = Disk(path=mount, fill=fill, free=free, mode="tmpfs")
    disk.cleanup.append(lambda: subprocess.run(["umount", "-l", str(mount)], check=False))
    return disk


def _rlimit(base: Path) -> Disk:
    if not hasattr(resource, "prlimit"):
        pytest.skip("resource.prlimit is Linux only")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write is EFBIG, not a killed process

    def fill(pid: int) -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (4096, hard))

    def free(pid: int) -> None:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))

    return Disk(path=base, fill=fill, free=free, preexec=preexec, mode="rlimit")


@pytest.fixture(params=["tmpfs", "rlimit"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    made = _tmpfs(tmp_path) if request.param == "tmpfs" else _rlimit(tmp_path)
    yield made
    for step in made.cleanup:
        step()


@pytest.fixture
def sandbox() -> Iterator[tuple[EvoSandbox, str]]:
    with evo_sandbox(clock=SystemClock(), agents=AGENTS, model=LONG_TALK) as pair:
        yield pair


def prepare(tmp_path: Path, env: dict[str, str], records: int) -> None:
    created = cli(
        env, tmp_path, "campaign", "create", "night", "--flow-id", "flow-1", "--caller-id", OWNED[0],
        "--agents", str(AGENTS), "--max-attempts", "1",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    source = tmp_path / "records.csv"
    zone = daytime_zone()
    lines = [f"R-{i},+1212555{i:04d},{zone}" for i in range(records)]
    source.write_text("recordHandle,phoneNumber,timezone\n" + "\n".join(lines) + "\n", encoding="utf-8")
    imported = cli(env, tmp_path, "import", str(source), "--campaign", "night")
    assert imported.returncode == 0, imported.stderr


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_full_disk_is_logged_once_per_condition_and_sigterm_keeps_its_grace(
    disk: Disk, sandbox: tuple[EvoSandbox, str], tmp_path: Path
) -> None:
    state, url = sandbox
    env = environment(tmp_path, url)
    env.update(
        DIALER_DATABASE_URL=f"sqlite:///{disk.path / 'dialer.db'}",
        DIALER_SHUTDOWN_GRACE_SECONDS=str(GRACE),
        DIALER_EVOVOICE_MAX_CPS="2",
        COLUMNS="500",  # one log record, one line
    )
    prepare(tmp_path, env, records=300)
    # stderr is a pipe, drained by a thread: a file would be under the rlimit too.
    process = start_run(env, tmp_path, "--json", preexec_fn=disk.preexec)
    assert process.stderr is not None
    lines: list[str] = []
    drain = threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    drain.start()
    try:
        wait_for_placements(state, process, 3)
        disk.fill(process.pid)
        time.sleep(3)  # ~15 ticks that cannot write
        assert process.poll() is None
        placed_while_full = len(state.placements)
        time.sleep(1)
        assert len(state.placements) == placed_while_full, "a call was placed while nothing could be written"
        disk.free(process.pid)
        wait_for(lambda: len(state.placements) > placed_while_full, "dialing to resume once the disk has room")
        time.sleep(0.5)
        disk.fill(process.pid)
        time.sleep(1.5)
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        took = time.monotonic() - stopped_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        drain.join(timeout=10)
        process.stderr.close()
        if process.stdout is not None:
            process.stdout.close()
    text = "".join(lines)
    assert process.returncode == 0, text
    assert took < GRACE + 3, f"SIGTERM took {took:.1f} s with a {GRACE:g} s grace"
    assert "Traceback" not in text, text
    started = [line for line in text.splitlines() if "tick failed" in line]
    assert len(started) == 2, text  # once for each time the disk filled up
    assert all(FULL in line and "Free space" in line for line in started), started
    cleared = [line for line in text.splitlines() if "ticks succeed again" in line]
    assert len(cleared) == 1, text
    assert "grace period over with" in text and "the next start reconciles them" in text
    if disk.mode == "tmpfs":
        disk.free(process.pid)
    store = SqlStore.open(env["DIALER_DATABASE_URL"])
    try:
        campaign = store.get_campaign("night")
        assert sum(store.count_records(campaign.id).values()) == 300  # nothing lost
        # Every call the provider placed has its attempt: it is written before the call is placed.
        dialed = {a.number_dialed for a in store.iter_attempts(campaign.id)}
        assert {p.number for p in state.placements} <= dialed
    finally:
        store.close()

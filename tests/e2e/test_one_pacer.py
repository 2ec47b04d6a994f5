"""One campaign, one pacer: a second `dialer run` on a campaign another live process paces
says which process that is and exits non-zero, on SQLite and on PostgreSQL. Once that process
stopped, `dialer run --once` takes the campaign over — with the calling window open (the
stopped daemon left calls in flight) and closed (nothing was dialed), whatever the hour."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.store.repository import SqlStore
from tests.conftest import _truncate
from tests.daemon_processes import cli, start_run
from tests.daemon_processes import environment as daemon_environment


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dialer.db'}"
        return
    url: str = request.getfixturevalue("pg_url")
    store = SqlStore.open(url)
    _truncate(store)
    store.close()
    yield url


def environment(url: str, tmp_path: Path) -> dict[str, str]:
    return daemon_environment(url, DIALER_DATA_DIR=str(tmp_path / "data"), DIALER_SHUTDOWN_GRACE_SECONDS="5")


def calling_hours(window: str) -> list[str]:
    """`campaign create` options for a calling window open all day, or closed for at least an
    hour either side of now in New York, where the records are."""
    if window == "open":
        return ["--hours", "00:00-24:00", "--allow-relaxing"]
    hour = datetime.now(ZoneInfo("America/New_York")).hour
    return ["--hours", "19:00-20:00" if 8 <= hour < 12 else "09:00-10:00"]


@pytest.mark.parametrize("window", ["open", "closed"])
def test_a_second_run_on_a_paced_campaign_names_the_owner_and_exits_non_zero(
    database_url: str, tmp_path: Path, window: str
) -> None:
    env = environment(database_url, tmp_path)
    for name in ("night", "day"):
        created = cli(
            env, tmp_path, "campaign", "create", name, "--flow-id", "f", "--caller-id", "+12125550100",
            *calling_hours(window),
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
    source = tmp_path / "records.csv"
    rows = [f"R-{i},+1212555{i:04d},America/New_York" for i in range(20)]
    source.write_text("recordHandle,phoneNumber,timezone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert cli(env, tmp_path, "import", str(source), "--campaign", "night").returncode == 0

    first = start_run(env, tmp_path, "--campaign", "night")
    try:
        store = SqlStore.open(database_url)
        try:
            night = store.get_campaign("night")
            deadline = time.monotonic() + 30
            while night.id not in store.pacer_leases() or (window == "open" and not store.in_flight(night.id)):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first daemon never took the campaign and dialed"
                time.sleep(0.1)
        finally:
            store.close()

        for args in (("run", "--campaign", "night", "--once"), ("run", "--campaign", "night", "--until-done")):
            second = cli(env, tmp_path, *args)
            assert second.returncode != 0, second.stdout
            assert "already paced by another dialer process" in second.stderr
            assert f"pid {first.pid}" in second.stderr and "since" in second.stderr
            assert "Traceback" not in second.stderr
        # Virtual time over every campaign wants them all, so it is refused too; a daemon over
        # every campaign paces only the free one.
        assert cli(env, tmp_path, "run", "--until-done").returncode != 0
        status = cli(env, tmp_path, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert f":{first.pid}:" in status.stdout
    finally:
        first.terminate()
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    # The lease goes with the process: the campaign is free for another pacer at once.
    store = SqlStore.open(database_url)
    try:
        night = store.get_campaign("night")
        assert night.id not in store.pacer_leases()
        left = [a.id for a in store.in_flight(night.id)]
    finally:
        store.close()
    if window == "open":  # answered calls talk for minutes: the grace period did not see them end
        assert left, "the stopped daemon left no call in flight"

    again = cli(env, tmp_path, "run", "--campaign", "night", "--once", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["in_flight_at_exit"] == 0, summary
    assert "warning" not in again.stderr
    store = SqlStore.open(database_url)
    try:
        assert store.in_flight(night.id) == []
        attempts = list(store.iter_attempts(night.id))
        for attempt_id in left:  # settled, with the outcome and its reason on the attempt
            settled = store.get_attempt(attempt_id)
            assert settled.ended_at is not None and settled.outcome is not None and settled.error
        assert all(a.ended_at is not None and a.outcome is not None for a in attempts)
        if window == "open":
            assert summary["placed"] > 0
        else:
            assert summary["placed"] == 0 and attempts == []
            assert store.count_records(night.id) == {"ready": 20}
    finally:
        store.close()
    if window == "closed":  # and the reason is visible
        why = cli(env, tmp_path, "status", "--record", "R-0", "--json")
        assert why.returncode == 0, why.stderr
        assert "window" in why.stdout, why.stdout

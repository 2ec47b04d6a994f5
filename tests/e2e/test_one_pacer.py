"""One campaign, one pacer: a second `dialer run` on a campaign another live process paces
says which process that is and exits non-zero, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

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


def test_a_second_run_on_a_paced_campaign_names_the_owner_and_exits_non_zero(database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, tmp_path)
    for name in ("night", "day"):
        created = cli(env, tmp_path, "campaign", "create", name, "--flow-id", "f", "--caller-id", "+12125550100")
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
            while night.id not in store.pacer_leases():
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first daemon never took the campaign"
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
        assert store.get_campaign("night").id not in store.pacer_leases()
    finally:
        store.close()

"""Shared fixtures: a clean environment, a virtual clock, stores on SQLite and PostgreSQL,
and factories for campaigns and records.

PostgreSQL: set ``DIALER_TEST_POSTGRES_URL`` (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test session creates its own
database next to that one, migrates it once and empties it between tests. Without the
variable those tests skip with a reason; with ``DIALER_TEST_REQUIRE_POSTGRES=1`` (CI) an
unreachable server fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dialer.daemon import ownership
from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord
from dialer.store.engine import normalise_url
from dialer.store.repository import SqlStore
from dialer.store.tables import Base

PG_ENV = "DIALER_TEST_POSTGRES_URL"
# A Monday, 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles.
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_pacer_outlives_its_test() -> Iterator[None]:
    """A daemon a test started in the background and never stopped would keep renewing (and
    taking) pacer leases in the next test's database. (Those of wider fixtures, such as a
    module's web server, started before the test and stay.)"""
    before = ownership.running()
    yield
    ownership.stop_all(keep=before)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DIALER_* from the developer's shell (the suite's own DIALER_TEST_* stay), and no
    config/.env files from the cwd."""
    for key in list(os.environ):
        if key.startswith("DIALER_") and not key.startswith("DIALER_TEST_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DIALER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


# --------------------------------------------------------------------- stores
@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    url = make_url(normalise_url(base))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"dialer_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is configured but unusable: never skip silently in CI
        message = f"PostgreSQL at {url.render_as_string(hide_password=True)} is not usable: {exc}"
        if os.environ.get("DIALER_TEST_REQUIRE_POSTGRES"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    test_url = url.set(database=name).render_as_string(hide_password=False)
    SqlStore.open(test_url).close()  # migrate once
    yield test_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: SqlStore) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """The repository on every supported database."""
    if request.param == "sqlite":
        s = SqlStore.open(f"sqlite:///{tmp_path / 'test.db'}")
    else:
        s = SqlStore.open(request.getfixturevalue("pg_url"))
        _truncate(s)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore.open(f"sqlite:///{tmp_path / 'test.db'}")
    yield s
    s.close()


# ------------------------------------------------------------------ factories
@pytest.fixture
def campaign_factory(store: SqlStore, clock: VirtualClock) -> Callable[..., Campaign]:
    counter = iter(range(1, 10_000))

    def make(**overrides: Any) -> Campaign:
        values: dict[str, Any] = {
            "name": f"campaign-{next(counter)}",
            "flow_id": "flow-1",
            "caller_ids": ("+12125550100",),
            "agents": 3,
        }
        values.update(overrides)
        return store.create_campaign(CampaignSpec(**values), now=clock.now())

    return make


@pytest.fixture
def record_factory(store: SqlStore, clock: VirtualClock) -> Callable[..., NewRecord]:
    counter = iter(range(100, 10_000))

    def make(campaign: Campaign, **overrides: Any) -> NewRecord:
        n = next(counter)
        values: dict[str, Any] = {
            "handle": f"R-{n}",
            "phone": f"+1212555{n:04d}" if n < 10000 else "+12125550199",
            "caller_id": None,
            "user_data": {"name": f"Contact {n}"},
            "next_dial_at": clock.now(),
            "timezone": "America/New_York",
            "tz_candidates": ("America/New_York",),
            "tz_source": "number",
        }
        values.update(overrides)
        record = NewRecord(**values)
        store.insert_records(campaign.id, [record], now=clock.now())
        return record

    return make

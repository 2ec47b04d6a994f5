"""The database goes away for 30 s while the real-time daemon dials through the Evo Voice
sandbox (real client, loopback HTTP): the daemon's connection to PostgreSQL runs through a TCP
proxy that the test cuts — open connections dropped, new ones refused — and then restores.

The daemon waits (no call is placed while it cannot write), logs the outage once with what to
check, logs once when it is over, and finishes the campaign: every call the provider made is
exactly one attempt with its outcome, no number was called twice, every record is final.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dialer.context import build_context
from dialer.daemon.scheduler import Daemon
from dialer.domain.clock import SystemClock
from dialer.domain.records import RecordStatus
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.store.tables import Base
from tests.e2e.test_daemon_process import daytime_zone
from tests.tcp_proxy import TcpProxy
from tests.telephony_lines import due_campaign, evo_backend, evo_sandbox

pytestmark = pytest.mark.postgresql

FAST = CallModel(
    hit_rate=0.5, answer_min=0.3, answer_shape=3.0, answer_scale=0.1, ring_timeout=2.0, talk_mean=1.0, wrap=0.2
)
OUTAGE = 30.0
RECORDS = 20


@pytest.fixture
def proxied(pg_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """An empty PostgreSQL database, and its URL through a TCP proxy the test can cut."""
    direct = SqlStore.open(pg_url)
    with direct.engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    direct.close()
    url = make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


def wait_for(predicate: object, *, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_30_second_database_outage_is_waited_out_and_nothing_is_lost(
    proxied: tuple[str, TcpProxy], caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = proxied
    clock = SystemClock()
    zone = daytime_zone()
    with ExitStack() as stack:
        sandbox, api = stack.enter_context(evo_sandbox(clock=clock, agents=4, model=FAST))
        store = SqlStore.open(url)
        stack.callback(store.close)
        c = due_campaign(store, "outage", RECORDS, now=clock.now(), first=3000, flow_id="flow-1", zone=zone)
        settings = load_settings(tick_seconds=0.2, lease_seconds=5)
        backend = evo_backend(api, timeout=2.0, poll_interval=0.3)
        ctx = build_context(settings, clock=clock, store=store, telephony=backend)
        stack.callback(backend.close)
        daemon = Daemon(ctx, until_done=True, background=True, install_signals=False)
        caplog.set_level(logging.WARNING, logger="dialer.daemon.scheduler")
        daemon.start()
        stack.callback(lambda: daemon.scheduler.running and daemon.scheduler.shutdown(wait=True))

        wait_for(lambda: len(sandbox.placements) >= 5, limit=60, what="the first calls")
        proxy.cut()
        cut_at = len(sandbox.placements)
        time.sleep(OUTAGE)
        during = len(sandbox.placements)
        proxy.restore()
        wait_for(lambda: daemon.result.done, limit=240, what="the campaign to finish after the outage")

        # While the database was away no call was placed (one may have been on its way).
        assert during - cut_at <= 1
        failed = [r for r in caplog.records if r.getMessage().startswith("tick failed")]
        recovered = [r for r in caplog.records if r.getMessage().startswith("ticks succeed again")]
        assert len(failed) == 1, [r.getMessage() for r in failed]
        assert "cannot be reached" in failed[0].getMessage() and "nothing stored is lost" in failed[0].getMessage()
        assert len(recovered) == 1

        check = SqlStore.open(url)
        stack.callback(check.close)
        calls = [(p.session_id, p.number) for p in sandbox.placements]
        numbers = Counter(n for _, n in calls)
        assert all(n == 1 for n in numbers.values()), "a number was called twice"
        attempts = list(check.iter_attempts(c.id))
        ended = Counter(a.provider_ref for a in attempts if a.provider_ref and a.outcome and a.ended_at)
        assert all(ended[ref] == 1 for ref, _ in calls), "a call the provider made has no outcome"
        statuses = check.count_records(c.id)
        assert sum(statuses.values()) == RECORDS and all(RecordStatus(s).is_final for s in statuses), statuses
        assert check.in_flight() == []

"""The daemon's Prometheus endpoint, scraped over HTTP while the daemon dials the Evo Voice
sandbox (the real client, on loopback). Every documented metric must be there."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dialer.context import Context, build_context
from dialer.daemon import metrics as daemon_metrics
from dialer.daemon.events import error_kind
from dialer.daemon.scheduler import Daemon
from dialer.domain.clock import SystemClock
from dialer.errors import (
    PlacementUncertain,
    TelephonyAuthError,
    TelephonyRejected,
    TelephonyUnavailable,
)
from dialer.sandbox.evo_config import Faults
from dialer.sandbox.evovoice import EvoSandbox
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from tests.telephony_lines import due_campaign, evo_sandbox

#: Every metric the README documents, with its Prometheus type. Removing one fails the test.
DOCUMENTED = {
    "dialer_calls_placed": "counter",
    "dialer_call_outcomes": "counter",
    "dialer_provider_errors": "counter",
    "dialer_tick_duration_seconds": "histogram",
    "dialer_tick_failures": "counter",
    "dialer_last_tick_timestamp_seconds": "gauge",
    "dialer_abandon_rate": "gauge",
    "dialer_abandon_cap": "gauge",
    "dialer_live_answers": "gauge",
    "dialer_lines_in_use": "gauge",
    "dialer_agents": "gauge",
    "dialer_campaign_active": "gauge",
    "dialer_info": "gauge",
}
FAST = CallModel(
    hit_rate=0.6, answer_min=0.2, answer_shape=3.0, answer_scale=0.1, ring_timeout=1.5, talk_mean=0.6, wrap=0.1
)
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/New_York", "Pacific/Honolulu")


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


@dataclass
class Scrape:
    families: dict[str, str]
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def total(self, name: str, **labels: str) -> float:
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= set(ls))


def scrape(url: str) -> Scrape:
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families, samples = {}, {}
    for family in text_string_to_metric_families(response.text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(families=families, samples=samples)


def wait_for(condition: Callable[[], bool], *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@dataclass
class Running:
    ctx: Context
    daemon: Daemon
    sandbox: EvoSandbox
    url: str


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """A background daemon dialing 12 records through the Evo Voice sandbox, metrics served."""
    with ExitStack() as stack:
        sandbox, api = stack.enter_context(evo_sandbox(clock=SystemClock(), agents=3, model=FAST))
        store = SqlStore.open(f"sqlite:///{tmp_path / 'dialer.db'}")
        stack.callback(store.close)
        now = SystemClock().now()
        due_campaign(store, "metered", 12, now=now, first=0, agents=3, flow_id="flow-1", zone=daytime_zone())
        settings = load_settings(
            backend="evovoice",
            evovoice_base_url=api,
            evovoice_username="manager@sandbox.test",
            evovoice_password="sandbox",
            evovoice_timeout=2,
            evovoice_max_cps=20,
            evovoice_poll_interval=0.2,
            tick_seconds=0.1,
            shutdown_grace_seconds=5,
        )
        ctx = build_context(settings, store=store)
        stack.callback(ctx.telephony.close)
        metrics = daemon_metrics.DaemonMetrics(backend="evovoice")
        daemon = Daemon(ctx, install_signals=False, background=True, metrics=metrics)
        url = stack.enter_context(daemon_metrics.serve(metrics, host="127.0.0.1", port=0))
        daemon.start()
        stack.callback(daemon.stop, timeout=10)
        yield Running(ctx=ctx, daemon=daemon, sandbox=sandbox, url=url)


def test_every_documented_metric_is_served_with_live_figures(running: Running) -> None:
    wait_for(lambda: scrape(running.url).total("dialer_call_outcomes_total") >= 3)
    wait_for(lambda: scrape(running.url).total("dialer_lines_in_use") >= 0 and _has_gauges(running.url))
    got = scrape(running.url)
    for name, kind in DOCUMENTED.items():
        assert got.families.get(name) == kind, f"metric {name} ({kind}) is not served"
    placed = got.value("dialer_calls_placed_total", campaign="metered", backend="evovoice")
    assert placed >= 3
    assert placed == len(running.sandbox.placements), "every placement the provider saw is counted once"
    ended = got.total("dialer_call_outcomes_total", campaign="metered")
    assert 3 <= ended <= placed
    results = {dict(ls)["result"] for (n, ls), _ in got.samples.items() if n == "dialer_call_outcomes_total"}
    assert results and all(r.isupper() for r in results), results  # canonical OCS results
    assert got.value("dialer_agents", campaign="metered") == 3
    assert got.value("dialer_abandon_cap", campaign="metered") == pytest.approx(0.03)
    assert 0 <= got.value("dialer_abandon_rate", campaign="metered") <= 1
    assert got.value("dialer_campaign_active", campaign="metered") == 1
    assert got.value("dialer_tick_duration_seconds_count") >= 3
    assert got.value("dialer_last_tick_timestamp_seconds") == pytest.approx(time.time(), abs=30)
    assert got.value("dialer_info", version=_version(), backend="evovoice") == 1
    # every error kind is listed from the start, at zero
    for kind in ("auth", "rejected", "rate_limited", "server_error", "uncertain", "unavailable"):
        assert (
            "dialer_provider_errors_total",
            frozenset({"backend": "evovoice", "kind": kind, "operation": "place"}.items()),
        ) in got.samples


def test_lines_in_use_follow_the_calls_in_flight(running: Running) -> None:
    wait_for(lambda: _has_gauges(running.url))
    seen: set[float] = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen.add(scrape(running.url).value("dialer_lines_in_use", campaign="metered"))
        if any(v > 0 for v in seen) and 0 in seen and len(running.ctx.store.in_flight()) == 0:
            break
        time.sleep(0.2)
    assert any(v > 0 for v in seen), "a call in flight shows as a line in use"
    assert max(seen) <= 3 * 1.0 + 3, "never more lines than the pacer may hold"


def test_provider_errors_are_counted_by_kind(running: Running) -> None:
    wait_for(lambda: scrape(running.url).total("dialer_calls_placed_total") >= 1)
    running.sandbox.config = dataclasses.replace(running.sandbox.config, faults=Faults(error_rate=1.0))
    wait_for(lambda: scrape(running.url).total("dialer_provider_errors_total", kind="server_error") >= 2)
    got = scrape(running.url)
    assert got.total("dialer_provider_errors_total", kind="auth") == 0
    assert got.total("dialer_provider_errors_total", kind="server_error", operation="poll") >= 1  # it backs off
    running.sandbox.config = dataclasses.replace(running.sandbox.config, faults=Faults())


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TelephonyAuthError("no"), "auth"),
        (TelephonyRejected("no", status=400), "rejected"),
        (PlacementUncertain("lost"), "uncertain"),
        (TelephonyUnavailable("slow down", status=429), "rate_limited"),
        (TelephonyUnavailable("down", status=503), "server_error"),
        (TelephonyUnavailable("timed out"), "unavailable"),
    ],
)
def test_error_kinds(error: TelephonyUnavailable, kind: str) -> None:
    assert error_kind(error) == kind


def test_a_port_in_use_is_refused_with_the_fix() -> None:
    metrics = daemon_metrics.DaemonMetrics(backend="simulated")
    with daemon_metrics.serve(metrics, host="127.0.0.1", port=0) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(Exception, match="pick another --metrics-port"):
            with daemon_metrics.serve(metrics, host="127.0.0.1", port=port):
                pass


def _has_gauges(url: str) -> bool:
    return ("dialer_agents", frozenset({"campaign": "metered"}.items())) in scrape(url).samples


def _version() -> str:
    from dialer import __version__

    return __version__

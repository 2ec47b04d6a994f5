"""Prometheus metrics of the daemon, served over HTTP by `dialer run --metrics-port`.

Counters come from the tick as it works (:class:`~dialer.daemon.events.TickEvents`); they
start at zero with the process, as Prometheus counters do. Gauges are refreshed from the
store after a tick (at most every :data:`REFRESH_EVERY`), on the daemon's thread, so a
scrape never touches the database. Every metric lives in the daemon's own registry.

===================================== ========= =============================================
Metric                                Type      Labels
===================================== ========= =============================================
``dialer_calls_placed_total``         counter   campaign, backend
``dialer_call_outcomes_total``        counter   campaign, result (the OCS call result)
``dialer_provider_errors_total``      counter   backend, kind, operation (place, poll, reconcile)
``dialer_tick_duration_seconds``      histogram
``dialer_tick_failures_total``        counter
``dialer_last_tick_timestamp_seconds`` gauge     (Unix time of the last successful tick)
``dialer_abandon_rate``               gauge     campaign (over the compliance window; 0 until a live answer)
``dialer_abandon_cap``                gauge     campaign
``dialer_live_answers``               gauge     campaign (live answers in the compliance window)
``dialer_lines_in_use``               gauge     campaign (calls in flight)
``dialer_agents``                     gauge     campaign
``dialer_campaign_active``            gauge     campaign (1 active, 0 paused)
``dialer_info``                       gauge     version, backend
===================================== ========= =============================================
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from dialer import __version__
from dialer.daemon.events import ERROR_KINDS, error_kind
from dialer.daemon.tick import abandon_budget
from dialer.domain.campaigns import CampaignStatus
from dialer.errors import DialerError, TelephonyError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from dialer.context import Context

log = logging.getLogger(__name__)

#: Gauges read from the store at most this often (a tick runs every second by default).
REFRESH_EVERY = timedelta(seconds=5)
#: Tick latency buckets, seconds: a healthy tick takes milliseconds; the interval is 1 s.
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DaemonMetrics:
    """The daemon's metrics in a registry of their own; also the tick's event observer."""

    def __init__(self, *, backend: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.backend = backend
        self.placements = Counter(
            "dialer_calls_placed", "Calls handed to the provider.", ["campaign", "backend"], registry=r
        )
        self.outcomes = Counter(
            "dialer_call_outcomes", "Attempts ended, by call result.", ["campaign", "result"], registry=r
        )
        self.provider_errors = Counter(
            "dialer_provider_errors",
            "Provider requests that failed, by kind: " + ", ".join(ERROR_KINDS) + ".",
            ["backend", "kind", "operation"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            "dialer_tick_duration_seconds", "Wall time of one pacing tick.", buckets=TICK_BUCKETS, registry=r
        )
        self.tick_failures = Counter("dialer_tick_failures", "Ticks that failed (retried by the next).", registry=r)
        self.last_tick = Gauge(
            "dialer_last_tick_timestamp_seconds", "Unix time of the last successful tick.", registry=r
        )
        self.abandon_rate = Gauge(
            "dialer_abandon_rate",
            "Abandoned ÷ live answers over the campaign's compliance window (0 before any live answer).",
            ["campaign"],
            registry=r,
        )
        self.abandon_cap = Gauge("dialer_abandon_cap", "The campaign's abandon-rate cap.", ["campaign"], registry=r)
        self.live_answers = Gauge(
            "dialer_live_answers", "Live answers in the campaign's compliance window.", ["campaign"], registry=r
        )
        self.lines = Gauge("dialer_lines_in_use", "Calls in flight (lines held).", ["campaign"], registry=r)
        self.agents = Gauge("dialer_agents", "Agents the campaign is paced for.", ["campaign"], registry=r)
        self.active = Gauge(
            "dialer_campaign_active", "1 when the campaign is active, 0 paused.", ["campaign"], registry=r
        )
        info = Gauge("dialer_info", "The running dialer.", ["version", "backend"], registry=r)
        info.labels(version=__version__, backend=backend).set(1)
        for kind in ERROR_KINDS:  # every kind is listed from the start, at 0
            for operation in ("place", "poll", "reconcile"):
                self.provider_errors.labels(backend=backend, kind=kind, operation=operation)
        self._refreshed_at: datetime | None = None
        self._campaigns: set[str] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ TickEvents
    def placed(self, *, campaign: str, backend: str) -> None:
        self.placements.labels(campaign=campaign, backend=backend).inc()

    def ended(self, *, campaign: str, result: str) -> None:
        self.outcomes.labels(campaign=campaign, result=result).inc()

    def provider_error(self, *, backend: str, kind: str, operation: str) -> None:
        self.provider_errors.labels(backend=backend, kind=kind, operation=operation).inc()

    def absorbed_error(self, exc: TelephonyError, operation: str) -> None:
        """A failure the backend handled itself (it backs off): counted all the same."""
        self.provider_error(backend=self.backend, kind=error_kind(exc), operation=operation)

    # ------------------------------------------------------------- the tick
    def tick_done(self, *, seconds: float, ok: bool, at: float) -> None:
        self.tick_seconds.observe(seconds)
        if ok:
            self.last_tick.set(at)
        else:
            self.tick_failures.inc()

    def refresh(self, ctx: Context, *, now: datetime, force: bool = False) -> None:
        """Read the gauges from the store (every :data:`REFRESH_EVERY`, or now with ``force``).
        A store that cannot be read leaves the last values (the tick failure is counted)."""
        if not force and self._refreshed_at is not None and now - self._refreshed_at < REFRESH_EVERY:
            return
        try:
            campaigns = ctx.store.list_campaigns()
            in_flight: dict[int, int] = {}
            for attempt in ctx.store.in_flight():
                in_flight[attempt.campaign_id] = in_flight.get(attempt.campaign_id, 0) + 1
            rows = []
            for c in campaigns:
                meter = abandon_budget(ctx, c, now=now)  # the meter the pacer itself uses
                rows.append((c, meter, in_flight.get(c.id, 0)))
        except DialerError as exc:
            log.debug("metrics not refreshed: %s", exc)
            return
        with self._lock:
            seen = set()
            for c, meter, lines in rows:
                seen.add(c.name)
                self.abandon_rate.labels(campaign=c.name).set(meter.rate or 0.0)
                self.abandon_cap.labels(campaign=c.name).set(c.compliance_options().abandon_target)
                self.live_answers.labels(campaign=c.name).set(meter.live_answers)
                self.lines.labels(campaign=c.name).set(lines)
                self.agents.labels(campaign=c.name).set(c.agents)
                self.active.labels(campaign=c.name).set(1 if c.status is CampaignStatus.ACTIVE else 0)
            for gone in self._campaigns - seen:  # a campaign finished or deleted leaves the gauges
                for gauge in (self.abandon_rate, self.abandon_cap, self.live_answers, self.lines, self.agents):
                    gauge.remove(gone)
                self.active.remove(gone)
            self._campaigns = seen
        self._refreshed_at = now


@contextmanager
def serve(metrics: DaemonMetrics, *, host: str, port: int) -> Iterator[str]:
    """Serve ``/metrics`` (any path, in fact) on ``host:port`` from a thread; yields the URL."""
    try:
        server: WSGIServer
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise DialerError(
            f"cannot serve metrics on {host}:{port} ({exc}); pick another --metrics-port or stop what uses it"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

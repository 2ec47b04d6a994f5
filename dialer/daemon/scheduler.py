"""The real-time daemon: APScheduler 3.x around :func:`~dialer.daemon.tick.run_tick`.

With :mod:`dialer.daemon.report_jobs`, the only module that imports APScheduler. One
interval job runs the tick, never two at once (``max_instances=1``), with missed runs
coalesced; campaigns' scheduled reports run as cron jobs on a thread of their own. SIGTERM
or SIGINT stops new placements at once; results of calls already in flight are still
collected for up to ``shutdown_grace_seconds``, then the process exits 0 — also when
collecting fails (the database's disk is full, the provider is down): attempts left in flight
are reconciled by the next start.

A tick that fails is retried by the next one. Each condition is logged once, when it starts
(a :class:`~dialer.errors.DialerError` as its message, which says what to do; anything else,
a bug, with its traceback), and once when ticks succeed again (:class:`TickFailures`): a full
disk does not fill the log with a traceback a second.

``background=True`` runs the same jobs on a background scheduler thread (:meth:`Daemon.start`,
:meth:`Daemon.stop`), for `dialer web`, which paces in the process that serves the preview
desk. Each tick holds ``ctx.lock`` so that requests using the telephony backend or the
pacing state wait for it instead of racing it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from dialer.context import Context
from dialer.daemon import ownership, preflight
from dialer.daemon.events import error_kind
from dialer.daemon.metrics import DaemonMetrics
from dialer.daemon.report_jobs import ReportJobs
from dialer.daemon.runner import campaign_ids
from dialer.daemon.tick import TickReport, collect, reconcile_in_flight, run_tick
from dialer.errors import DialerError, StoreError, StoreUnavailable, TelephonyError

log = logging.getLogger(__name__)


class TickFailures:
    """One log line per failing condition: when it starts, and when it clears.

    A database that could not write has cleared only when a write succeeds: a tick that
    happened to write nothing proves nothing, so ``probe`` (a write that changes nothing) is
    tried after each successful tick until it succeeds too."""

    def __init__(self, *, probe: Callable[[], None] | None = None) -> None:
        self.condition: tuple[str, str] | None = None
        self.since: datetime | None = None
        self.count = 0
        self.probe = probe
        self._store_failed = False

    def failed(self, exc: Exception, *, now: datetime) -> None:
        known = isinstance(exc, DialerError)
        # An unreachable database is one condition however its driver words each failure.
        detail = "" if isinstance(exc, StoreUnavailable) else exc.message if isinstance(exc, DialerError) else str(exc)
        condition = (type(exc).__name__, detail)
        self.count += 1
        if condition == self.condition:
            return
        self.condition, self.since = condition, self.since or now
        self._store_failed = isinstance(exc, StoreError)
        if known:
            log.error("tick failed: %s. Ticks go on retrying; logged again when this changes or clears", exc)
        else:
            log.error("tick failed (a bug, please report it); ticks go on retrying", exc_info=exc)

    def succeeded(self, *, now: datetime) -> None:
        if self.condition is None:
            return
        if self._store_failed and self.probe is not None:
            try:
                self.probe()
            except DialerError:
                return  # still cannot write: the same condition, not logged again
        seconds = (now - self.since).total_seconds() if self.since else 0.0
        cause = self.condition[1].split(". ", 1)[0] or "the database could not be reached"
        log.warning("ticks succeed again after %d failed over %.0f s; it was: %s", self.count, seconds, cause)
        self.condition, self.since, self.count = None, None, 0


@dataclass
class DaemonResult:
    ticks: int = 0
    placed: int = 0
    stopped_by_signal: bool = False
    done: bool = False
    in_flight_at_exit: int = 0


class Daemon:
    def __init__(
        self,
        ctx: Context,
        *,
        campaigns: Sequence[str] | None = None,
        until_done: bool = False,
        on_tick: Callable[[TickReport], None] | None = None,
        install_signals: bool = True,
        background: bool = False,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.ctx = ctx
        self.metrics = metrics
        if metrics is not None:
            ctx.events = metrics
            if hasattr(ctx.telephony, "error_listener"):  # failures the adapter absorbs (a poll backing off)
                ctx.telephony.error_listener = metrics.absorbed_error
        self.campaigns = list(campaigns) if campaigns else None
        self.until_done = until_done
        self.on_tick = on_tick
        self.install_signals = install_signals
        self.result = DaemonResult()
        self._stopping = threading.Event()
        self._stop_deadline: datetime | None = None
        self._finished = threading.Event()
        self.failures = TickFailures(probe=ctx.store.probe_write)
        self.pacers: ownership.Pacers | None = None
        self._releasing = threading.Lock()
        self.reports = ReportJobs(ctx, self.campaigns)
        scheduler_class: type[BaseScheduler] = BackgroundScheduler if background else BlockingScheduler
        self.scheduler = scheduler_class(
            # Scheduled reports get their own thread: a big workbook never holds up the tick.
            executors={
                "default": ThreadPoolExecutor(max_workers=1),
                ReportJobs.EXECUTOR: ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
            timezone="UTC",
        )

    def request_stop(self, *_: object) -> None:
        """Stop placing new calls; keep collecting until in-flight calls end or grace runs out."""
        if not self._stopping.is_set():
            log.warning("stopping: no new calls; collecting results of calls in flight")
            self._stop_deadline = self.ctx.clock.now() + timedelta(seconds=self.ctx.settings.shutdown_grace_seconds)
            self.result.stopped_by_signal = True
            if self.pacers is not None:
                self.pacers.stop_watching()
            self._stopping.set()

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()

    def tick(self) -> None:
        with self.ctx.lock:
            started = time.perf_counter()
            ok = self._tick()
            if self.metrics is not None:
                self.metrics.tick_done(seconds=time.perf_counter() - started, ok=ok, at=time.time())
                if ok:
                    self.metrics.refresh(self.ctx, now=self.ctx.clock.now())

    def _shutdown(self) -> None:
        self._finished.set()
        self.scheduler.shutdown(wait=False)
        if isinstance(self.scheduler, BackgroundScheduler):
            # No tick follows: give the campaigns up now (stop the heartbeat, release the
            # leases), not only when stop() is called, which a finished run may never be.
            self._release_campaigns()

    def _tick(self) -> bool:
        """One tick; False when it failed."""
        now = self.ctx.clock.now()
        try:
            if self._stopping.is_set():
                try:
                    collect(self.ctx, now=now, only=self.pacers.owned() if self.pacers is not None else None)
                finally:  # the grace period holds even when collecting fails
                    self._exit_if_done(now)
                self.failures.succeeded(now=now)
                return True
            if self.pacers is not None:
                self.pacers.hand_over()
            fresh = self.pacers.take_fresh() if self.pacers is not None else set()
            if fresh:  # taken over from a process that died: settle its calls first
                preflight.check(self.ctx, campaigns=self._names(fresh), now=now)
                reconcile_in_flight(self.ctx, now=now, only=fresh)
            report = run_tick(self.ctx, now=now, campaigns=self.campaigns)
            self.result.ticks += 1
            self.result.placed += report.placed
            if self.on_tick is not None:
                self.on_tick(report)
            if self.until_done:
                ids = campaign_ids(self.ctx, self.campaigns)
                if self.ctx.store.unfinished_records(ids) == 0 and not self.ctx.store.in_flight():
                    self.result.done = True
                    self._shutdown()
            self.failures.succeeded(now=now)
            return True
        except Exception as exc:  # one bad tick must not kill the daemon; the next tick retries
            if isinstance(exc, TelephonyError):  # the poll (placements are counted by the tick)
                self.ctx.events.provider_error(backend=self.ctx.telephony.name, kind=error_kind(exc), operation="poll")
            self.failures.failed(exc, now=now)
            return False

    def _exit_if_done(self, now: datetime) -> None:
        """While stopping: exit once nothing is in flight, or when the grace period is over."""
        over = self._stop_deadline is not None and now >= self._stop_deadline
        try:
            if self.pacers is None:
                left = len(self.ctx.store.in_flight())
            else:  # only this daemon's campaigns: the others' calls are theirs to collect
                left = sum(self.ctx.store.count_in_flight(cid) for cid in self.pacers.owned())
        except DialerError:
            if not over:
                raise
            left = -1
        if left == 0 or over:
            self.result.in_flight_at_exit = left
            if left:
                log.warning(
                    "grace period over with %s call(s) in flight; the next start reconciles them with the provider",
                    left if left > 0 else "unknown",
                )
            self._shutdown()

    def _names(self, ids: set[int]) -> list[str]:
        return [c.name for c in self.ctx.store.list_campaigns() if c.id in ids]

    def _candidates(self) -> list[int]:
        """The campaigns this daemon would pace: the ones it was given, or every campaign."""
        return [c.id for c in self.ctx.store.list_campaigns() if self.campaigns is None or c.name in self.campaigns]

    def _take_campaigns(self) -> None:
        """Take the pacer leases: all the campaigns given (or fail, naming their owner), or
        every campaign no other live daemon paces; then keep them and watch for free ones."""
        pacers = ownership.for_settings(self.ctx.store, self.ctx.settings)
        fair = self.campaigns is None
        if not fair:
            assert self.campaigns is not None
            pacers.acquire_exclusive({self.ctx.store.get_campaign(n).id: n for n in self.campaigns})
        self.pacers = pacers
        self.ctx.fence = pacers
        pacers.start(watch=self._candidates, fair=fair)
        if fair:  # its share now; the rest as daemons come and go, on the heartbeat
            pacers.heartbeat()
            now = ownership.wall_clock()
            for cid, lease in self.ctx.store.pacer_leases().items():
                if lease.owner != pacers.owner and lease.live(now):
                    log.info("campaign %s is paced by another daemon: %s", cid, lease.describe(now))

    def _release_campaigns(self) -> None:
        with self._releasing:  # the last tick and stop() may both get here
            if self.pacers is not None:
                self.pacers.stop()
                self.ctx.fence = None
                self.pacers = None

    def run(self) -> DaemonResult:
        """Run until stopped (blocking scheduler), or start and return at once (background)."""
        with self.ctx.lock:
            self._take_campaigns()
            try:
                assert self.pacers is not None
                mine = self.pacers.take_fresh()
                preflight.check(self.ctx, campaigns=self._names(mine), now=self.ctx.clock.now())
                reconcile_in_flight(self.ctx, now=self.ctx.clock.now(), only=mine)
            except BaseException:
                self._release_campaigns()
                raise
        if self.install_signals and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._signal)
            signal.signal(signal.SIGINT, self._signal)
        self.scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=self.ctx.settings.tick_seconds),
            id="pacing-tick",
            name="pacing tick",
            next_run_time=datetime.now().astimezone(),
        )
        self.reports.install(self.scheduler)
        try:
            self.scheduler.start()
        finally:
            if not isinstance(self.scheduler, BackgroundScheduler):
                self._release_campaigns()
        return self.result

    def start(self) -> None:
        """Background mode: check, reconcile and start ticking on the scheduler's thread."""
        self.run()

    def stop(self, *, timeout: float | None = None) -> DaemonResult:
        """Background mode: stop placing calls, collect the calls in flight (up to the grace
        time, or ``timeout`` seconds of waiting), then shut the scheduler down."""
        self.request_stop()
        if not self._finished.wait(timeout if timeout is not None else self.ctx.settings.shutdown_grace_seconds + 5):
            log.warning("the pacer did not finish collecting calls in flight in time; stopping it")
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._release_campaigns()
        return self.result

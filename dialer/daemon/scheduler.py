"""The real-time daemon: APScheduler 3.x around :func:`~dialer.daemon.tick.run_tick`.

With :mod:`dialer.daemon.report_jobs`, the only module that imports APScheduler. One
interval job runs the tick, never two at once (``max_instances=1``), with missed runs
coalesced; campaigns' scheduled reports run as cron jobs on a thread of their own. SIGTERM
or SIGINT stops new placements at once; results of calls already in flight are still
collected for up to ``shutdown_grace_seconds``, then the process exits 0.

``background=True`` runs the same jobs on a background scheduler thread (:meth:`Daemon.start`,
:meth:`Daemon.stop`), for `dialer web`, which paces in the process that serves the preview
desk. Each tick holds ``ctx.lock`` so that requests using the telephony backend or the
pacing state wait for it instead of racing it.
"""

from __future__ import annotations

import logging
import signal
import threading
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
from dialer.daemon import preflight
from dialer.daemon.report_jobs import ReportJobs
from dialer.daemon.runner import campaign_ids
from dialer.daemon.tick import TickReport, collect, reconcile_in_flight, run_tick

log = logging.getLogger(__name__)


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
    ) -> None:
        self.ctx = ctx
        self.campaigns = list(campaigns) if campaigns else None
        self.until_done = until_done
        self.on_tick = on_tick
        self.install_signals = install_signals
        self.result = DaemonResult()
        self._stopping = threading.Event()
        self._stop_deadline: datetime | None = None
        self._finished = threading.Event()
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
            self._stopping.set()

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()

    def tick(self) -> None:
        with self.ctx.lock:
            self._tick()

    def _shutdown(self) -> None:
        self._finished.set()
        self.scheduler.shutdown(wait=False)

    def _tick(self) -> None:
        now = self.ctx.clock.now()
        try:
            if self._stopping.is_set():
                collect(self.ctx, now=now)
                left = len(self.ctx.store.in_flight())
                if left == 0 or (self._stop_deadline is not None and now >= self._stop_deadline):
                    self.result.in_flight_at_exit = left
                    self._shutdown()
                return
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
        except Exception:  # one bad tick must not kill the daemon; the next tick retries
            log.exception("tick failed; the next tick will retry")

    def run(self) -> DaemonResult:
        """Run until stopped (blocking scheduler), or start and return at once (background)."""
        with self.ctx.lock:
            preflight.check(self.ctx, campaigns=self.campaigns, now=self.ctx.clock.now())
            reconcile_in_flight(self.ctx, now=self.ctx.clock.now())
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
        self.scheduler.start()
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
        return self.result

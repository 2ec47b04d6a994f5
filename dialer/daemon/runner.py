"""Ways to run ticks: once (burst mode), or until every record is final in virtual time.

The scheduled real-time daemon lives in :mod:`dialer.daemon.scheduler`; it calls the same
:func:`~dialer.daemon.tick.run_tick`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.context import Context
from dialer.daemon import preflight
from dialer.daemon.report_jobs import ScheduledReports
from dialer.daemon.tick import TickReport, reconcile_in_flight, run_tick
from dialer.domain.clock import VirtualClock
from dialer.errors import DialerError

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunResult:
    started: datetime
    finished: datetime
    ticks: int
    placed: int
    reconciled: int
    done: bool
    stopped_reason: str


def run_once(ctx: Context, *, campaigns: Sequence[str] | None = None) -> TickReport:
    """Check the login and caller IDs, reconcile anything left in flight, then one tick (rq's
    burst mode)."""
    now = ctx.clock.now()
    preflight.check(ctx, campaigns=campaigns, now=now)
    reconcile_in_flight(ctx, now=now)
    return run_tick(ctx, now=now, campaigns=campaigns)


def campaign_ids(ctx: Context, campaigns: Sequence[str] | None) -> list[int]:
    if campaigns:
        return [ctx.store.get_campaign(name).id for name in campaigns]
    return [c.id for c in ctx.store.list_campaigns()]


def run_virtual_until_done(
    ctx: Context,
    clock: VirtualClock,
    *,
    campaigns: Sequence[str] | None = None,
    on_tick: Callable[[TickReport, int], None] | None = None,
) -> RunResult:
    """Run in virtual time until every record of the campaigns is final.

    ``on_tick(report, placed_so_far)`` is called after every tick.

    Between ticks the clock jumps straight to the next thing that can change the picture:
    a call event in the simulated centre, a record coming due, or the next tick when calls
    were held back by a rate cap. A whole working day passes in seconds. Campaigns' scheduled
    reports fire at their (virtual) times while the run lasts.
    """
    ids = campaign_ids(ctx, campaigns)
    if not ids:
        raise DialerError("no campaigns to run; create one with `dialer campaign create`")
    started = clock.now()
    limit = started + timedelta(days=ctx.settings.max_virtual_days)
    preflight.check(ctx, campaigns=campaigns, now=started)
    reconciled = reconcile_in_flight(ctx, now=started)
    reports = ScheduledReports(ctx, [c for c in ctx.store.list_campaigns() if c.id in ids], start=started)
    ticks = placed = 0
    tick = timedelta(seconds=ctx.settings.tick_seconds)
    while True:
        now = clock.now()
        report = run_tick(ctx, now=now, campaigns=campaigns)
        ticks += 1
        placed += report.placed
        in_flight = report.in_flight > 0
        unfinished = -1 if in_flight else ctx.store.due_summary(ids).unfinished
        if on_tick is not None:
            on_tick(report, placed)
        reports.fire_due(now=now)
        if unfinished == 0:
            return RunResult(
                started=started,
                finished=now,
                ticks=ticks,
                placed=placed,
                reconciled=reconciled,
                done=True,
                stopped_reason="every record is final",
            )
        if not in_flight and all(c.status.value == "paused" for c in ctx.campaigns.values() if c.id in ids):
            return RunResult(
                started=started,
                finished=now,
                ticks=ticks,
                placed=placed,
                reconciled=reconciled,
                done=False,
                stopped_reason="every campaign is paused; see `dialer status`",
            )
        candidates = []
        event = ctx.telephony.next_event_at(now=now)
        if event is not None and event > now:
            candidates.append(event)
        next_due = ctx.store.next_due_at(ids)
        if next_due is not None and next_due > now:
            candidates.append(next_due)
        if any(c.capped_by for c in report.campaigns) or (in_flight and not candidates):
            candidates.append(now + tick)
        if not candidates:
            return RunResult(
                started=started,
                finished=now,
                ticks=ticks,
                placed=placed,
                reconciled=reconciled,
                done=False,
                stopped_reason="nothing left to dial and nothing scheduled; see `dialer status`",
            )
        # Like the real daemon, decisions come at most once per tick interval.
        nxt = max(min(candidates), now + tick)
        if nxt > limit:
            return RunResult(
                started=started,
                finished=now,
                ticks=ticks,
                placed=placed,
                reconciled=reconciled,
                done=False,
                stopped_reason=f"stopped after {ctx.settings.max_virtual_days} virtual days "
                "(DIALER_MAX_VIRTUAL_DAYS); records still waiting: see `dialer status`",
            )
        # A report due before then stops the clock at its time (never prolonging the run).
        report_at = reports.next_at()
        if report_at is not None and report_at < nxt:
            nxt = max(report_at, now + tick)
        clock.advance_to(nxt)

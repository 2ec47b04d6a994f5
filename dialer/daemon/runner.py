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
from dialer.daemon.tick import RECONCILE_AFTER, TickReport, collect, owned_ids, reconcile_in_flight, run_tick
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState
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


#: How much virtual time `dialer run --once` on the simulated backend gives its calls to end.
DRAIN_LIMIT = timedelta(hours=2)
#: The smallest step of the virtual clock: a drain never stands still.
_TICK_OF_CLOCK = timedelta(microseconds=1)


@dataclass(frozen=True, kw_only=True)
class DrainResult:
    ended: int
    """Attempts ended while draining (results collected, or settled by reconciliation)."""
    left: int
    """Calls still in flight when the drain stopped (0 when it finished)."""
    finished: datetime
    stopped_reason: str | None = None
    """Why calls were left in flight; None when every call ended."""


def drain_virtual(
    ctx: Context, clock: VirtualClock, *, campaigns: Sequence[str] | None = None, limit: timedelta = DRAIN_LIMIT
) -> DrainResult:
    """Virtual time only: let the calls in flight end and collect their results, placing nothing.

    Only the calls of ``campaigns`` (default: all) that this process paces: another process's
    calls are its own to collect. The clock jumps from one event of the simulated centre to the
    next. A call the centre has no event for is one it cannot follow (placed by a process that
    stopped, whose model went with it): it is settled as start-up reconciliation settles it
    (:func:`~dialer.daemon.tick.reconcile_in_flight`) — an attempt whose placement is in doubt
    when it is old enough to be settled (:data:`~dialer.daemon.tick.RECONCILE_AFTER`). Whatever
    is still in flight after ``limit`` of virtual time is left for the next start to reconcile,
    and counted in the result."""
    by_id = {c.id: c for c in ctx.store.list_campaigns()}
    wanted = {c.id for c in by_id.values() if campaigns is None or c.name in campaigns}
    ids = [cid for cid in owned_ids(ctx, by_id) if cid in wanted]
    deadline = clock.now() + limit
    # Calls left by a process that stopped are settled first (a no-op for the calls this
    # process follows), so none of them waits for the events of the others.
    ended = reconcile_in_flight(ctx, now=clock.now(), only=ids) if ids else 0
    while True:
        now = clock.now()
        calls = [c for c in ctx.store.in_flight_calls() if c.campaign_id in ids]
        if not calls:
            return DrainResult(ended=ended, left=0, finished=now)
        event = ctx.telephony.next_event_at(now=now)
        if event is None:  # no call the centre follows: settle what it cannot know
            settled = reconcile_in_flight(ctx, now=now, only=ids)
            ended += settled
            unsettled = [
                c.created_at + RECONCILE_AFTER
                for c in calls
                if c.state in (AttemptState.PENDING, AttemptState.UNCERTAIN) and c.created_at + RECONCILE_AFTER > now
            ]
            if settled:
                continue
            if not unsettled or min(unsettled) > deadline:
                left = len(calls)
                return DrainResult(
                    ended=ended,
                    left=left,
                    finished=now,
                    stopped_reason=f"{left} call(s) could not be settled with the provider yet; "
                    "the next `dialer run` reconciles them",
                )
            clock.advance_to(min(unsettled))  # then "no call" becomes an answer
            continue
        target = max(event, now + _TICK_OF_CLOCK)
        if target > deadline:
            left = len(calls)
            return DrainResult(
                ended=ended,
                left=left,
                finished=now,
                stopped_reason=f"{left} call(s) still in flight after {limit.total_seconds() / 3600:g} virtual "
                "hour(s); the next `dialer run` collects or reconciles them",
            )
        clock.advance_to(target)
        ended += collect(ctx, now=clock.now(), only=ids)[1]


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

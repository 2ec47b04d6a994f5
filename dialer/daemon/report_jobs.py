"""When scheduled reports fire: an APScheduler 3.x cron trigger per campaign schedule.

Both ways of running use the same trigger object. The real-time daemon
(:mod:`dialer.daemon.scheduler`) hands it to its ``BlockingScheduler`` through
:class:`ReportJobs`; the virtual-time runner (:mod:`dialer.daemon.runner`) asks it for the
next fire time as a pure function of the virtual clock through :class:`ScheduledReports`
(``get_next_fire_time`` reads no clock). Besides ``scheduler.py``, this is the only module
that imports APScheduler, and it imports only the trigger.

Crontab expressions follow standard cron (``man 5 crontab``), in the campaign's time zone.
APScheduler 3's own day-of-week numbers start at Monday = 0, where cron's start at
Sunday = 0, so :func:`cron_trigger` rewrites that field into weekday names before APScheduler
sees it (``1-5`` stays Monday to Friday). Cron ORs a restricted day of month with a
restricted day of week while APScheduler ANDs them; an expression restricting both is
refused rather than silently read one way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from dialer.context import Context
from dialer.domain.campaigns import Campaign
from dialer.errors import ConfigError
from dialer.reports.schedule import ReportSchedule, schedule_of, write_scheduled_report

log = logging.getLogger(__name__)

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
HELP = "five fields: minute hour day-of-month month day-of-week, e.g. '0 7 * * 1-5' (07:00 Monday to Friday)"


_NAMES = {name: i for i, name in enumerate(_DAYS)} | {
    name: i for i, name in enumerate(("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"))
}


def _weekday(token: str, expr: str) -> int:
    """A cron weekday: 0-7 (0 and 7 are Sunday) or a name; 7 is kept so ``5-7`` works."""
    token = token.strip().lower()
    if token in _NAMES:
        return _NAMES[token]
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ConfigError(f"cron expression {expr!r}: {token!r} is not a day of the week (0-7 or sun-sat); use {HELP}")


def weekdays(field: str, expr: str = "") -> str:
    """A standard cron day-of-week field as APScheduler 3 weekday names (``*`` for every day)."""
    chosen: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ConfigError(f"cron expression {expr!r}: bad step {step_text!r}; use {HELP}")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            lo, hi = _weekday(first, expr), _weekday(last, expr)
            if hi < lo:
                raise ConfigError(f"cron expression {expr!r}: the range {base!r} runs backwards; use {HELP}")
        else:
            lo = hi = _weekday(base, expr)
            if step is not None:
                hi = 6
        chosen.update(d % 7 for d in range(lo, hi + 1, step or 1))
    if chosen == set(range(7)):
        return "*"
    # APScheduler 3 counts from Monday; list the days by name in that order.
    return ",".join(_DAYS[d] for d in sorted(chosen, key=lambda d: (d + 6) % 7))


def cron_trigger(cron: str, zone: str) -> CronTrigger:
    """A trigger firing as the crontab expression ``cron`` says, in the time zone ``zone``."""
    expr = _MACROS.get(cron.strip().lower(), cron.strip())
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"cron expression {cron!r} has {len(fields)} field(s); use {HELP}")
    minute, hour, day, month, dow = fields
    if day not in ("*", "?") and dow not in ("*", "?"):
        raise ConfigError(
            f"cron expression {cron!r} restricts both the day of the month and the day of the week, which cron "
            f"and APScheduler read differently (either day vs both); restrict only one of them: {HELP}"
        )
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day="*" if day == "?" else day,
            month=month,
            day_of_week=weekdays("*" if dow == "?" else dow, cron),
            timezone=ZoneInfo(zone),
        )
    except ValueError as exc:
        raise ConfigError(f"cron expression {cron!r}: {exc}; use {HELP}") from exc


def next_fire(trigger: CronTrigger, *, at_or_after: datetime) -> datetime | None:
    """The first fire time at or after ``at_or_after``, in UTC (a pure function of its input)."""
    when = trigger.get_next_fire_time(None, at_or_after)
    return when.astimezone(UTC) if when is not None else None


def upcoming(cron: str, zone: str, *, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times after ``after`` (for showing a schedule to its owner)."""
    trigger = cron_trigger(cron, zone)
    out: list[datetime] = []
    cursor = after
    while len(out) < count and (when := next_fire(trigger, at_or_after=cursor)) is not None:
        out.append(when)
        cursor = when + timedelta(seconds=1)
    return out


# --------------------------------------------------------------------- virtual time
class ScheduledReports:
    """The report schedules of some campaigns, fired as a virtual clock passes their times.

    Fire times missed while the clock jumped are coalesced: one report, named after the
    earliest missed time and written as of the moment it runs.
    """

    def __init__(self, ctx: Context, campaigns: Sequence[Campaign], *, start: datetime) -> None:
        self.ctx = ctx
        self._due: dict[str, tuple[CronTrigger, ReportSchedule, datetime | None]] = {}
        for campaign in campaigns:
            schedule = schedule_of(campaign)
            if schedule is not None:
                trigger = cron_trigger(schedule.cron, campaign.zone)
                self._due[campaign.name] = (trigger, schedule, next_fire(trigger, at_or_after=start))

    def next_at(self) -> datetime | None:
        times = [when for _, _, when in self._due.values() if when is not None]
        return min(times) if times else None

    def fire_due(self, *, now: datetime) -> int:
        """Write every report due at ``now``; how many were attempted."""
        fired = 0
        for name, (trigger, schedule, when) in self._due.items():
            if when is None or when > now:
                continue
            campaign = self.ctx.store.get_campaign(name)
            stats = self.ctx.telephony.centre_stats(name, now=now)
            write_scheduled_report(
                self.ctx.store,
                campaign,
                schedule,
                fired_at=when,
                now=now,
                occupancy=stats.occupancy if stats else None,
            )
            self._due[name] = (trigger, schedule, next_fire(trigger, at_or_after=now + timedelta(microseconds=1)))
            fired += 1
        return fired


# --------------------------------------------------------------------- real time
class ReportJobs:
    """Keeps one APScheduler job per campaign report schedule, re-read every minute.

    Reports run on their own executor thread, so a large workbook never holds up the pacing
    tick; they read the store only (one read snapshot), never the telephony backend, so
    agent occupancy is left "unknown" in reports written by the real-time daemon.
    """

    EXECUTOR = "reports"
    SYNC_SECONDS = 60

    def __init__(self, ctx: Context, campaigns: Sequence[str] | None = None) -> None:
        self.ctx = ctx
        self.campaigns = list(campaigns) if campaigns else None
        self._installed: dict[str, tuple[str, str, str]] = {}

    def install(self, scheduler: BaseScheduler) -> None:
        """Add the schedule-sync job (it runs at once, then every minute)."""
        scheduler.add_job(
            self.sync,
            "interval",
            args=[scheduler],
            seconds=self.SYNC_SECONDS,
            id="report-schedules",
            name="report schedules",
            executor=self.EXECUTOR,
            next_run_time=datetime.now(UTC),
        )

    def sync(self, scheduler: BaseScheduler) -> None:
        try:
            wanted: dict[str, tuple[str, str, str]] = {}
            for campaign in self.ctx.store.list_campaigns():
                if self.campaigns is not None and campaign.name not in self.campaigns:
                    continue
                schedule = schedule_of(campaign)
                if schedule is not None:
                    wanted[campaign.name] = (schedule.cron, str(schedule.directory), campaign.zone)
            for name, key in wanted.items():
                if self._installed.get(name) == key:
                    continue
                scheduler.add_job(
                    self.fire,
                    cron_trigger(key[0], key[2]),
                    args=[name],
                    id=f"report:{name}",
                    name=f"report for {name}",
                    executor=self.EXECUTOR,
                    replace_existing=True,
                    coalesce=True,
                    misfire_grace_time=None,
                )
                log.info("report schedule for %s: %s into %s", name, key[0], key[1])
            for name in set(self._installed) - set(wanted):
                scheduler.remove_job(f"report:{name}")
            self._installed = wanted
        except Exception:  # a bad schedule must not stop the daemon; the next sync retries
            log.exception("could not read the report schedules; retrying in a minute")

    def fire(self, name: str) -> None:
        now = self.ctx.clock.now()
        campaign = self.ctx.store.get_campaign(name)
        schedule = schedule_of(campaign)
        if schedule is not None:
            write_scheduled_report(self.ctx.store, campaign, schedule, fired_at=now, now=now)

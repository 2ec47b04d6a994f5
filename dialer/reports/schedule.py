"""Scheduled outcome reports: a campaign's schedule, and writing one scheduled workbook.

A schedule is a cron expression (five fields, in the campaign's time zone) and a folder,
kept in the campaign's options under ``report_schedule``. When it fires, the daemon writes
the campaign's workbook to ``FOLDER/<campaign>-<YYYY-MM-DD-HHMM>.xlsx`` (the fire time,
local to the campaign). The file is written under a hidden temporary name and then linked
into place, so it appears complete or not at all, and an existing file is never replaced:
someone with yesterday's report open keeps it, and a second report in the same minute gets
``-2`` appended. Each export, or its failure and the reason, is recorded in the campaign's
event log (``dialer campaign show``).

When the schedule fires is decided by an APScheduler cron trigger in :mod:`dialer.daemon`
(the real-time daemon and the virtual-time runner use the same trigger); this module only
knows what to write.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dialer.domain.campaigns import Campaign
from dialer.errors import ConfigError
from dialer.reports.export import ExportResult, export
from dialer.store.repository import SqlStore

log = logging.getLogger(__name__)

OPTION = "report_schedule"
"""The key of a campaign's options that holds its schedule."""


@dataclass(frozen=True, kw_only=True)
class ReportSchedule:
    cron: str
    """Five-field crontab expression, e.g. ``0 7 * * *``, in the campaign's time zone."""
    directory: Path
    """Absolute folder the workbooks go to."""

    def as_option(self) -> dict[str, str]:
        return {"cron": self.cron, "dir": str(self.directory)}


def schedule_of(campaign: Campaign) -> ReportSchedule | None:
    """The campaign's report schedule, if it has one."""
    value = campaign.options.get(OPTION)
    if not isinstance(value, Mapping):
        return None
    cron, directory = value.get("cron"), value.get("dir")
    if not isinstance(cron, str) or not isinstance(directory, str):
        raise ConfigError(
            f"campaign {campaign.name!r} has a malformed report schedule {value!r}; "
            f"set it again with `dialer campaign schedule-report {campaign.name} --cron ... --dir ...`"
        )
    return ReportSchedule(cron=cron, directory=Path(directory))


def report_path(campaign: Campaign, directory: Path, at: datetime) -> Path:
    """``DIR/<campaign>-<YYYY-MM-DD-HHMM>.xlsx``, the time local to the campaign."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", campaign.name).strip("-.") or "campaign"
    stamp = at.astimezone(ZoneInfo(campaign.zone)).strftime("%Y-%m-%d-%H%M")
    return directory / f"{slug}-{stamp}.xlsx"


def write_scheduled_report(
    store: SqlStore,
    campaign: Campaign,
    schedule: ReportSchedule,
    *,
    fired_at: datetime,
    now: datetime,
    occupancy: float | None = None,
) -> ExportResult | None:
    """Write the workbook as of ``now``, named after ``fired_at``; log and record the outcome.

    Never raises for a failed export (a full disk must not stop the dialer): the failure is
    logged and recorded as a campaign event, and ``None`` returned.
    """
    target = report_path(campaign, schedule.directory, fired_at)
    try:
        result = export(store, campaign, target, now=now, occupancy=occupancy, replace=False)
    except Exception as exc:
        message = f"scheduled report to {target} failed: {exc}"
        log.error(message, extra={"action": "report", "campaign": campaign.name, "ok": False})
        store.add_campaign_event(campaign.id, kind="report_failed", message=message, now=now)
        return None
    rows = ", ".join(f"{k} {v}" for k, v in result.sheets.items())
    store.add_campaign_event(campaign.id, kind="report_written", message=f"{result.path} ({rows})", now=now)
    log.info(
        "scheduled report written: %s",
        result.path,
        extra={"action": "report", "campaign": campaign.name, "ok": True, "path": str(result.path)},
    )
    return result

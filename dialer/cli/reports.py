"""`dialer report` and `dialer campaign schedule-report`."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from dialer.cli.app import State, out, pass_state, print_json, rows_progress
from dialer.cli.app import cli as root
from dialer.cli.campaigns import campaign as campaign_group
from dialer.errors import ConfigError, DialerError


class DayOrTime(click.ParamType):  # type: ignore[type-arg]
    """``YYYY-MM-DD`` (a whole day) or ``YYYY-MM-DDTHH:MM[:SS]`` (an instant), local time."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date | datetime:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace(" ", "T"))
        except ValueError:
            self.fail(f"{value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (campaign time zone)", param, ctx)


@root.command()
@click.option("--campaign", "campaign_name", required=True, help="Campaign to report on.")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PATH.xlsx (the workbook) or PATH.csv (one sheet, UTF-8 with BOM).",
)
@click.option(
    "--sheet",
    type=click.Choice(["records", "attempts"]),
    help="Sheet written to a CSV file.  [default: records]",
)
@click.option("--from", "start", type=DayOrTime(), help="First day (YYYY-MM-DD) or instant, in the campaign's zone.")
@click.option("--to", "end", type=DayOrTime(), help="Last day (inclusive) or end instant; default: now.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@pass_state
def report(
    state: State,
    campaign_name: str,
    out_path: Path,
    sheet: str | None,
    start: date | datetime | None,
    end: date | datetime | None,
    as_json: bool,
) -> None:
    """Write a campaign's outcome report: the workbook (Summary, Records, Attempts,
    Abandonment, Rejects) or one sheet as CSV.

    --from/--to select the attempts by when they were placed; records and rejects are
    always the whole list. Every date-time is in the campaign's time zone.
    """
    from dialer.reports.export import export, period_bounds

    if sheet is not None and out_path.suffix.lower() == ".xlsx":
        raise click.UsageError("--sheet chooses the sheet of a CSV file; a .xlsx workbook has them all")
    with state.context() as ctx:
        campaign = ctx.store.get_campaign(campaign_name)
        now = ctx.clock.now()
        since, until = period_bounds(campaign.zone, start, end, now=now)
        stats = ctx.telephony.centre_stats(campaign.name, now=now)
        with rows_progress(f"writing {out_path.name}", disable=as_json) as progress:
            result = export(
                ctx.store,
                campaign,
                out_path,
                now=now,
                since=since,
                until=until if end is not None else None,
                sheet="attempts" if sheet == "attempts" else "records",
                occupancy=stats.occupancy if stats else None,
                progress=progress,
            )
    figures = result.figures.as_dict() if result.figures else {}
    if as_json:
        print_json({"path": str(result.path), "sheets": result.sheets, "seconds": round(result.seconds, 2), **figures})
        return
    rows = ", ".join(f"{name}: {n} rows" for name, n in result.sheets.items())
    out.print(f"Wrote {result.path} ({rows}) in {result.seconds:.1f} s", highlight=False)
    if figures:
        out.print(
            f"Abandon rate: {_pct(figures['abandon_rate'])} in the period, {_pct(figures['abandon_rate_30d'])} "
            f"over 30 days, {_pct(figures['abandon_rate_24h'])} over 24 h (cap 3%); "
            f"{figures['days_over_cap']} day(s) over the cap",
            highlight=False,
        )


def _pct(value: object) -> str:
    return "n/a" if value is None else f"{float(value):.2%}"  # type: ignore[arg-type]


@campaign_group.command("schedule-report")
@click.argument("name")
@click.option("--cron", help="When, as a crontab expression in the campaign's zone, e.g. '0 7 * * 1-5'.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the workbooks go to (created if missing).",
)
@click.option("--clear", is_flag=True, help="Remove the campaign's report schedule.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def schedule_report(
    state: State, name: str, cron: str | None, directory: Path | None, clear: bool, as_json: bool
) -> None:
    """Set, show or clear the report schedule of campaign NAME.

    While `dialer run` is running, the workbook is written on that schedule to
    DIR/NAME-YYYY-MM-DD-HHMM.xlsx (never replacing a file), and each export is recorded in
    `dialer campaign show`. Without options, shows the schedule and its next times.
    """
    from dialer.daemon.report_jobs import cron_trigger, upcoming
    from dialer.reports.schedule import OPTION, ReportSchedule, schedule_of

    if clear and (cron or directory):
        raise click.UsageError("use either --clear, or --cron with --dir")
    if (cron is None) != (directory is None):
        raise click.UsageError("give both --cron and --dir (e.g. --cron '0 7 * * *' --dir reports/)")
    with state.context() as ctx:
        campaign = ctx.store.get_campaign(name)
        now = ctx.clock.now()
        if clear:
            campaign = ctx.store.update_campaign(name, now=now, options={OPTION: None})
            ctx.store.add_campaign_event(
                campaign.id, kind="report_unscheduled", message="report schedule cleared", now=now
            )
        elif cron is not None and directory is not None:
            try:
                cron_trigger(cron, campaign.zone)
            except ConfigError as exc:
                raise click.BadParameter(exc.message, param_hint="--cron") from exc
            folder = _writable_folder(directory)
            schedule = ReportSchedule(cron=cron.strip(), directory=folder)
            campaign = ctx.store.update_campaign(name, now=now, options={OPTION: schedule.as_option()})
            ctx.store.add_campaign_event(
                campaign.id, kind="report_scheduled", message=f"reports {schedule.cron} into {folder}", now=now
            )
        schedule_now = schedule_of(campaign)
    nxt = upcoming(schedule_now.cron, campaign.zone, after=now) if schedule_now else []
    if as_json:
        print_json(
            {
                "campaign": campaign.name,
                "time_zone": campaign.zone,
                "cron": schedule_now.cron if schedule_now else None,
                "dir": str(schedule_now.directory) if schedule_now else None,
                "next": [t.isoformat() for t in nxt],
            }
        )
        return
    if schedule_now is None:
        out.print(f"{campaign.name} has no report schedule. Set one with --cron '0 7 * * *' --dir PATH.")
        return
    tz = ZoneInfo(campaign.zone)
    out.print(
        f"Reports for {campaign.name}: '{schedule_now.cron}' ({campaign.zone}) into {schedule_now.directory}",
        highlight=False,
    )
    out.print("Next: " + ", ".join(f"{t.astimezone(tz):%Y-%m-%d %H:%M}" for t in nxt), highlight=False)
    out.print("`dialer run` writes them while it runs.", highlight=False)


def _writable_folder(directory: Path) -> Path:
    folder = directory.expanduser().resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DialerError(f"cannot create the report folder {folder}: {exc.strerror}. Choose another --dir") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DialerError(f"the report folder {folder} is not writable by this user. Choose another --dir")
    return folder

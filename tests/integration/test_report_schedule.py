"""Scheduled reports: set through the CLI, fired in virtual time by the runner and by the
real-time daemon's APScheduler jobs; and `dialer report`'s own options."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from dialer.context import build_context
from dialer.daemon.report_jobs import ReportJobs, upcoming
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.clock import SystemClock, VirtualClock
from dialer.settings import load_settings
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.integration.conftest import CliResult

Dialer = Callable[..., CliResult]


def write_list(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recordHandle", "phoneNumber", "name"])
        writer.writerows([f"R-{i}", f"(212) 555-{100 + i:04d}", f"Contact {i}"] for i in range(n))
    return path


@pytest.fixture
def spring(dialer: Dialer, tmp_path: Path) -> str:
    assert (
        dialer("campaign", "create", "spring", "--flow-id", "f", "--caller-id", "+12125550100", "--agents", "2").code
        == 0
    )
    assert dialer("import", str(write_list(tmp_path / "list.csv", 12)), "--campaign", "spring").code == 0
    return "spring"


def test_a_schedule_is_set_shown_and_cleared(dialer: Dialer, spring: str, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    result = dialer("campaign", "schedule-report", spring, "--cron", "0 7 * * 1-5", "--dir", str(folder), "--json")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    assert shown["cron"] == "0 7 * * 1-5" and shown["dir"] == str(folder.resolve()) and folder.is_dir()
    assert shown["time_zone"] == "America/New_York"
    local = [datetime.fromisoformat(t).astimezone(ZoneInfo("America/New_York")) for t in shown["next"]]
    assert all(t.hour == 7 and t.minute == 0 and t.weekday() < 5 for t in local)  # cron's 1-5 is Monday-Friday
    text = dialer("campaign", "schedule-report", spring).out
    assert "'0 7 * * 1-5' (America/New_York)" in text and "Next: " in text
    events = json.loads(dialer("campaign", "show", spring, "--json").out)["events"]
    assert events[0]["kind"] == "report_scheduled"
    assert dialer("campaign", "schedule-report", spring, "--clear").code == 0
    assert json.loads(dialer("campaign", "schedule-report", spring, "--json").out)["cron"] is None
    assert "has no report schedule" in dialer("campaign", "schedule-report", spring).out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cron", "0 7 * *", "--dir", "r"], "has 4 field(s)"),
        (["--cron", "0 7 * * *"], "give both --cron and --dir"),
        (["--clear", "--cron", "0 7 * * *", "--dir", "r"], "use either --clear, or --cron with --dir"),
    ],
)
def test_schedule_mistakes_are_usage_errors(dialer: Dialer, spring: str, args: list[str], message: str) -> None:
    result = dialer("campaign", "schedule-report", spring, *args)
    assert result.code == 2 and message in result.err


def test_scheduled_reports_fire_in_virtual_time(dialer: Dialer, spring: str, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    assert dialer("campaign", "schedule-report", spring, "--cron", "0 */2 * * *", "--dir", str(folder)).code == 0
    start = SystemClock().now()  # the records were imported (and are due) now
    clock = VirtualClock(start)
    ctx = build_context(load_settings(), clock=clock)
    try:
        result = run_virtual_until_done(ctx, clock, campaigns=[spring])
        store = ctx.store
        campaign = store.get_campaign(spring)
        total = len(list(store.iter_attempts(campaign.id)))
        events = store.campaign_events(campaign.id, limit=100)
    finally:
        ctx.close()
    assert result.done
    due = [t for t in upcoming("0 */2 * * *", "America/New_York", after=start, count=500) if t <= result.finished]
    assert due, "the run lasted past at least one fire time"
    names = [f"spring-{t.astimezone(ZoneInfo('America/New_York')):%Y-%m-%d-%H%M}.xlsx" for t in due]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)  # one dated file per fire time, no temporaries
    counts = []
    for name, fired in zip(names, due, strict=True):
        book = openpyxl.load_workbook(folder / name)
        assert book.sheetnames == ["Summary", "Records", "Attempts", "Abandonment", "Rejects"]
        summary = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, max_col=2, values_only=True) if r[0]}
        generated = summary["generated at"]
        local_fired = fired.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
        assert local_fired <= generated < local_fired.replace(minute=1)  # written when it fired (virtual time)
        counts.append(book["Attempts"].max_row - 1)
    assert counts == sorted(counts) and counts[-1] <= total  # each a snapshot of the campaign so far
    written = [m for _, kind, m in events if kind == "report_written"]
    assert len(written) == len(names) and all(str(folder) in m for m in written)


def test_the_real_time_daemon_keeps_one_cron_job_per_schedule(dialer: Dialer, spring: str, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    assert dialer("campaign", "schedule-report", spring, "--cron", "30 6 * * 0", "--dir", str(folder)).code == 0
    ctx = build_context(load_settings(), clock=VirtualClock(T0))
    scheduler = BackgroundScheduler(timezone="UTC")  # not started: jobs are only registered
    try:
        jobs = ReportJobs(ctx)
        jobs.install(scheduler)
        assert scheduler.get_job("report-schedules") is not None
        jobs.sync(scheduler)
        job = scheduler.get_job("report:spring")
        assert job is not None and job.executor == ReportJobs.EXECUTOR
        assert "day_of_week='sun'" in str(job.trigger) and "hour='6'" in str(job.trigger)
        assert str(job.trigger.timezone) == "America/New_York"
        jobs.fire("spring")  # what APScheduler calls at 06:30 on Sundays
        (written,) = folder.iterdir()
        assert written.name == "spring-2026-03-02-1000.xlsx"  # named after the (virtual) time it ran
        assert dialer("campaign", "schedule-report", spring, "--clear").code == 0
        jobs.sync(scheduler)
        assert scheduler.get_job("report:spring") is None
    finally:
        ctx.close()


def test_report_options(dialer: Dialer, spring: str, tmp_path: Path) -> None:
    assert dialer("run", "--until-done").code == 0
    full = json.loads(dialer("report", "--campaign", spring, "--out", str(tmp_path / "all.xlsx"), "--json").out)
    assert full["sheets"]["Records"] == 12 and full["attempts"] == full["sheets"]["Attempts"] >= 12
    assert full["abandon_cap"] == 0.03 and "abandon_rate_30d" in full and "abandon_rate_24h" in full
    # A day long before the run: the records are all there, no attempt is.
    empty = json.loads(
        dialer(
            "report",
            "--campaign",
            spring,
            "--out",
            str(tmp_path / "old.xlsx"),
            "--from",
            "2020-01-01",
            "--to",
            "2020-01-02",
            "--json",
        ).out
    )
    assert empty["sheets"]["Records"] == 12 and empty["sheets"]["Attempts"] == 0 and empty["attempts"] == 0
    assert empty["from"].startswith("2020-01-01T05:00:00") and empty["to"].startswith("2020-01-03T05:00:00")
    text = dialer("report", "--campaign", spring, "--out", str(tmp_path / "a.csv"), "--sheet", "attempts")
    assert text.code == 0 and "Attempts: " in text.out
    bad = dialer("report", "--campaign", spring, "--out", str(tmp_path / "x.xlsx"), "--sheet", "attempts")
    assert bad.code == 2 and "a .xlsx workbook has them all" in bad.err
    wrong = dialer("report", "--campaign", spring, "--out", str(tmp_path / "x.xlsx"), "--from", "March 1st")
    assert wrong.code == 2 and "use YYYY-MM-DD" in wrong.err
    backwards = dialer(
        "report", "--campaign", spring, "--out", str(tmp_path / "x.xlsx"), "--from", "2026-03-02", "--to", "2026-03-01"
    )
    assert backwards.code == 1 and "--from must be before --to" in backwards.err


def test_scheduled_report_failures_are_recorded_not_raised(sqlite_store: SqlStore, tmp_path: Path) -> None:
    from dialer.domain.campaigns import CampaignSpec
    from dialer.reports.schedule import ReportSchedule, write_scheduled_report

    camp = sqlite_store.create_campaign(CampaignSpec(name="x", flow_id="f"), now=T0)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    schedule = ReportSchedule(cron="0 7 * * *", directory=blocker)
    assert write_scheduled_report(sqlite_store, camp, schedule, fired_at=T0, now=T0) is None
    ((_, kind, message),) = sqlite_store.campaign_events(camp.id)
    assert kind == "report_failed" and str(blocker) in message  # recorded; nothing raised

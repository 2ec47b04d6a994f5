"""The end-to-end demo: a sample campaign from CSV to paced calls, outcomes and a spreadsheet.

Everything runs on the embedded defaults: a fresh SQLite file and the simulated call centre
in virtual time. The demo checks its own result and reports the checks:

* every imported record is accounted for (records by final status add up to the import);
* no record was attempted more often than the campaign allows;
* the workbook re-reads with the same record and attempt counts as the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from dialer.campaignfile import CampaignFile, load_campaign_file
from dialer.context import build_context
from dialer.daemon.runner import run_virtual_until_done
from dialer.daemon.tick import TickReport
from dialer.domain.clock import VirtualClock
from dialer.errors import ConfigError
from dialer.importer import ImportOptions, import_file
from dialer.importer.dnc import read_dnc_file
from dialer.reports.export import export
from dialer.reports.metrics import run_summary
from dialer.settings import Settings

#: The sample campaigns shipped with the package (package data; ``campaigns/`` in a clone links here).
CAMPAIGNS = Path(__file__).resolve().parent / "campaigns"


def find_demo_campaign(explicit: Path | None = None) -> Path:
    """The demo campaign file: an explicit path, ./campaigns/demo.toml, or the installed package's."""
    candidates = [explicit] if explicit else [Path("campaigns/demo.toml"), CAMPAIGNS / "demo.toml"]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise ConfigError(
        "cannot find the demo campaign (campaigns/demo.toml). Run `dialer demo` from the project directory, "
        "or pass --campaign-file PATH"
    )


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    summary: dict[str, Any]
    database: Path
    workbook: Path
    rejects: Path
    wall_seconds: float


def run_demo(
    settings: Settings,
    *,
    campaign_file: Path,
    workdir: Path,
    out: Path,
    start: datetime,
    on_tick: Callable[[TickReport, int], None] | None = None,
) -> DemoResult:
    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    settings = settings.model_copy(update={"database_url": f"sqlite:///{database}", "backend": "simulated"})
    cf: CampaignFile = load_campaign_file(campaign_file)
    if cf.records is None:
        raise ConfigError(f"{campaign_file}: [import] records = FILE is needed for the demo")
    clock = VirtualClock(start)
    ctx = build_context(settings, clock=clock)
    try:
        campaign = ctx.store.create_campaign(cf.spec, now=clock.now())
        dnc_added = 0
        if cf.dnc is not None:
            numbers, _bad = read_dnc_file(cf.dnc, region=campaign.region)
            dnc_added = ctx.store.add_dnc(numbers, source="demo", note=cf.dnc.name, now=clock.now())
        rejects = workdir / "demo-rejects.csv"
        imported = import_file(ctx.store, campaign, cf.records, ImportOptions(rejects_path=rejects), now=clock.now())
        result = run_virtual_until_done(ctx, clock, campaigns=[campaign.name], on_tick=on_tick)
        stats = ctx.telephony.centre_stats(campaign.name, now=clock.now())
        exported = export(ctx.store, campaign, out, now=clock.now(), occupancy=stats.occupancy if stats else None)
        summary = run_summary(ctx.store, ctx.telephony, [campaign.name], now=clock.now())
        records_by_status: dict[str, int] = summary["records_by_status"]  # type: ignore[assignment]
        max_seen = max((r.attempts for r in ctx.store.iter_records(campaign.id)), default=0)
        reread = pd.read_excel(out, sheet_name=["Records", "Attempts"], dtype=str)
        checks = {
            "records_accounted_for": sum(records_by_status.values()) == imported.imported
            and all(
                s in {"completed", "exhausted", "bad_number", "do_not_call", "cancelled"} for s in records_by_status
            ),
            "attempts_within_limit": max_seen <= campaign.max_attempts,
            "spreadsheet_rereads": len(reread["Records"]) == summary["records"]
            and len(reread["Attempts"]) == summary["attempts"],
        }
        summary.update(
            {
                "import": {**imported.as_dict(), "dnc_entries": dnc_added},
                "max_attempts": campaign.max_attempts,
                "max_attempts_seen": max_seen,
                "virtual_start": result.started.isoformat(),
                "virtual_end": result.finished.isoformat(),
                "virtual_hours": round((result.finished - result.started).total_seconds() / 3600, 2),
                "ticks": result.ticks,
                "done": result.done,
                "stopped_reason": result.stopped_reason,
                "workbook": str(exported.path),
                "workbook_sheets": exported.sheets,
                "rejects_file": str(rejects),
                "database": str(database),
                "checks": checks,
            }
        )
    finally:
        ctx.close()
    wall = time.perf_counter() - started
    summary["wall_seconds"] = round(wall, 2)
    return DemoResult(summary=summary, database=database, workbook=out, rejects=rejects, wall_seconds=wall)


# ------------------------------------------------------------------ web demo
#: The preview desk's share of the demo list (the rest is dialed progressively).
WEB_DEMO_PREVIEW_ROWS = 40


@dataclass(frozen=True, kw_only=True)
class WebDemo:
    database: Path
    campaigns: list[str]
    logins: list[tuple[str, str, str]]
    """(name, role, password) of the demo users."""


def prepare_web_demo(settings: Settings, *, workdir: Path, campaign_file: Path, now: datetime) -> WebDemo:
    """A fresh database for `dialer web --demo`: the demo campaign (progressive, its records and
    do-not-call list loaded, active), a preview campaign with the first rows of the same list
    for the agents' desk, and one user per role with a new random password each."""
    import csv
    import secrets

    from dialer import accounts
    from dialer.domain.campaigns import DialMode
    from dialer.domain.users import Role

    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "dialer.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    settings = settings.model_copy(update={"database_url": f"sqlite:///{database}", "backend": "simulated"})
    cf = load_campaign_file(campaign_file)
    if cf.records is None:
        raise ConfigError(f"{campaign_file}: [import] records = FILE is needed for the demo")
    with cf.records.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    preview_csv, dialed_csv = workdir / "preview-records.csv", workdir / "dialed-records.csv"
    for path, part in (
        (preview_csv, rows[1 : 1 + WEB_DEMO_PREVIEW_ROWS]),
        (dialed_csv, rows[1 + WEB_DEMO_PREVIEW_ROWS :]),
    ):
        with path.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows([rows[0], *part])
    ctx = build_context(settings)
    try:
        campaign = ctx.store.create_campaign(cf.spec, now=now)
        preview_spec = dataclass_replace(cf.spec, name=f"{cf.spec.name}-preview", mode=DialMode.PREVIEW, agents=2)
        preview = ctx.store.create_campaign(preview_spec, now=now)
        if cf.dnc is not None:
            numbers, _bad = read_dnc_file(cf.dnc, region=campaign.region)
            ctx.store.add_dnc(numbers, source="demo", note=cf.dnc.name, now=now)
        import_file(ctx.store, campaign, dialed_csv, ImportOptions(), now=now)
        import_file(ctx.store, preview, preview_csv, ImportOptions(), now=now)
        logins = []
        for name, role in (("manager", Role.MANAGER), ("agent", Role.AGENT), ("admin", Role.SYSTEM_ADMINISTRATOR)):
            password = secrets.token_urlsafe(9)
            accounts.add_user(ctx.store, name, role=role, password=password, now=now)
            logins.append((name, role.value, password))
    finally:
        ctx.close()
        preview_csv.unlink(missing_ok=True)
        dialed_csv.unlink(missing_ok=True)
    return WebDemo(database=database, campaigns=[campaign.name, preview.name], logins=logins)

"""`dialer demo`"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import click

from dialer.cli.app import State, cli, err, out, pass_state, print_json
from dialer.cli.dialing import print_summary
from dialer.daemon.tick import TickReport
from dialer.demo import find_demo_campaign, run_demo


def default_start() -> datetime:
    """Today 14:00 UTC: 09:00 or 10:00 on the US east coast, before the west coast opens."""
    return datetime.combine(datetime.now(UTC).date(), time(14, 0), tzinfo=UTC)


@cli.command()
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Outcome workbook (.xlsx). Default: DATA_DIR/demo/demo-outcomes.xlsx",
)
@click.option(
    "--campaign-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Campaign file to run instead of campaigns/demo.toml.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
    help="Virtual start time, UTC (default: today 14:00 UTC).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_state
def demo(
    state: State, out_path: Path | None, campaign_file: Path | None, start: datetime | None, as_json: bool
) -> None:
    """Run the sample campaign end to end on a fresh embedded database and the simulated call
    centre, in virtual time: import, paced dialing, retries, outcomes and a spreadsheet."""
    settings = state.settings()
    workdir = settings.data_dir / "demo"
    out_path = out_path or workdir / "demo-outcomes.xlsx"
    begin = start.replace(tzinfo=UTC) if start else default_start()
    last = {"hour": -1}

    def on_tick(report: TickReport, placed: int) -> None:
        hour = int((report.now - begin).total_seconds() // 3600)
        if not as_json and hour != last["hour"]:
            last["hour"] = hour
            err.print(f"  virtual {report.now:%a %H:%M} UTC: {placed} calls placed, {report.in_flight} in flight")

    if not as_json:
        err.print(
            f"Demo: fresh database in {workdir}, simulated call centre, virtual time from {begin:%Y-%m-%d %H:%M} UTC"
        )
    result = run_demo(
        settings,
        campaign_file=find_demo_campaign(campaign_file),
        workdir=workdir,
        out=out_path,
        start=begin,
        on_tick=on_tick,
    )
    summary = result.summary
    if as_json:
        print_json(summary)
        return
    imp = summary["import"]
    out.print(
        f"Imported {imp['imported']} of {imp['rows_read']} rows ({imp['rejected']} rejected: "
        f"{', '.join(f'{k} {v}' for k, v in imp['rejected_by_reason'].items())}); rejects in {summary['rejects_file']}"
    )
    print_summary(summary)
    out.print(f"Workbook: {summary['workbook']}")
    checks = summary["checks"]
    out.print("Checks: " + ", ".join(f"{k} {'OK' if v else 'FAILED'}" for k, v in checks.items()))
    out.print(f"Wall time {summary['wall_seconds']} s for {summary['virtual_hours']} virtual hours.")
    if not all(checks.values()):
        raise click.ClickException("a demo check failed; see above")

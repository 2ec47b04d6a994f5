"""`dialer campaign …`"""

from __future__ import annotations

import click
from rich.table import Table

from dialer.campaignfile import build_spec
from dialer.cli.app import State, cli, out, pass_state, print_json
from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.reports.metrics import campaign_metrics


@cli.group()
def campaign() -> None:
    """Create, inspect, pause and resume campaigns."""


@campaign.command("create")
@click.argument("name")
@click.option("--flow-id", required=True, help="Evo Voice flow (or TwiML) run when the callee answers.")
@click.option("--mode", type=click.Choice([m.value for m in DialMode]), default="progressive", show_default=True)
@click.option(
    "--caller-id",
    "caller_ids",
    multiple=True,
    help="Owned caller ID, E.164; repeat for several (first is the default).",
)
@click.option(
    "--allow-random-caller-id", is_flag=True, help="Let the provider pick a caller ID when a record has none."
)
@click.option(
    "--agents",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Agents staffing the campaign.",
)
@click.option("--region", default="US", show_default=True, help="Region for numbers without a country code.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=6, show_default=True, help="Attempts per record.")
@click.option("--hours", default="08:00-21:00", show_default=True, help="Calling window, callee's local time.")
@click.option("--days", default="mon-sun", show_default=True, help="Calling days, e.g. mon-fri or mon,wed,fri.")
@click.option("--timezone", help="Campaign time zone for reports (default from the region).")
@click.option(
    "--ring-timeout",
    type=click.IntRange(min=15),
    default=25,
    show_default=True,
    help="Seconds to ring (≥ 15).",
)
@click.option("--max-cps", type=float, help="Calls per second cap (your provider account's CPS).")
@click.option("--max-lines", type=click.IntRange(min=1), help="Concurrent lines cap.")
@click.option(
    "--machine-detection",
    type=click.Choice(["Enable", "DetectMessageEnd"]),
    help="Twilio answering-machine detection (async) for this campaign's calls.",
)
@click.option("--abandon-message", help="Message played to a callee no agent could take (seller name and number).")
@click.option("--json", "as_json", is_flag=True, help="Print the campaign as JSON.")
@pass_state
def create(
    state: State,
    name: str,
    flow_id: str,
    mode: str,
    caller_ids: tuple[str, ...],
    allow_random_caller_id: bool,
    agents: int,
    region: str,
    max_attempts: int,
    hours: str,
    days: str,
    timezone: str | None,
    ring_timeout: int,
    max_cps: float | None,
    max_lines: int | None,
    machine_detection: str | None,
    abandon_message: str | None,
    as_json: bool,
) -> None:
    """Create campaign NAME."""
    spec = build_spec(
        name=name,
        flow_id=flow_id,
        mode=mode,
        caller_ids=caller_ids,
        allow_random_caller_id=allow_random_caller_id,
        agents=agents,
        region=region,
        max_attempts=max_attempts,
        hours=hours,
        days=days,
        timezone=timezone,
        ring_timeout=ring_timeout,
        max_cps=max_cps,
        max_lines=max_lines,
        options={
            k: v for k, v in (("machine_detection", machine_detection), ("abandon_message", abandon_message)) if v
        },
    )
    with state.context() as ctx:
        created = ctx.store.create_campaign(spec, now=ctx.clock.now())
    if as_json:
        print_json(campaign_dict(created))
    else:
        out.print(f"Created campaign [bold]{created.name}[/] ({created.mode}, {created.agents} agents).")
        if not created.caller_ids and not created.allow_random_caller_id:
            out.print("Note: no caller ID yet; records need an outboundCallerId column, or recreate with --caller-id.")


def campaign_dict(c: Campaign) -> dict[str, object]:
    return {
        "name": c.name,
        "flow_id": c.flow_id,
        "mode": c.mode.value,
        "status": c.status.value,
        "pause_reason": c.pause_reason,
        "caller_ids": list(c.caller_ids),
        "allow_random_caller_id": c.allow_random_caller_id,
        "agents": c.agents,
        "region": c.region,
        "max_attempts": c.max_attempts,
        "calling_window": c.window.describe(),
        "timezone": c.timezone,
        "ring_timeout": c.ring_timeout,
        "max_cps": c.max_cps,
        "max_lines": c.max_lines,
    }


@campaign.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def list_(state: State, as_json: bool) -> None:
    """List campaigns with their record counts."""
    with state.context() as ctx:
        rows = [(c, ctx.store.count_records(c.id)) for c in ctx.store.list_campaigns()]
    if as_json:
        print_json([{**campaign_dict(c), "records_by_status": counts} for c, counts in rows])
        return
    if not rows:
        out.print("No campaigns yet. Create one with `dialer campaign create NAME --flow-id FLOW`.")
        return
    table = Table("campaign", "mode", "status", "agents", "records", "ready", "final")
    for c, counts in rows:
        final = sum(n for s, n in counts.items() if s not in ("ready", "leased", "dialing"))
        table.add_row(
            c.name,
            c.mode.value,
            c.status.value,
            str(c.agents),
            str(sum(counts.values())),
            str(counts.get("ready", 0)),
            str(final),
        )
    out.print(table)


@campaign.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def show(state: State, name: str, as_json: bool) -> None:
    """Show a campaign: settings, records by status, outcomes and imports with their rejects."""
    with state.context() as ctx:
        c = ctx.store.get_campaign(name)
        metrics = campaign_metrics(ctx.store, c)
        imports = ctx.store.imports(c.id)
        rejects = {i.id: ctx.store.import_rejects(i.id)[:10] for i in imports[:5]}
        events = ctx.store.campaign_events(c.id, limit=10)
    if as_json:
        print_json(
            {
                **campaign_dict(c),
                "metrics": metrics.as_dict(),
                "imports": [
                    {
                        "id": i.id,
                        "file": i.source_name,
                        "at": i.started_at.isoformat(),
                        "rows": i.rows_read,
                        "imported": i.imported,
                        "updated": i.updated,
                        "skipped_duplicates": i.skipped_duplicates,
                        "rejected": i.rejected,
                        "rejected_by_reason": dict(i.by_reason),
                        "first_rejects": [
                            {"line": r.line, "reason": r.reason, "message": r.message} for r in rejects.get(i.id, [])
                        ],
                    }
                    for i in imports
                ],
                "events": [{"at": at.isoformat(), "kind": k, "message": m} for at, k, m in events],
            }
        )
        return
    table = Table(show_header=False, box=None)
    for key, value in campaign_dict(c).items():
        table.add_row(key, "" if value is None else str(value))
    out.print(table)
    out.print(f"\nRecords: {metrics.records}  " + "  ".join(f"{k}={v}" for k, v in metrics.records_by_status.items()))
    rate = metrics.abandon_rate
    out.print(
        f"Attempts: {metrics.attempts}  live answers: {metrics.live_answers}  connects: {metrics.connects}  "
        f"abandoned: {metrics.abandoned} ({'n/a' if rate is None else f'{rate:.2%}'} of live answers, cap 3%)"
    )
    for i in imports:
        out.print(
            f"\nImport #{i.id} {i.source_name} at {i.started_at:%Y-%m-%d %H:%M} UTC: {i.rows_read} rows, "
            f"{i.imported} imported, {i.updated} updated, {i.skipped_duplicates} duplicates skipped, "
            f"{i.rejected} rejected"
            + (f" ({', '.join(f'{k}: {v}' for k, v in i.by_reason.items())})" if i.by_reason else "")
        )
        for r in rejects.get(i.id, []):
            out.print(f"  line {r.line}: {r.reason} — {r.message}")
    if events:
        out.print("\nRecent events:")
        for at, kind, message in events:
            out.print(f"  {at:%Y-%m-%d %H:%M:%S} {kind}: {message}")


@campaign.command("pause")
@click.argument("name")
@click.option("--reason", default="paused by an operator", show_default=True)
@pass_state
def pause(state: State, name: str, reason: str) -> None:
    """Stop placing new calls for NAME (calls in flight finish normally)."""
    with state.context() as ctx:
        ctx.store.set_campaign_status(name, CampaignStatus.PAUSED, reason=reason, now=ctx.clock.now())
    out.print(f"Paused {name}: {reason}")


@campaign.command("resume")
@click.argument("name")
@pass_state
def resume(state: State, name: str) -> None:
    """Resume dialing for NAME."""
    with state.context() as ctx:
        ctx.store.set_campaign_status(name, CampaignStatus.ACTIVE, reason=None, now=ctx.clock.now())
    out.print(f"Resumed {name}.")

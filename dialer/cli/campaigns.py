"""`dialer campaign …`"""

from __future__ import annotations

from datetime import timedelta

import click
from rich.table import Table

from dialer.campaignfile import build_spec, campaign_options
from dialer.cli.app import State, cli, out, pass_state, print_json
from dialer.daemon.tick import retry_policy
from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.errors import ConfigError
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
@click.option(
    "--compliance",
    "compliance_profile",
    type=click.Choice(["us", "uk"]),
    default="us",
    show_default=True,
    help="Compliance profile: us (abandon rate per 30 days) or uk (per 24 h, 72 h/24 h repeat lockouts).",
)
@click.option(
    "--abandon-target",
    type=float,
    help="Abandon-rate cap as a fraction of live answers, at most 0.03 (default 0.03).",
)
@click.option(
    "--min-agents-predictive",
    type=int,
    help="Predictive campaigns dial progressively below this many agents (default 5).",
)
@click.option("--schedule-hours", help="Campaign hours in the campaign's time zone, e.g. 09:00-17:30.")
@click.option("--schedule-days", help="Campaign days in the campaign's time zone, e.g. mon-fri.")
@click.option("--start-date", help="First dialing day (campaign's time zone), YYYY-MM-DD.")
@click.option("--end-date", help="Last dialing day, inclusive (campaign's time zone), YYYY-MM-DD.")
@click.option(
    "--treatment",
    "treatments",
    multiple=True,
    metavar="RESULT=SPEC",
    help="Retry treatment override, e.g. 'BUSY=retry_in 30m +5m x3', 'NO_ANSWER=retry_at 10:00 after 12h x2', "
    "'FAX=final'. Repeat for several results.",
)
@click.option(
    "--allow-relaxing",
    is_flag=True,
    help="Permit settings laxer than the compliance profile (US hours beyond 08:00-21:00, abandon target over 3%).",
)
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
    compliance_profile: str,
    abandon_target: float | None,
    min_agents_predictive: int | None,
    schedule_hours: str | None,
    schedule_days: str | None,
    start_date: str | None,
    end_date: str | None,
    treatments: tuple[str, ...],
    allow_relaxing: bool,
    as_json: bool,
) -> None:
    """Create campaign NAME."""
    try:
        options = campaign_options(
            {
                "machine_detection": machine_detection,
                "abandon_message": abandon_message,
                "compliance_profile": compliance_profile,
                "abandon_target": abandon_target,
                "min_agents_predictive": min_agents_predictive,
                "schedule_hours": schedule_hours,
                "schedule_days": schedule_days,
                "start_date": start_date,
                "end_date": end_date,
            },
            treatments=treatments,
            allow_relaxing=allow_relaxing,
        )
    except ConfigError as exc:
        raise click.BadParameter(exc.message, param_hint="--treatment") from None
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
        options=options,
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
        **compliance_dict(c),
    }


def compliance_dict(c: Campaign) -> dict[str, object]:
    """The campaign's compliance profile, abandon cap, schedule and treatment overrides."""
    opts = c.compliance_options()
    schedule = c.schedule()
    return {
        "compliance_profile": opts.profile.name,
        "abandon_target": opts.abandon_target,
        "abandon_window": _window_text(opts.profile.abandon_window),
        "min_agents_predictive": opts.min_agents_predictive,
        "min_ring_seconds": opts.profile.min_ring_seconds,
        "allow_relaxing": opts.allow_relaxing,
        "effective_calling_window": c.effective_window().describe(),
        "schedule": schedule.describe() if schedule else "always",
        "treatment_overrides": {r.value: t.spec() for r, t in opts.treatments.items()},
    }


def _window_text(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g}h" if hours <= 48 else f"{window.days}d"


def treatments_table(c: Campaign) -> dict[str, str]:
    """Every result's effective treatment (defaults with the campaign's overrides)."""
    policy = retry_policy(c)
    return {r.value: t.describe() for r, t in sorted(policy.treatments.items(), key=lambda kv: kv[0].value)}


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
                "treatments": treatments_table(c),
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
        if key == "treatment_overrides":
            continue
        table.add_row(key, "" if value is None else str(value))
    out.print(table)
    overrides = c.compliance_options().treatments
    treatments = Table("result", "treatment", "", box=None, padding=(0, 2), title="Retry treatments")
    for result, text in treatments_table(c).items():
        treatments.add_row(result, text, "campaign override" if any(r.value == result for r in overrides) else "")
    out.print(treatments)
    out.print(f"\nRecords: {metrics.records}  " + "  ".join(f"{k}={v}" for k, v in metrics.records_by_status.items()))
    rate = metrics.abandon_rate
    opts = c.compliance_options()
    out.print(
        f"Attempts: {metrics.attempts}  live answers: {metrics.live_answers}  connects: {metrics.connects}  "
        f"abandoned: {metrics.abandoned} ({'n/a' if rate is None else f'{rate:.2%}'} of live answers, "
        f"cap {opts.abandon_target:.1%} per {_window_text(opts.profile.abandon_window)})"
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
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_state
def pause(state: State, name: str, reason: str, as_json: bool) -> None:
    """Stop placing new calls for NAME (calls in flight finish normally)."""
    with state.context() as ctx:
        now = ctx.clock.now()
        c = ctx.store.set_campaign_status(name, CampaignStatus.PAUSED, reason=reason, now=now)
    if as_json:
        print_json(
            {"campaign": c.name, "status": c.status.value, "pause_reason": c.pause_reason, "at": now.isoformat()}
        )
        return
    out.print(f"Paused {name}: {reason}")


@campaign.command("resume")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_state
def resume(state: State, name: str, as_json: bool) -> None:
    """Resume dialing for NAME."""
    with state.context() as ctx:
        now = ctx.clock.now()
        c = ctx.store.set_campaign_status(name, CampaignStatus.ACTIVE, reason=None, now=now)
    if as_json:
        print_json(
            {"campaign": c.name, "status": c.status.value, "pause_reason": c.pause_reason, "at": now.isoformat()}
        )
        return
    out.print(f"Resumed {name}.")

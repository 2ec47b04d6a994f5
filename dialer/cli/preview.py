"""`dialer preview …`: the agent's preview desk (Genesys preview-record flow)."""

from __future__ import annotations

import click
from rich.table import Table

from dialer import preview
from dialer.cli.app import State, cli, out, pass_state, print_json

AGENT = click.option("--agent", required=True, help="The agent working the record (a short name, e.g. alice).")
CAMPAIGN = click.option("--campaign", help="The record's campaign (needed only if the handle is in several).")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")


@cli.group("preview")
def preview_group() -> None:
    """The preview desk: request a record, review it, dial it, then give its disposition.

    A requested record is locked to the agent until the lock expires (15 minutes, or the
    campaign's `preview_lock_seconds` option); asking again returns the same record. Every
    compliance gate runs when the record is handed out and again when it is dialed. Preview
    calls never count toward the abandonment rate.
    """


def print_record(record: preview.PreviewRecord) -> None:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("handle", record.handle)
    table.add_row("campaign", record.campaign)
    table.add_row("phone", record.phone)
    table.add_row("caller ID", record.caller_id or "(random, allowed by the campaign)")
    table.add_row("attempts", f"{record.attempts} of {record.max_attempts}")
    table.add_row("last outcome", record.last_outcome or "-")
    table.add_row("record type", record.record_type)
    locked = f"{record.locked_until:%Y-%m-%d %H:%M:%S} UTC" if record.locked_until else "-"
    table.add_row("locked to", f"{record.agent} until {locked}")
    state = record.state
    if record.state == "awaiting_disposition":
        state += f" (the call ended: {record.call_outcome or 'UNKNOWN'})"
    table.add_row("state", state)
    if record.auto_dial_at is not None:
        table.add_row("auto-dial at", f"{record.auto_dial_at:%Y-%m-%d %H:%M:%S} UTC unless skipped or rescheduled")
    for key, value in record.user_data.items():
        table.add_row(f"  {key}", str(value))
    out.print(table)


def print_desk(result: preview.DeskResult) -> None:
    when = f", next dial {result.next_dial_at:%Y-%m-%d %H:%M} UTC" if result.next_dial_at else ""
    out.print(f"{result.handle}: {result.action} → {result.status}{when} — {result.message}")
    for note in result.notes:
        out.print(f"  note: {note}")


@preview_group.command("next")
@click.option("--campaign", required=True, help="The preview campaign.")
@AGENT
@AS_JSON
@pass_state
def next_cmd(state: State, campaign: str, agent: str, as_json: bool) -> None:
    """Request the next record (or the one already on the agent's desk)."""
    with state.context() as ctx:
        record = preview.next_record(ctx, campaign, agent, now=ctx.clock.now())
    if as_json:
        print_json({"record": record.as_dict() if record else None})
    elif record is None:
        out.print(f"No record of {campaign} is due for an agent now. `dialer status --campaign {campaign}` says why.")
    else:
        print_record(record)
        if record.state == "locked":
            out.print(f"Dial it with `dialer preview dial {record.handle} --agent {agent}`, or skip or reschedule it.")


@preview_group.command()
@click.argument("handle")
@AGENT
@CAMPAIGN
@AS_JSON
@pass_state
def dial(state: State, handle: str, agent: str, campaign: str | None, as_json: bool) -> None:
    """Dial the record on the agent's desk (every gate is checked again first)."""
    with state.context() as ctx:
        result = preview.dial(ctx, handle, agent, now=ctx.clock.now(), campaign=campaign)
    if as_json:
        print_json(result.as_dict())
    else:
        out.print(f"{handle}: {'placed' if result.placed else 'not placed'} (attempt {result.attempt_id})")
        out.print(f"  {result.message}")


@preview_group.command()
@click.argument("handle")
@AGENT
@CAMPAIGN
@click.option("--reason", default="", help="Why the agent skips it (kept in the campaign's event log).")
@AS_JSON
@pass_state
def skip(state: State, handle: str, agent: str, campaign: str | None, reason: str, as_json: bool) -> None:
    """Give the record back to the pool without dialing it."""
    with state.context() as ctx:
        result = preview.skip(ctx, handle, agent, now=ctx.clock.now(), reason=reason, campaign=campaign)
    print_json(result.as_dict()) if as_json else print_desk(result)


@preview_group.command()
@click.argument("handle")
@AGENT
@CAMPAIGN
@click.option(
    "--at",
    "at_text",
    required=True,
    help="When to call back: ISO 8601, e.g. 2026-03-03T14:30 (the campaign's zone) or with an offset.",
)
@click.option(
    "--personal",
    is_flag=True,
    help="A personal callback: only this agent gets the record, until the campaign's "
    "personal_callback_grace_seconds (default 1 hour) after the callback time; then any agent.",
)
@AS_JSON
@pass_state
def reschedule(
    state: State, handle: str, agent: str, campaign: str | None, at_text: str, personal: bool, as_json: bool
) -> None:
    """Call the record back later (moved into the callee's calling window if needed)."""
    with state.context() as ctx:
        at = preview.parse_time(ctx, handle, at_text, campaign=campaign)
        result = preview.reschedule(ctx, handle, agent, at, now=ctx.clock.now(), campaign=campaign, personal=personal)
    print_json(result.as_dict()) if as_json else print_desk(result)


@preview_group.command()
@click.argument("handle")
@AGENT
@CAMPAIGN
@click.option(
    "--disposition",
    required=True,
    help="The call's result: ANSWER, NO_ANSWER, BUSY, ANSWERING_MACHINE, WRONG_PARTY, WRONG_NUMBER, "
    "DO_NOT_CALL, CANCEL_RECORD, … (Genesys names or OCS codes).",
)
@AS_JSON
@pass_state
def complete(state: State, handle: str, agent: str, campaign: str | None, disposition: str, as_json: bool) -> None:
    """Give the agent's disposition; the retry treatment decides what follows."""
    with state.context() as ctx:
        result = preview.complete(ctx, handle, agent, disposition, now=ctx.clock.now(), campaign=campaign)
    print_json(result.as_dict()) if as_json else print_desk(result)

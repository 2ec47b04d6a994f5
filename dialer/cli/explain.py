"""`dialer status`: prints what :mod:`dialer.status` finds."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dialer.cli.app import out
from dialer.status import REASONS, campaign_status, explain_record

__all__ = ["REASONS", "campaign_status", "explain_record", "print_record", "print_status"]


def print_status(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out.print("No campaigns yet. Create one with `dialer campaign create NAME --flow-id FLOW`.")
    for row in rows:
        rate = row["abandon_rate_30d"]
        paused = f" — paused: {row['pause_reason']}" if row["status"] == "paused" else ""
        out.print(
            f"[bold]{row['campaign']}[/] {row['mode']}, {row['status']}{paused}; {row['agents']} agents, "
            f"{row['lines_in_use']} lines in use; abandon rate 30 d "
            f"{'n/a' if rate is None else f'{rate:.2%}'} of {row['live_answers_30d']} live answers (cap 3%)"
        )
        out.print("  records: " + ", ".join(f"{k} {v}" for k, v in row["records_by_status"].items()))
        pacer = row.get("pacer")
        if pacer is None:
            out.print("  daemon: no daemon paces this campaign (start `dialer run`); nothing dials it")
        else:
            out.print(f"  daemon: paced by {pacer['describe']}")
        pacing = row["pacing"]
        if pacing is None:
            out.print("  pacing: never paced (no `dialer run` has looked at this campaign yet)")
        else:
            gates = ", ".join(f"{k} {v}" for k, v in pacing["blocked_by_gates"].items())
            out.print(
                f"  pacing {pacing['when']}: {pacing['reason']}" + (f" (gates refused: {gates})" if gates else "")
            )
        comp = row.get("compliance")
        if comp:
            budget = comp["abandon_budget"]
            ring = comp["ring_timeout"]
            sched = comp["schedule"]
            out.print(
                f"  compliance: {comp['profile']} profile; abandon cap {comp['abandon_target']:.1%} per "
                f"{comp['abandon_window_hours']:g} h — {budget['reason']}"
                + (" [predictive → progressive]" if budget["force_progressive"] else "")
            )
            out.print(
                f"  ring timeout {ring['seconds']} s (minimum {ring['minimum']} s: {ring['rule']}); "
                f"schedule {sched['describe']} ({sched['rule']}: {sched['reason']})"
            )
        if row["not_dialing"]:
            table = Table("why not dialing right now", "records", "meaning", box=None, padding=(0, 2))
            for reason, n in row["not_dialing"].items():
                table.add_row(reason, str(n), row["reasons"][reason])
            out.print(table)
        if row.get("locked_by_agent"):
            out.print("  on agents' desks: " + ", ".join(f"{a} {n}" for a, n in row["locked_by_agent"].items()))


def print_record(data: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key in (
        "campaign",
        "record_handle",
        "phone",
        "status",
        "attempts",
        "max_attempts",
        "next_dial_at",
        "time_zone",
        "tz_source",
        "last_outcome",
        "verdict",
    ):
        table.add_row(key, str(data[key]))
    if data.get("blocked_reason"):
        reason = data["blocked_reason"]
        table.add_row("held by", f"{reason}: {REASONS.get(reason, reason)}")
    gates = data.get("gates_now")
    if gates and not gates["allowed"]:
        table.add_row("gates now", f"{gates['rule']}: {gates['reason']}")
    out.print(table)
    for h in data["history"]:
        out.print(
            f"  {h['placed_at']} {h['outcome']} (raw {h['raw_outcome']!r}, missed {h['was_missed']})"
            + (f" — {h['error']}" if h["error"] else "")
        )

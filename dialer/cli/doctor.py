"""`dialer doctor`: check that this installation is ready to dial."""

from __future__ import annotations

import click

from dialer import doctor as checks
from dialer.cli.app import State, cli, out, pass_state, print_json
from dialer.errors import DialerError

_SHOWN = {"ok": "[green]OK[/green]", "fail": "[red]FAIL[/red]", "skip": "[dim]skip[/dim]"}


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as one JSON object.")
@click.option(
    "--max-skew",
    type=click.FloatRange(min=0),
    default=checks.MAX_SKEW,
    show_default=True,
    help="Seconds the local clock may differ from the provider's.",
)
@pass_state
def doctor(state: State, as_json: bool, max_skew: float) -> None:
    """Check settings, the database and its migrations, campaigns, the provider login and
    role, caller IDs, the callback URL and the clock. Each failure says how to fix it; the
    exit code is 1 when any check fails."""
    diagnosis = checks.diagnose(state.settings, max_skew=max_skew)
    if as_json:
        print_json(diagnosis.as_dict())
    else:
        for check in diagnosis.checks:
            out.print(f"{check.name}: {_SHOWN[check.status]} — {check.detail}", markup=True, highlight=False)
            if check.fix:
                out.print(f"  fix: {check.fix}", highlight=False, markup=False)
        failed = [c.name for c in diagnosis.checks if c.status == "fail"]
        out.print(f"\n{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "\nReady to dial.")
    if not diagnosis.ok:
        if as_json:  # the object above already says which checks failed and how to fix each
            raise click.exceptions.Exit(1)
        names = ", ".join(c.name for c in diagnosis.checks if c.status == "fail")
        raise DialerError(f"dialer doctor: failed check(s): {names}. Apply each fix above, then run it again.")

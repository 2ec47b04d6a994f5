"""`dialer sandbox …`: provider emulators for rehearsals and tests, driven by the simulated
call centre."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import uvicorn

from dialer.cli.app import State, cli, err, pass_state
from dialer.domain.clock import SystemClock
from dialer.sim.callcentre import CallModel


@cli.group()
def sandbox() -> None:
    """Run a provider emulator (no calls reach anyone)."""


@sandbox.command("twilio")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--account-sid", default="AC" + "0" * 32, show_default=True, help="Account SID clients must use.")
@click.option("--auth-token", default="sandbox-token", show_default=True, help="Auth Token (also signs callbacks).")
@click.option(
    "--number",
    "numbers",
    multiple=True,
    default=("+12125550100",),
    show_default=True,
    help="An owned Twilio number usable as caller ID (repeatable).",
)
@click.option("--agents", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--hit-rate", type=click.FloatRange(0, 1), default=0.30, show_default=True)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.001),
    default=1.0,
    show_default=True,
    help="Run the simulated call centre this many times faster than real time.",
)
@click.option(
    "--start", type=click.DateTime(formats=["%Y-%m-%dT%H:%M"]), help="Simulated start time, UTC (default: now)."
)
@click.option("--cps", type=float, default=1.0, show_default=True, help="Account calls per second; excess is queued.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of requests answered HTTP 500.")
@click.option("--latency", type=click.FloatRange(min=0), default=0.0, help="Seconds added to every response.")
@click.option("--burst-429-every", type=click.IntRange(min=0), default=0, help="Every Nth request starts a 429 burst.")
@click.option(
    "--commit-then-timeout",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of creates that make the call but answer too late.",
)
@pass_state
def sandbox_twilio(
    state: State,
    host: str,
    port: int,
    account_sid: str,
    auth_token: str,
    numbers: tuple[str, ...],
    agents: int,
    seed: int,
    hit_rate: float,
    speed: float,
    start: datetime | None,
    cps: float,
    error_rate: float,
    latency: float,
    burst_429_every: int,
    commit_then_timeout: float,
) -> None:
    """Serve a fake Twilio Calls API on HOST:PORT that answers with the simulated call centre and
    posts signed status, AMD and queue callbacks. Point the dialer at it with
    DIALER_TWILIO_API_BASE_URL=http://HOST:PORT."""
    from dialer.sandbox.twilio import Faults, TwilioSandbox

    clock = SystemClock(speed=speed, start=start.replace(tzinfo=UTC) if start else None)
    fake = TwilioSandbox(
        account_sid=account_sid,
        auth_token=auth_token,
        numbers=numbers,
        agents=agents,
        model=CallModel(hit_rate=hit_rate),
        seed=seed,
        clock=clock,
        cps=cps,
        faults=Faults(
            error_rate=error_rate,
            latency=latency,
            burst_429_every=burst_429_every,
            commit_then_timeout=commit_then_timeout,
        ),
    )
    err.print(
        f"Twilio sandbox on http://{host}:{port} — account {account_sid}, {agents} agents, "
        f"numbers {', '.join(numbers)}; speed {speed:g}×. Ctrl-C stops it."
    )
    uvicorn.run(fake.app, host=host, port=port, log_level="warning")

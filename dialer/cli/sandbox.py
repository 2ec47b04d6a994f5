"""`dialer sandbox …`: local servers that behave like the telephony providers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import click

from dialer.cli.app import cli, err, out
from dialer.domain.clock import SystemClock
from dialer.sandbox.evovoice import (
    DEFAULT_NUMBERS,
    DEFAULT_USERS,
    PLACEMENT_RESPONSES,
    EvoSandbox,
    Faults,
    LiveStates,
    SandboxConfig,
    SandboxUser,
)
from dialer.sim.callcentre import REALISTIC, CallModel


@cli.group()
def sandbox() -> None:
    """Local stand-ins for the telephony providers: rehearse a campaign without calling anyone."""


def _user(text: str) -> SandboxUser:
    email, sep, rest = text.partition(":")
    password, sep2, roles = rest.partition(":")
    if not (sep and sep2 and email and password and roles):
        raise click.BadParameter(f"{text!r}: use EMAIL:PASSWORD:ROLE[+ROLE…], e.g. boss@example.test:pw:Manager")
    return SandboxUser(email=email, password=password, roles=tuple(r for r in roles.split("+") if r))


@sandbox.command("evovoice")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8800, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--agents", default=8, show_default=True, type=click.IntRange(0), help="Agents in the call centre.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of callee behaviour and faults.")
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Run calls this many times faster than real time.",
)
@click.option(
    "--number",
    "numbers",
    multiple=True,
    metavar="E164",
    help=f"An owned phone number (repeatable). Default: {', '.join(DEFAULT_NUMBERS)}.",
)
@click.option("--account-id", default="sandbox-account", show_default=True, help="The account's id.")
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="EMAIL:PASSWORD:ROLES",
    help="A login, roles joined with + (repeatable). Default: manager@sandbox.test:sandbox:Manager+User "
    "and agent@sandbox.test:sandbox:User.",
)
@click.option(
    "--hit-rate",
    type=click.FloatRange(0, 1),
    default=REALISTIC.hit_rate,
    show_default=True,
    help="Share of calls a person answers.",
)
@click.option(
    "--talk-mean",
    type=click.FloatRange(min=1),
    default=REALISTIC.talk_mean,
    show_default=True,
    help="Mean talk time with an agent, seconds.",
)
@click.option(
    "--placement-response",
    type=click.Choice(PLACEMENT_RESPONSES),
    default="empty",
    show_default=True,
    help="What POST /sessions/outgoing answers: empty 200 (as documented), 204, {} or the SessionInfo.",
)
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of requests answered 5xx.")
@click.option("--latency", type=click.FloatRange(0), default=0.0, help="Seconds added to every response.")
@click.option("--burst-rate", type=click.FloatRange(0, 1), default=0.0, help="Chance a request starts a 429 burst.")
@click.option("--burst-length", type=click.IntRange(1), default=5, show_default=True, help="Requests per 429 burst.")
@click.option(
    "--commit-timeout-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of placements that dial, then answer only after --hang-seconds.",
)
@click.option(
    "--retry-after",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Retry-After seconds sent with each 429.",
)
@click.option(
    "--timeout-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of requests that hang for --hang-seconds, then fail 504 having done nothing.",
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of placements that dial the call, then answer 502 (the response is lost).",
)
@click.option(
    "--hang-seconds", type=click.FloatRange(0), default=30.0, show_default=True, help="How late those answers come."
)
@click.option(
    "--hold-share",
    type=click.FloatRange(0, 1),
    default=LiveStates().hold_share,
    show_default=True,
    help="Share of calls their agent puts on hold (callState Hold, queueState Hold) for a while.",
)
@click.option(
    "--transfer-share",
    type=click.FloatRange(0, 1),
    default=LiveStates().transfer_share,
    show_default=True,
    help="Share of calls transferred to a supervisor (Passive, Transferring, a member with role Transfer).",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not log each request.")
def evovoice(
    host: str,
    port: int,
    agents: int,
    seed: int,
    speed: float,
    numbers: tuple[str, ...],
    account_id: str,
    users: tuple[str, ...],
    hit_rate: float,
    talk_mean: float,
    placement_response: str,
    error_rate: float,
    latency: float,
    burst_rate: float,
    burst_length: int,
    commit_timeout_rate: float,
    retry_after: float,
    timeout_rate: float,
    lost_response_rate: float,
    hang_seconds: float,
    hold_share: float,
    transfer_share: float,
    quiet: bool,
) -> None:
    """Serve an Evo Voice sandbox: the operations the dialer uses, as documented, over the
    simulated call centre, with optional faults. Stop it with Ctrl-C.

    Point the dialer at it with DIALER_BACKEND=evovoice, DIALER_EVOVOICE_BASE_URL and one of
    its logins (printed at start-up).
    """
    from dialer.sandbox.evovoice_app import create_app
    from dialer.sandbox.server import bind, serve, url_of

    try:
        config = SandboxConfig(
            account_id=account_id,
            numbers=numbers or DEFAULT_NUMBERS,
            users=tuple(_user(u) for u in users) or DEFAULT_USERS,
            agents=agents,
            model=replace(REALISTIC, hit_rate=hit_rate, talk_mean=talk_mean),
            seed=seed,
            placement_response=placement_response,  # type: ignore[arg-type]
            faults=Faults(
                error_rate=error_rate,
                latency=latency,
                burst_rate=burst_rate,
                burst_length=burst_length,
                commit_timeout_rate=commit_timeout_rate,
                retry_after=retry_after,
                timeout_rate=timeout_rate,
                lost_response_rate=lost_response_rate,
                hang_seconds=hang_seconds,
            ),
            live=LiveStates(hold_share=hold_share, transfer_share=transfer_share),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    state = EvoSandbox(config, clock=SystemClock(speed=speed))
    sock = bind(host, port)
    url = url_of(sock)
    manager = next((u for u in config.users if {"Manager", "SystemAdministrator"} & set(u.roles)), config.users[0])
    out.print(f"Evo Voice sandbox on {url} — account {config.account_id}, {agents} agents, speed ×{speed:g}")
    out.print(f"Owned numbers (caller IDs): {', '.join(config.numbers)}")
    for user in config.users:
        out.print(f"Login: {user.email} / {user.password} ({'+'.join(user.roles)})")
    customers = ", ".join(f"{c.id} ({c.name})" for c in config.customers)
    out.print(f"Customers (NewSession customerId, DIALER_EVOVOICE_CUSTOMER_ID): {customers}")
    faults = config.faults
    if faults != Faults():
        out.print(
            f"Faults: errors {faults.error_rate:.0%}, latency {faults.latency:g} s, "
            f"429 bursts {faults.burst_rate:.0%} × {faults.burst_length} (Retry-After {faults.retry_after:g} s), "
            f"commit-then-time-out {faults.commit_timeout_rate:.0%}, timeouts {faults.timeout_rate:.0%} "
            f"({faults.hang_seconds:g} s), lost placement answers {faults.lost_response_rate:.0%}"
        )
    out.print("In another shell:")
    out.print(
        f"  export DIALER_BACKEND=evovoice DIALER_EVOVOICE_BASE_URL={url} "
        f"DIALER_EVOVOICE_USERNAME={manager.email} DIALER_EVOVOICE_PASSWORD={manager.password}"
    )
    out.print("Ctrl-C stops the sandbox.")
    serve(create_app(state), sock, log_level="warning" if quiet else "info")
    err.print(f"Sandbox stopped: {len(state.placements)} calls placed, {state.requests} requests served.")


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
@click.option("--burst-429-rate", type=click.FloatRange(0, 1), default=0.0, help="Chance a request starts a 429 burst.")
@click.option(
    "--burst-429-length", type=click.IntRange(1), default=3, show_default=True, help="Requests per 429 burst."
)
@click.option(
    "--retry-after", type=click.FloatRange(0), default=1.0, show_default=True, help="Retry-After seconds on each 429."
)
@click.option(
    "--commit-then-timeout",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of creates that make the call but answer only after --timeout-delay.",
)
@click.option(
    "--timeout-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of requests that hang for --timeout-delay, then fail 504 having done nothing.",
)
@click.option(
    "--lost-response-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Share of creates that make the call, then answer 502 (the response is lost).",
)
@click.option(
    "--timeout-delay", type=click.FloatRange(0), default=15.0, show_default=True, help="How long those requests hang."
)
def sandbox_twilio(
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
    burst_429_rate: float,
    burst_429_length: int,
    retry_after: float,
    commit_then_timeout: float,
    timeout_rate: float,
    lost_response_rate: float,
    timeout_delay: float,
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
            burst_429_rate=burst_429_rate,
            burst_429_length=burst_429_length,
            retry_after=retry_after,
            commit_then_timeout=commit_then_timeout,
            timeout_rate=timeout_rate,
            lost_response_rate=lost_response_rate,
            timeout_delay=timeout_delay,
        ),
    )
    from dialer.sandbox.server import bind, serve, url_of

    sock = bind(host, port)
    url = url_of(sock)
    out.print(f"Twilio sandbox on {url} — account {account_sid}, {agents} agents, speed ×{speed:g}")
    out.print(f"Owned numbers (caller IDs): {', '.join(numbers)}")
    out.print("In another shell:")
    out.print(
        f"  export DIALER_BACKEND=twilio DIALER_TWILIO_API_BASE_URL={url} "
        f"DIALER_TWILIO_ACCOUNT_SID={account_sid} DIALER_TWILIO_AUTH_TOKEN={auth_token}"
    )
    out.print("Ctrl-C stops the sandbox.")
    fake.start()
    try:
        serve(fake.app, sock)
    finally:
        fake.stop()
    err.print(f"Sandbox stopped: {len(fake.calls)} calls placed, {len(fake.callbacks_sent)} callbacks sent.")

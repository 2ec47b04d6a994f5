"""`dialer web`: the web app for campaign managers and agents."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import click
from starlette.routing import BaseRoute

from dialer.cli.app import State, cli, err, out, pass_state
from dialer.cli.webhooks import abandon_message
from dialer.context import Context
from dialer.daemon.scheduler import Daemon
from dialer.demo import find_demo_campaign, prepare_web_demo
from dialer.domain.clock import SystemClock
from dialer.errors import ConfigError
from dialer.sandbox.server import bind, url_of
from dialer.web import security
from dialer.web.app import create_app
from dialer.web.server import serve

#: The demo's clock runs this much faster than real time unless DIALER_SIM_SPEED says otherwise.
DEMO_SPEED = 5.0


def demo_start(today: datetime) -> datetime:
    """14:00 UTC (09:00 or 10:00 on the US east coast) of today, or of Monday on a Sunday (the
    demo campaign calls Monday to Saturday)."""
    start = datetime.combine(today.date(), time(14, 0), tzinfo=UTC)
    return start + timedelta(days=1) if start.weekday() == 6 else start


def twilio_routes(ctx: Context) -> list[BaseRoute]:
    """With the Twilio backend configured for callbacks, receive them on the web app's port too."""
    settings = ctx.settings
    if settings.backend != "twilio" or settings.twilio_auth_token is None or not settings.twilio_public_base_url:
        return []
    from dialer.web.twilio_callbacks import create_app as callbacks_app

    app = callbacks_app(
        store=ctx.store,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        public_base_url=settings.twilio_public_base_url,
        now=ctx.clock.now,
        abandon_message=lambda name: abandon_message(ctx.store, name),
    )
    return list(app.routes)


@cli.command()
@click.option(
    "--host", envvar="DIALER_WEB_HOST", help="Interface to listen on (default 127.0.0.1). [env: DIALER_WEB_HOST]"
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    envvar="DIALER_WEB_PORT",
    help="Port (default 8000). [env: DIALER_WEB_PORT]",
)
@click.option(
    "--no-dialer",
    is_flag=True,
    help="Do not pace campaigns in this process (a separate `dialer run` does). Preview desk calls then need "
    "a backend whose results that `dialer run` collects (Evo Voice, Twilio).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Serve a fresh demo database (DATA_DIR/web-demo): the demo campaign dialing on the simulated call "
    "centre, a preview campaign for the desk, and one login per role (passwords printed).",
)
@pass_state
def web(state: State, host: str | None, port: int | None, no_dialer: bool, demo: bool) -> None:
    """Serve the web app: campaigns, imports, live figures, reports, the do-not-call list and
    the agents' preview desk. By default it also paces campaigns (the daemon's tick, in this
    process), so that dialing and the preview desk share one telephony backend."""
    settings = state.settings()
    overrides: dict[str, Any] = {}
    clock = None
    logins: list[tuple[str, str, str]] = []
    if demo:
        if settings.backend != "simulated":
            raise ConfigError("--demo runs on the simulated call centre; unset DIALER_BACKEND or set it to simulated")
        speed = settings.sim_speed if settings.sim_speed != 1.0 else DEMO_SPEED
        start = demo_start(datetime.now(UTC))
        prepared = prepare_web_demo(
            settings, workdir=settings.data_dir / "web-demo", campaign_file=find_demo_campaign(), now=start
        )
        overrides = {"database_url": f"sqlite:///{prepared.database}", "sim_speed": speed}
        clock = SystemClock(speed=speed, start=start)
        logins = prepared.logins
    host = host or settings.web_host
    port = settings.web_port if port is None else port
    with state.context(clock=clock, **overrides) as ctx:
        secret = security.session_secret(ctx.settings)
        security.install_redaction(ctx.settings, [secret])
        pacer = None if no_dialer else Daemon(ctx, background=True, install_signals=False)
        app = create_app(ctx, pacer=pacer, extra_routes=twilio_routes(ctx))
        sock = bind(host, port)
        url = url_of(sock)
        out.print(f"dialer web on {url} — {ctx.settings.backend} backend, ", end="", highlight=False)
        out.print("pacing in this process" if pacer else "pacing left to a separate `dialer run`", highlight=False)
        if demo:
            out.print(
                f"Demo database {prepared.database}; campaigns {', '.join(prepared.campaigns)}; "
                f"virtual clock from {start:%Y-%m-%d %H:%M} UTC at ×{overrides['sim_speed']:g}",
                highlight=False,
            )
            for name, role, password in logins:
                out.print(f"  log in as {name} / {password} ({role})", highlight=False)
        elif not ctx.store.list_users():
            out.print("No users yet: add one with `dialer user add NAME --role Manager` (in another shell).")
        err.print("Ctrl-C stops the server" + (" (calls in flight are collected first)." if pacer else "."))
        serve(app, sock, log_level="warning" if state.verbose == 0 else "info")

"""`dialer webhooks serve`: the receiver for signed provider callbacks."""

from __future__ import annotations

import click
import uvicorn

from dialer.cli.app import State, cli, err, pass_state
from dialer.domain.clock import SystemClock
from dialer.errors import ConfigError, NotFound
from dialer.store.repository import SqlStore


@cli.group()
def webhooks() -> None:
    """Receive provider callbacks (Twilio status, AMD and queue results)."""


@webhooks.command("serve")
@click.option("--host", help="Interface to listen on. [env: DIALER_TWILIO_WEBHOOK_HOST, default 0.0.0.0]")
@click.option("--port", type=int, default=8080, show_default=True)
@pass_state
def serve(state: State, host: str | None, port: int) -> None:
    """Accept Twilio's signed callbacks and store them for the dialer (run beside `dialer run`).

    Needs DIALER_TWILIO_AUTH_TOKEN (the signing key) and DIALER_TWILIO_PUBLIC_BASE_URL: the
    public URL Twilio calls, which is also the URL every signature is checked against."""
    from dialer.web.twilio_callbacks import create_app

    settings = state.settings()
    if settings.twilio_auth_token is None or not settings.twilio_auth_token.get_secret_value():
        raise ConfigError("the webhook receiver needs DIALER_TWILIO_AUTH_TOKEN to check callback signatures")
    if not settings.twilio_public_base_url:
        raise ConfigError(
            "set DIALER_TWILIO_PUBLIC_BASE_URL to the public URL Twilio reaches this receiver at "
            "(e.g. https://dialer.example.com); signatures are checked against it"
        )
    store = SqlStore.open(settings.effective_database_url)
    try:
        app = create_app(
            store=store,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            public_base_url=settings.twilio_public_base_url,
            now=SystemClock().now,
            abandon_message=lambda name: abandon_message(store, name),
        )
        err.print(
            f"receiving Twilio callbacks on {host or settings.twilio_webhook_host}:{port} "
            f"for {settings.twilio_public_base_url}"
        )
        uvicorn.run(app, host=host or settings.twilio_webhook_host, port=port, log_level="warning")
    finally:
        store.close()


def abandon_message(store: SqlStore, name: str) -> str | None:
    """The campaign's own abandonment message (``abandon_message`` in its options), if any."""
    try:
        message = store.get_campaign(name).options.get("abandon_message")
    except NotFound:
        return None
    return str(message) if message else None

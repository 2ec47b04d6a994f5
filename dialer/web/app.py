"""``create_app(ctx)``: the web app for campaign managers and agents.

Server-rendered pages (Jinja2) with htmx for the live parts (server-sent events, import
progress, the desk while a call is up). No JavaScript build step: htmx and its SSE
extension are vendored under ``static/vendor``.

The app is built from a :class:`~dialer.context.Context` and may run the dialer's own pacer
(:class:`~dialer.daemon.scheduler.Daemon` on a background scheduler) for the lifetime of
the server, so that the calls it places and the calls agents place from the preview desk
go through one telephony backend and are collected by one tick.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialer.context import Context
from dialer.daemon.scheduler import Daemon
from dialer.errors import DialerError
from dialer.web import auth_pages, campaign_pages, desk_pages, import_pages, security
from dialer.web.base import WebState, dialer_error_page, error_page, public, templates, unexpected_error_page

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Every response gets the headers above; pages and downloads are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Not allowed", 400: "Bad request"}
    messages = {
        404: "There is no page at this address. Use the menu above.",
        405: "This address does not take that kind of request.",
    }
    return error_page(
        request,
        exc.status_code,
        titles.get(exc.status_code, "That did not work"),
        messages.get(exc.status_code, str(exc.detail)),
    )


async def _dialer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DialerError)
    return dialer_error_page(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_error_page(request, exc)


def create_app(
    ctx: Context,
    *,
    pacer: Daemon | None = None,
    work_dir: Path | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """The web app on ``ctx``. ``pacer``: a background :class:`Daemon` started with the app
    and stopped (collecting calls in flight) when it shuts down."""
    settings = ctx.settings
    web = WebState(
        ctx=ctx,
        templates=templates(),
        upload_limit=int(settings.web_max_upload_mb * 1_000_000),
        session_seconds=settings.web_session_hours * 3600,
        live_seconds=settings.web_live_seconds,
        work_dir=work_dir or settings.data_dir / "web",
        pacing="embedded" if pacer is not None else "separate",
    )
    secret = security.session_secret(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if pacer is not None:
            pacer.start()
            log.info("pacing in this process (tick every %g s)", settings.tick_seconds)
        try:
            yield {}
        finally:
            if pacer is not None:
                result = await to_thread.run_sync(pacer.stop)
                log.info("pacer stopped after %d ticks, %d calls placed", result.ticks, result.placed)

    routes: list[BaseRoute] = [
        public("/healthz", healthz),
        Mount("/static", app=StaticFiles(packages=[("dialer.web", "static")]), name="static"),
        *auth_pages.routes(),  # type: ignore[list-item]
        *campaign_pages.routes(),  # type: ignore[list-item]
        *import_pages.routes(),  # type: ignore[list-item]
        *desk_pages.routes(),  # type: ignore[list-item]
        *(extra_routes or []),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=security.SESSION_COOKIE,
                max_age=int(web.session_seconds),
                same_site="strict",
                https_only=settings.web_cookie_secure,
            ),
        ],
        exception_handlers={
            HTTPException: _http_error,
            DialerError: _dialer_error,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.web = web
    app.state.secret_values = security.secret_values(settings, [secret])
    return app

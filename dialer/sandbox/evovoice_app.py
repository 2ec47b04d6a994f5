"""The Evo Voice sandbox over HTTP: a Starlette ASGI app around :class:`EvoSandbox`.

ServiceStack conventions: request fields from the query string and a JSON (or form) body,
matched case-insensitively; camelCase JSON answers with enums as strings; errors as a
``responseStatus`` body with the ServiceStack status code (a 502 injected as a fault carries
a proxy's plain-text body instead, as the client must tolerate). Per request, in order:
injected latency, an injected 429 or server error, Basic authentication, the operation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from dialer.sandbox.evovoice import EvoSandbox, SandboxUser
from dialer.sandbox.servicestack import SandboxRefusal

log = logging.getLogger(__name__)

Operation = Callable[[EvoSandbox, SandboxUser, Request, dict[str, Any]], Awaitable[Response]]


def create_app(sandbox: EvoSandbox) -> Starlette:
    """The ASGI app serving ``sandbox``."""

    def route(path: str, method: str, operation: Operation) -> Route:
        async def endpoint(request: Request) -> Response:
            try:
                if sandbox.config.faults.latency:
                    await asyncio.sleep(sandbox.config.faults.latency)
                fault = sandbox.draw_fault()
                if fault is not None:
                    raise fault
                if sandbox.draw_timeout():
                    await asyncio.sleep(sandbox.config.faults.hang_seconds)
                    return PlainTextResponse("upstream request timeout", status_code=504)
                user = sandbox.authenticate(request.headers.get("authorization"))
                params = await _params(request)
                return await operation(sandbox, user, request, params)
            except SandboxRefusal as refusal:
                return _refusal(refusal)

        return Route(path, endpoint, methods=[method])

    routes = [
        route("/auth/status", "GET", _auth_status),
        route("/sessions/outgoing", "POST", _new_outgoing_session),
        route("/sessions", "POST", _new_session),
        route("/sessions", "GET", _list_sessions),
        route("/sessions/{session_id}", "GET", _get_session),
        route("/sessions/{session_id}", "PATCH", _patch_session),
        route("/sessions/{session_id}", "DELETE", _end_session),
        route("/calls/active", "GET", _active_calls),
        route("/endpoints", "GET", _list_endpoints),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "NotFound", 405: "NotImplementedException"}.get(status, "Exception")
        message = f"No operation for {request.method} {request.url.path}" if status in (404, 405) else str(exc)
        return _refusal(SandboxRefusal(status, code, message))

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


# ------------------------------------------------------------------ operations
async def _auth_status(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.auth_status(user))


async def _new_outgoing_session(
    sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]
) -> Response:
    session = sandbox.new_outgoing_session(user, params)
    if sandbox.draw_commit_timeout():
        # The call is ringing; the answer comes too late for the client (commit then time out).
        sandbox.mark_answered_late(str(session["id"]))
        await asyncio.sleep(sandbox.config.faults.hang_seconds)
    if sandbox.draw_lost_response():
        # The call is ringing, but a proxy loses the answer (ambiguous placement).
        sandbox.lost_responses.add(str(session["id"]))
        return PlainTextResponse("502 Bad Gateway", status_code=502)
    shape = sandbox.config.placement_response
    if shape == "no-content":
        return Response(status_code=204)
    if shape == "empty-object":
        return _json({})
    if shape == "session":
        return _json(session)
    return Response(status_code=200, media_type="application/json")


async def _new_session(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.new_session(user, params))


async def _list_sessions(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.list_sessions(user, params))


async def _get_session(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.get_session(user, request.path_params["session_id"]))


async def _patch_session(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.patch_session(user, request.path_params["session_id"], params))


async def _end_session(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    sandbox.end_session(user, request.path_params["session_id"])
    return Response(status_code=204)


async def _active_calls(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.active_calls(user, params))


async def _list_endpoints(sandbox: EvoSandbox, user: SandboxUser, request: Request, params: dict[str, Any]) -> Response:
    return _json(sandbox.list_endpoints(user, params))


# --------------------------------------------------------------------- helpers
async def _params(request: Request) -> dict[str, Any]:
    """Query string and body fields, keys lower-cased (ServiceStack binds case-insensitively)."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key.lower()] = values if len(values) > 1 else values[0]
    body = await request.body()
    if body.strip():
        content_type = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" in content_type:
            form = await request.form()
            params.update({k.lower(): v for k, v in form.items()})
        else:
            try:
                data = json.loads(body)
            except ValueError:
                raise SandboxRefusal(400, "SerializationException", "The request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise SandboxRefusal(400, "SerializationException", "The request body must be a JSON object")
            params.update({str(k).lower(): v for k, v in data.items()})
    return params


def _json(data: object) -> Response:
    return JSONResponse(data, media_type="application/json; charset=utf-8")


def _refusal(refusal: SandboxRefusal) -> Response:
    if refusal.status == 502:  # what a proxy in front of ServiceStack would send
        return PlainTextResponse("502 Bad Gateway", status_code=502, headers=refusal.headers)
    return JSONResponse(refusal.body(), status_code=refusal.status, headers=refusal.headers)

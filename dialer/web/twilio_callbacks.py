"""The webhook receiver for Twilio: status, async AMD and queue callbacks, and the wait TwiML.

Every request must carry a valid ``X-Twilio-Signature`` for the URL Twilio called, which is
rebuilt from the configured public base URL (``DIALER_TWILIO_PUBLIC_BASE_URL``), not from the
``Host`` header, so the check holds behind a proxy. Unsigned or tampered requests get 403
and touch nothing; the log names the path and the client, never the token or the signature.

Accepted callbacks are stored as provider events, idempotently on
``(CallSid, kind, SequenceNumber)``: a redelivered callback is acknowledged and ignored.
The dialer's tick folds the stored events of each call in sequence order
(:mod:`dialer.telephony.twilio_mapping`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dialer.errors import DialerError
from dialer.store.repository import SqlStore
from dialer.telephony.twilio_voice import CALLBACK_PATHS, signature_valid

log = logging.getLogger(__name__)

#: Status callbacks without a SequenceNumber are keyed by the status's place in the call.
_STATUS_RANK = {"queued": 0, "initiated": 0, "ringing": 1, "in-progress": 2}
TWIML = "application/xml"
#: Twilio's SequenceNumber counts a call's callbacks; more digits than this is not one.
MAX_SEQUENCE_DIGITS = 9


def create_app(
    *,
    store: SqlStore,
    auth_token: str,
    public_base_url: str,
    now: Callable[[], datetime],
    abandon_message: Callable[[str], str | None] | None = None,
) -> Starlette:
    base = public_base_url.rstrip("/")

    async def verified_form(request: Request) -> dict[str, str] | None:
        form = await request.form(max_files=0, max_fields=200)
        params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not signature_valid(auth_token, url, params, request.headers.get("x-twilio-signature", "")):
            client = request.client.host if request.client else "unknown"
            log.warning(
                "refused a Twilio callback to %s from %s: missing or invalid signature", request.url.path, client
            )
            return None
        return params

    def malformed(params: dict[str, str]) -> Response | None:
        """A signed callback the store cannot keep as sent: Twilio never sends a NUL character."""
        if any("\x00" in k or "\x00" in v for k, v in params.items()):
            return PlainTextResponse("NUL characters are not accepted in a callback", status_code=400)
        return None

    def forbidden() -> Response:
        return PlainTextResponse("invalid signature", status_code=403)

    async def status(request: Request) -> Response:
        params = await verified_form(request)
        if params is None:
            return forbidden()
        if (refusal := malformed(params)) is not None:
            return refusal
        sid = params.get("CallSid", "")
        if not sid:
            return PlainTextResponse("CallSid missing", status_code=400)
        raw_seq = params.get("SequenceNumber")
        if raw_seq is not None:
            # ASCII digits only: str.isdigit() also accepts "²" and "١", which int() refuses or misreads.
            if not (raw_seq.isascii() and raw_seq.isdigit() and len(raw_seq) <= MAX_SEQUENCE_DIGITS):
                return PlainTextResponse("SequenceNumber must be a whole number", status_code=400)
            sequence = int(raw_seq)
        else:
            sequence = 1000 + _STATUS_RANK.get(params.get("CallStatus", "").lower(), 3)
        store.add_provider_event(provider_ref=sid, kind="status", sequence=sequence, payload=params, now=now())
        return Response(status_code=204)

    async def amd(request: Request) -> Response:
        params = await verified_form(request)
        if params is None:
            return forbidden()
        if (refusal := malformed(params)) is not None:
            return refusal
        store.add_provider_event(
            provider_ref=params.get("CallSid", ""), kind="amd", sequence=0, payload=params, now=now()
        )
        return Response(status_code=204)

    async def queue(request: Request) -> Response:
        params = await verified_form(request)
        if params is None:
            return forbidden()
        if (refusal := malformed(params)) is not None:
            return refusal
        store.add_provider_event(
            provider_ref=params.get("CallSid", ""), kind="queue", sequence=0, payload=params, now=now()
        )
        return Response("<Response><Hangup/></Response>", media_type=TWIML)

    async def wait(request: Request) -> Response:
        """Played while an answered callee waits for an agent: after the 2-second grace time the
        campaign's message plays and the caller leaves the queue (an abandoned call)."""
        params = await verified_form(request)
        if params is None:
            return forbidden()
        campaign = request.query_params.get("campaign", "")
        message = (abandon_message(campaign) if abandon_message else None) or (
            f"Sorry, all of our agents are busy. This call was from {campaign or 'us'}; "
            f"please call us back on {params.get('From') or params.get('Caller') or 'this number'}."
        )
        return Response(
            f'<Response><Pause length="2"/><Say>{escape(message)}</Say><Leave/></Response>', media_type=TWIML
        )

    return Starlette(
        routes=[
            Route(CALLBACK_PATHS["status"], status, methods=["POST"]),
            Route(CALLBACK_PATHS["amd"], amd, methods=["POST"]),
            Route(CALLBACK_PATHS["queue"], queue, methods=["POST"]),
            Route(CALLBACK_PATHS["wait"], wait, methods=["POST"]),
        ],
        exception_handlers={DialerError: unavailable},
    )


async def unavailable(request: Request, exc: Exception) -> Response:
    """The store could not keep the callback (the database is down, its disk full): 503, so the
    sender may retry; the dialer's REST fallback fetches calls whose callbacks never arrived."""
    log.error("could not store a Twilio callback to %s: %s", request.url.path, exc)
    return PlainTextResponse("the dialer cannot store this callback right now", status_code=503)

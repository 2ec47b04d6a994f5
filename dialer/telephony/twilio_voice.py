"""The Twilio Programmable Voice backend. The only module that imports ``twilio``.

* **Place:** ``calls.create(to, from_, url | application_sid | twiml, timeout ≥ 15,
  status_callback with initiated/ringing/answered/completed, machine_detection with async
  AMD)``. The campaign's flow id picks the TwiML: an ``AP…`` TwiML application, an
  ``http(s)://`` URL, or else a queue name — the dialer then sends inline TwiML that
  enqueues the callee for the agents, with a wait URL that releases the caller with the
  campaign's message after the 2-second grace time and an action URL that reports whether an
  agent took the call (``was_missed``).
* **Results:** signed callbacks, received by :mod:`dialer.web.twilio_callbacks` and stored as
  provider events, are folded here in ``SequenceNumber`` order
  (:func:`dialer.telephony.twilio_mapping.fold`). Without a public callback URL the backend
  polls ``calls(sid).fetch()`` within a per-tick budget; with one, it still fetches calls whose
  callbacks are overdue.
* **Errors:** ``TwilioRestException`` and ``TwilioServiceException`` (not a subclass; both
  derive from ``TwilioException``) are classified by HTTP status, then code: 21211-class
  codes mark the number bad, caller-ID codes stop the campaign, 401 stops dialing, 429 and 5xx
  back off. A create that times out after the request was sent is *uncertain*: it is
  reconciled with ``calls.list(to=…)`` and never re-sent blindly.
* **CPS:** Twilio queues calls beyond the account's calls-per-second instead of refusing
  them, which silently breaks pacing; the backend advertises ``max_cps`` so the pacer never
  exceeds it, and refuses to place faster itself as a second line of defence.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dialer.domain import phones
from dialer.domain.abandonment import amd_class
from dialer.domain.records import AttemptState
from dialer.errors import (
    PlacementUncertain,
    TelephonyAuthError,
    TelephonyError,
    TelephonyRejected,
    TelephonyUnavailable,
)
from dialer.telephony import twilio_mapping as mapping
from dialer.telephony.base import AgentView, CallHandle, CallRequest, CallUpdate, CentreStats, Placement, http_date

log = logging.getLogger(__name__)

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
CALLBACK_PATHS = {
    "status": "/webhooks/twilio/status",
    "amd": "/webhooks/twilio/amd",
    "queue": "/webhooks/twilio/queue",
    "wait": "/webhooks/twilio/wait",
}
#: A call with no callback this long after placement is fetched over REST (lost callbacks).
OVERDUE = timedelta(seconds=90)
#: When reconciling by number, a call created this much before the attempt still matches.
CLOCK_SKEW = timedelta(seconds=60)
COOL_DOWN = timedelta(seconds=5)
COOL_DOWN_CAP = timedelta(seconds=60)
"""After a 429: no placements for ``Retry-After`` (or this, doubling while 429s continue), capped."""


@runtime_checkable
class CallbackInbox(Protocol):
    """Where the webhook receiver stores callbacks (the store implements it)."""

    def provider_events_for(self, refs: Sequence[str]) -> dict[str, list[tuple[str, int, dict[str, Any]]]]: ...


@dataclass(frozen=True, kw_only=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    api_base_url: str | None = None
    public_base_url: str | None = None
    """Where Twilio reaches the webhook receiver; None: poll over REST."""
    twiml_url: str | None = None
    """Default TwiML URL when a campaign's flow id is a queue name and no public URL is set."""
    max_cps: float = 1.0
    timeout: float = 10.0
    poll_budget: int = 20
    """REST fetches per poll at most (polling competes for Twilio's concurrency limit)."""
    poll_interval: float = 2.0
    amd_settle_seconds: float = 10.0


@dataclass(frozen=True, kw_only=True)
class CampaignCallOptions:
    """Per-campaign call settings (from ``campaign.options``)."""

    machine_detection: str | None = None
    """``Enable`` or ``DetectMessageEnd``; None for no AMD."""
    abandon_message: str | None = None
    time_limit: int | None = None


def signature_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    """Check ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and sorted params with the Auth Token)."""
    return bool(signature) and bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio would send; used by the sandbox to sign its callbacks."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


class HttpClient(TwilioHttpClient):  # type: ignore[misc]
    """The library's HTTP client, keeping the ``Retry-After`` of the last response (the
    library's exceptions do not carry headers), so a 429 cools down for as long as Twilio asked,
    and the ``Date`` of the newest response (for `dialer doctor`'s clock check)."""

    retry_after: float | None = None
    last_date: datetime | None = None

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self.retry_after = None
        response = super().request(*args, **kwargs)
        self.last_date = http_date((response.headers or {}).get("Date"))
        value = (response.headers or {}).get("Retry-After")
        try:
            self.retry_after = max(0.0, float(value)) if value else None
        except ValueError:
            self.retry_after = None
        return response


def classify_error(exc: TwilioException, *, action: str, retry_after: float | None = None) -> TelephonyError:
    """A Twilio error as one of the dialer's, by HTTP status first and then by code."""
    if isinstance(exc, TwilioServiceException):
        status, code, text = exc.status, exc.code, exc.detail or exc.title
    elif isinstance(exc, TwilioRestException):
        status, code, text = exc.status, exc.code, exc.msg
    else:
        return TelephonyUnavailable(f"Twilio failed to {action}: {type(exc).__name__}")
    label = f"Twilio refused to {action} (HTTP {status}, error {code}: {text})"
    scode = str(code) if code is not None else None
    if status == 401 or code == 20003:
        return TelephonyAuthError(
            f"{label}. Check DIALER_TWILIO_ACCOUNT_SID and DIALER_TWILIO_AUTH_TOKEN", code=scode, status=status
        )
    if status == 429 or code == 20429:
        return TelephonyUnavailable(f"{label}; backing off", code=scode, status=429, retry_after=retry_after)
    if status is not None and status >= 500:
        return TelephonyUnavailable(label, code=scode, status=status, retry_after=retry_after)
    if code in mapping.BAD_NUMBER_CODES:
        return TelephonyRejected(label, code=scode, status=status, bad_number=True)
    if code in mapping.BAD_CALLER_ID_CODES:
        return TelephonyRejected(
            f"{label}. The caller ID must be a Twilio number or a verified caller ID of the account",
            code=scode,
            status=status,
            bad_caller_id=True,
        )
    if status == 403:
        return TelephonyAuthError(f"{label}. The account lacks permission for this call", code=scode, status=status)
    return TelephonyRejected(label, code=scode, status=status)


def _sent(exc: requests.RequestException) -> bool:
    """Whether a failed request may have reached Twilio (so a call may exist)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError) and "NewConnectionError" in repr(exc):
        return False  # refused or unresolvable: nothing was sent
    return True


class TwilioTelephony:
    name = "twilio"

    def __init__(
        self,
        config: TwilioConfig,
        *,
        inbox: CallbackInbox | None = None,
        options_for: Callable[[str], CampaignCallOptions] | None = None,
        client: Client | None = None,
    ) -> None:
        self.config = config
        self.inbox = inbox if config.public_base_url else None
        self._options_for = options_for or (lambda name: CampaignCallOptions())
        self.client = client or Client(
            config.account_sid,
            config.auth_token,
            http_client=HttpClient(timeout=config.timeout),
            environment={},  # never read TWILIO_* (region, edge) from the environment
        )
        if config.api_base_url:
            self.client.api.base_url = config.api_base_url.rstrip("/")
        self.max_cps: float | None = config.max_cps
        self._placed_times: deque[datetime] = deque()
        self._expects: dict[str, tuple[bool, bool]] = {}
        self._last_fetch: dict[str, datetime] = {}
        self._claimed: dict[str, str] = {}
        """Call SID → the attempt it belongs to: a call is never matched to two attempts."""
        self.error_listener: Callable[[TelephonyError, str], None] | None = None
        """Told of each failure the backend absorbs itself (a call read that failed): (error, operation)."""
        self._cool_until: datetime | None = None
        self._cool_step = COOL_DOWN

    # ----------------------------------------------------------------- place
    def _flow(self, request: CallRequest, options: CampaignCallOptions) -> dict[str, Any]:
        flow = request.flow_id.strip()
        if flow.startswith("AP") and len(flow) == 34:
            return {"application_sid": flow}
        if flow.startswith(("http://", "https://")):
            return {"url": flow}
        if self.config.public_base_url:
            return {"twiml": self.enqueue_twiml(queue=flow, attempt_id=request.attempt_id, campaign=request.campaign)}
        if self.config.twiml_url:
            return {"url": self.config.twiml_url}
        return {"twiml": f"<Response><Enqueue>{escape(flow)}</Enqueue></Response>"}

    def callback_url(self, kind: str, **query: str) -> str:
        base = (self.config.public_base_url or "").rstrip("/") + CALLBACK_PATHS[kind]
        return f"{base}?{urlencode(query)}" if query else base

    def enqueue_twiml(self, *, queue: str, attempt_id: str, campaign: str) -> str:
        """Connect the callee to the agents' queue; the wait URL releases the caller after the
        grace time, and the action URL reports the queue result (bridged or not)."""
        action = self.callback_url("queue", attempt=attempt_id)
        wait = self.callback_url("wait", campaign=campaign)
        return (
            f'<Response><Enqueue action={quoteattr(action)} method="POST" waitUrl={quoteattr(wait)} '
            f'waitUrlMethod="POST">{escape(queue)}</Enqueue></Response>'
        )

    def _respect_cps(self, now: datetime) -> None:
        second = timedelta(seconds=1)
        while self._placed_times and now - self._placed_times[0] >= second:
            self._placed_times.popleft()
        if self.max_cps is not None and len(self._placed_times) >= max(1, int(self.max_cps)):
            raise TelephonyUnavailable(
                f"Twilio account CPS limit ({self.max_cps:g}/s) reached; the call is held for the next tick",
                retry_after=1.0,
            )
        self._placed_times.append(now)

    def place_call(self, request: CallRequest, *, now: datetime) -> Placement:
        if not request.caller_id:
            raise TelephonyRejected(
                "Twilio needs a caller ID (From) on every call; give the campaign one with --caller-id",
                bad_caller_id=True,
            )
        options = self._options_for(request.campaign)
        kwargs: dict[str, Any] = {
            "to": request.number,
            "from_": request.caller_id,
            "timeout": max(15, request.ring_timeout),
            **self._flow(request, options),
        }
        expects_queue = "twiml" in kwargs and "action=" in kwargs["twiml"]
        if self.config.public_base_url:
            kwargs.update(
                status_callback=self.callback_url("status"),
                status_callback_event=STATUS_EVENTS,
                status_callback_method="POST",
            )
        if options.machine_detection:
            kwargs["machine_detection"] = options.machine_detection
            if self.config.public_base_url:
                kwargs.update(
                    async_amd="true",
                    async_amd_status_callback=self.callback_url("amd"),
                    async_amd_status_callback_method="POST",
                )
        if options.time_limit:
            kwargs["time_limit"] = options.time_limit
        cooling = self.cooling_until(now=now)
        if cooling is not None:
            raise TelephonyUnavailable(
                f"Twilio asked the dialer to slow down (HTTP 429); placing resumes after {cooling:%H:%M:%S} UTC",
                status=429,
                retry_after=(cooling - now).total_seconds(),
            )
        self._respect_cps(now)
        http = self.client.http_client
        configured = getattr(http, "timeout", None)
        bounded = request.timeout is not None and (configured is None or request.timeout < configured)
        if bounded:  # wait no longer than the pacer lease allows (place_call runs one at a time)
            http.timeout = request.timeout
        try:
            call = self.client.calls.create(**kwargs)
        except TwilioException as exc:
            error = classify_error(exc, action=f"place a call to {request.number}", retry_after=self._retry_after())
            if isinstance(error, TelephonyUnavailable) and error.rate_limited:
                until = self._cool(now, retry_after=error.retry_after)
                error.retry_after = (until - now).total_seconds()
            elif isinstance(error, TelephonyUnavailable) and (error.status or 0) >= 500:
                # The request reached Twilio (or a proxy in front of it) and the answer is an
                # error: the call may have been created anyway. Never re-sent blindly.
                raise PlacementUncertain(
                    f"Twilio answered HTTP {error.status} to the call request to {request.number}; the call may "
                    "exist, so it is reconciled before any redial",
                    code=error.code,
                    status=error.status,
                ) from exc
            raise error from exc
        except requests.RequestException as exc:
            if _sent(exc):
                raise PlacementUncertain(
                    f"Twilio did not answer the call request to {request.number} ({type(exc).__name__}); "
                    "the call may exist and will be reconciled before any redial"
                ) from exc
            raise TelephonyUnavailable(f"Twilio is unreachable: {exc}") from exc
        finally:
            if bounded:
                http.timeout = configured
        self._cool_step = COOL_DOWN
        sid = str(call.sid)
        self._expects[sid] = (bool(options.machine_detection and self.config.public_base_url), expects_queue)
        self._claimed[sid] = request.attempt_id
        return Placement(
            provider_ref=sid, call_sid=sid, correlation="direct", raw={"sid": sid, "status": str(call.status or "")}
        )

    def _retry_after(self) -> float | None:
        return getattr(self.client.http_client, "retry_after", None)

    def _cool(self, now: datetime, *, retry_after: float | None) -> datetime:
        """Start (or extend) the cool-down after a 429: what ``Retry-After`` asked, capped."""
        wait = self._cool_step
        if retry_after is not None:
            wait = min(COOL_DOWN_CAP, max(timedelta(seconds=retry_after), timedelta(seconds=1)))
        self._cool_step = min(COOL_DOWN_CAP, self._cool_step * 2)
        self._cool_until = max(self._cool_until or now, now + wait)
        log.warning("Twilio rate limit (HTTP 429): no new calls for %.0f s", wait.total_seconds())
        return self._cool_until

    def cooling_until(self, *, now: datetime) -> datetime | None:
        """Until when Twilio asked the dialer not to place calls (after a 429); None: it may."""
        return self._cool_until if self._cool_until is not None and now < self._cool_until else None

    # ------------------------------------------------------------------ poll
    def poll(self, handles: Sequence[CallHandle], *, now: datetime) -> list[CallUpdate]:
        refs = [h for h in handles if h.provider_ref]
        updates: list[CallUpdate] = []
        events = self.inbox.provider_events_for([h.provider_ref for h in refs if h.provider_ref]) if self.inbox else {}
        to_fetch: list[CallHandle] = []
        for handle in refs:
            assert handle.provider_ref is not None
            found = events.get(handle.provider_ref)
            if found:
                amd, queue = self._expects.get(handle.provider_ref, (False, False))
                view = mapping.fold(
                    found, expects_amd=amd, expects_queue=queue, now=now, settle_seconds=self.config.amd_settle_seconds
                )
                update = self._update(handle, view, raw={"events": [p for _, _, p in found]})
                if update is not None:
                    updates.append(update)
            elif self.inbox is None or now - handle.placed_at > OVERDUE:
                to_fetch.append(handle)
        budget = self.config.poll_budget
        interval = timedelta(seconds=self.config.poll_interval)
        to_fetch.sort(key=lambda h: self._last_fetch.get(h.provider_ref or "", h.placed_at))
        for handle in to_fetch:
            if budget <= 0:
                break
            assert handle.provider_ref is not None
            last = self._last_fetch.get(handle.provider_ref)
            if last is not None and now - last < interval:
                continue
            budget -= 1
            self._last_fetch[handle.provider_ref] = now
            resource = self._fetch(handle.provider_ref)
            if resource is None:
                continue
            update = self._update(handle, mapping.view_from_resource(resource), raw=resource)
            if update is not None:
                updates.append(update)
        return updates

    def _fetch(self, sid: str) -> dict[str, Any] | None:
        try:
            call = self.client.calls(sid).fetch()
        except TwilioException as exc:
            error = classify_error(exc, action=f"read call {sid}")
            if isinstance(error, TelephonyAuthError):
                raise error from exc
            if getattr(exc, "status", None) == 404:
                return None
            if self.error_listener is not None:
                self.error_listener(error, "poll")
            log.warning("%s", error.message)
            return None
        except requests.RequestException as exc:
            if self.error_listener is not None:
                self.error_listener(TelephonyUnavailable(f"Twilio did not answer: {exc}"), "poll")
            log.warning("Twilio did not answer a read of call %s: %s", sid, type(exc).__name__)
            return None
        return _resource(call)

    def _update(self, handle: CallHandle, view: mapping.CallView, *, raw: Mapping[str, object]) -> CallUpdate | None:
        if view.state.rank <= handle.state.rank:
            return None
        ended = view.state is AttemptState.ENDED
        if ended:
            self._expects.pop(handle.provider_ref or "", None)
            self._last_fetch.pop(handle.provider_ref or "", None)
        return CallUpdate(
            attempt_id=handle.attempt_id,
            state=view.state,
            provider_ref=handle.provider_ref,
            call_sid=handle.provider_ref,
            answered_at=view.answered_at,
            connected_at=view.connected_at,
            ended_at=view.ended_at,
            outcome=view.outcome if ended else None,
            raw_outcome=_raw_outcome(view) if ended else None,
            was_missed=view.was_missed if ended else None,
            amd=amd_class(view.answered_by) if ended else None,
            message_played=mapping.message_played(view) if ended else None,
            duration_s=view.duration_s,
            raw=dict(raw) if ended else None,
        )

    # ------------------------------------------------------------- reconcile
    def reconcile(self, handle: CallHandle, *, now: datetime) -> CallUpdate | None:
        """Find the call Twilio made for an attempt in doubt: by SID when known, else by number
        and creation time among calls no other attempt has claimed."""
        sid = handle.provider_ref
        if sid is None:
            try:
                calls = self.client.calls.list(to=handle.number, page_size=20, limit=20)
            except TwilioException as exc:
                raise classify_error(exc, action=f"list calls to {handle.number}") from exc
            except requests.RequestException as exc:
                raise TelephonyUnavailable(f"Twilio did not answer a call search: {exc}") from exc
            earliest = handle.placed_at - CLOCK_SKEW
            candidates = [
                _resource(c)
                for c in calls
                if self._claimed.get(str(c.sid), handle.attempt_id) == handle.attempt_id
                and (mapping.parse_twilio_time(c.date_created) or now) >= earliest
            ]
            if not candidates:
                return None
            found = min(candidates, key=lambda r: str(r.get("date_created") or ""))
            sid = str(found["sid"])
            self._claimed[sid] = handle.attempt_id
            matched = CallHandle(
                attempt_id=handle.attempt_id,
                campaign=handle.campaign,
                number=handle.number,
                placed_at=handle.placed_at,
                provider_ref=sid,
                state=AttemptState.PENDING,
            )
            view = mapping.view_from_resource(found)
            update = self._update(matched, view, raw=found)
            base = update or CallUpdate(attempt_id=handle.attempt_id, state=AttemptState.PLACED)
            return _with(base, provider_ref=sid, call_sid=sid, correlation="matched")
        resource = self._fetch(sid)
        if resource is None:
            return None
        pending = CallHandle(
            attempt_id=handle.attempt_id,
            campaign=handle.campaign,
            number=handle.number,
            placed_at=handle.placed_at,
            provider_ref=sid,
            state=AttemptState.PENDING,
        )
        update = self._update(pending, mapping.view_from_resource(resource), raw=resource)
        return update or CallUpdate(attempt_id=handle.attempt_id, state=AttemptState.PLACED, provider_ref=sid)

    # ------------------------------------------------------------------- rest
    def hang_up(self, handle: CallHandle, *, now: datetime) -> None:
        if not handle.provider_ref:
            return
        status = "completed" if handle.state.rank >= AttemptState.ANSWERED.rank else "canceled"
        try:
            self.client.calls(handle.provider_ref).update(status=status)
        except TwilioException as exc:
            raise classify_error(exc, action=f"end call {handle.provider_ref}") from exc
        except requests.RequestException as exc:
            raise TelephonyUnavailable(f"Twilio did not answer a hang-up: {exc}") from exc

    def agent_view(self, campaign: str, *, now: datetime) -> AgentView | None:
        return None  # Twilio does not know the agents; the dialer infers them from its attempts

    def centre_stats(self, campaign: str, *, now: datetime) -> CentreStats | None:
        return None

    def next_event_at(self, *, now: datetime) -> datetime | None:
        return None

    def check_credentials(self) -> str:
        """Start-up check: fetch the account (its name), or TelephonyAuthError naming the fix."""
        try:
            account = self.client.api.v2010.accounts(self.config.account_sid).fetch()
        except TwilioException as exc:
            raise classify_error(exc, action="read the account") from exc
        except requests.RequestException as exc:
            raise TelephonyUnavailable(f"Twilio is unreachable: {exc}") from exc
        if str(account.status or "active") != "active":
            raise TelephonyAuthError(f"Twilio account {self.config.account_sid} is {account.status}, not active")
        return f"Twilio account {account.friendly_name or self.config.account_sid}"

    def provider_time(self) -> datetime | None:
        """Twilio's clock, from the ``Date`` header of the newest response (None before any, or
        when the client was built elsewhere)."""
        http = self.client.http_client
        return http.last_date if isinstance(http, HttpClient) else None

    def check_caller_ids(self, numbers: Sequence[str]) -> Mapping[str, bool]:
        """A caller ID is usable when it is one of the account's numbers or a verified caller ID."""
        owned: dict[str, bool] = {}
        for number in numbers:
            if not phones.is_e164(number):
                owned[number] = False
                continue
            try:
                found = bool(self.client.incoming_phone_numbers.list(phone_number=number, limit=1)) or bool(
                    self.client.outgoing_caller_ids.list(phone_number=number, limit=1)
                )
            except TwilioException as exc:
                raise classify_error(exc, action=f"look up caller ID {number}") from exc
            except requests.RequestException as exc:
                raise TelephonyUnavailable(f"Twilio did not answer a caller-ID look-up: {exc}") from exc
            owned[number] = found
        return owned

    def close(self) -> None:
        self._expects.clear()
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()


def _resource(call: Any) -> dict[str, Any]:
    """The fields of a CallInstance the dialer keeps (JSON-compatible)."""
    out: dict[str, Any] = {}
    for key in (
        "sid",
        "status",
        "to",
        "from_",
        "direction",
        "answered_by",
        "duration",
        "queue_time",
        "caller_name",
        "parent_call_sid",
    ):
        value = getattr(call, key, None)
        out["from" if key == "from_" else key] = value
    for key in ("date_created", "start_time", "end_time"):
        value = getattr(call, key, None)
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _raw_outcome(view: mapping.CallView) -> str:
    parts = [view.status or "unknown"]
    if view.answered_by:
        parts.append(f"answered_by={view.answered_by}")
    if view.sip_code:
        parts.append(f"sip={view.sip_code}")
    if view.queue_result:
        parts.append(f"queue={view.queue_result}")
    return " ".join(parts)


def _with(update: CallUpdate, **changes: Any) -> CallUpdate:
    return replace(update, **changes)

"""Evo Voice's REST API: one method per operation, HTTP Basic on every request, one pooled
:class:`httpx.Client`. The only code that builds Evo Voice URLs.

Reads (and the idempotent PATCH and DELETE) are retried on 409, 429, 5xx and transport errors
with full-jitter exponential backoff, honouring ``Retry-After``; the placement POST is never
retried. Error bodies are read by :func:`dialer.telephony.evo_mapping.error_from_response`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from dialer.errors import PlacementUncertain, TelephonyError, TelephonyRejected, TelephonyUnavailable
from dialer.telephony import evo_mapping
from dialer.telephony.base import http_date
from dialer.telephony.evo_mapping import error_from_response

READ_ATTEMPTS = 3
"""A read is tried this many times on 409, 429, 5xx or a transport error."""
BACKOFF_BASE = 0.5
BACKOFF_CAP = 4.0
"""Seconds: full-jitter exponential backoff between read retries (``Retry-After`` is honoured up
to the cap)."""


def _retryable(status: int) -> bool:
    return status in (409, 429) or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429/503 asks us to wait (``Retry-After`` as seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _check_enum(name: str, value: str | None, allowed: Sequence[str]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of Evo Voice's values: {', '.join(allowed)}")


@dataclass(frozen=True, kw_only=True)
class NewSession:
    """The NewSession request (``POST /sessions``, seed 002), field for field; ``None`` leaves a
    field out, so Evo Voice applies its default (direction Outgoing, call state Connected,
    the From address the user's email)."""

    display_name: str | None = None
    channel: str | None = None
    """``FlowChannels``: Voice, Chat or Fax."""
    direction: str | None = None
    """``SessionDirections``: Incoming or Outgoing."""
    call_state: str | None = None
    """``SessionCallState``: Disconnected, Ringing, Connected, Hold or Passive."""
    from_address: str | None = None
    from_name: str | None = None
    to_address: str | None = None
    parent_session_id: str | None = None
    """Parent session (e.g. for billing purposes)."""
    customer_id: str | None = None
    with_address: str | None = None
    """Start a chat with a user or team (``user:ID``, ``team:ID``)."""
    from_phone_number: str | None = None
    """The caller ID to use (if dialing out)."""
    destination: str | None = None
    member_email_addresses: tuple[str, ...] | None = None
    """Users added as members, by email address."""
    start_session: bool | None = None
    """Start the session's flow?"""

    def __post_init__(self) -> None:
        _check_enum("channel", self.channel, evo_mapping.FLOW_CHANNELS)
        _check_enum("direction", self.direction, evo_mapping.SESSION_DIRECTIONS)
        _check_enum("callState", self.call_state, evo_mapping.SESSION_CALL_STATES)

    def body(self) -> dict[str, object]:
        """The JSON body, in the DTO's camelCase names and types (``memberEmailAddresses`` a
        list of strings, ``startSession`` a boolean)."""
        fields: dict[str, object] = {
            "displayName": self.display_name,
            "channel": self.channel,
            "direction": self.direction,
            "callState": self.call_state,
            "fromAddress": self.from_address,
            "fromName": self.from_name,
            "toAddress": self.to_address,
            "parentSessionId": self.parent_session_id,
            "customerId": self.customer_id,
            "withAddress": self.with_address,
            "fromPhoneNumber": self.from_phone_number,
            "destination": self.destination,
            "memberEmailAddresses": list(self.member_email_addresses)
            if self.member_email_addresses is not None
            else None,
            "startSession": self.start_session,
        }
        return {key: value for key, value in fields.items() if value is not None}


class EvoVoiceApi:
    """Evo Voice's REST API, one method per operation; HTTP Basic on every request over one
    pooled :class:`httpx.Client`. Reads are retried; the placement POST never is."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        read_attempts: int = READ_ATTEMPTS,
        backoff: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, password),
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "Content-Type": "application/json"},
            transport=transport,
            follow_redirects=False,
            event_hooks={"response": [self._note_date]},
        )
        self.last_date: datetime | None = None
        """The ``Date`` header of the newest response: Evo Voice's clock (`dialer doctor`)."""
        self._attempts = max(1, read_attempts)
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._client.close()

    def _note_date(self, response: httpx.Response) -> None:
        self.last_date = http_date(response.headers.get("date"))

    # ------------------------------------------------------------ operations
    def auth_status(self) -> dict[str, Any]:
        return _object(self._read("GET", "/auth/status", operation="read the login's status"))

    def new_outgoing_session(
        self, *, flow_id: str, number_to_dial: str, caller_id: str | None, timeout: float | None = None
    ) -> object:
        """Place a call. Returns the parsed body (``None`` when empty). Never retried. ``timeout``
        (seconds) shortens the client's timeout for this request; an answer that does not come
        in time is :class:`PlacementUncertain`."""
        body: dict[str, str] = {"flowId": flow_id, "numberToDial": number_to_dial}
        if caller_id:
            body["callerId"] = caller_id
        operation = "place a call"
        try:
            response = self._client.post(
                "/sessions/outgoing",
                json=body,
                timeout=httpx.Timeout(min(timeout, self.timeout)) if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TelephonyUnavailable(
                f"Evo Voice is unreachable at {self.base_url} ({exc}); no call was placed"
            ) from exc
        except httpx.HTTPError as exc:
            raise PlacementUncertain(
                f"the request to dial {number_to_dial} was sent but no answer came back ({type(exc).__name__}: "
                f"{exc}); the call may be ringing, so it is reconciled before any redial"
            ) from exc
        if response.is_success:
            return _body(response)
        error = _error(response, operation=operation)
        if response.status_code >= 500:
            raise PlacementUncertain(
                f"Evo Voice answered HTTP {response.status_code} to the request to dial {number_to_dial}; the call "
                "may have been placed anyway, so it is reconciled before any redial",
                code=error.code,
                status=response.status_code,
            ) from error
        raise error

    def new_session(self, request: NewSession) -> dict[str, Any]:
        """NewSession (role User): create a session record; returns its ``SessionInfo``. It
        places no call. Never retried: a repeated POST would create a second session."""
        operation = "create a session"
        try:
            response = self._client.post("/sessions", json=request.body())
        except httpx.HTTPError as exc:
            raise TelephonyUnavailable(
                f"Evo Voice did not answer at {self.base_url} ({type(exc).__name__}: {exc}) while trying to "
                f"{operation}. Check DIALER_EVOVOICE_BASE_URL and the network."
            ) from exc
        if not response.is_success:
            raise error_from_response(response.status_code, response.content, operation=operation)
        return _object(_body(response))

    def list_sessions(
        self,
        *,
        account_id: str | None,
        to: str | None = None,
        start_date: str | None = None,
        specific_ids: Sequence[str] = (),
        sort_order: str | None = None,
        count_per_page: int | None = None,
        page: int | None = None,
        search_archive: bool = False,
        parent_session_id: str | None = None,
        customer_ids: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {"simplifiedPaging": "true"}
        if parent_session_id:
            params["parentSessionId"] = parent_session_id
        if customer_ids:
            params["customerIds"] = ",".join(customer_ids)
        if account_id:
            params["accountIds"] = account_id
        if to:
            params["to"] = to
        if start_date:
            params["startDate"] = start_date
        if specific_ids:
            params["specificIds"] = ",".join(specific_ids)
        if sort_order:
            params["sortOrder"] = sort_order
        if count_per_page:
            params["countPerPage"] = str(count_per_page)
        if page:
            params["page"] = str(page)
        if search_archive:
            params["searchArchive"] = "true"
        data = _object(self._read("GET", "/sessions", params=params, operation="list sessions"))
        items = data.get("items")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """One session (its ``log`` is always empty on this route). ``None`` on 404."""
        try:
            return _object(self._read("GET", f"/sessions/{quote(session_id, safe='')}", operation="read a session"))
        except TelephonyRejected as exc:
            if exc.status == 404:
                return None
            raise

    def patch_session(
        self,
        session_id: str,
        *,
        console_data: str | None = None,
        call_state: str | None = None,
        hold_reason: str | None = None,
        queue_state: str | None = None,
    ) -> dict[str, Any]:
        """PatchSession (seed 004): set ``consoleData``, ``callState`` (Disconnected, Ringing,
        Connected, Hold, Passive), ``holdReason`` (None, Transferring) and/or ``queueState``
        (None, Queued, Ringing, Connected, Hold, Disconnected); only the fields given are sent.
        Returns the session's ``SessionInfo``. PATCH is idempotent, so it is retried like a read."""
        _check_enum("callState", call_state, evo_mapping.SESSION_CALL_STATES)
        _check_enum("holdReason", hold_reason, evo_mapping.SESSION_HOLD_REASONS)
        _check_enum("queueState", queue_state, evo_mapping.SESSION_QUEUE_STATES)
        fields = {
            "consoleData": console_data,
            "callState": call_state,
            "holdReason": hold_reason,
            "queueState": queue_state,
        }
        body = {key: value for key, value in fields.items() if value is not None}
        if not body:
            raise ValueError("patch_session needs at least one of console_data, call_state, hold_reason, queue_state")
        return _object(
            self._read(
                "PATCH",
                f"/sessions/{quote(session_id, safe='')}",
                json=body,
                operation="annotate a session" if list(body) == ["consoleData"] else "change a session's state",
            )
        )

    def end_session(self, session_id: str, *, call_sid: str | None = None) -> bool:
        """Hang up (EndSession). False when the session does not exist."""
        params = {"callSid": call_sid} if call_sid else None
        try:
            self._read("DELETE", f"/sessions/{quote(session_id, safe='')}", params=params, operation="hang up")
        except TelephonyRejected as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def active_calls(self, *, account_id: str | None) -> list[dict[str, Any]]:
        params = {"accountId": account_id} if account_id else None
        data = _object(self._read("GET", "/calls/active", params=params, operation="list live calls"))
        calls = data.get("calls")
        return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []

    def list_endpoints(self, *, account_id: str | None, phone_number: str) -> list[dict[str, Any]]:
        params = {"type": "PhoneNumber", "phoneNumberFilter": phone_number, "countPerPage": "25"}
        if account_id:
            params["accountIds"] = account_id
        data = _object(self._read("GET", "/endpoints", params=params, operation="list endpoints"))
        items = data.get("items")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    # -------------------------------------------------------------- plumbing
    def _read(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: object = None,
        operation: str,
    ) -> object:
        for attempt in range(1, self._attempts + 1):
            wait: float | None = None
            try:
                response = self._client.request(method, path, params=params, json=json)
            except httpx.HTTPError as exc:
                error: TelephonyError = TelephonyUnavailable(
                    f"Evo Voice did not answer at {self.base_url} ({type(exc).__name__}: {exc}) while trying to "
                    f"{operation}. Check DIALER_EVOVOICE_BASE_URL and the network."
                )
                error.__cause__ = exc
            else:
                if response.is_success:
                    return _body(response)
                error = _error(response, operation=operation)
                if not _retryable(response.status_code):
                    raise error
                wait = _retry_after(response)
            if attempt == self._attempts:
                raise error
            delay = self._rng.uniform(0, min(self._backoff_cap, self._backoff * 2 ** (attempt - 1)))
            self._sleep(min(self._backoff_cap, max(delay, wait or 0.0)))
        raise AssertionError("unreachable")  # pragma: no cover


def _error(response: httpx.Response, *, operation: str) -> TelephonyError:
    """The dialer's error for an error response, with the ``Retry-After`` it asked for."""
    error = error_from_response(response.status_code, response.content, operation=operation)
    if isinstance(error, TelephonyUnavailable):
        error.retry_after = _retry_after(response)
    return error


def _body(response: httpx.Response) -> object:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _object(body: object) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    raise TelephonyUnavailable(f"Evo Voice answered with something that is not a JSON object: {str(body)[:200]!r}")

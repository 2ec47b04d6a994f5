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
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from dialer.errors import PlacementUncertain, TelephonyError, TelephonyRejected, TelephonyUnavailable
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
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=httpx.BasicAuth(username, password),
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "Content-Type": "application/json"},
            transport=transport,
            follow_redirects=False,
        )
        self._attempts = max(1, read_attempts)
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------ operations
    def auth_status(self) -> dict[str, Any]:
        return _object(self._read("GET", "/auth/status", operation="read the login's status"))

    def new_outgoing_session(self, *, flow_id: str, number_to_dial: str, caller_id: str | None) -> object:
        """Place a call. Returns the parsed body (``None`` when empty). Never retried."""
        body: dict[str, str] = {"flowId": flow_id, "numberToDial": number_to_dial}
        if caller_id:
            body["callerId"] = caller_id
        operation = "place a call"
        try:
            response = self._client.post("/sessions/outgoing", json=body)
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
        error = error_from_response(response.status_code, response.content, operation=operation)
        if response.status_code >= 500:
            raise PlacementUncertain(
                f"Evo Voice answered HTTP {response.status_code} to the request to dial {number_to_dial}; the call "
                "may have been placed anyway, so it is reconciled before any redial",
                code=error.code,
                status=response.status_code,
            ) from error
        raise error

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
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {"simplifiedPaging": "true"}
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

    def patch_session(self, session_id: str, *, console_data: str) -> dict[str, Any]:
        """Set ``consoleData``. PATCH is idempotent, so it is retried like a read."""
        return _object(
            self._read(
                "PATCH",
                f"/sessions/{quote(session_id, safe='')}",
                json={"consoleData": console_data},
                operation="annotate a session",
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
                error = error_from_response(response.status_code, response.content, operation=operation)
                if not _retryable(response.status_code):
                    raise error
                wait = _retry_after(response)
            if attempt == self._attempts:
                raise error
            delay = self._rng.uniform(0, min(self._backoff_cap, self._backoff * 2 ** (attempt - 1)))
            self._sleep(min(self._backoff_cap, max(delay, wait or 0.0)))
        raise AssertionError("unreachable")  # pragma: no cover


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

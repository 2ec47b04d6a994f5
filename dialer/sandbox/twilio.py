"""A stateful fake of Twilio's Calls API, driven by the simulated call centre.

The real ``twilio`` library talks to it over HTTP (``client.api.base_url`` pointed here), so
tests and rehearsals exercise the dialer's real client code. It implements what the dialer
uses of the 2010-04-01 API:

* ``POST /Accounts/{sid}/Calls.json`` (create), ``GET /Accounts/{sid}/Calls.json`` (list, with
  ``To``/``Status`` filters and Twilio's paging keys), ``GET|POST /Accounts/{sid}/Calls/{CallSid}.json``
  (fetch, update ``Status=canceled|completed``), ``GET /Accounts/{sid}.json``,
  ``GET /Accounts/{sid}/IncomingPhoneNumbers.json`` and ``OutgoingCallerIds.json``;
* Basic auth with the Account SID and Auth Token; Twilio's error bodies and codes (20003,
  21210, 21211, 21205, 20429) with the right HTTP statuses;
* the calls-per-second limit: calls beyond it are *queued*, as Twilio does;
* **signed** callbacks (``X-Twilio-Signature`` computed with the account's Auth Token) to
  ``StatusCallback`` for the subscribed events with ``SequenceNumber``, to the async AMD
  callback, and to the ``<Enqueue action>`` of inline TwiML with ``QueueResult``/``QueueTime``;
* fault injection: an error rate (5xx), 429 bursts (RFC 9457 bodies, raised by the library
  as ``TwilioServiceException``), latency, and "commit then time out" on create.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dialer.domain import phones
from dialer.domain.clock import Clock, SystemClock
from dialer.sim.callcentre import CallCentre, CallModel, Fate, Phase, SimCall
from dialer.telephony.twilio_voice import sign

log = logging.getLogger(__name__)

API = "/2010-04-01"


@dataclass
class Faults:
    """Injected failures. Rates are probabilities per request."""

    error_rate: float = 0.0
    """Share of requests answered with HTTP 500 before anything is done."""
    burst_429_every: int = 0
    """Every Nth request starts a burst of ``burst_429_length`` 429 responses (0: never)."""
    burst_429_rate: float = 0.0
    """Chance that a request starts a burst of ``burst_429_length`` 429 responses."""
    burst_429_length: int = 3
    retry_after: float | None = 1.0
    """``Retry-After`` seconds sent with every 429 (None: no header)."""
    latency: float = 0.0
    """Seconds added to every response (slow responses)."""
    commit_then_timeout: float = 0.0
    """Share of creates that make the call but answer only after ``timeout_delay`` seconds."""
    timeout_rate: float = 0.0
    """Share of requests that hang for ``timeout_delay`` seconds, then fail with 504, having done
    nothing (a create makes no call)."""
    lost_response_rate: float = 0.0
    """Share of creates that make the call and then answer 502 from a proxy: the response is lost
    (an ambiguous placement)."""
    timeout_delay: float = 15.0


@dataclass
class FakeCall:
    sim: SimCall
    sid: str
    to: str
    from_: str
    created: datetime
    status_callback: str | None
    events: frozenset[str]
    amd: str | None
    amd_callback: str | None
    queue_action: str | None
    queued_until: float | None = None
    sequence: int = 0
    sent: set[str] = field(default_factory=set)
    canceled: bool = False
    canceled_at: datetime | None = None


class TwilioSandbox:
    """The fake's state; :attr:`app` is the ASGI application. :meth:`start` runs the thread that
    moves calls along and sends their callbacks; :meth:`stop` ends it."""

    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "sandbox-token",
        numbers: tuple[str, ...] = ("+12125550100",),
        verified_caller_ids: tuple[str, ...] = (),
        agents: int = 10,
        model: CallModel | None = None,
        seed: int = 0,
        clock: Clock | None = None,
        cps: float = 1.0,
        faults: Faults | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = tuple(numbers)
        self.verified = tuple(verified_caller_ids)
        self.clock = clock or SystemClock()
        self.cps = cps
        self.faults = faults or Faults()
        self.centre = CallCentre(agents=agents, model=model or CallModel(), seed=seed, epoch=self.clock.now())
        self.calls: dict[str, FakeCall] = {}
        self.callbacks_sent: list[tuple[str, str, dict[str, str]]] = []
        self.callback_failures = 0
        self.queued_calls = 0
        self.requests = 0
        self._burst_left = 0
        self.bursts = 0
        self.errors = 0
        self.timeouts = 0
        self.late_answers: set[str] = set()
        """SIDs of calls whose create answered after ``timeout_delay`` (commit then time out)."""
        self.lost_responses: set[str] = set()
        """SIDs of calls whose create answered 502 although the call was made."""
        self._creates: list[float] = []
        self._rng = random.Random(seed)
        self._fault_rng = random.Random(f"faults:{seed}")
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._driver: threading.Thread | None = None
        self._http = httpx.Client(timeout=5.0)
        self.app = Starlette(
            routes=[
                Route(API + "/Accounts/{account}.json", self.get_account, methods=["GET"]),
                Route(API + "/Accounts/{account}/Calls.json", self.create_call, methods=["POST"]),
                Route(API + "/Accounts/{account}/Calls.json", self.list_calls, methods=["GET"]),
                Route(API + "/Accounts/{account}/Calls/{sid}.json", self.fetch_call, methods=["GET"]),
                Route(API + "/Accounts/{account}/Calls/{sid}.json", self.update_call, methods=["POST"]),
                Route(API + "/Accounts/{account}/IncomingPhoneNumbers.json", self.list_numbers, methods=["GET"]),
                Route(API + "/Accounts/{account}/OutgoingCallerIds.json", self.list_caller_ids, methods=["GET"]),
            ],
        )

    # --------------------------------------------------------------- driver
    def start(self) -> None:
        if self._driver is None:
            self._stop.clear()
            self._driver = threading.Thread(target=self._drive, name="twilio-sandbox", daemon=True)
            self._driver.start()

    def stop(self) -> None:
        self._stop.set()
        if self._driver is not None:
            self._driver.join(5)
            self._driver = None
        self._http.close()

    def _drive(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # keep the sandbox alive; the failure is logged
                log.exception("sandbox step failed")
            self._stop.wait(0.02)

    def step(self) -> None:
        """Advance the model to the clock and deliver the callbacks that are due."""
        outgoing: list[tuple[str, str, dict[str, str]]] = []
        with self._lock:
            now = self.clock.now()
            t = self.centre.to_t(now)
            for call in self.calls.values():
                if call.queued_until is not None and call.queued_until <= t and call.sim.index < 0:
                    self._dial(call, at=call.queued_until)
            self.centre.advance(max(t, self.centre.t))
            for call in self.calls.values():
                outgoing.extend(self._due_callbacks(call))
        for kind, url, params in outgoing:
            self._post(kind, url, params)

    def _post(self, kind: str, url: str, params: dict[str, str]) -> None:
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, params), "User-Agent": "TwilioProxy/1.1"}
        try:
            response = self._http.post(url, data=params, headers=headers)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.callback_failures += 1
            log.warning("callback %s to %s failed: %s", kind, url, exc)
        self.callbacks_sent.append((kind, url, params))

    # ------------------------------------------------------------ callbacks
    def _base_params(self, call: FakeCall) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "CallSid": call.sid,
            "From": call.from_,
            "To": call.to,
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events",
        }

    def _when(self, t: float) -> str:
        return format_datetime(self.centre.to_datetime(t), usegmt=True)

    def _due_callbacks(self, call: FakeCall) -> list[tuple[str, str, dict[str, str]]]:
        out: list[tuple[str, str, dict[str, str]]] = []
        sim = call.sim
        if sim.index < 0:
            return out
        now_t = self.centre.t
        timeline = self._timeline(call)
        for name, at, extra in timeline:
            if at is None or at > now_t or name in call.sent:
                continue
            call.sent.add(name)
            if name.startswith("status:"):
                status = name.split(":", 1)[1]
                event = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}.get(
                    status, "completed"
                )
                if call.status_callback and event in call.events:
                    params = {
                        **self._base_params(call),
                        "CallStatus": status,
                        "Timestamp": self._when(at),
                        "SequenceNumber": str(call.sequence),
                        **extra,
                    }
                    call.sequence += 1
                    out.append(("status", call.status_callback, params))
            elif name == "amd" and call.amd_callback:
                out.append(("amd", call.amd_callback, {"AccountSid": self.account_sid, "CallSid": call.sid, **extra}))
            elif name == "queue" and call.queue_action:
                out.append(("queue", call.queue_action, {**self._base_params(call), **extra}))
        return out

    def _timeline(self, call: FakeCall) -> list[tuple[str, float | None, dict[str, str]]]:
        sim = call.sim
        ended = sim.ended_at if sim.phase is Phase.ENDED else None
        events: list[tuple[str, float | None, dict[str, str]]] = [
            ("status:initiated", sim.dialed_at, {}),
            ("status:ringing", sim.dialed_at, {}),
        ]
        if sim.answered_at is not None:
            events.append(("status:in-progress", sim.answered_at, {}))
            if call.amd:
                machine = sim.fate is Fate.MACHINE or sim.amd_false_positive
                if machine:
                    answered_by = "machine_start" if call.amd == "Enable" else "machine_end_beep"
                    detect_at = sim.answered_at + self.centre.model.machine_detect
                else:
                    answered_by, detect_at = "human", sim.answered_at + 1.0
                if ended is not None:
                    detect_at = min(detect_at, ended)
                events.append(
                    (
                        "amd",
                        detect_at,
                        {
                            "AnsweredBy": answered_by,
                            "MachineDetectionDuration": str(int((detect_at - sim.answered_at) * 1000)),
                        },
                    )
                )
            if sim.fate is Fate.LIVE and not sim.amd_false_positive:
                if sim.connected_at is not None:
                    events.append(
                        (
                            "queue",
                            sim.connected_at,
                            {
                                "QueueResult": "bridged",
                                "QueueTime": str(round(sim.connected_at - sim.answered_at)),
                                "QueueSid": "QU" + "0" * 32,
                            },
                        )
                    )
                elif sim.abandoned and ended is not None:
                    events.append(
                        (
                            "queue",
                            ended,
                            {
                                "QueueResult": "leave",
                                "QueueTime": str(round(ended - sim.answered_at)),
                                "QueueSid": "QU" + "0" * 32,
                            },
                        )
                    )
        if ended is not None:
            status, sip = self._terminal(call)
            duration = str(round(ended - sim.answered_at)) if sim.answered_at is not None else "0"
            events.append((f"status:{status}", ended, {"CallDuration": duration, "SipResponseCode": str(sip)}))
        return events

    def _terminal(self, call: FakeCall) -> tuple[str, int]:
        sim = call.sim
        if call.canceled and sim.answered_at is None:
            return "canceled", 487
        return {
            Fate.LIVE: ("completed", 200),
            Fate.MACHINE: ("completed", 200),
            Fate.BUSY: ("busy", 486),
            Fate.NO_ANSWER: ("no-answer", 480),
            Fate.FAILED: ("failed", 503),
            Fate.BAD_NUMBER: ("failed", 404),
        }[sim.fate]

    # -------------------------------------------------------------- routes
    def _authorised(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if header != f"Basic {expected}" or request.path_params.get("account") != self.account_sid:
            return _error(401, 20003, "Authenticate")
        return None

    async def _faults(self) -> Response | None:
        self.requests += 1
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        faults = self.faults
        retry = {"Retry-After": f"{faults.retry_after:g}"} if faults.retry_after is not None else None
        if self._burst_left > 0:
            self._burst_left -= 1
            return _problem(429, 20429, "Too Many Requests", "Too many concurrent requests", headers=retry)
        if (faults.burst_429_every and self.requests % faults.burst_429_every == 0) or (
            faults.burst_429_rate and self._fault_rng.random() < faults.burst_429_rate
        ):
            self._burst_left = faults.burst_429_length - 1
            self.bursts += 1
            return _problem(429, 20429, "Too Many Requests", "Too many concurrent requests", headers=retry)
        if faults.error_rate and self._fault_rng.random() < faults.error_rate:
            self.errors += 1
            return _error(500, 20500, "Internal Server Error")
        if faults.timeout_rate and self._fault_rng.random() < faults.timeout_rate:
            self.timeouts += 1
            await asyncio.sleep(faults.timeout_delay)
            return Response("upstream request timeout", status_code=504, media_type="text/plain")
        return None

    async def get_account(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        return JSONResponse(
            {
                "sid": self.account_sid,
                "friendly_name": "Sandbox account",
                "status": "active",
                "type": "Full",
                "date_created": self._when(0),
                "uri": f"{API}/Accounts/{self.account_sid}.json",
            }
        )

    async def create_call(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        if (fault := await self._faults()) is not None:
            return fault
        form = await request.form()
        fields = {k: str(v) for k, v in form.items()}
        events = frozenset(str(v) for v in form.getlist("StatusCallbackEvent")) or frozenset({"completed"})
        to, from_ = fields.get("To", ""), fields.get("From", "")
        if not to or not phones.is_e164(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ not in self.numbers and from_ not in self.verified:
            return _error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your "
                "account. You may only make calls from phone numbers that you've verified or "
                "purchased from Twilio.",
            )
        if not any(fields.get(k) for k in ("Url", "Twiml", "ApplicationSid")):
            return _error(400, 21205, "Url parameter is required.")
        timeout = int(fields.get("Timeout", "60") or 60)
        if not 1 <= timeout <= 600:
            return _error(400, 21216, f"Timeout {timeout} must be between 1 and 600")
        queue_action = None
        if "Twiml" in fields:
            match = re.search(r'<Enqueue[^>]*\baction="([^"]+)"', fields["Twiml"])
            queue_action = match.group(1).replace("&amp;", "&") if match else None
        with self._lock:
            now = self.clock.now()
            t = self.centre.to_t(now)
            if t > self.centre.t:
                self.centre.advance(t)
            self._creates = [c for c in self._creates if t - c < 1.0]
            sid = "CA" + uuid.UUID(int=self._rng.getrandbits(128)).hex
            placeholder = SimCall(
                index=-1,
                session_id=sid,
                call_sid=sid,
                number=to,
                caller_id=from_,
                flow_id="",
                dialed_at=t,
                fate=Fate.NO_ANSWER,
                resolve_at=t,
            )
            call = FakeCall(
                sim=placeholder,
                sid=sid,
                to=to,
                from_=from_,
                created=now,
                status_callback=fields.get("StatusCallback"),
                events=events,
                amd=fields.get("MachineDetection") if fields.get("AsyncAmd", "").lower() == "true" else None,
                amd_callback=fields.get("AsyncAmdStatusCallback"),
                queue_action=queue_action,
            )
            if len(self._creates) >= max(1, int(self.cps)):
                call.queued_until = max(self._creates) + 1.0  # over the CPS: Twilio queues the call
                self.queued_calls += 1
            else:
                self._dial(call, at=t)
            self._creates.append(call.queued_until or t)
            self.calls[sid] = call
            body = self._resource(call)
        if self.faults.commit_then_timeout and self._fault_rng.random() < self.faults.commit_then_timeout:
            self.late_answers.add(sid)
            await asyncio.sleep(self.faults.timeout_delay)
        if self.faults.lost_response_rate and self._fault_rng.random() < self.faults.lost_response_rate:
            self.lost_responses.add(sid)
            return Response("<html><body>502 Bad Gateway</body></html>", status_code=502, media_type="text/html")
        return JSONResponse(body, status_code=201)

    def _dial(self, call: FakeCall, *, at: float) -> None:
        if at > self.centre.t:
            self.centre.advance(at)
        call.sim = self.centre.dial(call.to, caller_id=call.from_, flow_id="twilio")
        call.queued_until = None

    async def fetch_call(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        if (fault := await self._faults()) is not None:
            return fault
        with self._lock:
            call = self.calls.get(request.path_params["sid"])
            if call is None:
                return _error(404, 20404, f"The requested resource {request.url.path} was not found")
            return JSONResponse(self._resource(call))

    async def update_call(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        form = await request.form()
        status = str(form.get("Status", ""))
        with self._lock:
            call = self.calls.get(request.path_params["sid"])
            if call is None:
                return _error(404, 20404, f"The requested resource {request.url.path} was not found")
            if status in ("canceled", "completed") and call.sim.phase is not Phase.ENDED and call.sim.index >= 0:
                call.canceled = status == "canceled"
                self.centre.hang_up(call.sim.session_id)
            return JSONResponse(self._resource(call))

    async def list_calls(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        if (fault := await self._faults()) is not None:
            return fault
        to = request.query_params.get("To")
        status = request.query_params.get("Status")
        size = int(request.query_params.get("PageSize", "50"))
        with self._lock:
            rows = [
                self._resource(c)
                for c in sorted(self.calls.values(), key=lambda c: c.created, reverse=True)
                if (to is None or c.to == to) and (status is None or self._status(c) == status)
            ]
        return JSONResponse(_page(f"{API}/Accounts/{self.account_sid}/Calls.json", "calls", rows[:size], size))

    async def list_numbers(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        wanted = request.query_params.get("PhoneNumber")
        rows = [
            {"sid": f"PN{i:032x}", "phone_number": n, "friendly_name": n}
            for i, n in enumerate(self.numbers)
            if wanted in (None, n)
        ]
        return JSONResponse(
            _page(f"{API}/Accounts/{self.account_sid}/IncomingPhoneNumbers.json", "incoming_phone_numbers", rows, 50)
        )

    async def list_caller_ids(self, request: Request) -> Response:
        if (denied := self._authorised(request)) is not None:
            return denied
        wanted = request.query_params.get("PhoneNumber")
        rows = [
            {"sid": f"PN{100 + i:032x}", "phone_number": n, "friendly_name": n}
            for i, n in enumerate(self.verified)
            if wanted in (None, n)
        ]
        return JSONResponse(
            _page(f"{API}/Accounts/{self.account_sid}/OutgoingCallerIds.json", "outgoing_caller_ids", rows, 50)
        )

    # ------------------------------------------------------------ resources
    def _status(self, call: FakeCall) -> str:
        sim = call.sim
        if sim.index < 0:
            return "queued"
        if sim.phase is Phase.ENDED:
            return self._terminal(call)[0]
        if sim.answered_at is not None:
            return "in-progress"
        return "ringing"

    def _resource(self, call: FakeCall) -> dict[str, Any]:
        sim = call.sim
        answered = sim.answered_at if sim.index >= 0 else None
        ended = sim.ended_at if sim.index >= 0 and sim.phase is Phase.ENDED else None
        amd = None
        if call.amd and answered is not None:
            amd = "machine_start" if sim.fate is Fate.MACHINE else "human"
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "to": call.to,
            "to_formatted": call.to,
            "from": call.from_,
            "from_formatted": call.from_,
            "status": self._status(call),
            "direction": "outbound-api",
            "answered_by": amd,
            "duration": str(round(ended - answered)) if ended is not None and answered is not None else None,
            "date_created": format_datetime(call.created, usegmt=True),
            "date_updated": format_datetime(self.clock.now(), usegmt=True),
            "start_time": self._when(answered) if answered is not None else None,
            "end_time": self._when(ended) if ended is not None else None,
            "queue_time": "0" if call.queued_until is None and sim.index >= 0 else "1000",
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "uri": f"{API}/Accounts/{self.account_sid}/Calls/{call.sid}.json",
            "subresource_uris": {},
        }

    # ---------------------------------------------------------- inspection
    def sessions_for(self, number: str) -> list[FakeCall]:
        with self._lock:
            return [c for c in self.calls.values() if c.to == number]

    def quiet(self) -> bool:
        """No call in progress and no callback left to send."""
        with self._lock:
            return all(c.sim.index >= 0 and c.sim.phase is Phase.ENDED for c in self.calls.values()) and all(
                all(name in c.sent or at is None for name, at, _ in self._timeline(c)) for c in self.calls.values()
            )


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
    )


def _problem(
    status: int, code: int, title: str, detail: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem body, which twilio ≥ 9.10 raises as TwilioServiceException."""
    return JSONResponse(
        headers=dict(headers) if headers else None,
        content={
            "type": f"https://www.twilio.com/docs/errors/{code}",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        },
        status_code=status,
        media_type="application/problem+json",
    )


def _page(uri: str, key: str, rows: list[dict[str, Any]], size: int) -> dict[str, Any]:
    return {
        key: rows,
        "page": 0,
        "page_size": size,
        "first_page_uri": f"{uri}?PageSize={size}&Page=0",
        "next_page_uri": None,
        "previous_page_uri": None,
        "uri": f"{uri}?PageSize={size}&Page=0",
        "start": 0,
        "end": max(0, len(rows) - 1),
    }


def sandbox_summary(sandbox: TwilioSandbox) -> Mapping[str, int]:
    return {
        "calls": len(sandbox.calls),
        "queued_over_cps": sandbox.queued_calls,
        "callbacks": len(sandbox.callbacks_sent),
        "callback_failures": sandbox.callback_failures,
    }

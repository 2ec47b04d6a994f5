"""An Evo Voice sandbox: the operations the dialer uses, as documented, over a simulated call centre.

:class:`EvoSandbox` holds the state and implements each operation on plain parameters; the
HTTP layer (:mod:`dialer.sandbox.evovoice_app`) only parses requests and renders answers.
What it reproduces (telephony.md §2 and the seed DTOs):

- HTTP Basic users with roles: NewOutgoingSession and GetActiveCalls need Manager or
  SystemAdministrator (403 otherwise), EndSession needs User; an account outside the user's
  is refused with 403.
- ``POST /sessions/outgoing``: 400 for a missing ``flowId``, a ``numberToDial`` that is not a
  valid E.164 number, or a ``callerId`` that is not an owned number; a random owned caller ID
  when none is given. The call is dialed at once (the session exists from dial time) and the
  response is empty, as documented (``--placement-response`` picks 204, ``{}`` or a SessionInfo).
- ``GET /sessions`` with ``accountIds``, ``to``/``from`` (contains searches), ``startDate``/
  ``endDate`` (UTC days), ``specificIds``, ``log``, ``searchArchive``, ``sortField``/
  ``sortOrder``, ``page``/``countPerPage``/``all`` and ``simplifiedPaging``, in the
  ``ListResponse`` wrapper; ``GET /sessions/{id}`` with the log stripped; ``PATCH`` of
  ``consoleData``; ``DELETE`` (hang up); ``GET /calls/active``; ``GET /endpoints``.
- Sessions live through ringing → person / machine / busy / no answer / failure → queue →
  agent or missed (``wasMissed``) → talk → ended, driven by :class:`~dialer.sim.callcentre.CallCentre`
  and its agents on the sandbox's clock (real time, or sped up).
- Faults on demand (:class:`Faults`): errors, latency, bursts of 429, and placements that are
  committed but answered too late ("commit then time out").

The sandbox keeps its own log of every session a placement created (:attr:`EvoSandbox.placements`),
which tests use to prove that no number was dialed twice for one attempt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from dialer.domain import phones
from dialer.domain.clock import Clock, SystemClock
from dialer.sandbox.servicestack import (
    Params,
    SandboxRefusal,
    param_bool,
    param_day,
    param_int,
    param_list,
    param_text,
    phones_digits,
)
from dialer.sim.callcentre import REALISTIC, CallCentre, CallModel, Phase, SimCall

PlacementResponse = Literal["empty", "no-content", "empty-object", "session"]
PLACEMENT_RESPONSES: tuple[PlacementResponse, ...] = ("empty", "no-content", "empty-object", "session")

#: The demo campaign's caller IDs, so `dialer demo`'s campaign can be rehearsed as it is.
DEFAULT_NUMBERS = ("+12125550100", "+13125550100", "+12135550100")
MANAGER_ROLES = ("Manager", "SystemAdministrator")
SESSION_CALL_STATES = ("Disconnected", "Ringing", "Connected", "Hold", "Passive")
SESSION_QUEUE_STATES = ("None", "Queued", "Ringing", "Connected", "Hold", "Disconnected")
HOLD_REASONS = ("None", "Transferring")
_SORT_FIELDS = {"datecreated": "dateCreated", "datelastmodified": "dateLastModified", "datecompleted": "dateCompleted"}


@dataclass(frozen=True, kw_only=True)
class SandboxUser:
    email: str
    password: str
    roles: tuple[str, ...]
    first_name: str = ""
    last_name: str = ""
    account_ids: tuple[str, ...] | None = None
    """None: the sandbox's account."""


DEFAULT_USERS = (
    SandboxUser(
        email="manager@sandbox.test",
        password="sandbox",
        roles=("Manager", "User"),
        first_name="Sandbox",
        last_name="Manager",
    ),
    SandboxUser(
        email="agent@sandbox.test", password="sandbox", roles=("User",), first_name="Sandbox", last_name="Agent"
    ),
)


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Failures the sandbox injects, drawn per request from its own seeded stream."""

    error_rate: float = 0.0
    """Share of requests answered 500, 502 or 503 before anything is done (502 with a proxy's
    plain-text body)."""
    latency: float = 0.0
    """Seconds added to every response."""
    burst_rate: float = 0.0
    """Chance that a request starts a burst of 429 answers."""
    burst_length: int = 5
    """Requests answered 429 in a burst (the first included)."""
    commit_timeout_rate: float = 0.0
    """Share of placements that dial the call, then answer only after ``hang_seconds``."""
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "burst_rate", "commit_timeout_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.latency < 0 or self.hang_seconds < 0 or self.burst_length < 1:
            raise ValueError("latency and hang_seconds cannot be negative; burst_length must be at least 1")


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    account_id: str = "sandbox-account"
    account_name: str = "Evo Voice sandbox"
    numbers: tuple[str, ...] = DEFAULT_NUMBERS
    """Owned phone numbers (valid caller IDs)."""
    users: tuple[SandboxUser, ...] = DEFAULT_USERS
    agents: int = 8
    model: CallModel = REALISTIC
    seed: int = 7
    placement_response: PlacementResponse = "empty"
    archive_after: timedelta = timedelta(days=15)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        bad = [n for n in self.numbers if not phones.is_e164(n)]
        if bad or not self.numbers:
            raise ValueError(f"owned numbers must be valid E.164 numbers (got {', '.join(bad) or 'none'})")
        if self.placement_response not in PLACEMENT_RESPONSES:
            raise ValueError(f"placement_response must be one of {', '.join(PLACEMENT_RESPONSES)}")


@dataclass(frozen=True, kw_only=True)
class PlacementLog:
    """One session a placement created, as the sandbox saw it."""

    session_id: str
    number: str
    caller_id: str
    flow_id: str
    created_at: datetime
    answered_late: bool
    """The placement was committed, then answered after ``hang_seconds`` (commit then time out)."""


class EvoSandbox:
    """The sandbox's state. Thread-safe: every operation runs under one lock."""

    def __init__(self, config: SandboxConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock = clock or SystemClock()
        self.centre = CallCentre(
            agents=self.config.agents, model=self.config.model, seed=self.config.seed, epoch=self.clock.now()
        )
        self.placements: list[PlacementLog] = []
        self.requests = 0
        self._lock = threading.RLock()
        self._fault_rng = random.Random(f"faults:{self.config.seed}")
        self._pick_rng = random.Random(f"caller-ids:{self.config.seed}")
        self._burst_left = 0
        self._users = {u.email.lower(): u for u in self.config.users}
        self._owned = {phones_digits(n): n for n in self.config.numbers}

    # ------------------------------------------------------------- plumbing
    def now(self) -> datetime:
        with self._lock:
            now = self.clock.now()
            t = self.centre.to_t(now)
            if t > self.centre.t:
                self.centre.advance(t)
            return now

    def draw_fault(self) -> SandboxRefusal | None:
        """A 429 or a server error for this request, per :class:`Faults` (None: serve it)."""
        faults = self.config.faults
        with self._lock:
            self.requests += 1
            if self._burst_left > 0 or (faults.burst_rate and self._fault_rng.random() < faults.burst_rate):
                self._burst_left = (self._burst_left or faults.burst_length) - 1
                return SandboxRefusal(
                    429, "TooManyRequests", "Too many requests; slow down", headers={"Retry-After": "1"}
                )
            if faults.error_rate and self._fault_rng.random() < faults.error_rate:
                status = self._fault_rng.choice((500, 502, 503))
                return SandboxRefusal(status, "Exception", "Injected server error (sandbox fault)")
            return None

    def draw_commit_timeout(self) -> bool:
        rate = self.config.faults.commit_timeout_rate
        with self._lock:
            return bool(rate) and self._fault_rng.random() < rate

    def authenticate(self, authorization: str | None) -> SandboxUser:
        refusal = SandboxRefusal(
            401,
            "Unauthorized",
            "Invalid UserName or Password",
            headers={"WWW-Authenticate": 'Basic realm="/auth/basic"'},
        )
        if not authorization or not authorization.lower().startswith("basic "):
            raise refusal
        try:
            email, _, password = base64.b64decode(authorization[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise refusal from None
        user = self._users.get(email.lower())
        if user is None or user.password != password:
            raise refusal
        return user

    @staticmethod
    def require_role(user: SandboxUser, roles: Sequence[str]) -> None:
        if not set(user.roles) & set(roles):
            raise SandboxRefusal(403, "Forbidden", f"Invalid Role: requires any of {', '.join(roles)}")

    def _accounts(self, user: SandboxUser) -> tuple[str, ...]:
        return user.account_ids if user.account_ids is not None else (self.config.account_id,)

    def _check_accounts(self, user: SandboxUser, requested: Sequence[str]) -> None:
        allowed = set(self._accounts(user))
        denied = [a for a in requested if a not in allowed and "SystemAdministrator" not in user.roles]
        if denied:
            raise SandboxRefusal(403, "Forbidden", f"You do not have access to account {denied[0]}")

    # ----------------------------------------------------------- operations
    def auth_status(self, user: SandboxUser) -> dict[str, Any]:
        accounts = self._accounts(user)
        return {
            "id": "user-" + hashlib.blake2b(user.email.lower().encode(), digest_size=6).hexdigest(),
            "isAuthenticated": True,
            "firstName": user.first_name,
            "lastName": user.last_name,
            "name": f"{user.first_name} {user.last_name}".strip() or user.email,
            "avatarUrl": None,
            "emailAddress": user.email,
            "roles": list(user.roles),
            "accountIds": list(accounts),
            "accountNames": [self.config.account_name if a == self.config.account_id else a for a in accounts],
            "managerAccess": "Manager" in user.roles or "SystemAdministrator" in user.roles,
            "dashboardPermissions": [],
        }

    def new_outgoing_session(self, user: SandboxUser, params: Params) -> dict[str, Any]:
        """NewOutgoingSession: validate, dial, log. Returns the new session's SessionInfo."""
        self.require_role(user, MANAGER_ROLES)
        flow_id = param_text(params, "flowid")
        number = param_text(params, "numbertodial")
        caller_id = param_text(params, "callerid")
        if not flow_id:
            raise SandboxRefusal(400, "NotEmpty", "'Flow Id' must not be empty.", field_name="FlowId")
        if not number or not phones.is_e164(number):
            raise SandboxRefusal(
                400,
                "InvalidPhoneNumber",
                f"'{number or ''}' is not a valid E164 number, e.g. +18144043093",
                field_name="NumberToDial",
            )
        if caller_id and self._owned.get(phones_digits(caller_id)) != caller_id:
            raise SandboxRefusal(
                400,
                "InvalidCallerId",
                f"The Caller ID {caller_id} must be the E164 number of an owned phone number",
                field_name="CallerId",
            )
        with self._lock:
            now = self.now()
            chosen = caller_id or self._pick_rng.choice(self.config.numbers)
            call = self.centre.dial(number, caller_id=chosen, flow_id=flow_id)
            self.placements.append(
                PlacementLog(
                    session_id=call.session_id,
                    number=number,
                    caller_id=chosen,
                    flow_id=flow_id,
                    created_at=now,
                    answered_late=False,
                )
            )
            return self._render(call)

    def mark_answered_late(self, session_id: str) -> None:
        with self._lock:
            for i, entry in enumerate(self.placements):
                if entry.session_id == session_id:
                    self.placements[i] = PlacementLog(**{**entry.__dict__, "answered_late": True})

    def list_sessions(self, user: SandboxUser, params: Params) -> dict[str, Any]:
        """ListSessions: filter, sort and page the sessions in a ListResponse."""
        requested = param_list(params, "accountids")
        self._check_accounts(user, requested)
        start = param_day(params, "startdate", "StartDate")
        end = param_day(params, "enddate", "EndDate")
        sort_key = _SORT_FIELDS.get((param_text(params, "sortfield") or "dateCreated").lower())
        if sort_key is None:
            raise SandboxRefusal(400, "ArgumentException", "Unknown sort field", field_name="SortField")
        order = (param_text(params, "sortorder") or "Descend").lower()
        if order not in ("ascend", "descend"):
            raise SandboxRefusal(
                400, "SerializationException", "sortOrder is Ascend or Descend", field_name="SortOrder"
            )
        page, per_page = param_int(params, "page", 0), param_int(params, "countperpage", 25)
        if page < 0 or per_page < 1:
            raise SandboxRefusal(400, "ArgumentException", "page ≥ 0 and countPerPage ≥ 1", field_name="CountPerPage")
        ids = set(param_list(params, "specificids"))
        to, from_ = (param_text(params, "to") or "").lower(), (param_text(params, "from") or "").lower()
        log_text = (param_text(params, "log") or "").lower()
        archive = param_bool(params, "searcharchive")
        unmatched = any(param_list(params, k) for k in ("customerids", "endpointids")) or param_text(
            params, "parentsessionid"
        )
        with self._lock:
            now = self.now()
            accounts = set(requested or self._accounts(user))
            rows: list[tuple[int, dict[str, Any]]] = []
            if self.config.account_id in accounts and not unmatched:
                for call in self.centre.iter_calls():
                    if (ids and call.session_id not in ids) or self._archived(call, now) != archive:
                        continue
                    created = self.centre.to_datetime(call.dialed_at)
                    if (start and created.date() < start) or (end and created.date() > end):
                        continue
                    if to and to not in call.number.lower():
                        continue
                    if from_ and from_ not in (call.caller_id or "").lower():
                        continue
                    if log_text and not any(log_text in m.lower() for _, m in call.log):
                        continue
                    rows.append((call.index, self._render(call)))
        rows.sort(key=lambda r: (r[1].get(sort_key) or "", r[0]), reverse=order == "descend")
        total = len(rows)
        sessions = [session for _, session in rows]
        items = sessions if param_bool(params, "all") else sessions[page * per_page : (page + 1) * per_page]
        simplified = param_bool(params, "simplifiedpaging")
        pages = -(-total // per_page)
        return {
            "items": items,
            "totalCount": 0 if simplified else total,
            "totalPages": 0 if simplified else pages,
            "hasMorePages": (page + 1) * per_page < total and not param_bool(params, "all"),
        }

    def get_session(self, user: SandboxUser, session_id: str) -> dict[str, Any]:
        """GetSession: the SessionInfo with ``log`` stripped (the documented quirk)."""
        with self._lock:
            session = self._render(self._find(user, session_id))
        session["log"] = []
        return session

    def patch_session(self, user: SandboxUser, session_id: str, params: Params) -> dict[str, Any]:
        """PatchSession: ``consoleData`` is stored. ``callState``, ``holdReason`` and ``queueState``
        are validated but do not drive the simulated call (live call control is out of scope)."""
        for key, allowed, name in (
            ("callstate", SESSION_CALL_STATES, "CallState"),
            ("queuestate", SESSION_QUEUE_STATES, "QueueState"),
            ("holdreason", HOLD_REASONS, "HoldReason"),
        ):
            value = param_text(params, key)
            if value is not None and value not in allowed:
                raise SandboxRefusal(
                    400, "SerializationException", f"Requested value '{value}' was not found.", field_name=name
                )
        with self._lock:
            call = self._find(user, session_id)
            if "consoledata" in params:
                value = params["consoledata"]
                call.console_data = None if value is None else str(value)
            return self._render(call)

    def end_session(self, user: SandboxUser, session_id: str) -> None:
        """EndSession: hang up (a ringing call ends cancelled; a talking one goes to wrap-up)."""
        self.require_role(user, ("User", *MANAGER_ROLES))
        with self._lock:
            call = self._find(user, session_id)
            self.centre.hang_up(call.session_id)

    def active_calls(self, user: SandboxUser, params: Params) -> dict[str, Any]:
        """GetActiveCalls: Twilio-shaped CallInfo rows of live calls (callee legs and agent legs)."""
        self.require_role(user, MANAGER_ROLES)
        account = param_text(params, "accountid") or self._accounts(user)[0]
        self._check_accounts(user, [account])
        rows: list[dict[str, Any]] = []
        with self._lock:
            now = self.now()
            if account != self.config.account_id:
                return {"calls": rows}
            for call in self.centre.iter_calls():
                if call.phase is Phase.ENDED:
                    continue
                rows.append(self._call_info(call, now))
                session = self._render(call)
                agent_leg = next((m for m in session["members"] if m.get("role") == "Agent"), None)
                if agent_leg is not None:
                    rows.append(self._call_info(call, now, agent_leg=agent_leg))
        return {"calls": rows}

    def list_endpoints(self, user: SandboxUser, params: Params) -> dict[str, Any]:
        """ListEndpoints: the owned phone numbers, and the agents as User endpoints."""
        self.require_role(user, (*MANAGER_ROLES, "Customer"))
        requested = param_list(params, "accountids")
        self._check_accounts(user, requested)
        kind = param_text(params, "type")
        number_filter = phones_digits(param_text(params, "phonenumberfilter") or "")
        name_filter = (param_text(params, "namefilter") or "").lower()
        page, per_page = param_int(params, "page", 0), param_int(params, "countperpage", 25)
        created = self.centre.to_datetime(0).isoformat().replace("+00:00", "Z")
        rows: list[dict[str, Any]] = []
        if self.config.account_id in (requested or self._accounts(user)):
            for i, number in enumerate(self.config.numbers):
                rows.append(self._endpoint(f"pn-{i + 1}", "PhoneNumber", number, created, phone_number=number))
            with self._lock:
                for agent in self.centre.agents:
                    rows.append(self._endpoint(agent.id, "User", agent.name, created))
        rows = [
            r
            for r in rows
            if (not kind or r["type"] == kind)
            and (not number_filter or number_filter in phones_digits(r.get("phoneNumber") or ""))
            and (not name_filter or name_filter in r["displayName"].lower())
        ]
        items = rows[page * per_page : (page + 1) * per_page]
        return {
            "items": items,
            "totalCount": len(rows),
            "totalPages": -(-len(rows) // per_page),
            "hasMorePages": (page + 1) * per_page < len(rows),
        }

    # -------------------------------------------------------------- helpers
    def session_ids(self) -> list[str]:
        with self._lock:
            return [c.session_id for c in self.centre.iter_calls()]

    def _find(self, user: SandboxUser, session_id: str) -> SimCall:
        now = self.now()
        call = self.centre.call_for_session(session_id)
        if call is None or self._archived(call, now) or self.config.account_id not in self._accounts(user):
            raise SandboxRefusal(404, "NotFound", f"Session {session_id} does not exist")
        return call

    def _archived(self, call: SimCall, now: datetime) -> bool:
        return now - self.centre.to_datetime(call.dialed_at) > self.config.archive_after

    def _render(self, call: SimCall) -> dict[str, Any]:
        return self.centre.session_info(call, account_id=self.config.account_id, account_name=self.config.account_name)

    def _call_info(self, call: SimCall, now: datetime, *, agent_leg: Mapping[str, Any] | None = None) -> dict[str, Any]:
        def iso(t: float) -> str:
            return self.centre.to_datetime(t).isoformat().replace("+00:00", "Z")

        started = call.dialed_at if agent_leg is None else (call.connected_at or call.dialed_at)
        sid = call.call_sid if agent_leg is None else str(agent_leg["callSid"])
        to = call.number if agent_leg is None else f"client:{agent_leg['identity']}"
        return {
            "sid": sid,
            "status": "ringing" if call.phase is Phase.RINGING else "in-progress",
            "answeredBy": None,
            "direction": "outbound-api" if agent_leg is None else "outbound-dial",
            "from": call.caller_id,
            "to": to,
            "fromFormatted": call.caller_id,
            "toFormatted": to,
            "duration": None,
            "startTime": iso(started),
            "endTime": None,
            "dateCreated": iso(started),
            "dateUpdated": iso(max([started] + [t for t, _ in call.log])),
            "parentCallSid": None if agent_leg is None else call.call_sid,
            "phoneNumberSid": None,
            "price": None,
            "priceUnit": "USD",
            "accountSid": "AC" + phones_digits(self.config.account_id).rjust(32, "0")[:32],
            "annotation": None,
            "callerName": None,
            "forwardedFrom": None,
            "uri": f"/2010-04-01/Accounts/sandbox/Calls/{sid}.json",
        }

    def _endpoint(
        self, endpoint_id: str, kind: str, name: str, created: str, *, phone_number: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": endpoint_id,
            "dateCreated": created,
            "dateLastModified": created,
            "createdBy": "sandbox",
            "lastModifiedBy": "sandbox",
            "accountId": self.config.account_id,
            "accountName": self.config.account_name,
            "customerId": None,
            "customerName": None,
            "displayName": name,
            "type": kind,
            "flowId": None,
            "flowName": None,
            "phoneNumber": phone_number,
            "isVirtualPhoneNumber": False,
            "disableSms": True,
            "tags": [],
        }

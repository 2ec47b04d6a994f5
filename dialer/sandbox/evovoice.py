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
- ``POST /sessions`` (NewSession, role User): a session record, with its parent session,
  customer (an unknown one, or parent, is a 400 naming the field), members by email address
  (sandbox users) and ``startSession``; it places no call (:mod:`dialer.sandbox.evo_sessions`).
- ``GET /sessions`` with ``accountIds``, ``to``/``from`` (contains searches), ``startDate``/
  ``endDate`` (UTC days), ``specificIds``, ``log``, ``parentSessionId``, ``customerIds``,
  ``searchArchive``, ``sortField``/``sortOrder``, ``page``/``countPerPage``/``all`` and
  ``simplifiedPaging``, in the ``ListResponse`` wrapper; ``GET /sessions/{id}`` with the log
  stripped; ``PATCH`` of ``consoleData``, ``callState``, ``holdReason`` and ``queueState``;
  ``DELETE`` (hang up); ``GET /calls/active``; ``GET /endpoints``.
- Every value of the seed enums shows up: calls connected to an agent ring the agent first
  (queue Ringing), some are held (Hold) or transferred to a supervisor (Passive,
  Transferring, a member with role Transfer) — see :class:`~dialer.sandbox.evo_sessions.LiveStates`.
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
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dialer.domain import phones
from dialer.domain.clock import Clock, SystemClock
from dialer.sandbox import evo_sessions
from dialer.sandbox.evo_config import (
    DEFAULT_NUMBERS,
    DEFAULT_USERS,
    HOLD_REASONS,
    MANAGER_ROLES,
    PLACEMENT_RESPONSES,
    SESSION_CALL_STATES,
    SESSION_QUEUE_STATES,
    SORT_FIELDS,
    Faults,
    PlacementLog,
    PlacementResponse,
    SandboxConfig,
    SandboxUser,
)
from dialer.sandbox.evo_sessions import AppSession, LiveStates, SandboxCustomer, copy_info, iso
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
from dialer.sim.callcentre import CallCentre, Phase, SimCall

__all__ = [
    "DEFAULT_NUMBERS",
    "DEFAULT_USERS",
    "PLACEMENT_RESPONSES",
    "EvoSandbox",
    "Faults",
    "LiveStates",
    "PlacementLog",
    "PlacementResponse",
    "SandboxConfig",
    "SandboxCustomer",
    "SandboxUser",
]


_NEVER = datetime.min.replace(tzinfo=UTC)


def _instant(value: object) -> datetime:
    """A SessionInfo date as an instant, for sorting (ISO strings with and without fractions
    of a second do not sort as text); a missing date sorts first."""
    if not isinstance(value, str) or not value:
        return _NEVER
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _NEVER
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


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
        self.bursts = 0
        """429 bursts started."""
        self.errors = 0
        """Requests answered with an injected server error."""
        self.timeouts = 0
        """Requests that hung and failed without doing anything."""
        self.lost_responses: set[str] = set()
        """Sessions whose placement answered 502 although the call was made."""
        self._users = {u.email.lower(): u for u in self.config.users}
        self._owned = {phones_digits(n): n for n in self.config.numbers}
        self._customers = {c.id: c for c in self.config.customers}
        self._app_sessions: dict[str, AppSession] = {}
        self._patched: dict[str, dict[str, str]] = {}
        self._id_rng = random.Random(f"session-ids:{self.config.seed}")

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
                if self._burst_left == 0:
                    self.bursts += 1
                self._burst_left = (self._burst_left or faults.burst_length) - 1
                retry = {"Retry-After": f"{faults.retry_after:g}"} if faults.retry_after is not None else {}
                return SandboxRefusal(429, "TooManyRequests", "Too many requests; slow down", headers=retry)
            if faults.error_rate and self._fault_rng.random() < faults.error_rate:
                self.errors += 1
                status = self._fault_rng.choice((500, 502, 503))
                return SandboxRefusal(status, "Exception", "Injected server error (sandbox fault)")
            return None

    def draw_commit_timeout(self) -> bool:
        rate = self.config.faults.commit_timeout_rate
        with self._lock:
            return bool(rate) and self._fault_rng.random() < rate

    def draw_timeout(self) -> bool:
        """This request hangs and then fails, having done nothing (:attr:`Faults.timeout_rate`)."""
        rate = self.config.faults.timeout_rate
        with self._lock:
            hit = bool(rate) and self._fault_rng.random() < rate
            self.timeouts += hit
            return hit

    def draw_lost_response(self) -> bool:
        """This placement's answer is lost after the call was made (:attr:`Faults.lost_response_rate`)."""
        rate = self.config.faults.lost_response_rate
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
            "id": _user_id(user),
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

    def new_session(self, user: SandboxUser, params: Params) -> dict[str, Any]:
        """NewSession: a session record (no call is placed). Returns its SessionInfo."""
        self.require_role(user, ("User",))

        def member(email: str) -> dict[str, Any] | None:
            found = self._users.get(email.lower())
            if found is None:
                return None
            name = f"{found.first_name} {found.last_name}".strip() or found.email
            return {"email": found.email, "name": name, "id": _user_id(found)}

        with self._lock:
            now = self.now()
            app = evo_sessions.new_record(
                params,
                session_id=str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4)),
                user_email=user.email,
                find_user=member,
                customers=self._customers,
                exists=self._exists,
                account=(self.config.account_id, self.config.account_name),
                now=now,
            )
            self._app_sessions[app.info["id"]] = app
            return copy_info(app.info)

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
        sort_key = SORT_FIELDS.get((param_text(params, "sortfield") or "dateCreated").lower())
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
        customers = param_list(params, "customerids")
        parent = param_text(params, "parentsessionid")
        # Calls placed with NewOutgoingSession have no customer, endpoint or parent session.
        calls_match = not (customers or param_list(params, "endpointids") or parent)
        with self._lock:
            now = self.now()
            accounts = set(requested or self._accounts(user))
            # (sort value, tie-break, the session or the call to render): sorted by dateCreated,
            # only the page's calls are rendered, so a listing costs little however many exist.
            rows: list[tuple[datetime, int, dict[str, Any] | SimCall]] = []
            by_created = sort_key == "dateCreated"
            if self.config.account_id in accounts and not param_list(params, "endpointids"):
                for n, app in enumerate(self._app_sessions.values()):
                    if (now - app.created_at > self.config.archive_after) != archive:
                        continue
                    if evo_sessions.matches(
                        app, ids=ids, to=to, from_=from_, log_text=log_text, parent=parent,
                        customers=customers, start=start, end=end,
                    ):  # fmt: skip
                        info = copy_info(app.info)
                        rows.append((_instant(info.get(sort_key)), -1 - n, info))
            if self.config.account_id in accounts and calls_match:
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
                    if by_created:
                        rows.append((created, call.index, call))
                    else:
                        rendered = self._render(call)
                        rows.append((_instant(rendered.get(sort_key)), call.index, rendered))
            rows.sort(key=lambda r: (r[0], r[1]), reverse=order == "descend")
            total = len(rows)
            chosen = rows if param_bool(params, "all") else rows[page * per_page : (page + 1) * per_page]
            items = [self._render(item) if isinstance(item, SimCall) else item for _, _, item in chosen]
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
            app = self._app_session(user, session_id)
            session = copy_info(app.info) if app is not None else self._render(self._find(user, session_id))
        session["log"] = []
        return session

    def patch_session(self, user: SandboxUser, session_id: str, params: Params) -> dict[str, Any]:
        """PatchSession: ``consoleData`` is stored; ``callState``, ``holdReason`` and ``queueState``
        are validated and shown on the session until its call ends (on a session record, kept).
        They annotate the simulated call; they do not steer it."""
        states: dict[str, str] = {}
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
            if value is not None:
                states[name[0].lower() + name[1:]] = value
        with self._lock:
            app = self._app_session(user, session_id)
            if app is not None:
                if "consoledata" in params:
                    value = params["consoledata"]
                    app.info["consoleData"] = None if value is None else str(value)
                app.info.update(states)
                app.info["dateLastModified"] = iso(self.now())
                return copy_info(app.info)
            call = self._find(user, session_id)
            if "consoledata" in params:
                value = params["consoledata"]
                call.console_data = None if value is None else str(value)
            if states and call.phase is not Phase.ENDED:
                self._patched.setdefault(call.session_id, {}).update(states)
            return self._render(call)

    def end_session(self, user: SandboxUser, session_id: str) -> None:
        """EndSession: hang up (a ringing call ends cancelled; a talking one goes to wrap-up); a
        session record is marked ended."""
        self.require_role(user, ("User", *MANAGER_ROLES))
        with self._lock:
            app = self._app_session(user, session_id)
            if app is not None:
                stamp = iso(self.now())
                app.info.update(ended=True, callState="Disconnected", dialState="None", dateCompleted=stamp)
                app.info["log"].append({"date": stamp, "message": "Session ended"})
                return
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

    def _app_session(self, user: SandboxUser, session_id: str) -> AppSession | None:
        app = self._app_sessions.get(session_id)
        if app is not None and self.config.account_id not in self._accounts(user):
            raise SandboxRefusal(404, "NotFound", f"Session {session_id} does not exist")
        return app

    def _exists(self, session_id: str) -> bool:
        return session_id in self._app_sessions or self.centre.call_for_session(session_id) is not None

    def _find(self, user: SandboxUser, session_id: str) -> SimCall:
        now = self.now()
        call = self.centre.call_for_session(session_id)
        if call is None or self._archived(call, now) or self.config.account_id not in self._accounts(user):
            raise SandboxRefusal(404, "NotFound", f"Session {session_id} does not exist")
        return call

    def _archived(self, call: SimCall, now: datetime) -> bool:
        return now - self.centre.to_datetime(call.dialed_at) > self.config.archive_after

    def _render(self, call: SimCall) -> dict[str, Any]:
        session = self.centre.session_info(
            call, account_id=self.config.account_id, account_name=self.config.account_name
        )
        if call.phase is Phase.ENDED:
            self._patched.pop(call.session_id, None)
        return evo_sessions.overlay(
            session,
            call,
            t=self.centre.t,
            seed=self.config.seed,
            live=self.config.live,
            patched=self._patched.get(call.session_id),
        )

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


def _user_id(user: SandboxUser) -> str:
    return "user-" + hashlib.blake2b(user.email.lower().encode(), digest_size=6).hexdigest()

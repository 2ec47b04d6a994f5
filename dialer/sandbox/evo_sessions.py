"""What the Evo Voice sandbox shows beyond the call centre's calls.

* **Session records** created with NewSession (``POST /sessions``, seed 002): a display name,
  channel, direction, call state, addresses, a parent session, a customer (with its
  breadcrumb), members added by email address, and whether the session's flow was started.
  They place no call; they are listed, read, patched and ended like the calls' sessions.
* **Live states the call-centre model has no notion of** (:class:`LiveStates`), laid over a
  call's SessionInfo while it is connected to an agent, so a client meets every value of the
  seed enums: the agent's phone ringing (``queueState`` Ringing, the agent member Ringing), a
  hold (``callState`` Hold, ``queueState`` Hold, ``heldByUserId``), and a transfer to a
  supervisor (``callState`` Passive with ``holdReason`` Transferring while the supervisor's phone
  rings, then the supervisor as a member with role ``Transfer``). Which calls are held or
  transferred is drawn per session from the sandbox's seed; the model's timings are untouched.
* **PatchSession states**: ``callState``, ``holdReason`` and ``queueState`` set by a client are
  shown on the session until the call ends (they annotate the call; they do not steer the
  simulated call).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.sandbox.servicestack import Params, SandboxRefusal, param_bool, param_text
from dialer.sim.callcentre import Phase, SimCall

FLOW_CHANNELS = ("Voice", "Chat", "Fax")
SESSION_DIRECTIONS = ("Incoming", "Outgoing")
SESSION_CALL_STATES = ("Disconnected", "Ringing", "Connected", "Hold", "Passive")


@dataclass(frozen=True, kw_only=True)
class SandboxCustomer:
    """An Evo Voice customer of the sandbox's account (customers nest: ``parent_id``)."""

    id: str
    name: str
    parent_id: str | None = None


DEFAULT_CUSTOMERS = (
    SandboxCustomer(id="cust-100", name="Acme Insurance"),
    SandboxCustomer(id="cust-110", name="Acme Renewals", parent_id="cust-100"),
)

#: The endpoint a transferred call goes to.
SUPERVISOR = {"id": "supervisor-001", "name": "Supervisor 1"}


@dataclass(frozen=True, kw_only=True)
class LiveStates:
    """How calls connected to an agent show the states the call-centre model does not have."""

    agent_ring: float = 1.0
    """Seconds (of the model) the agent's phone rings after the queue picks the agent, at most a
    quarter of the talk: ``queueState`` Ringing, not yet ``answeredById``."""
    hold_share: float = 0.1
    """Share of connected calls their agent puts on hold for the middle fifth of the talk."""
    transfer_share: float = 0.05
    """Share of connected calls transferred to a supervisor in the last third of the talk."""

    def __post_init__(self) -> None:
        if self.agent_ring < 0 or not (0 <= self.hold_share <= 1 and 0 <= self.transfer_share <= 1):
            raise ValueError("agent_ring cannot be negative; hold_share and transfer_share are between 0 and 1")


@dataclass
class AppSession:
    """A session record made with NewSession."""

    info: dict[str, Any]
    created_at: datetime
    parent_id: str | None
    patched: dict[str, str] = field(default_factory=dict)


def _fractions(seed: int, session_id: str) -> tuple[float, float]:
    digest = hashlib.blake2b(f"live:{seed}:{session_id}".encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:], "big") / 2**64


def breadcrumb(customers: Mapping[str, SandboxCustomer], customer_id: str) -> list[dict[str, str]]:
    """The customer's ``customerBreadcrumb``: its ancestors and itself, outermost first."""
    trail: list[dict[str, str]] = []
    current: SandboxCustomer | None = customers.get(customer_id)
    while current is not None and len(trail) < 20:
        trail.insert(0, {"id": current.id, "name": current.name})
        current = customers.get(current.parent_id) if current.parent_id else None
    return trail


def overlay(
    session: dict[str, Any],
    call: SimCall,
    *,
    t: float,
    seed: int,
    live: LiveStates,
    patched: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``session`` (the call's SessionInfo from the model, at model time ``t``) with the live
    states of :class:`LiveStates` and any PatchSession states laid over it."""
    held, transferred = _fractions(seed, call.session_id)
    transfer = call.connected_at is not None and call.talk is not None and transferred < live.transfer_share
    members: list[dict[str, Any]] = session["members"]
    if transfer and call.connected_at is not None and call.talk is not None:
        start = call.connected_at + 0.7 * call.talk
        if call.phase is Phase.ENDED or t >= start:
            members.append(_supervisor(call, ringing=t < call.connected_at + 0.8 * call.talk, ended=call.ended_at))
    if call.phase is not Phase.TALKING or call.connected_at is None or call.talk is None or call.agent is None:
        return _patched(session, patched, live_call=call.phase is not Phase.ENDED)
    elapsed, talk = t - call.connected_at, call.talk
    agent = next((m for m in members if m.get("role") == "Agent"), None)
    caller = members[0]
    if elapsed < min(live.agent_ring, talk / 4):
        session.update(queueState="Ringing", answeredById=None, answeredByName=None, queueMemberId=None)
        if agent is not None:
            agent["callState"] = "Ringing"
    elif held < live.hold_share and 0.4 * talk <= elapsed < 0.6 * talk:
        session.update(callState="Hold", queueState="Hold", holdQueueName="Hold", holdReason="None")
        session["heldByUserId"] = agent["endpointId"] if agent else None
        caller["callState"] = "Hold"
    elif transfer and 0.7 * talk <= elapsed < 0.8 * talk:
        session.update(callState="Passive", queueState="Hold", holdQueueName="Transfer", holdReason="Transferring")
        session["heldByUserId"] = agent["endpointId"] if agent else None
        caller["callState"] = "Hold"
    elif transfer and elapsed >= 0.8 * talk and agent is not None:
        agent["callState"] = "None"  # the agent left; the supervisor has the caller
    session["mostRecentParticipantCallSid"] = members[-1]["callSid"]
    return _patched(session, patched, live_call=True)


def _supervisor(call: SimCall, *, ringing: bool, ended: float | None) -> dict[str, Any]:
    return {
        "identity": SUPERVISOR["id"],
        "endpointId": SUPERVISOR["id"],
        "displayName": SUPERVISOR["name"],
        "isOriginalMember": False,
        "avatarUrl": "",
        "applicationData": {},
        "callState": "None" if ended is not None else ("Ringing" if ringing else "Connected"),
        "role": "Transfer",
        "callSid": "CA" + hashlib.sha1(f"transfer:{call.call_sid}".encode()).hexdigest()[:32],
        "muted": False,
    }


def _patched(session: dict[str, Any], patched: Mapping[str, str] | None, *, live_call: bool) -> dict[str, Any]:
    if patched and live_call:
        session.update(patched)
    return session


def new_record(
    params: Params,
    *,
    session_id: str,
    user_email: str,
    find_user: Callable[[str], Mapping[str, str] | None],
    customers: Mapping[str, SandboxCustomer],
    exists: Callable[[str], bool],
    account: tuple[str, str],
    now: datetime,
) -> AppSession:
    """A NewSession request as a session record, validated as ServiceStack would: an enum value
    that does not exist, an unknown customer, parent session or member is a 400 naming the
    field. Defaults as documented: direction Outgoing, call state Connected, the From address
    the user's email (and channel Voice, the enum's first value)."""
    fields = {}
    for key, allowed, name, default in (
        ("channel", FLOW_CHANNELS, "Channel", "Voice"),
        ("direction", SESSION_DIRECTIONS, "Direction", "Outgoing"),
        ("callstate", SESSION_CALL_STATES, "CallState", "Connected"),
    ):
        value = param_text(params, key)
        if value is not None and value not in allowed:
            raise SandboxRefusal(
                400, "SerializationException", f"Requested value '{value}' was not found.", field_name=name
            )
        fields[key] = value or default
    customer_id = param_text(params, "customerid")
    customer = customers.get(customer_id) if customer_id else None
    if customer_id and customer is None:
        raise SandboxRefusal(
            400, "NotFound", f"Customer {customer_id} does not exist in this account", field_name="CustomerId"
        )
    parent_id = param_text(params, "parentsessionid")
    if parent_id and not exists(parent_id):
        raise SandboxRefusal(
            400, "NotFound", f"Parent session {parent_id} does not exist", field_name="ParentSessionId"
        )
    emails = params.get("memberemailaddresses")
    if emails is not None and not (isinstance(emails, list) and all(isinstance(e, str) for e in emails)):
        raise SandboxRefusal(
            400,
            "SerializationException",
            "memberEmailAddresses is a list of strings",
            field_name="MemberEmailAddresses",
        )
    members = []
    for email in emails or ():
        found = find_user(email)
        if found is None:
            raise SandboxRefusal(
                400, "NotFound", f"There is no user with email address {email}", field_name="MemberEmailAddresses"
            )
        members.append(member(found["email"], found["name"], found["id"], call_state=fields["callstate"]))
    start = param_bool(params, "startsession")
    stamp = iso(now)
    log = [{"date": stamp, "message": f"Session created by {user_email}"}]
    if param_text(params, "withaddress"):
        log.append({"date": stamp, "message": f"Chat with {param_text(params, 'withaddress')}"})
    if start:
        log.append({"date": stamp, "message": "Flow started (the sandbox runs no flows)"})
    info: dict[str, Any] = {
        "id": session_id,
        "dateCreated": stamp,
        "dateLastModified": stamp,
        "createdBy": user_email,
        "lastModifiedBy": user_email,
        "dialState": "Active" if start else "None",
        "callState": fields["callstate"],
        "queueState": "None",
        "accountId": account[0],
        "accountName": account[1],
        "customerId": customer.id if customer else None,
        "customerBreadcrumb": breadcrumb(customers, customer.id) if customer else [],
        "customerName": customer.name if customer else None,
        "endpointId": None,
        "endpointName": None,
        "dateCompleted": None,
        "destination": param_text(params, "destination"),
        "toAddress": param_text(params, "toaddress"),
        "fromAddress": param_text(params, "fromaddress") or user_email,
        "fromName": param_text(params, "fromname"),
        "answeredByName": None,
        "queueMemberId": None,
        "channel": fields["channel"],
        "ended": False,
        "outcome": None,
        "callSid": None,
        "consoleData": None,
        "holdQueueName": None,
        "heldByUserId": None,
        "holdReason": "None",
        "conferenceSid": None,
        "displayName": param_text(params, "displayname"),
        "log": log,
        "members": members,
        "callbackNumber": None,
        "answeredById": None,
        "direction": fields["direction"],
        "fromPhoneNumber": param_text(params, "fromphonenumber"),
        "mostRecentParticipantCallSid": None,
        "wasMissed": False,
        "ringQueueId": None,
    }
    return AppSession(info=info, created_at=now, parent_id=parent_id)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def copy_info(info: dict[str, Any]) -> dict[str, Any]:
    """A SessionInfo to hand out (the stored one stays as it is)."""
    return {
        **info,
        "log": [dict(e) for e in info["log"]],
        "members": [dict(m) for m in info["members"]],
        "customerBreadcrumb": [dict(c) for c in info["customerBreadcrumb"]],
    }


def member(user_email: str, name: str, user_id: str, *, call_state: str) -> dict[str, Any]:
    """A user added to a session record (NewSession ``memberEmailAddresses``)."""
    return {
        "identity": user_email,
        "endpointId": user_id,
        "displayName": name,
        "isOriginalMember": True,
        "avatarUrl": "",
        "applicationData": {},
        "callState": "Connected" if call_state == "Connected" else "None",
        "role": "Agent",
        "callSid": None,
        "muted": False,
    }


def matches(
    session: AppSession,
    *,
    ids: set[str],
    to: str,
    from_: str,
    log_text: str,
    parent: str | None,
    customers: Sequence[str],
    start: Any,
    end: Any,
) -> bool:
    """Whether a session record passes ListSessions' filters (contains searches on addresses)."""
    info = session.info
    if ids and info["id"] not in ids:
        return False
    if parent and session.parent_id != parent:
        return False
    if customers and info.get("customerId") not in customers:
        return False
    day = session.created_at.date()
    if (start and day < start) or (end and day > end):
        return False
    if to and not any(to in (info.get(k) or "").lower() for k in ("toAddress", "destination")):
        return False
    if from_ and not any(from_ in (info.get(k) or "").lower() for k in ("fromAddress", "fromPhoneNumber")):
        return False
    return not log_text or any(log_text in entry["message"].lower() for entry in info["log"])

"""Evo Voice ``SessionInfo`` → canonical call progress and results (outbound-domain.md §2.2).

Pure functions, shared by the Evo Voice client and the simulated backend (whose model
reports results with SessionInfo semantics). Evo publishes no outcome enum, so the
mapping is a precedence list over a finished session:

1. ``outcome`` matches the configurable outcome map (case-insensitive substrings, first
   match wins) → the mapped result.
2. ``wasMissed`` on a session that showed an answer → ``ABANDONED`` (the flow only runs
   once the callee answers, so a missed session is an answered callee no agent took);
   with no sign of an answer → ``NO_ANSWER``.
3. A live Twilio hint seen while the call ran (``/calls/active`` ``answeredBy``, matched on
   ``callSid``): a machine → ``ANSWERING_MACHINE``, a fax → ``FAX``.
4. An answer seen (``callState`` Connected while polling, ``answeredById``, a queue state,
   an ``in-progress`` live status, or an answer line in ``log``) and not missed → ``ANSWER``.
5. Nothing known → ``UNKNOWN``, raw fields kept.

Correlation (telephony.md §2.3) is pure too: :func:`match_session` picks, from a
``GET /sessions`` page, the session a placement created. So is the reading of ServiceStack
error bodies (§2.5): :func:`error_from_response` turns a status and a ``responseStatus``
into the :mod:`dialer.errors` exception the dialer reacts to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dialer.domain import phones
from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult
from dialer.errors import TelephonyAuthError, TelephonyError, TelephonyRejected, TelephonyUnavailable

# The enums of the seed DTOs (NewSession, SessionInfo, PatchSession), as Evo Voice spells them.
FLOW_CHANNELS = ("Voice", "Chat", "Fax")
SESSION_DIRECTIONS = ("Incoming", "Outgoing")
SESSION_CALL_STATES = ("Disconnected", "Ringing", "Connected", "Hold", "Passive")
SESSION_DIAL_STATES = ("None", "Active")
SESSION_QUEUE_STATES = ("None", "Queued", "Ringing", "Connected", "Hold", "Disconnected")
SESSION_HOLD_REASONS = ("None", "Transferring")
MEMBER_CALL_STATES = ("None", "Ringing", "Connected", "Hold")
MEMBER_ROLES = ("None", "Caller", "Agent", "Transfer")

#: Default outcome map: (regular expression, result), tried in order on ``outcome``.
DEFAULT_OUTCOME_MAP: tuple[tuple[str, CallResult], ...] = (
    (r"not in service|invalid number|vacant|disconnected number", CallResult.SIT_VACANT),
    (r"busy", CallResult.BUSY),
    (r"no[ -]?answer|unanswered", CallResult.NO_ANSWER),
    (r"machine|voicemail", CallResult.ANSWERING_MACHINE),
    (r"fax", CallResult.FAX),
    (r"cancel", CallResult.CANCELLED),
    (r"fail", CallResult.DIAL_ERROR),
)

_ANSWER_LOG = re.compile(r"answered|connected", re.IGNORECASE)
#: Call states of an answered call that has not ended: talking, on hold, or parked while it is
#: handed over (Passive, e.g. during a transfer; the queue shows Hold).
_LIVE_CALL_STATES = ("Connected", "Hold", "Passive")


OutcomeMap = tuple[tuple[re.Pattern[str], CallResult], ...]


def compile_outcome_map(entries: Sequence[tuple[str, CallResult]]) -> OutcomeMap:
    return tuple((re.compile(pattern, re.IGNORECASE), result) for pattern, result in entries)


def outcome_map_from_settings(table: Mapping[str, str]) -> OutcomeMap:
    """A user's outcome table (``pattern → result name``), tried before the defaults.

    Raises :class:`ValueError` naming the bad entry: an invalid regular expression or a
    result that is not a canonical :class:`CallResult` name.
    """
    entries: list[tuple[str, CallResult]] = []
    for pattern, name in table.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"outcome_map pattern {pattern!r} is not a regular expression: {exc}") from exc
        try:
            result = CallResult(str(name).strip().upper())
        except ValueError:
            known = ", ".join(r.value for r in CallResult)
            raise ValueError(f"outcome_map {pattern!r} = {name!r}: not a call result (one of {known})") from None
        entries.append((pattern, result))
    return compile_outcome_map([*entries, *DEFAULT_OUTCOME_MAP])


_DEFAULT_COMPILED = compile_outcome_map(DEFAULT_OUTCOME_MAP)

#: Twilio ``answeredBy`` values (seen on ``/calls/active``) that settle the result on their own.
_HINT_RESULTS = {
    "machine_start": CallResult.ANSWERING_MACHINE,
    "machine_end_beep": CallResult.ANSWERING_MACHINE,
    "machine_end_silence": CallResult.ANSWERING_MACHINE,
    "machine_end_other": CallResult.ANSWERING_MACHINE,
    "fax": CallResult.FAX,
}


def parse_evo_datetime(value: object) -> datetime | None:
    """Parse Evo's undocumented date strings: ISO 8601 with or without offset/fraction (a
    missing offset is read as UTC), or ServiceStack's ``/Date(ms±hhmm)/``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    m = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", text)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def shows_answer(session: Mapping[str, object], *, seen_answer: bool = False, live_status: str | None = None) -> bool:
    """Any sign that the callee answered. ``seen_answer``: the dialer saw the session
    Connected or queued while polling (the call-state history); ``live_status``: the last
    Twilio status ``/calls/active`` showed for the call."""
    if seen_answer or live_status == "in-progress":
        return True
    if session.get("answeredById"):
        return True
    if session.get("queueState") not in (None, "", "None"):
        return True
    if session.get("callState") in _LIVE_CALL_STATES and not session.get("ended"):
        return True
    log = session.get("log")
    if isinstance(log, list):
        for entry in log:
            if isinstance(entry, Mapping) and _ANSWER_LOG.search(str(entry.get("message", ""))):
                return True
    return False


def classify(
    session: Mapping[str, object],
    *,
    seen_answer: bool = False,
    outcome_map: Sequence[tuple[re.Pattern[str], CallResult]] = _DEFAULT_COMPILED,
    live_status: str | None = None,
    live_answered_by: str | None = None,
) -> CallResult:
    """The canonical result of an *ended* session (the precedence list above)."""
    mapped = map_outcome(session.get("outcome"), outcome_map)
    if mapped is not None:
        return mapped
    answered = shows_answer(session, seen_answer=seen_answer, live_status=live_status)
    if session.get("wasMissed") is True:
        return CallResult.ABANDONED if answered else CallResult.NO_ANSWER
    hinted = _HINT_RESULTS.get((live_answered_by or "").lower())
    if hinted is not None:
        return hinted
    if answered:
        return CallResult.ANSWER
    return CallResult.UNKNOWN


def map_outcome(outcome: object, outcome_map: Sequence[tuple[re.Pattern[str], CallResult]]) -> CallResult | None:
    """The outcome table's result for a free-text ``outcome``; None when no entry matches."""
    if isinstance(outcome, str) and outcome.strip():
        for pattern, result in outcome_map:
            if pattern.search(outcome):
                return result
    return None


def progress_state(session: Mapping[str, object]) -> AttemptState:
    """The attempt state a session shows (``ENDED`` once ``ended`` is true)."""
    if session.get("ended") is True:
        return AttemptState.ENDED
    queue = session.get("queueState")
    if queue == "Connected" or session.get("answeredById"):
        return AttemptState.CONNECTED
    if queue in ("Queued", "Ringing", "Hold"):
        return AttemptState.ANSWERED
    call_state = session.get("callState")
    if call_state in _LIVE_CALL_STATES:
        return AttemptState.ANSWERED
    if call_state == "Ringing":
        return AttemptState.RINGING
    return AttemptState.PLACED


def caller_id_used(session: Mapping[str, object]) -> str | None:
    """The caller ID a voice session went out with: ``fromPhoneNumber``, else ``fromAddress``,
    when it is an E.164 number (None otherwise, e.g. a user's address on an app session)."""
    for key in ("fromPhoneNumber", "fromAddress"):
        value = session.get(key)
        if isinstance(value, str) and phones.is_e164(value.strip()):
            return value.strip()
    return None


def handling_agent(session: Mapping[str, object]) -> str | None:
    """Who handled the call, for the attempt's ``agent``: ``answeredByName`` (else the member
    with role Agent), then whoever it was transferred to (members with role Transfer that got
    past ringing): ``Agent 3 → Supervisor 1``."""
    raw = session.get("members")
    members = [m for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []

    def name(member: Mapping[str, object]) -> str | None:
        value = member.get("displayName") or member.get("identity")
        return value if isinstance(value, str) and value else None

    first = session.get("answeredByName")
    agent = first if isinstance(first, str) and first else None
    if agent is None:
        agent = next((n for m in members if m.get("role") == "Agent" and (n := name(m))), None)
    ringing_only = session.get("ended") is not True
    transfers = [
        n
        for m in members
        if m.get("role") == "Transfer" and not (ringing_only and m.get("callState") == "Ringing") and (n := name(m))
    ]
    chain = [a for a in (agent, *transfers) if a]
    return " → ".join(dict.fromkeys(chain)) if chain else None


def session_times(
    session: Mapping[str, object], *, observed_at: datetime
) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(answered_at, connected_at, ended_at) from the session's log and dates.

    The log carries the exact moments when present; otherwise the observation time stands
    in (polling latency is then part of the figure).
    """
    answered = connected = None
    log = session.get("log")
    if isinstance(log, list):
        for entry in log:
            if not isinstance(entry, Mapping):
                continue
            message = str(entry.get("message", "")).lower()
            when = parse_evo_datetime(entry.get("date"))
            if when is None:
                continue
            if answered is None and "answered" in message:
                answered = when
            if connected is None and message.startswith("connected to"):
                connected = when
    state = progress_state(session)
    if answered is None and state.rank >= AttemptState.ANSWERED.rank and state is not AttemptState.ENDED:
        answered = observed_at
    if connected is None and state is AttemptState.CONNECTED:
        connected = observed_at
    ended = parse_evo_datetime(session.get("dateCompleted")) if session.get("ended") is True else None
    if session.get("ended") is True and ended is None:
        ended = observed_at
    return answered, connected, ended


def duration_seconds(session: Mapping[str, object]) -> float | None:
    created = parse_evo_datetime(session.get("dateCreated"))
    completed = parse_evo_datetime(session.get("dateCompleted"))
    if created and completed and completed >= created:
        return round((completed - created) / timedelta(seconds=1), 3)
    return None


# ---------------------------------------------------------------- correlation
def digits(number: object) -> str:
    """The digits of a phone number (``+1 (212) 555-0100`` → ``12125550100``)."""
    return re.sub(r"\D", "", number) if isinstance(number, str) else ""


def session_number(session: Mapping[str, object]) -> str:
    """The dialed number of a session, as digits: ``toAddress``, else ``destination``."""
    return digits(session.get("toAddress")) or digits(session.get("destination"))


def match_session(
    sessions: Sequence[Mapping[str, object]],
    *,
    number: str,
    since: datetime,
    skew: timedelta = timedelta(seconds=60),
    claimed: Container[str] = (),
) -> Mapping[str, object] | None:
    """The session a placement to ``number`` at ``since`` created, from a ``GET /sessions``
    page: the newest unclaimed outgoing session whose ``toAddress`` (or ``destination``) is
    exactly the number and whose ``dateCreated ≥ since − skew``.

    ``to`` is a contains search on the server, so the number is compared here exactly. A
    session without a readable ``dateCreated`` is never matched: it cannot be told apart
    from an older call to the same number.
    """
    want = digits(number)
    earliest = since - skew
    best: tuple[datetime, Mapping[str, object]] | None = None
    for session in sessions:
        sid = session.get("id")
        if not isinstance(sid, str) or not sid or sid in claimed:
            continue
        if session.get("direction") not in (None, "Outgoing") or session.get("channel") not in (None, "Voice"):
            continue
        if session_number(session) != want:
            continue
        created = parse_evo_datetime(session.get("dateCreated"))
        if created is None or created < earliest:
            continue
        if best is None or created > best[0]:
            best = (created, session)
    return best[1] if best else None


# --------------------------------------------------------------------- errors
@dataclass(frozen=True, kw_only=True)
class FieldError:
    field: str
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ResponseStatus:
    """ServiceStack's ``responseStatus``: ``errorCode``, ``message`` and per-field ``errors``."""

    error_code: str | None = None
    message: str | None = None
    errors: tuple[FieldError, ...] = ()


def parse_response_status(content: bytes | str) -> ResponseStatus:
    """Read a ServiceStack error body; an empty or non-JSON body (a proxy's) gives an empty status."""
    try:
        data = json.loads(content) if content else None
    except ValueError:
        return ResponseStatus()
    if not isinstance(data, dict):
        return ResponseStatus()
    status = data.get("responseStatus") or data.get("ResponseStatus") or data
    if not isinstance(status, dict):
        return ResponseStatus()

    def text(mapping: Mapping[str, Any], *keys: str) -> str | None:
        for key in keys:
            value = mapping.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    errors = []
    for item in status.get("errors") or status.get("Errors") or ():
        if isinstance(item, dict):
            errors.append(
                FieldError(
                    field=text(item, "fieldName", "FieldName") or "",
                    code=text(item, "errorCode", "ErrorCode") or "",
                    message=text(item, "message", "Message") or "",
                )
            )
    return ResponseStatus(
        error_code=text(status, "errorCode", "ErrorCode"),
        message=text(status, "message", "Message"),
        errors=tuple(errors),
    )


_ROLE_HINT = {
    "place a call": "Manager or SystemAdministrator",
    "list live calls": "Manager or SystemAdministrator (some deployments also grant CallCenterDashboard)",
    "list endpoints": "Manager, SystemAdministrator or Customer",
    "hang up": "User",
}


def error_from_response(status: int, content: bytes | str, *, operation: str) -> TelephonyError:
    """The :mod:`dialer.errors` exception for an Evo Voice error response (telephony.md §2.5)."""
    rs = parse_response_status(content)
    detail = ": ".join(p for p in (rs.error_code, rs.message) if p)
    fields = "; ".join(f"{e.field}: {e.message or e.code}" for e in rs.errors if e.field)
    said = f"HTTP {status}" + (f" {detail}" if detail else "") + (f" ({fields})" if fields else "")
    if status == 401:
        return TelephonyAuthError(
            f"Evo Voice refused the login ({said}). Set DIALER_EVOVOICE_USERNAME (the user's email) and "
            "DIALER_EVOVOICE_PASSWORD to a valid login; they are sent with HTTP Basic auth.",
            code=rs.error_code,
            status=status,
        )
    if status == 403:
        roles = _ROLE_HINT.get(operation)
        need = f"the Evo Voice user needs role {roles}" if roles else "the Evo Voice user lacks a role or account"
        return TelephonyAuthError(
            f"Evo Voice refused to {operation} ({said}): {need}, and DIALER_EVOVOICE_ACCOUNT_ID must be one of "
            "its accounts. Ask an Evo Voice administrator, or log in as another user.",
            code=rs.error_code,
            status=status,
        )
    if status == 400:
        names = {e.field.replace("_", "").lower() for e in rs.errors}
        return TelephonyRejected(
            f"Evo Voice rejected the request to {operation} ({said})",
            code=rs.error_code,
            status=status,
            bad_number="numbertodial" in names,
            bad_caller_id="callerid" in names,
        )
    if status in (409, 429) or status >= 500:
        return TelephonyUnavailable(
            f"Evo Voice could not {operation} right now ({said})", code=rs.error_code, status=status
        )
    if status in (404, 405):
        return TelephonyRejected(
            f"Evo Voice has no such operation or object ({said}) while trying to {operation}. "
            "Check DIALER_EVOVOICE_BASE_URL.",
            code=rs.error_code,
            status=status,
        )
    return TelephonyRejected(f"Evo Voice refused to {operation} ({said})", code=rs.error_code, status=status)

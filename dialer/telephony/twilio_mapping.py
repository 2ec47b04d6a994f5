"""Twilio call progress → canonical call results (outbound-domain.md §2.3). Pure functions.

A Twilio call reports itself three ways, and the dialer folds them together:

* **status callbacks** (``initiated``, ``ringing``, ``answered`` → ``in-progress``,
  ``completed`` and the other terminal statuses), ordered by ``SequenceNumber`` and
  possibly delivered twice or out of order;
* the **async AMD callback** (``AnsweredBy``: human, machine_*, fax, unknown);
* the **queue result** of the ``<Enqueue>`` that connects the callee to the agents
  (``QueueResult`` bridged / hangup / leave / … and ``QueueTime``), which is how the dialer
  learns whether an answered callee reached an agent in time (``was_missed``).

The same fold works on a REST ``Call`` resource (``calls(sid).fetch()``) when no public
callback URL is configured, minus the queue result.

Status decides first; the SIP response code only refines ``failed``, ``busy`` and
``no-answer``; ``AnsweredBy`` refines ``completed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
MACHINE = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"})
#: A live callee not bridged to an agent within this many seconds was abandoned (TSR / Ofcom).
GRACE_SECONDS = 2.0

_STATUS_STATE = {
    "queued": AttemptState.PLACED,
    "initiated": AttemptState.PLACED,
    "ringing": AttemptState.RINGING,
    "in-progress": AttemptState.ANSWERED,
}


def map_result(
    status: str,
    *,
    answered_by: str | None = None,
    sip_code: int | None = None,
    queue_result: str | None = None,
    queue_time: float | None = None,
) -> tuple[CallResult, bool | None]:
    """(canonical result, was_missed) for a call that ended with ``status``."""
    status = status.lower()
    answered_by = (answered_by or "").lower() or None
    if status == "completed":
        if answered_by in MACHINE:
            return CallResult.ANSWERING_MACHINE, False
        if answered_by == "fax":
            return CallResult.FAX, False
        if queue_result is not None:
            if queue_result.lower() != "bridged":
                return CallResult.ABANDONED, True  # answered, left the queue without an agent
            # Bridged: the contact was made. A bridge later than the grace time still breaks the
            # 2-second rule, so it is flagged missed (and counted by the abandonment meter).
            late = (queue_time or 0.0) > GRACE_SECONDS
            return (CallResult.SILENCE if answered_by == "unknown" else CallResult.ANSWER), late
        if answered_by == "unknown":
            return CallResult.SILENCE, None
        return CallResult.ANSWER, None
    # Nobody answered, so nobody was missed.
    if status == "busy":
        return CallResult.BUSY, False
    if status == "no-answer":
        return CallResult.NO_ANSWER, False
    if status == "canceled":
        return CallResult.CANCELLED, False
    if status == "failed":
        if sip_code in (404, 604):
            return CallResult.SIT_VACANT, False
        if sip_code in (410, 484):
            return CallResult.SIT_INVALID_NUM, False
        if sip_code is not None and 500 <= sip_code < 600:
            return CallResult.SIT_NO_CIRCUIT, False
        return CallResult.DIAL_ERROR, False
    return CallResult.UNKNOWN, None


#: REST error codes (from ``calls.create``) that mean the destination can never be dialed.
BAD_NUMBER_CODES = frozenset({21211, 21214, 21217, 13224, 13223})
#: REST error codes that mean the caller ID (``From``) cannot be used.
BAD_CALLER_ID_CODES = frozenset({21210, 21212, 21213})
#: REST error codes that mean configuration (not the record) is wrong.
CONFIG_CODES = frozenset({21215, 21219, 21205, 21206})


@dataclass(frozen=True, kw_only=True)
class CallView:
    """Everything known about one call, folded from callbacks or a fetched resource."""

    state: AttemptState
    status: str | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    answered_by: str | None = None
    sip_code: int | None = None
    queue_result: str | None = None
    queue_time: float | None = None
    outcome: CallResult | None = None
    was_missed: bool | None = None


def parse_twilio_time(value: object) -> datetime | None:
    """RFC 2822 dates (``Timestamp``, ``date_created``), ISO 8601, or datetimes from the library."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: object) -> float | None:
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def fold(
    events: Iterable[tuple[str, int, Mapping[str, object]]],
    *,
    expects_amd: bool = False,
    expects_queue: bool = False,
    now: datetime | None = None,
    settle_seconds: float = 10.0,
) -> CallView:
    """Fold stored callbacks ``(kind, sequence, payload)`` into one view of the call.

    ``kind`` is ``status``, ``amd`` or ``queue``. Status events are applied in
    ``SequenceNumber`` order whatever order they arrived in. When the call has ended but an
    AMD or queue result it is waiting for has not arrived, the outcome is held back for up to
    ``settle_seconds`` after the end (callbacks race each other), then decided without it.
    """
    statuses = sorted((seq, p) for kind, seq, p in events if kind == "status")
    amd = [p for kind, _, p in events if kind == "amd"]
    queue = [p for kind, _, p in events if kind == "queue"]
    state = AttemptState.PLACED
    status: str | None = None
    answered_at = ended_at = connected_at = None
    duration = None
    sip = None
    answered_by = None
    for _, payload in statuses:
        call_status = str(payload.get("CallStatus", "")).lower()
        when = parse_twilio_time(payload.get("Timestamp"))
        if call_status in TERMINAL:
            status = call_status
            state = AttemptState.ENDED
            ended_at = ended_at or when
            duration = _float(payload.get("CallDuration")) if duration is None else duration
            sip = _int(payload.get("SipResponseCode")) if sip is None else sip
        elif call_status in _STATUS_STATE:
            if status is None or status not in TERMINAL:
                status = call_status
            mapped = _STATUS_STATE[call_status]
            if mapped.rank > state.rank and state is not AttemptState.ENDED:
                state = mapped
            if call_status == "in-progress":
                answered_at = answered_at or when
        if payload.get("AnsweredBy"):
            answered_by = str(payload["AnsweredBy"])
    if amd:
        answered_by = str(amd[-1].get("AnsweredBy") or answered_by or "") or None
    queue_result = str(queue[-1].get("QueueResult")) if queue else None
    queue_time = _float(queue[-1].get("QueueTime")) if queue else None
    if queue_result and queue_result.lower() == "bridged" and answered_at is not None:
        connected_at = answered_at + timedelta(seconds=queue_time or 0.0)
        if state is not AttemptState.ENDED:
            state = AttemptState.CONNECTED
    if state is not AttemptState.ENDED or status is None:
        return CallView(
            state=state,
            status=status,
            answered_at=answered_at,
            connected_at=connected_at,
            answered_by=answered_by,
            queue_result=queue_result,
            queue_time=queue_time,
        )
    waiting = (expects_amd and answered_at is not None and not amd) or (
        expects_queue and answered_at is not None and not queue and status == "completed"
    )
    if waiting and now is not None and ended_at is not None and (now - ended_at).total_seconds() < settle_seconds:
        # Ended, but a result we rely on is still on its way: report the call as answered for now.
        return CallView(
            state=AttemptState.ANSWERED, status=status, answered_at=answered_at, ended_at=None, answered_by=answered_by
        )
    outcome, was_missed = map_result(
        status, answered_by=answered_by, sip_code=sip, queue_result=queue_result, queue_time=queue_time
    )
    return CallView(
        state=AttemptState.ENDED,
        status=status,
        answered_at=answered_at,
        connected_at=connected_at,
        ended_at=ended_at,
        duration_s=duration,
        answered_by=answered_by,
        sip_code=sip,
        queue_result=queue_result,
        queue_time=queue_time,
        outcome=outcome,
        was_missed=was_missed,
    )


def message_played(view: CallView) -> bool | None:
    """Whether an ended call heard the information message: the wait TwiML plays it after the
    grace time and then leaves the queue, so an abandoned call that *left* the queue heard it;
    one whose callee hung up first did not. ``None`` for calls that were not abandoned."""
    if view.outcome is None or not view.outcome.is_abandoned:
        return None
    return (view.queue_result or "").lower() == "leave"


def view_from_resource(call: Mapping[str, object]) -> CallView:
    """A fetched Call resource (REST polling, no callbacks) as a view."""
    status = str(call.get("status") or "").lower()
    start = parse_twilio_time(call.get("start_time"))
    end = parse_twilio_time(call.get("end_time"))
    answered_by = str(call.get("answered_by") or "") or None
    if status in TERMINAL:
        outcome, missed = map_result(status, answered_by=answered_by)
        answered = start if status == "completed" else None
        return CallView(
            state=AttemptState.ENDED,
            status=status,
            answered_at=answered,
            ended_at=end,
            duration_s=_float(call.get("duration")),
            answered_by=answered_by,
            outcome=outcome,
            was_missed=missed,
        )
    state = _STATUS_STATE.get(status, AttemptState.PLACED)
    return CallView(
        state=state, status=status, answered_at=start if status == "in-progress" else None, answered_by=answered_by
    )

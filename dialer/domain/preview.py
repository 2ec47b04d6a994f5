"""The preview desk's rules (Genesys preview-record flow), without I/O.

An agent requests a record, reviews its user data, then dials, skips or reschedules it;
after the call the agent submits a disposition, which becomes the attempt's canonical
result and drives the retry treatments (``outbound-domain.md`` §4).

A record on an agent's desk is leased to ``agent:<name>`` (the lease columns the tick uses,
with the agent as owner) until the lock expires. After a preview call ends the record stays
``dialing`` on the same desk (a *hold*) until the agent's disposition, so a final provider
result cannot end the record before the agent has said what happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from dialer.domain.records import RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision

AGENT_PREFIX = "agent:"
#: How long a record stays locked to the agent who requested (or dialed) it.
DEFAULT_LOCK = timedelta(minutes=15)
#: The campaign option that overrides :data:`DEFAULT_LOCK`, in seconds.
LOCK_OPTION = "preview_lock_seconds"
#: A personal callback is reserved for its agent until this long after the callback time;
#: then, if the agent has not taken it (away, logged out), any agent may get it.
DEFAULT_PERSONAL_GRACE = timedelta(hours=1)
#: The campaign option that overrides :data:`DEFAULT_PERSONAL_GRACE`, in seconds.
PERSONAL_GRACE_OPTION = "personal_callback_grace_seconds"
#: The campaign option that turns the auto-dial timer on: seconds after the agent is shown a
#: record, the desk dials it unless the agent skipped, rescheduled or dialed it first.
AUTO_DIAL_OPTION = "preview_auto_dial_seconds"
#: The disposition written when the agent reschedules a record after a call.
RESCHEDULED = "RESCHEDULED"

#: Dispositions an agent may submit after a call: the canonical results (Genesys names).
DISPOSITIONS: tuple[CallResult, ...] = (
    CallResult.ANSWER,
    CallResult.WRONG_PARTY,
    CallResult.WRONG_NUMBER,
    CallResult.ANSWERING_MACHINE,
    CallResult.FAX,
    CallResult.PAGER,
    CallResult.NO_ANSWER,
    CallResult.BUSY,
    CallResult.SILENCE,
    CallResult.SIT_INVALID_NUM,
    CallResult.SIT_VACANT,
    CallResult.SIT_INTERCEPT,
    CallResult.DO_NOT_CALL,
    CallResult.CANCEL_RECORD,
)
#: Dispositions that need no call (the agent ends the record from the preview screen).
WITHOUT_CALL: Mapping[CallResult, RecordStatus] = {
    CallResult.DO_NOT_CALL: RecordStatus.DO_NOT_CALL,
    CallResult.CANCEL_RECORD: RecordStatus.CANCELLED,
}


def desk_owner(agent: str) -> str:
    """The lease owner that locks a record to ``agent``."""
    return f"{AGENT_PREFIX}{agent}"


def agent_of(lease_owner: str | None) -> str | None:
    """The agent holding a lease, or ``None`` for the daemon's leases and free records."""
    if lease_owner and lease_owner.startswith(AGENT_PREFIX):
        return lease_owner[len(AGENT_PREFIX) :]
    return None


def lock_length(options: Mapping[str, object]) -> timedelta:
    value = options.get(LOCK_OPTION)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=float(value))
    return DEFAULT_LOCK


def _seconds(options: Mapping[str, object], key: str) -> float | None:
    value = options.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def personal_grace(options: Mapping[str, object]) -> timedelta:
    seconds = _seconds(options, PERSONAL_GRACE_OPTION)
    return timedelta(seconds=seconds) if seconds is not None else DEFAULT_PERSONAL_GRACE


def auto_dial_after(options: Mapping[str, object]) -> timedelta | None:
    """The auto-dial timer, or ``None`` when the campaign has none."""
    seconds = _seconds(options, AUTO_DIAL_OPTION)
    return timedelta(seconds=seconds) if seconds is not None else None


def parse_disposition(text: str) -> CallResult:
    """A disposition by name (any case) or OCS code; ``ValueError`` names the valid ones."""
    wanted = text.strip().upper().replace("-", "_").replace(" ", "_")
    for result in DISPOSITIONS:
        if wanted in (result.value, str(result.ocs_code)):
            return result
    names = ", ".join(r.value for r in DISPOSITIONS)
    raise ValueError(f"unknown disposition {text!r}; use one of {names}")


def hold_after_call(agent: str, result: CallResult, *, now: datetime, lock: timedelta) -> RetryDecision:
    """A preview call ended: the record waits on the agent's desk for the disposition."""
    return RetryDecision(
        status=RecordStatus.DIALING,
        retry_at=now + lock,
        reason=f"{result}: preview call ended; waiting for {agent}'s disposition",
    )

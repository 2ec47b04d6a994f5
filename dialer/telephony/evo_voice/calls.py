"""What the Evo Voice adapter keeps per attempt between polls, and how a session becomes a
:class:`~dialer.telephony.base.CallUpdate`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult
from dialer.telephony import evo_mapping
from dialer.telephony.base import CallHandle, CallUpdate


@dataclass
class TrackedCall:
    """What the adapter remembers about one attempt between polls (lost on restart, which
    :meth:`EvoVoiceTelephony.reconcile` makes up for)."""

    attempt_id: str
    campaign: str
    number: str
    placed_at: datetime
    touched: datetime
    ring_timeout: float = 25.0
    user_data: Mapping[str, str] | None = None
    """The record's user data, for ``consoleData``; None until read (after a restart)."""
    load_user_data: Callable[[], Mapping[str, str]] | None = None
    """Reads the user data when this process did not place the call (see :class:`CallHandle`)."""
    requested_caller_id: str | None = None
    """The caller ID the placement asked for (None: Evo Voice picks one, or not known)."""
    console_data: str | None = None
    """``consoleData`` as last read; ``read``: the session has been read at least once."""
    read: bool = False
    session_id: str | None = None
    call_sid: str | None = None
    correlation: str | None = None
    reported: bool = False
    """The dialer has been told the session id."""
    next_poll: datetime | None = None
    seen_answer: bool = False
    """The call-state history showed an answer (Connected, queued, or live ``in-progress``)."""
    live_status: str | None = None
    live_answered_by: str | None = None
    tag_tries: int = 0
    tagged: bool = False
    misses: int = 0


def session_update(
    call: TrackedCall,
    session: Mapping[str, Any],
    *,
    handle: CallHandle,
    now: datetime,
    outcome_map: Sequence[tuple[re.Pattern[str], CallResult]],
    force: bool = False,
) -> CallUpdate | None:
    """The update a session means for the attempt; None when it shows nothing new (unless
    ``force``). Records the call-state history (an answer seen) on ``call``."""
    state = evo_mapping.progress_state(session)
    if state is not AttemptState.ENDED:
        state = with_live_hint(state, call.live_status)
        if state.rank >= AttemptState.ANSWERED.rank:
            call.seen_answer = True
    newly_known = not call.reported
    if not (force or newly_known or state.rank > handle.state.rank):
        return None
    call.reported = True
    answered, connected, ended = evo_mapping.session_times(session, observed_at=now)
    ended_flag = state is AttemptState.ENDED
    outcome = None
    if ended_flag:
        outcome = evo_mapping.classify(
            session,
            seen_answer=call.seen_answer or handle.seen_answer,
            outcome_map=outcome_map,
            live_status=call.live_status,
            live_answered_by=call.live_answered_by,
        )
    return CallUpdate(
        attempt_id=call.attempt_id,
        state=state,
        provider_ref=call.session_id,
        correlation=call.correlation if newly_known or force else None,
        call_sid=call.call_sid,
        answered_at=clamp(answered, call.placed_at, now),
        connected_at=clamp(connected, call.placed_at, now),
        ended_at=clamp(ended, call.placed_at, now),
        outcome=outcome,
        raw_outcome=text(session, "outcome") if ended_flag else None,
        was_missed=bool(session.get("wasMissed")) if ended_flag else None,
        agent=evo_mapping.handling_agent(session),
        duration_s=evo_mapping.duration_seconds(session),
        raw=dict(session) if ended_flag else None,
        caller_id=evo_mapping.caller_id_used(session),
    )


def not_found(call: TrackedCall, *, now: datetime, margin: timedelta) -> CallUpdate:
    """A placed call whose session never appeared: ``UNKNOWN``, not a no-answer (telephony.md §2.3)."""
    return CallUpdate(
        attempt_id=call.attempt_id,
        state=AttemptState.ENDED,
        correlation="not_found",
        ended_at=now,
        outcome=CallResult.UNKNOWN,
        note=f"session_not_found: no Evo Voice session to {call.number} appeared within "
        f"{call.ring_timeout + margin.total_seconds():.0f} s of the placement",
    )


def vanished(call: TrackedCall, *, now: datetime) -> CallUpdate:
    return CallUpdate(
        attempt_id=call.attempt_id,
        state=AttemptState.ENDED,
        provider_ref=call.session_id,
        ended_at=now,
        outcome=CallResult.UNKNOWN,
        note=f"Evo Voice no longer lists session {call.session_id} (archive searched too)",
    )


def with_live_hint(state: AttemptState, live_status: str | None) -> AttemptState:
    if live_status == "in-progress" and state.rank < AttemptState.ANSWERED.rank:
        return AttemptState.ANSWERED
    if live_status in ("ringing", "queued") and state.rank < AttemptState.RINGING.rank:
        return AttemptState.RINGING
    return state


def clamp(value: datetime | None, low: datetime, high: datetime) -> datetime | None:
    """Provider times inside [placement, now]: Evo's clock is not the dialer's (telephony.md §4)."""
    if value is None:
        return None
    return min(max(value, low), max(low, high))


def text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def endpoint_is(row: Mapping[str, Any], number: str) -> bool:
    """A ``GET /endpoints`` row is this phone number (the filter is a contains search)."""
    if row.get("type") not in (None, "PhoneNumber"):
        return False
    listed = [evo_mapping.digits(row.get(k)) for k in ("phoneNumber", "displayName") if row.get(k)]
    listed = [d for d in listed if d]
    return not listed or evo_mapping.digits(number) in listed

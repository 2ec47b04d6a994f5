"""Evo Voice ``SessionInfo`` → canonical call progress and results (outbound-domain.md §2.2).

Pure functions, shared by the Evo Voice client and the simulated backend (whose model
reports results with SessionInfo semantics). Evo publishes no outcome enum, so the
mapping is a precedence list over a finished session:

1. ``outcome`` matches the configurable outcome map (case-insensitive substrings, first
   match wins) → the mapped result.
2. ``wasMissed`` on a session that showed an answer → ``ABANDONED`` (the flow only runs
   once the callee answers, so a missed session is an answered callee no agent took);
   with no sign of an answer → ``NO_ANSWER``.
3. An answer seen (``callState`` Connected while polling, ``answeredById``, a queue state,
   or an answer line in ``log``) and not missed → ``ANSWER``.
4. Nothing known → ``UNKNOWN``, raw fields kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult

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


def compile_outcome_map(
    entries: Sequence[tuple[str, CallResult]],
) -> tuple[tuple[re.Pattern[str], CallResult], ...]:
    return tuple((re.compile(pattern, re.IGNORECASE), result) for pattern, result in entries)


_DEFAULT_COMPILED = compile_outcome_map(DEFAULT_OUTCOME_MAP)


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


def shows_answer(session: Mapping[str, object], *, seen_answer: bool = False) -> bool:
    """Any sign that the callee answered."""
    if seen_answer:
        return True
    if session.get("answeredById"):
        return True
    if session.get("queueState") not in (None, "", "None"):
        return True
    if session.get("callState") in ("Connected", "Hold") and not session.get("ended"):
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
) -> CallResult:
    """The canonical result of an *ended* session."""
    outcome = session.get("outcome")
    if isinstance(outcome, str) and outcome.strip():
        for pattern, result in outcome_map:
            if pattern.search(outcome):
                return result
    answered = shows_answer(session, seen_answer=seen_answer)
    if session.get("wasMissed") is True:
        return CallResult.ABANDONED if answered else CallResult.NO_ANSWER
    if answered:
        return CallResult.ANSWER
    return CallResult.UNKNOWN


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
    if call_state in ("Connected", "Hold"):
        return AttemptState.ANSWERED
    if call_state == "Ringing":
        return AttemptState.RINGING
    return AttemptState.PLACED


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

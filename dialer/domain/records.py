"""Records, attempts and their lifecycles.

A **record** is one phone number of one contact in a campaign. It lives as long as the
campaign does. An **attempt** is one dial of a record; its id is the attempt handle that
provider correlation, agents and reports use.

Record lifecycle::

    ready ──claim──► leased ──attempt written──► dialing ──result──► ready (retry later)
      ▲                │                            │             └─► completed | exhausted |
      └──release/defer─┘                            │                 bad_number | do_not_call
                                                    └─ (reconciled after a crash)
    ready|leased ──► cancelled | do_not_call | exhausted     (gates and operators)
    exhausted|cancelled ──reopen──► ready                    (recycling a list)

Attempt lifecycle (forward only)::

    pending ──► placed ──► ringing ──► answered ──► connected ──► ended
       │          └──────────┴────────────┴─────────────┴──────► ended
       ├──► uncertain (request sent, no reply) ──► placed | ended
       └──► ended (rejected before ringing)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from dialer.domain.clock import ensure_aware
from dialer.domain.results import CallResult
from dialer.errors import InvalidTransition


class RecordStatus(StrEnum):
    READY = "ready"
    LEASED = "leased"
    DIALING = "dialing"
    COMPLETED = "completed"
    EXHAUSTED = "exhausted"
    BAD_NUMBER = "bad_number"
    DO_NOT_CALL = "do_not_call"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        RecordStatus.COMPLETED,
        RecordStatus.EXHAUSTED,
        RecordStatus.BAD_NUMBER,
        RecordStatus.DO_NOT_CALL,
        RecordStatus.CANCELLED,
    }
)

_S = RecordStatus
RECORD_TRANSITIONS: Mapping[RecordStatus, frozenset[RecordStatus]] = {
    _S.READY: frozenset({_S.LEASED, _S.CANCELLED, _S.DO_NOT_CALL, _S.EXHAUSTED, _S.BAD_NUMBER}),
    _S.LEASED: frozenset({_S.READY, _S.DIALING, _S.CANCELLED, _S.DO_NOT_CALL, _S.EXHAUSTED, _S.BAD_NUMBER}),
    _S.DIALING: frozenset({_S.READY, _S.COMPLETED, _S.EXHAUSTED, _S.BAD_NUMBER, _S.DO_NOT_CALL, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.EXHAUSTED: frozenset({_S.READY}),
    _S.BAD_NUMBER: frozenset(),
    _S.DO_NOT_CALL: frozenset(),
    _S.CANCELLED: frozenset({_S.READY}),
}
del _S


def check_record_transition(current: RecordStatus, target: RecordStatus, *, handle: str = "") -> None:
    """Raise :class:`InvalidTransition` unless ``current → target`` is allowed."""
    if target not in RECORD_TRANSITIONS[current]:
        who = f"record {handle!r}" if handle else "a record"
        raise InvalidTransition(f"{who} cannot go from {current} to {target}")


class AttemptState(StrEnum):
    PENDING = "pending"
    """Written to the store; the provider has not been asked yet."""
    UNCERTAIN = "uncertain"
    """The placement request was sent but its outcome is unknown. Never re-sent blindly."""
    PLACED = "placed"
    """The provider accepted the call (its session may not be known yet)."""
    RINGING = "ringing"
    ANSWERED = "answered"
    """A live answer waiting for an agent."""
    CONNECTED = "connected"
    """Bridged to an agent."""
    ENDED = "ended"

    @property
    def rank(self) -> int:
        return _ATTEMPT_RANK[self]

    @property
    def in_flight(self) -> bool:
        return self is not AttemptState.ENDED


_ATTEMPT_RANK = {
    AttemptState.PENDING: 0,
    AttemptState.UNCERTAIN: 1,
    AttemptState.PLACED: 2,
    AttemptState.RINGING: 3,
    AttemptState.ANSWERED: 4,
    AttemptState.CONNECTED: 5,
    AttemptState.ENDED: 6,
}


def advance_attempt_state(current: AttemptState, observed: AttemptState) -> AttemptState:
    """Attempt states only move forward; a late or repeated observation never moves one back."""
    return observed if observed.rank > current.rank else current


class RecordType(StrEnum):
    GENERAL = "general"
    CAMPAIGN_CALLBACK = "campaign_callback"
    PERSONAL_CALLBACK = "personal_callback"
    CAMPAIGN_RESCHEDULED = "campaign_rescheduled"


@dataclass(frozen=True, kw_only=True)
class Record:
    id: int
    campaign_id: int
    handle: str
    phone: str
    caller_id: str | None
    user_data: Mapping[str, str]
    status: RecordStatus
    attempts: int = 0
    next_dial_at: datetime
    record_type: RecordType = RecordType.GENERAL
    last_attempt_at: datetime | None = None
    last_outcome: CallResult | None = None
    last_was_missed: bool | None = None
    timezone: str | None = None
    tz_candidates: tuple[str, ...] = ()
    tz_source: str = "campaign"
    daily_from: int | None = None
    daily_till: int | None = None
    result_counts: Mapping[str, int] = field(default_factory=dict)
    blocked_reason: str | None = None
    blocked_until: datetime | None = None
    blocked_detail: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    import_id: int | None = None
    offered_at: datetime | None = None
    """When the current lease began (a preview record: when the agent was shown it)."""
    reserved_for: str | None = None
    """A personal callback's agent, who alone gets the record until ``reserved_until``."""
    reserved_until: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "next_dial_at", ensure_aware(self.next_dial_at, name="next_dial_at"))

    @property
    def zones(self) -> tuple[str, ...]:
        """Candidate IANA zones of the callee; several means the safe window applies."""
        if self.tz_candidates:
            return self.tz_candidates
        return (self.timezone,) if self.timezone else ()


@dataclass(frozen=True, kw_only=True)
class Attempt:
    id: str
    record_id: int
    campaign_id: int
    backend: str
    mode: str
    state: AttemptState
    number_dialed: str
    caller_id: str | None
    created_at: datetime
    placed_at: datetime | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    provider_ref: str | None = None
    call_sid: str | None = None
    correlation: str | None = None
    outcome: CallResult | None = None
    raw_outcome: str | None = None
    was_missed: bool | None = None
    amd: str | None = None
    """Answering-machine detection class (``human``, ``machine``, ``fax``, ``unknown``), if AMD ran."""
    message_played: bool | None = None
    """The information (abandon) message was played to the callee; ``None`` when unknown."""
    duration_s: float | None = None
    agent: str | None = None
    pacing_reason: str = ""
    error: str | None = None
    record_handle: str | None = None
    preview: bool = False
    """Dialed by an agent from the preview desk (not an abandonment candidate)."""
    disposition: str | None = None
    """The agent's disposition of a preview call."""


@dataclass(frozen=True, kw_only=True)
class NewRecord:
    """A validated row on its way into the store."""

    handle: str
    phone: str
    caller_id: str | None
    user_data: Mapping[str, str]
    next_dial_at: datetime
    timezone: str | None = None
    tz_candidates: tuple[str, ...] = ()
    tz_source: str = "campaign"
    daily_from: int | None = None
    daily_till: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "next_dial_at", ensure_aware(self.next_dial_at, name="next_dial_at"))

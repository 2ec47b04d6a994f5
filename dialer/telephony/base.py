"""The telephony port: how the dialer places calls and learns what happened to them.

Adapters: ``simulated`` (the shipped call-centre model), ``evovoice`` (Evo Voice's
NewOutgoingSession over HTTP) and ``twilio`` (Programmable Voice). Each translates its
provider's errors into :mod:`dialer.errors` at the boundary.

Rules every adapter keeps:

1. ``place_call`` is never retried blindly: after a timeout the call may be ringing. An
   adapter that cannot tell raises :class:`~dialer.errors.PlacementUncertain` and later
   settles it with :meth:`TelephonyBackend.reconcile`.
2. Raw provider fields travel with every update, next to the canonical result.
3. Unknown provider values are data, not crashes: they map to ``UNKNOWN`` and are kept raw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from dialer.domain.records import AttemptState
from dialer.domain.results import CallResult


@dataclass(frozen=True, kw_only=True)
class CallRequest:
    """One call to place, for one attempt of one record."""

    attempt_id: str
    campaign: str
    flow_id: str
    number: str
    """E.164 destination."""
    caller_id: str | None
    """E.164 caller ID; ``None`` only when the campaign allows the provider's random one."""
    user_data: Mapping[str, str] = field(default_factory=dict)
    ring_timeout: int = 25
    agent: str | None = None
    """The agent dialing this call from the preview desk (the call is theirs when answered);
    None for a call the pacer places."""
    timeout: float | None = None
    """Seconds the provider's answer is waited for at most, when less than the backend's own
    HTTP timeout: what is left of the campaign's pacer lease, so that no placement of this
    process is still under way when another daemon may take the campaign over. An answer
    that does not come in time makes the placement uncertain (reconciled before any redial)."""


@dataclass(frozen=True, kw_only=True)
class Placement:
    """The provider accepted the call. ``provider_ref`` is None until correlation finds it."""

    provider_ref: str | None
    correlation: str = "direct"
    call_sid: str | None = None
    raw: Mapping[str, object] | None = None


@dataclass(frozen=True, kw_only=True)
class CallHandle:
    """An in-flight call, as the dialer tracks it between ticks."""

    attempt_id: str
    campaign: str
    number: str
    placed_at: datetime
    provider_ref: str | None = None
    state: AttemptState = AttemptState.PLACED
    seen_answer: bool = False
    """The dialer has already observed this call answered (used by outcome mapping)."""
    correlation: str | None = None
    """How ``provider_ref`` was found (``direct``, ``matched``), as the dialer recorded it."""
    caller_id: str | None = None
    """The caller ID the attempt was dialed with, when known."""
    agent: str | None = None
    """The preview-desk agent who dialed it (:attr:`CallRequest.agent`); None for paced calls."""
    load_user_data: Callable[[], Mapping[str, str]] | None = field(default=None, compare=False, repr=False)
    """Reads the record's user data, for an adapter that hands it to the provider (Evo Voice's
    ``consoleData``) for a call it did not place itself (placed before a restart)."""


@dataclass(frozen=True, kw_only=True)
class CallUpdate:
    """What the provider says about one call now. Fields are None until known."""

    attempt_id: str
    state: AttemptState
    provider_ref: str | None = None
    correlation: str | None = None
    call_sid: str | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: CallResult | None = None
    """Canonical result; set when ``state`` is ``ENDED``."""
    raw_outcome: str | None = None
    was_missed: bool | None = None
    amd: str | None = None
    """Answering-machine detection class (``human``, ``machine``, ``fax``, ``unknown``) if AMD ran."""
    message_played: bool | None = None
    """The information (abandon) message was played to the callee; ``None`` when unknown."""
    agent: str | None = None
    duration_s: float | None = None
    raw: Mapping[str, object] | None = None
    """Every provider field as received; JSON-compatible (it is stored as is)."""
    note: str | None = None
    caller_id: str | None = None
    """The caller ID the provider says the call went out with (E.164), when it reports one:
    the one it picked when the request let it choose."""


@dataclass(frozen=True, kw_only=True)
class AgentView:
    """Agent states as the provider reports them (only some providers know)."""

    agents: int
    idle: int
    busy_elapsed: tuple[float, ...]
    waiting: int
    ringing_ages: tuple[float, ...] = ()
    lines_in_use: int = 0
    """Calls holding a line: ringing, waiting for an agent or talking."""
    talk_elapsed: tuple[float, ...] | None = None
    """Seconds talked so far by each agent on a call, when talk can be told from wrap-up."""
    wrap_remaining: tuple[float, ...] | None = None
    """Seconds of wrap-up left for each agent in wrap-up, when known."""


@dataclass(frozen=True, kw_only=True)
class CentreStats:
    """Whole-run figures a provider can report (the simulated call centre knows them all)."""

    agent_seconds: float
    busy_agent_seconds: float

    @property
    def occupancy(self) -> float | None:
        return self.busy_agent_seconds / self.agent_seconds if self.agent_seconds > 0 else None


@dataclass(frozen=True, kw_only=True)
class PreviewSession:
    """An agent's work on one preview record, after its disposition (Genesys' preview-record
    fields, the agent and the call)."""

    campaign: str
    handle: str
    number: str
    caller_id: str | None
    user_data: Mapping[str, str]
    agent: str
    disposition: str
    call_ref: str | None
    """The call's ``provider_ref`` (the parent of the logged session)."""


@runtime_checkable
class PreviewSessionLog(Protocol):
    """A provider that keeps session records of its own (Evo Voice): the preview desk logs each
    dispositioned preview call there."""

    def log_preview(self, session: PreviewSession, *, now: datetime) -> str | None:
        """Log ``session``; its provider id, or None when logging is switched off. Raises
        :class:`~dialer.errors.TelephonyError`."""
        ...


class TelephonyBackend(Protocol):
    name: str
    max_cps: float | None
    """The provider account's calls-per-second limit, which the pacer never exceeds (None: no limit)."""

    def place_call(self, request: CallRequest, *, now: datetime) -> Placement:
        """Start the call. Raises TelephonyRejected / TelephonyAuthError / TelephonyUnavailable /
        PlacementUncertain."""
        ...

    def poll(self, handles: Sequence[CallHandle], *, now: datetime) -> list[CallUpdate]:
        """Report calls whose state changed (or that ended) since the last poll."""
        ...

    def reconcile(self, handle: CallHandle, *, now: datetime) -> CallUpdate | None:
        """Settle an attempt left uncertain or pending by a crash: find the call the provider
        placed for it, if any. ``None`` means the provider never placed it."""
        ...

    def hang_up(self, handle: CallHandle, *, now: datetime) -> None: ...

    def agent_view(self, campaign: str, *, now: datetime) -> AgentView | None:
        """Agent states when the provider knows them; ``None`` lets the dialer infer them."""
        ...

    def centre_stats(self, campaign: str, *, now: datetime) -> CentreStats | None: ...

    def next_event_at(self, *, now: datetime) -> datetime | None:
        """For virtual-time runs: when something will next happen (``None``: nothing scheduled)."""
        ...

    def cooling_until(self, *, now: datetime) -> datetime | None:
        """Until when the provider asked the dialer to place no calls (a 429 and its
        ``Retry-After``); ``None`` when it may place now. The tick claims no record before then."""
        ...

    def check_credentials(self) -> str:
        """Start-up check of the login (and its role): a one-line description of who is dialing.
        Raises TelephonyAuthError naming the fix, or TelephonyUnavailable."""
        ...

    def check_caller_ids(self, numbers: Sequence[str]) -> Mapping[str, bool]:
        """Whether each caller ID is a number the account owns."""
        ...

    def close(self) -> None: ...


def http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware datetime (None when absent or malformed): how a
    backend reads its provider's clock."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

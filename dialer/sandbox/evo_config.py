"""The Evo Voice sandbox's configuration: its account, users, owned numbers, customers, call
model, placement answer shape and faults (:class:`SandboxConfig`), and its log of placements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from dialer.domain import phones
from dialer.sandbox.evo_sessions import DEFAULT_CUSTOMERS, LiveStates, SandboxCustomer
from dialer.sim.callcentre import REALISTIC, CallModel

PlacementResponse = Literal["empty", "no-content", "empty-object", "session"]
PLACEMENT_RESPONSES: tuple[PlacementResponse, ...] = ("empty", "no-content", "empty-object", "session")

#: The demo campaign's caller IDs, so `dialer demo`'s campaign can be rehearsed as it is.
DEFAULT_NUMBERS = ("+12125550100", "+13125550100", "+12135550100")
MANAGER_ROLES = ("Manager", "SystemAdministrator")
SESSION_CALL_STATES = ("Disconnected", "Ringing", "Connected", "Hold", "Passive")
SESSION_QUEUE_STATES = ("None", "Queued", "Ringing", "Connected", "Hold", "Disconnected")
HOLD_REASONS = ("None", "Transferring")
SORT_FIELDS = {"datecreated": "dateCreated", "datelastmodified": "dateLastModified", "datecompleted": "dateCompleted"}


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
    retry_after: float | None = 1.0
    """``Retry-After`` seconds sent with every 429 (None: no header)."""
    commit_timeout_rate: float = 0.0
    """Share of placements that dial the call, then answer only after ``hang_seconds``."""
    timeout_rate: float = 0.0
    """Share of requests that hang for ``hang_seconds`` and then fail with 504, having done
    nothing (a placement dials no call)."""
    lost_response_rate: float = 0.0
    """Share of placements that dial the call, then answer 502 from a proxy: the response is
    lost (an ambiguous placement)."""
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after cannot be negative")
        for name in ("error_rate", "burst_rate", "commit_timeout_rate", "timeout_rate", "lost_response_rate"):
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
    customers: tuple[SandboxCustomer, ...] = DEFAULT_CUSTOMERS
    """The account's customers (NewSession ``customerId``)."""
    live: LiveStates = field(default_factory=LiveStates)

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

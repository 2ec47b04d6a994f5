"""The composition root: the one place that wires settings, store, telephony and clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from dialer.daemon.events import NoEvents, TickEvents
from dialer.domain.campaigns import Campaign
from dialer.domain.clock import Clock, SystemClock
from dialer.domain.pacing import Meter
from dialer.errors import NotFound
from dialer.settings import Settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony import get_backend
from dialer.telephony.base import TelephonyBackend


class PacerFence(Protocol):
    """Whether this process may pace a campaign right now (it holds the campaign's live
    pacer lease: :class:`dialer.daemon.ownership.Pacers`)."""

    def owns(self, campaign_id: int) -> bool: ...

    def remaining(self, campaign_id: int) -> float | None:
        """Seconds until this process must stop dialing the campaign (≤ 0: it must not now);
        None when it does not hold the campaign's lease at all."""
        ...


@dataclass
class Context:
    settings: Settings
    store: SqlStore
    telephony: TelephonyBackend
    clock: Clock
    meters: dict[int, Meter] = field(default_factory=dict)
    """Per-campaign pacing history, seeded from the store on first use."""
    policies: dict[int, Any] = field(default_factory=dict)
    """Per-campaign pacing policy objects (the predictive policy keeps loop state across ticks)."""
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    """Campaigns as read at the start of the current tick (adapters may consult it)."""
    lease_sweep_at: datetime | None = None
    """When the tick next sweeps expired leases."""
    pacing_notes: dict[int, tuple[object, datetime]] = field(default_factory=dict)
    """Per campaign: the last pacing decision written to the store, and when (see tick.note_pacing)."""
    fence: PacerFence | None = None
    """When set, the tick collects, sweeps and dials only campaigns the fence says this process
    owns, and checks it again before each placement (several daemons on one database)."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    """Held while the telephony backend or the per-campaign pacing state above is used, when
    several threads share the context (`dialer web` runs the tick next to its requests)."""
    events: TickEvents = field(default_factory=NoEvents)
    """Told of placements, endings and provider errors (the daemon's metrics listen here)."""

    def close(self) -> None:
        self.telephony.close()
        self.store.close()


def sim_model_from_options(options: dict[str, Any] | Any, *, default: CallModel) -> CallModel:
    """A campaign's ``options["sim"]`` table → :class:`CallModel` (unknown keys are refused)."""
    sim = options.get("sim") if isinstance(options, dict) else None
    if not sim:
        return default
    known = {f.name for f in fields(CallModel)}
    unknown = set(sim) - known
    if unknown:
        raise ValueError(f"unknown simulated call-centre setting(s): {', '.join(sorted(unknown))}")
    base = {f.name: getattr(default, f.name) for f in fields(CallModel)}
    return CallModel(**{**base, **sim})


def build_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    telephony: TelephonyBackend | None = None,
    store: SqlStore | None = None,
) -> Context:
    store = store or SqlStore.open(settings.effective_database_url)
    default_model = CallModel(hit_rate=settings.sim_hit_rate)

    def campaign(name: str) -> Campaign | None:
        cached = ctx.campaigns.get(name) if ctx is not None else None
        if cached is not None:
            return cached
        try:
            return store.get_campaign(name)
        except NotFound:
            return None

    def agents_for(name: str) -> int:
        found = campaign(name)
        return found.agents if found else 0

    def model_for(name: str) -> CallModel | None:
        found = campaign(name)
        return sim_model_from_options(dict(found.options), default=default_model) if found else None

    ctx: Context | None = None

    def options_for(name: str) -> dict[str, Any]:
        found = campaign(name)
        return dict(found.options) if found else {}

    backend = telephony or get_backend(
        settings, agents_for=agents_for, model_for=model_for, options_for=options_for, inbox=store
    )
    ctx = Context(
        settings=settings,
        store=store,
        telephony=backend,
        clock=clock or SystemClock(speed=settings.sim_speed if settings.backend == "simulated" else 1.0),
    )
    return ctx

"""Test lines: a telephony backend wired to a provider that behaves in a chosen way.

A :class:`Line` is what the telephony contract suite drives: the backend under test, the
virtual clock it shares with its provider, and helpers to place a call and follow it to the
end. Each backend gets a builder that takes the same description of callee behaviour (a
:class:`CallModel` and a number of agents) and returns a Line:

- ``simulated``: :class:`SimulatedTelephony` (the model in-process);
- ``evovoice``: the real Evo Voice client over HTTP on loopback, against :class:`EvoSandbox`
  served by uvicorn on a background thread;
- ``twilio``: the real `twilio` library against :class:`TwilioSandbox` on loopback, whose
  signed callbacks go to the dialer's webhook receiver (also on loopback) and are stored in a
  scratch SQLite database; the line's clock steps the sandbox, so callbacks are delivered as
  soon as time moves.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.domain.clock import Clock, VirtualClock
from dialer.domain.records import AttemptState, NewRecord
from dialer.sandbox.evovoice import EvoSandbox, SandboxConfig
from dialer.sandbox.evovoice_app import create_app
from dialer.sandbox.server import BackgroundServer, bind, url_of
from dialer.sandbox.twilio import TwilioSandbox
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.base import CallHandle, CallRequest, CallUpdate, TelephonyBackend
from dialer.telephony.evo_voice import EvoVoiceApi, EvoVoiceTelephony
from dialer.telephony.simulated import SimulatedTelephony
from dialer.telephony.twilio_voice import CampaignCallOptions, TwilioConfig, TwilioTelephony
from dialer.web.twilio_callbacks import create_app as create_twilio_receiver

OWNED = ("+12125550100", "+13125550100")
NOT_OWNED = "+12025550142"
MANAGER = ("manager@sandbox.test", "sandbox")


@dataclass
class Line:
    name: str
    backend: TelephonyBackend
    clock: VirtualClock
    owned: tuple[str, ...] = OWNED
    provider: Any = None
    """The provider-side object (the sandbox), for tests that look behind the curtain."""
    knows_agent: bool = True
    """The provider names the agent who took a call (Twilio's queue result does not)."""
    random_caller_id: bool = True
    """The provider picks an owned caller ID when none is given (Twilio requires From)."""
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def request(self, number: str, *, caller_id: str | None = OWNED[0], **overrides: Any) -> CallRequest:
        values: dict[str, Any] = {
            "attempt_id": f"attempt-{next(self._ids)}",
            "campaign": "contract",
            "flow_id": "flow-1",
            "number": number,
            "caller_id": caller_id,
            "user_data": {"name": "Ada Lovelace", "account": "00042"},
        }
        values.update(overrides)
        return CallRequest(**values)

    def place(self, number: str, **overrides: Any) -> CallHandle:
        request = self.request(number, **overrides)
        now = self.clock.now()
        placement = self.backend.place_call(request, now=now)
        return CallHandle(
            attempt_id=request.attempt_id,
            campaign=request.campaign,
            number=request.number,
            placed_at=now,
            provider_ref=placement.provider_ref,
            state=AttemptState.PLACED,
        )

    def follow(
        self, handle: CallHandle, *, seconds: float = 900, step: float = 1.0
    ) -> tuple[CallHandle, list[CallUpdate]]:
        """Advance time and poll until the call ends; the handle as the dialer would keep it."""
        updates: list[CallUpdate] = []
        waited = 0.0
        while waited < seconds and handle.state is not AttemptState.ENDED:
            self.clock.advance(step)
            waited += step
            for update in self.backend.poll([handle], now=self.clock.now()):
                updates.append(update)
                handle = apply(handle, update)
        assert handle.state is AttemptState.ENDED, f"{self.name}: call still {handle.state} after {seconds} s"
        return handle, updates


def apply(handle: CallHandle, update: CallUpdate) -> CallHandle:
    """What the store does with an update, for a handle kept in memory."""
    state = update.state if update.state.rank > handle.state.rank else handle.state
    return replace(
        handle,
        state=state,
        provider_ref=update.provider_ref or handle.provider_ref,
        seen_answer=handle.seen_answer or state.rank >= AttemptState.ANSWERED.rank,
    )


# ---------------------------------------------------------------- the builders
LineBuilder = Callable[..., Line]


@contextmanager
def simulated_line(*, model: CallModel, agents: int, clock: VirtualClock, seed: int = 3) -> Iterator[Line]:
    backend = SimulatedTelephony(agents_for=lambda name: agents, model=model, seed=seed, owned_numbers=OWNED)
    yield Line(name="simulated", backend=backend, clock=clock)
    backend.close()


@contextmanager
def evo_sandbox(
    *, clock: Clock, agents: int = 4, model: CallModel | None = None, seed: int = 3, **config: Any
) -> Iterator[tuple[EvoSandbox, str]]:
    """An Evo Voice sandbox on loopback, on ``clock``: yields (sandbox, base URL)."""
    values: dict[str, Any] = {"agents": agents, "seed": seed, "numbers": OWNED}
    if model is not None:
        values["model"] = model
    values.update(config)
    sandbox = EvoSandbox(SandboxConfig(**values), clock=clock)
    with BackgroundServer(create_app(sandbox)) as url:
        yield sandbox, url


def evo_backend(
    url: str, *, user: tuple[str, str] = MANAGER, timeout: float = 5.0, **options: Any
) -> EvoVoiceTelephony:
    """The real Evo Voice client, with test-sized backoff (no multi-second sleeps)."""
    api = EvoVoiceApi(
        base_url=url,
        username=user[0],
        password=user[1],
        timeout=timeout,
        backoff=0.005,
        backoff_cap=0.02,
        rng=random.Random(1),
    )
    options.setdefault("poll_interval", 1.0)
    options.setdefault("max_cps", None)  # production defaults to 1 call/s; these tests are not about CPS
    return EvoVoiceTelephony(api=api, **options)


@contextmanager
def twilio_sandbox(
    *, clock: Clock, agents: int = 4, model: CallModel | None = None, seed: int = 3, cps: int = 50, **options: Any
) -> Iterator[tuple[TwilioSandbox, str]]:
    """A Twilio sandbox on loopback, on ``clock``, its call progress running on its own thread:
    yields (sandbox, base URL)."""
    if model is not None:
        options["model"] = model
    sandbox = TwilioSandbox(numbers=OWNED, agents=agents, clock=clock, cps=cps, seed=seed, **options)
    with BackgroundServer(sandbox.app) as url:
        sandbox.start()
        try:
            yield sandbox, url
        finally:
            sandbox.stop()


def twilio_backend(sandbox: TwilioSandbox, url: str, *, timeout: float = 5.0, **config: Any) -> TwilioTelephony:
    """The real Twilio client on ``sandbox`` (no status callbacks: calls are polled)."""
    config.setdefault("max_cps", 50)
    config.setdefault("poll_interval", 0.0)
    return TwilioTelephony(
        TwilioConfig(
            account_sid=sandbox.account_sid, auth_token=sandbox.auth_token, api_base_url=url, timeout=timeout, **config
        )
    )


def due_campaign(
    store: SqlStore,
    name: str,
    n: int,
    *,
    now: datetime,
    first: int,
    agents: int = 4,
    flow_id: str = "flow-agents",
    zone: str = "America/New_York",
    user_data: Callable[[int], dict[str, str]] = lambda i: {},
) -> Campaign:
    """A campaign on :data:`OWNED`'s first caller ID with ``n`` records due at ``now`` (one
    attempt each), numbered ``+1212555`` + ``first``, ``first + 1``, …"""
    c = store.create_campaign(
        CampaignSpec(name=name, flow_id=flow_id, caller_ids=(OWNED[0],), agents=agents, max_attempts=1), now=now
    )
    store.insert_records(
        c.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=f"+1212555{first + i:04d}",
                caller_id=None,
                user_data=user_data(i),
                next_dial_at=now,
                timezone=zone,
                tz_candidates=(zone,),
            )
            for i in range(n)
        ],
        now=now,
    )
    return c


@contextmanager
def evovoice_line(
    *, model: CallModel, agents: int, clock: VirtualClock, seed: int = 3, **config: Any
) -> Iterator[Line]:
    with ExitStack() as stack:
        sandbox, url = stack.enter_context(evo_sandbox(clock=clock, agents=agents, model=model, seed=seed, **config))
        backend = evo_backend(url)
        stack.callback(backend.close)
        yield Line(name="evovoice", backend=backend, clock=clock, provider=sandbox)


class SteppingClock(VirtualClock):
    """A view of another virtual clock that runs ``step`` whenever time moves."""

    def __init__(self, inner: VirtualClock, step: Callable[[], None]) -> None:
        self.inner = inner
        self.step = step

    @property  # type: ignore[override]
    def current(self) -> datetime:
        return self.inner.current

    def now(self) -> datetime:
        return self.inner.now()

    def advance(self, seconds: float) -> datetime:
        moved = self.inner.advance(seconds)
        self.step()
        return moved

    def advance_to(self, instant: datetime) -> datetime:
        moved = self.inner.advance_to(instant)
        self.step()
        return moved


@contextmanager
def twilio_line(*, model: CallModel, agents: int, clock: VirtualClock, seed: int = 3) -> Iterator[Line]:
    with ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory())
        store = SqlStore.open(f"sqlite:///{scratch}/callbacks.db")
        stack.callback(store.close)
        sandbox = TwilioSandbox(numbers=OWNED, agents=agents, model=model, seed=seed, clock=clock, cps=1000)
        api = stack.enter_context(BackgroundServer(sandbox.app))
        sock = bind("127.0.0.1", 0)  # held until it serves: no other test can take the port meanwhile
        public = url_of(sock)
        receiver = create_twilio_receiver(
            store=store, auth_token=sandbox.auth_token, public_base_url=public, now=clock.now
        )
        stack.enter_context(BackgroundServer(receiver, sock=sock))
        stack.callback(sandbox.stop)  # closes its HTTP client
        backend = TwilioTelephony(
            TwilioConfig(
                account_sid=sandbox.account_sid,
                auth_token=sandbox.auth_token,
                api_base_url=api,
                public_base_url=public,
                max_cps=1000,
                poll_interval=0.0,
            ),
            inbox=store,
            options_for=lambda name: CampaignCallOptions(machine_detection="Enable"),  # machines need AMD
        )
        stack.callback(backend.close)
        yield Line(
            name="twilio",
            backend=backend,
            clock=SteppingClock(clock, sandbox.step),
            provider=sandbox,
            knows_agent=False,
            random_caller_id=False,
        )


BUILDERS: dict[str, Callable[..., Any]] = {
    "simulated": simulated_line,
    "evovoice": evovoice_line,
    "twilio": twilio_line,
}

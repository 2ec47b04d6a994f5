"""The Twilio backend over real HTTP on loopback: the real `twilio` library against the
sandbox, which sends signed callbacks to the dialer's webhook receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from twilio.rest import Client

from dialer.context import build_context
from dialer.daemon.scheduler import Daemon
from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import SystemClock
from dialer.domain.records import AttemptState, NewRecord, RecordStatus
from dialer.domain.results import CallResult
from dialer.errors import PlacementUncertain, TelephonyAuthError, TelephonyRejected, TelephonyUnavailable
from dialer.sandbox.server import BackgroundServer, bind, url_of
from dialer.sandbox.twilio import Faults, TwilioSandbox
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.base import CallHandle, CallRequest, CallUpdate
from dialer.telephony.twilio_voice import CampaignCallOptions, HttpClient, TwilioConfig, TwilioTelephony, sign
from dialer.web.twilio_callbacks import create_app
from tests.conftest import T0

OWNED = "+12125550100"


class RecordingHttpClient(HttpClient):
    """The library's own HTTP client, keeping a copy of every request it sends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[tuple[str, str, Any, Any]] = []

    def request(self, method: str, url: str, params: Any = None, data: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.sent.append((method, url, params, data))
        return super().request(method, url, params, data, *args, **kwargs)


@dataclass
class World:
    store: SqlStore
    clock: SystemClock
    sandbox: TwilioSandbox
    api: str
    receiver: BackgroundServer
    public: str
    http: RecordingHttpClient

    def backend(
        self,
        *,
        public: bool = True,
        amd: str | None = "Enable",
        timeout: float = 5.0,
        token: str | None = None,
        max_cps: float = 100.0,
    ) -> TwilioTelephony:
        config = TwilioConfig(
            account_sid=self.sandbox.account_sid,
            auth_token=token or self.sandbox.auth_token,
            api_base_url=self.api,
            public_base_url=self.public if public else None,
            max_cps=max_cps,
            timeout=timeout,
            poll_interval=0.0,
        )
        client = Client(config.account_sid, config.auth_token, http_client=self.http, environment={})
        self.http.timeout = timeout
        return TwilioTelephony(
            config, inbox=self.store, client=client, options_for=lambda name: CampaignCallOptions(machine_detection=amd)
        )


def make_world(store: SqlStore) -> Iterator[World]:
    clock = SystemClock(start=T0, speed=30.0)
    sandbox = TwilioSandbox(
        numbers=(OWNED,),
        agents=2,
        model=CallModel(hit_rate=0.6, talk_mean=40.0, busy_share=0.3),
        clock=clock,
        cps=50,
        seed=3,
    )
    api = BackgroundServer(sandbox.app)
    sock = bind("127.0.0.1", 0)  # held until it serves: no other test can take the port meanwhile
    public = url_of(sock)
    receiver = BackgroundServer(
        create_app(store=store, auth_token=sandbox.auth_token, public_base_url=public, now=clock.now), sock=sock
    )
    receiver.start()
    sandbox.start()
    world_http = RecordingHttpClient(timeout=5)
    try:
        yield World(
            store=store,
            clock=clock,
            sandbox=sandbox,
            api=api.start(),
            receiver=receiver,
            public=public,
            http=world_http,
        )
    finally:
        sandbox.stop()
        api.stop()
        receiver.stop()
        if world_http.session is not None:
            world_http.session.close()


@pytest.fixture
def world(sqlite_store: SqlStore) -> Iterator[World]:
    """The HTTP pieces on SQLite (the store itself is covered on PostgreSQL by its contract suite)."""
    yield from make_world(sqlite_store)


@pytest.fixture
def world_on_every_store(store: SqlStore) -> Iterator[World]:
    yield from make_world(store)


def wait_until_ended(
    backend: TwilioTelephony, handles: list[CallHandle], clock: SystemClock, limit: float = 30.0
) -> dict[str, CallUpdate]:
    done: dict[str, CallUpdate] = {}
    current = {h.attempt_id: h for h in handles}
    deadline = time.monotonic() + limit
    while len(done) < len(handles) and time.monotonic() < deadline:
        for update in backend.poll([h for k, h in current.items() if k not in done], now=clock.now()):
            current[update.attempt_id] = replace(current[update.attempt_id], state=update.state)
            if update.state is AttemptState.ENDED:
                done[update.attempt_id] = update
        time.sleep(0.05)
    assert len(done) == len(handles), "calls did not end in time"
    return done


def place(backend: TwilioTelephony, clock: SystemClock, number: str, attempt: str) -> CallHandle:
    placement = backend.place_call(
        CallRequest(attempt_id=attempt, campaign="c", flow_id="sales", number=number, caller_id=OWNED), now=clock.now()
    )
    return CallHandle(
        attempt_id=attempt, campaign="c", number=number, placed_at=clock.now(), provider_ref=placement.provider_ref
    )


def test_signed_callbacks_bring_calls_to_canonical_outcomes(world: World) -> None:
    backend = world.backend()
    handles = [place(backend, world.clock, f"+1212555{1000 + i}", f"a{i}") for i in range(8)]
    ended = wait_until_ended(backend, handles, world.clock)
    outcomes = {u.outcome for u in ended.values()}
    assert outcomes <= {CallResult.ANSWER, CallResult.ABANDONED, CallResult.BUSY, CallResult.NO_ANSWER}
    by_sid = {h.provider_ref: h for h in handles}
    for update in ended.values():
        sim = world.sandbox.calls[update.provider_ref or ""].sim
        expected = {
            "live": CallResult.ABANDONED if sim.abandoned else CallResult.ANSWER,
            "busy": CallResult.BUSY,
            "no_answer": CallResult.NO_ANSWER,
        }[sim.fate.value]
        assert update.outcome is expected, (sim.fate, update.raw_outcome)
        assert update.was_missed is sim.abandoned  # nobody answered, or an agent took it: not missed
        assert update.provider_ref in by_sid and update.call_sid == update.provider_ref
        assert update.raw is not None and update.raw["events"]
    assert world.sandbox.callback_failures == 0


def test_unsigned_tampered_and_redelivered_callbacks(world: World) -> None:
    url = world.public + "/webhooks/twilio/status"
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "ringing", "SequenceNumber": "1", "AccountSid": "AC"}
    with httpx.Client() as http:
        assert http.post(url, data=params).status_code == 403  # unsigned
        forged = sign(world.sandbox.auth_token, url, params)
        tampered = {**params, "CallStatus": "completed"}
        assert http.post(url, data=tampered, headers={"X-Twilio-Signature": forged}).status_code == 403
        wrong_key = sign("not-the-token", url, params)
        assert http.post(url, data=params, headers={"X-Twilio-Signature": wrong_key}).status_code == 403
        assert world.store.provider_events(params["CallSid"]) == []
        good = {"X-Twilio-Signature": forged}
        assert http.post(url, data=params, headers=good).status_code == 204
        assert http.post(url, data=params, headers=good).status_code == 204  # redelivered
    assert len(world.store.provider_events(params["CallSid"])) == 1


def test_wait_twiml_releases_the_caller_after_the_grace_time(world: World) -> None:
    url = world.public + "/webhooks/twilio/wait?campaign=spring"
    params = {"CallSid": "CA" + "2" * 32, "From": OWNED, "QueuePosition": "1"}
    response = httpx.post(url, data=params, headers={"X-Twilio-Signature": sign(world.sandbox.auth_token, url, params)})
    assert response.status_code == 200
    assert response.text.startswith('<Response><Pause length="2"/><Say>')
    assert "spring" in response.text and OWNED in response.text and response.text.endswith("<Leave/></Response>")


def test_provider_errors_become_dialer_errors(world: World) -> None:
    backend = world.backend()
    now = world.clock.now()
    with pytest.raises(TelephonyRejected) as bad:
        backend.place_call(
            CallRequest(attempt_id="x", campaign="c", flow_id="q", number="+1555", caller_id=OWNED), now=now
        )
    assert bad.value.bad_number and bad.value.code == "21211"
    with pytest.raises(TelephonyRejected) as cid:
        backend.place_call(
            CallRequest(attempt_id="y", campaign="c", flow_id="q", number="+12125550111", caller_id="+13125550100"),
            now=now,
        )
    assert cid.value.bad_caller_id and "verified caller ID" in cid.value.message
    with pytest.raises(TelephonyAuthError, match="DIALER_TWILIO_AUTH_TOKEN"):
        world.backend(token="wrong").check_credentials()
    world.sandbox.faults = Faults(burst_429_every=1, burst_429_length=1, retry_after=7)
    with pytest.raises(TelephonyUnavailable, match="429") as limited:
        backend.place_call(
            CallRequest(attempt_id="z", campaign="c", flow_id="q", number="+12125550112", caller_id=OWNED), now=now
        )
    # The cool-down lasts as long as Retry-After asked; until then no request is sent at all.
    assert limited.value.rate_limited and limited.value.retry_after == 7
    assert backend.cooling_until(now=now) == now + timedelta(seconds=7)
    sent = world.sandbox.requests
    with pytest.raises(TelephonyUnavailable, match="slow down"):
        backend.place_call(
            CallRequest(attempt_id="z2", campaign="c", flow_id="q", number="+12125550112", caller_id=OWNED), now=now
        )
    assert world.sandbox.requests == sent
    assert backend.cooling_until(now=now + timedelta(seconds=7)) is None
    world.sandbox.faults = Faults(error_rate=1.0)
    # A 5xx answer to a create may hide a call that was made: uncertain, never a plain refusal.
    with pytest.raises(PlacementUncertain, match="HTTP 500"):
        world.backend().place_call(
            CallRequest(attempt_id="w", campaign="c", flow_id="q", number="+12125550113", caller_id=OWNED), now=now
        )
    assert world.sandbox.sessions_for("+12125550112") == [] and world.sandbox.sessions_for("+12125550113") == []


def test_a_create_that_times_out_is_reconciled_not_redialed(world: World) -> None:
    world.sandbox.faults = Faults(commit_then_timeout=1.0, timeout_delay=3.0)
    backend = world.backend(timeout=0.5)
    number = "+12125550120"
    with pytest.raises(PlacementUncertain):
        backend.place_call(
            CallRequest(attempt_id="u", campaign="c", flow_id="q", number=number, caller_id=OWNED),
            now=world.clock.now(),
        )
    world.sandbox.faults = Faults()
    handle = CallHandle(
        attempt_id="u", campaign="c", number=number, placed_at=world.clock.now(), state=AttemptState.UNCERTAIN
    )
    found = backend.reconcile(handle, now=world.clock.now())
    assert found is not None and found.correlation == "matched"
    assert found.provider_ref == world.sandbox.sessions_for(number)[0].sid
    assert len(world.sandbox.sessions_for(number)) == 1  # one call, found again, never placed twice
    assert backend.reconcile(replace(handle, number="+12125550121"), now=world.clock.now()) is None


def test_polling_without_a_public_callback_url(world: World) -> None:
    backend = world.backend(public=False, amd=None)
    handles = [place(backend, world.clock, f"+1212555{2000 + i}", f"p{i}") for i in range(4)]
    ended = wait_until_ended(backend, handles, world.clock)
    assert all(u.outcome is not None and u.outcome is not CallResult.UNKNOWN for u in ended.values())
    assert world.sandbox.callbacks_sent == []  # nothing subscribed: results came from REST polling
    assert all(sent[0] in ("POST", "GET") for sent in world.http.sent)


def test_a_campaign_over_the_twilio_sandbox_completes(world_on_every_store: World) -> None:
    world = world_on_every_store
    store = world.store
    campaign = store.create_campaign(
        CampaignSpec(
            name="tw",
            flow_id="sales",
            caller_ids=(OWNED,),
            agents=2,
            max_attempts=1,
            options={"machine_detection": "Enable"},
        ),
        now=T0,
    )
    numbers = [f"+1212555{3000 + i}" for i in range(12)]
    store.insert_records(
        campaign.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=n,
                caller_id=None,
                user_data={"i": str(i)},
                next_dial_at=T0,
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
            )
            for i, n in enumerate(numbers)
        ],
        now=T0,
    )
    backend = world.backend(max_cps=1.0)
    settings = load_settings(tick_seconds=0.05, backend="twilio")
    ctx = build_context(settings, clock=world.clock, store=store, telephony=backend)
    result = Daemon(ctx, until_done=True, install_signals=False).run()
    assert result.done
    statuses = store.count_records(campaign.id)
    assert sum(statuses.values()) == 12 and set(statuses) <= {s.value for s in RecordStatus if s.is_final}
    attempts = list(store.iter_attempts(campaign.id))
    assert all(a.state is AttemptState.ENDED and a.call_sid and a.provider_ref == a.call_sid for a in attempts)
    for a in attempts:  # exactly one Twilio call per attempt, and no call without an attempt
        assert [c.sid for c in world.sandbox.sessions_for(a.number_dialed)].count(a.call_sid) == 1
    assert len(world.sandbox.calls) == len(attempts)
    assert world.sandbox.queued_calls == 0  # the pacer never exceeded the account's 1 call/s
    placed = sorted(a.placed_at for a in attempts if a.placed_at)
    in_any_second = max(sum(1 for p in placed if 0 <= (p - q).total_seconds() < 1) for q in placed)
    assert in_any_second <= 1
    abandoned = [a for a in attempts if a.outcome is CallResult.ABANDONED]
    assert all(a.was_missed for a in abandoned)

"""The Evo Voice seed contract end to end: the real client over HTTP on loopback against the
sandbox, for NewSession (seed 002), PatchSession and every SessionInfo enum value (seed 004),
the caller ID Evo Voice picks, and what survives a restart of the dialer."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dialer import preview
from dialer.context import Context, build_context
from dialer.daemon import tick
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import Campaign, CampaignSpec, DialMode
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord
from dialer.errors import TelephonyAuthError, TelephonyRejected
from dialer.reports.export import export
from dialer.sandbox.evovoice import EvoSandbox, LiveStates, SandboxUser
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony import evo_mapping
from dialer.telephony.base import CallHandle, CallRequest
from dialer.telephony.evo_voice import EvoVoiceApi, EvoVoiceTelephony
from dialer.telephony.evo_voice.api import NewSession
from tests.conftest import T0
from tests.telephony_lines import MANAGER, OWNED, evo_backend, evo_sandbox

NUMBER = "+12125550123"
#: Every call answered and taken by an agent, talking about 40 s.
TALKER = CallModel(hit_rate=1.0, talk_mean=40, talk_cv=0.1)


@dataclass
class Evo:
    sandbox: EvoSandbox
    url: str
    api: EvoVoiceApi
    backend: EvoVoiceTelephony


@pytest.fixture
def evo(clock: VirtualClock) -> Iterator[Callable[..., Evo]]:
    """``evo(user=…, **sandbox_config)``: a sandbox on loopback and the real client against it."""
    with ExitStack() as stack:

        def make(
            *, user: tuple[str, str] = MANAGER, backend_options: dict[str, Any] | None = None, **config: Any
        ) -> Evo:
            config.setdefault("model", TALKER)
            config.setdefault("agents", 2)
            sandbox, url = stack.enter_context(evo_sandbox(clock=clock, **config))
            backend = evo_backend(url, user=user, **(backend_options or {}))
            stack.callback(backend.close)
            return Evo(sandbox=sandbox, url=url, api=backend.api, backend=backend)

        yield make


def place(e: Evo, number: str = NUMBER, caller_id: str | None = OWNED[0]) -> str:
    e.api.new_outgoing_session(flow_id="flow-1", number_to_dial=number, caller_id=caller_id)
    (session,) = e.api.list_sessions(account_id=None, to=number[1:])
    return str(session["id"])


# ------------------------------------------------------------------- NewSession
def test_new_session_sends_the_seed_fields_by_their_names_and_types() -> None:
    body = NewSession(
        display_name="d", channel="Chat", direction="Outgoing", call_state="Connected", from_address="a",
        from_name="n", to_address="t", parent_session_id="p", customer_id="c", with_address="user:1",
        from_phone_number="+1", destination="x", member_email_addresses=("m@x",), start_session=False,
    ).body()  # fmt: skip
    assert list(body) == [
        "displayName", "channel", "direction", "callState", "fromAddress", "fromName", "toAddress",
        "parentSessionId", "customerId", "withAddress", "fromPhoneNumber", "destination",
        "memberEmailAddresses", "startSession",
    ]  # fmt: skip
    assert body["memberEmailAddresses"] == ["m@x"] and body["startSession"] is False
    assert NewSession().body() == {}
    with pytest.raises(ValueError, match="channel 'SMS'"):
        NewSession(channel="SMS")


def test_new_session_creates_a_session_with_members_customer_and_parent(evo: Callable[..., Evo]) -> None:
    e = evo()
    parent = place(e)
    created = e.api.new_session(
        NewSession(
            display_name="Preview R-1",
            channel="Chat",
            to_address=NUMBER,
            parent_session_id=parent,
            customer_id="cust-110",
            member_email_addresses=("agent@sandbox.test",),
            start_session=True,
        )
    )
    assert created["channel"] == "Chat" and created["displayName"] == "Preview R-1"
    # The documented defaults: direction Outgoing, call state Connected, From the user's email.
    assert created["direction"] == "Outgoing" and created["callState"] == "Connected"
    assert created["fromAddress"] == MANAGER[0] and created["dialState"] == "Active"  # startSession
    assert (created["customerId"], created["customerName"]) == ("cust-110", "Acme Renewals")
    assert created["customerBreadcrumb"] == [
        {"id": "cust-100", "name": "Acme Insurance"},
        {"id": "cust-110", "name": "Acme Renewals"},
    ]
    (member,) = created["members"]
    assert member["identity"] == "agent@sandbox.test" and member["displayName"] == "Sandbox Agent"
    assert member["role"] == "Agent" and member["callState"] == "Connected"
    # It is a session like the others: listed by parent and customer, read, patched.
    assert [s["id"] for s in e.api.list_sessions(account_id=None, parent_session_id=parent)] == [created["id"]]
    assert [s["id"] for s in e.api.list_sessions(account_id=None, customer_ids=["cust-110"])] == [created["id"]]
    assert e.api.list_sessions(account_id=None, customer_ids=["cust-100"]) == []
    read = e.api.get_session(created["id"])
    assert read is not None and read["customerId"] == "cust-110" and read["log"] == []
    assert e.api.patch_session(created["id"], console_data="note")["consoleData"] == "note"
    # No call was placed for it, and correlation never takes it for the call to that number.
    assert len(e.sandbox.placements) == 1
    rows = e.api.list_sessions(account_id=None, to=NUMBER[1:])
    assert len(rows) == 2
    match = evo_mapping.match_session(rows, number=NUMBER, since=T0)
    assert match is not None and match["id"] == parent


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"customer_id": "cust-999"}, "CustomerId"),
        ({"parent_session_id": "no-such-session"}, "ParentSessionId"),
        ({"member_email_addresses": ("nobody@sandbox.test",)}, "MemberEmailAddresses"),
    ],
)
def test_new_session_refusals_name_the_field(evo: Callable[..., Evo], fields: dict[str, Any], field_name: str) -> None:
    e = evo()
    with pytest.raises(TelephonyRejected) as caught:
        e.api.new_session(NewSession(channel="Chat", **fields))
    assert caught.value.status == 400 and field_name in str(caught.value)


def test_new_session_needs_the_user_role(evo: Callable[..., Evo]) -> None:
    boss = SandboxUser(email="boss@sandbox.test", password="pw", roles=("Manager",))
    e = evo(users=(boss,), user=("boss@sandbox.test", "pw"))
    with pytest.raises(TelephonyAuthError) as caught:
        e.api.new_session(NewSession(channel="Chat"))
    assert caught.value.status == 403 and "User" in str(caught.value)


# ------------------------------------------------- PatchSession, every enum value
def watch(e: Evo, clock: VirtualClock, *session_ids: str, seconds: float = 120) -> list[dict[str, Any]]:
    """Every SessionInfo of the sessions, read together every half second until all end."""
    seen = []
    for _ in range(int(seconds * 2)):
        sessions = e.api.list_sessions(account_id=None, specific_ids=list(session_ids))
        seen.extend(sessions)
        if all(s["ended"] for s in sessions):
            break
        clock.advance(0.5)
    return seen


def test_the_sandbox_shows_every_seed_enum_value(evo: Callable[..., Evo], clock: VirtualClock) -> None:
    e = evo(live=LiveStates(agent_ring=1.0, hold_share=1.0, transfer_share=1.0), agents=1)
    busy = place(e, "+12125550124")  # takes the only agent, so the next call queues for it
    queued = place(e)
    sessions = watch(e, clock, busy, queued)
    call_states = {s["callState"] for s in sessions}
    queue_states = {s["queueState"] for s in sessions}
    assert call_states == set(evo_mapping.SESSION_CALL_STATES)
    assert queue_states == set(evo_mapping.SESSION_QUEUE_STATES)
    assert {s["holdReason"] for s in sessions} == set(evo_mapping.SESSION_HOLD_REASONS)
    assert {s["dialState"] for s in sessions} == set(evo_mapping.SESSION_DIAL_STATES)
    members = [m for s in sessions for m in s["members"]]
    assert {m["role"] for m in members} == {"Caller", "Agent", "Transfer"}
    assert {m["callState"] for m in members} == set(evo_mapping.MEMBER_CALL_STATES)
    held = next(s for s in sessions if s["callState"] == "Hold")
    assert held["queueState"] == "Hold" and held["heldByUserId"] == "agent-001"
    passive = next(s for s in sessions if s["callState"] == "Passive")
    assert passive["holdReason"] == "Transferring"
    ringing = next(s for s in sessions if s["queueState"] == "Ringing")
    assert ringing["answeredById"] is None  # the agent's phone is ringing; nobody has answered yet


def test_the_client_follows_holds_and_transfers(evo: Callable[..., Evo], clock: VirtualClock) -> None:
    """The client's reading of those states: queue Ringing and Hold, Passive are an answered
    call; the agent who handled it is followed through the transfer."""
    e = evo(live=LiveStates(agent_ring=1.0, hold_share=1.0, transfer_share=1.0), agents=1)
    placed_at = clock.now()
    request_handle = CallHandle(attempt_id="a-1", campaign="c", number=NUMBER, placed_at=placed_at)
    request = CallRequest(attempt_id="a-1", campaign="c", flow_id="flow-1", number=NUMBER, caller_id=OWNED[0])
    e.backend.place_call(request, now=placed_at)
    handle, states, agents = request_handle, [], []
    for _ in range(400):
        clock.advance(0.5)
        for update in e.backend.poll([handle], now=clock.now()):
            states.append(update.state)
            agents.append(update.agent)
            handle = CallHandle(
                attempt_id="a-1",
                campaign="c",
                number=NUMBER,
                placed_at=placed_at,
                provider_ref=update.provider_ref or handle.provider_ref,
                state=update.state if update.state.rank > handle.state.rank else handle.state,
                seen_answer=handle.seen_answer or update.state.rank >= AttemptState.ANSWERED.rank,
            )
        if handle.state is AttemptState.ENDED:
            break
    assert handle.state is AttemptState.ENDED
    assert AttemptState.ANSWERED in states and AttemptState.CONNECTED in states
    assert agents[-1] == "Agent 1 → Supervisor 1"


@pytest.mark.parametrize(
    ("session", "state"),
    [
        ({"callState": "Passive"}, AttemptState.ANSWERED),
        ({"callState": "Hold"}, AttemptState.ANSWERED),
        ({"callState": "Connected", "queueState": "Ringing"}, AttemptState.ANSWERED),
        ({"callState": "Connected", "queueState": "Hold", "answeredById": "agent-1"}, AttemptState.CONNECTED),
        ({"callState": "Ringing"}, AttemptState.RINGING),
    ],
)
def test_live_states_map_to_progress(session: dict[str, Any], state: AttemptState) -> None:
    assert evo_mapping.progress_state(session) is state
    assert evo_mapping.shows_answer(session) is (state.rank >= AttemptState.ANSWERED.rank)


def test_patch_session_sets_call_hold_and_queue_states(evo: Callable[..., Evo], clock: VirtualClock) -> None:
    e = evo()
    session_id = place(e)
    e.api.patch_session(session_id, console_data="keep me")
    clock.advance(15)  # answered and talking
    patched = e.api.patch_session(session_id, call_state="Hold", hold_reason="Transferring", queue_state="Hold")
    assert (patched["callState"], patched["holdReason"], patched["queueState"]) == ("Hold", "Transferring", "Hold")
    assert patched["consoleData"] == "keep me"  # only the fields given are sent, and changed
    (listed,) = e.api.list_sessions(account_id=None, specific_ids=[session_id])
    assert listed["callState"] == "Hold" and listed["holdReason"] == "Transferring"
    back = e.api.patch_session(session_id, call_state="Connected", hold_reason="None", queue_state="Connected")
    assert (back["callState"], back["holdReason"]) == ("Connected", "None")
    ended = watch(e, clock, session_id)[-1]
    assert ended["ended"] and ended["callState"] == "Disconnected"
    with pytest.raises(ValueError, match="callState 'Exploded'"):
        e.api.patch_session(session_id, call_state="Exploded")
    with pytest.raises(ValueError, match="at least one"):
        e.api.patch_session(session_id)


# -------------------------------------------------- the dialer, across restarts
def campaign(store: SqlStore, **overrides: Any) -> Campaign:
    values: dict[str, Any] = {"name": "c", "flow_id": "flow-1", "caller_ids": (OWNED[0],), "agents": 2}
    values.update(overrides)
    return store.create_campaign(CampaignSpec(**values), now=T0)


def add_records(store: SqlStore, c: Campaign, n: int) -> None:
    store.insert_records(
        c.id,
        [
            NewRecord(
                handle=f"R-{i}", phone=f"+1212555{1000 + i:04d}", caller_id=None,
                user_data={"name": f"Contact {i}", "plan": "Gold"}, next_dial_at=T0,
                timezone="America/New_York", tz_candidates=("America/New_York",),
            )
            for i in range(n)
        ],
        now=T0,
    )  # fmt: skip


def dialer(store: SqlStore, clock: VirtualClock, url: str, **options: Any) -> Context:
    return build_context(load_settings(), clock=clock, store=store, telephony=evo_backend(url, **options))


def test_a_random_caller_id_is_written_back_and_reported(store: SqlStore, clock: VirtualClock, tmp_path: Path) -> None:
    c = campaign(store, caller_ids=(), allow_random_caller_id=True, max_attempts=1)
    add_records(store, c, 4)
    with evo_sandbox(clock=clock, agents=2, model=TALKER) as (sandbox, url):
        ctx = dialer(store, clock, url)
        run_virtual_until_done(ctx, clock)
        ctx.telephony.close()
    attempts = list(store.iter_attempts(c.id))
    picked = {p.session_id: p.caller_id for p in sandbox.placements}
    assert len(attempts) == 4 and all(a.caller_id in OWNED for a in attempts)
    assert {a.provider_ref: a.caller_id for a in attempts} == picked
    out = export(store, c, tmp_path / "attempts.csv", now=clock.now(), sheet="attempts").path
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["session_id"]: r["caller_id"] for r in rows} == picked


def test_calls_in_flight_across_a_restart_get_console_data_and_keep_their_correlation(
    store: SqlStore, clock: VirtualClock
) -> None:
    c = campaign(store, max_attempts=1)
    add_records(store, c, 2)
    with evo_sandbox(clock=clock, agents=2, model=TALKER) as (sandbox, url):
        first = dialer(store, clock, url, tag_sessions=False)  # dies before it writes consoleData
        tick.run_tick(first, now=clock.now())
        clock.advance(3)
        tick.collect(first, now=clock.now())
        found = {a.id: (a.provider_ref, a.correlation) for a in store.in_flight()}
        assert {corr for _, corr in found.values()} == {"matched"} and all(ref for ref, _ in found.values())
        first.telephony.close()
        # A flow (or the agent's console) wrote consoleData on one of them meanwhile.
        kept_ref = next(iter(found.values()))[0]
        call = sandbox.centre.call_for_session(kept_ref or "")
        assert call is not None
        call.console_data = "written by the flow"

        restarted = dialer(store, clock, url)
        clock.advance(2)
        tick.reconcile_in_flight(restarted, now=clock.now())
        run_virtual_until_done(restarted, clock)
        restarted.telephony.close()
    attempts = {a.id: a for a in store.iter_attempts(c.id)}
    assert {aid: (a.provider_ref, a.correlation) for aid, a in attempts.items()} == found
    for attempt in attempts.values():
        console = sandbox.centre.call_for_session(attempt.provider_ref or "")
        assert console is not None
        if attempt.provider_ref == kept_ref:
            assert console.console_data == "written by the flow"  # never overwritten
        else:
            assert json.loads(console.console_data or "{}")["plan"] == "Gold"


def test_a_dispositioned_preview_call_is_logged_as_a_session_under_the_call(
    store: SqlStore, clock: VirtualClock
) -> None:
    c = campaign(store, name="desk", mode=DialMode.PREVIEW, caller_ids=(OWNED[0],))
    add_records(store, c, 1)
    with evo_sandbox(clock=clock, agents=2, model=TALKER) as (sandbox, url):
        backend = evo_backend(url, customer_id="cust-110")
        ctx = build_context(load_settings(), clock=clock, store=store, telephony=backend)
        agent = "agent@sandbox.test"
        record = preview.next_record(ctx, "desk", agent, now=clock.now())
        assert record is not None
        dialed = preview.dial(ctx, record.handle, agent, now=clock.now())
        for _ in range(300):
            clock.advance(1)
            tick.collect(ctx, now=clock.now())
            if store.get_attempt(dialed.attempt_id).state is AttemptState.ENDED:
                break
        call = store.get_attempt(dialed.attempt_id)
        done = preview.complete(ctx, record.handle, agent, "ANSWER", now=clock.now())
        (logged,) = backend.api.list_sessions(account_id=None, parent_session_id=call.provider_ref)
        backend.close()
    assert any(logged["id"] in note and call.provider_ref in note for note in done.notes)
    assert (
        logged["channel"] == "Chat" and logged["customerId"] == "cust-110" and logged["toAddress"] == call.number_dialed
    )
    assert [m["identity"] for m in logged["members"]] == [agent]
    assert json.loads(logged["consoleData"]) == {
        "recordHandle": record.handle,
        "phoneNumber": record.phone,
        "outboundCallerId": OWNED[0],
        "otherFields": {"name": "Contact 0", "plan": "Gold"},
        "disposition": "ANSWER",
        "agent": agent,
    }
    assert len(sandbox.placements) == 1  # logging placed no call

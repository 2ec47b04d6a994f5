"""Whole campaigns through the real Evo Voice client over HTTP against the sandbox, faults on.

The accounting is checked against the sandbox's own log of the sessions it created: every
session belongs to exactly one attempt (the one that claimed it), and no attempt ever had
two sessions — no number was dialed twice for one attempt, whatever the faults.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from dialer.context import Context, build_context
from dialer.daemon import preflight, tick
from dialer.daemon.runner import run_once, run_virtual_until_done
from dialer.daemon.scheduler import Daemon
from dialer.domain.campaigns import Campaign, CampaignSpec, CampaignStatus
from dialer.domain.clock import Clock, SystemClock, VirtualClock
from dialer.domain.records import Attempt, AttemptState, NewRecord, RecordStatus
from dialer.errors import TelephonyAuthError
from dialer.sandbox.evovoice import EvoSandbox, Faults
from dialer.settings import load_settings
from dialer.sim.callcentre import REALISTIC, CallModel
from dialer.store.base import attempts_t
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.telephony_lines import MANAGER, NOT_OWNED, OWNED, evo_backend, evo_sandbox

FAULTS = Faults(error_rate=0.10, commit_timeout_rate=0.10, burst_rate=0.01, burst_length=3, hang_seconds=0.6)
MODEL = CallModel(
    hit_rate=0.35, busy_share=0.15, machine_share=0.2, fail_share=0.03, bad_number_share=0.03, talk_mean=90
)


def add_records(store: SqlStore, campaign: Campaign, n: int, **overrides: object) -> None:
    store.insert_records(
        campaign.id,
        [
            NewRecord(
                **{  # type: ignore[arg-type]
                    "handle": f"R-{i}",
                    "phone": f"+1212555{1000 + i:04d}",
                    "caller_id": None,
                    "user_data": {"name": f"Contact {i}", "plan": "Auto Basic"},
                    "next_dial_at": T0,
                    "timezone": "America/New_York",
                    "tz_candidates": ("America/New_York",),
                    **overrides,
                }
            )
            for i in range(n)
        ],
        now=T0,
    )


def campaign(store: SqlStore, name: str = "rehearsal", **overrides: object) -> Campaign:
    values: dict[str, object] = {"name": name, "flow_id": "flow-agents", "caller_ids": (OWNED[0],), "agents": 4}
    values.update(overrides)
    return store.create_campaign(CampaignSpec(**values), now=T0)  # type: ignore[arg-type]


@dataclass
class Rehearsal:
    ctx: Context
    sandbox: EvoSandbox
    url: str


@pytest.fixture
def rehearsal(store: SqlStore) -> Iterator[Callable[..., Rehearsal]]:
    """The dialer on ``store`` with the real Evo Voice client, against a sandbox on loopback."""
    with ExitStack() as stack:

        def make(
            clock: Clock,
            *,
            faults: Faults = FAULTS,
            timeout: float = 0.3,
            agents: int = 4,
            user: tuple[str, str] = MANAGER,
        ) -> Rehearsal:
            sandbox, url = stack.enter_context(
                evo_sandbox(clock=clock, agents=agents, model=MODEL, seed=11, faults=faults)
            )
            backend = evo_backend(url, timeout=timeout, user=user, poll_interval=2.0)
            stack.callback(backend.close)
            return Rehearsal(build_context(load_settings(), clock=clock, store=store, telephony=backend), sandbox, url)

        yield make


def stored_raw(store: SqlStore) -> dict[str, dict[str, object]]:
    """attempts.raw as stored (the SessionInfo JSON), by attempt id."""
    with store.engine.connect() as conn:
        return {aid: raw for aid, raw in conn.execute(select(attempts_t.c.id, attempts_t.c.raw)) if raw is not None}


def in_flight_at(attempt: Attempt, instant: datetime) -> bool:
    """The attempt was open at ``instant``: from its creation until (not including) its end. In
    virtual time one tick may end an attempt and start the next for the same number."""
    if instant < attempt.created_at:
        return False
    return attempt.ended_at is None or instant < attempt.ended_at or instant == attempt.created_at


def assert_no_double_dials(store: SqlStore, sandbox: EvoSandbox, campaign_id: int) -> list[Attempt]:
    attempts = list(store.iter_attempts(campaign_id))
    refs = [a.provider_ref for a in attempts if a.provider_ref]
    assert len(refs) == len(set(refs)), "a session was claimed by two attempts"
    sessions = {p.session_id: p for p in sandbox.placements}
    assert set(refs) <= set(sessions), "an attempt claims a session the provider never created"
    for session in sessions.values():
        # The attempts in flight to that number when the session was created: exactly one.
        owners = [a for a in attempts if a.number_dialed == session.number and in_flight_at(a, session.created_at)]
        assert len(owners) == 1, f"session {session.session_id} to {session.number} has owners {owners}"
        assert owners[0].provider_ref == session.session_id, f"session {session.session_id} was never claimed"
    for attempt in attempts:  # and no attempt ever had a second session
        mine = [
            s for s in sessions.values() if s.number == attempt.number_dialed and in_flight_at(attempt, s.created_at)
        ]
        assert len(mine) <= 1, f"attempt {attempt.id} dialed {attempt.number_dialed} {len(mine)} times"
    return attempts


def test_a_campaign_completes_through_faults_with_every_record_accounted_for(
    store: SqlStore, rehearsal: Callable[..., Rehearsal]
) -> None:
    n = 40 if store.dialect == "sqlite" else 20  # the same path; PostgreSQL with a shorter list
    c = campaign(store, max_attempts=3)
    add_records(store, c, n)
    clock = VirtualClock(T0)
    r = rehearsal(clock)
    ctx, sandbox = r.ctx, r.sandbox
    result = run_virtual_until_done(ctx, clock)
    assert result.done, result.stopped_reason
    statuses = store.count_records(c.id)
    assert sum(statuses.values()) == n and all(RecordStatus(s).is_final for s in statuses)
    attempts = assert_no_double_dials(store, sandbox, c.id)
    assert all(a.state is AttemptState.ENDED and a.outcome is not None for a in attempts)
    # The faults really happened, and were survived.
    assert sum(p.answered_late for p in sandbox.placements) >= 2
    uncertain = [a for a in attempts if a.error and "no answer came back" in a.error]
    assert uncertain and all(a.provider_ref for a in uncertain if a.correlation == "matched")
    assert any(a.error and "reconciled" in a.error for a in attempts) or all(a.provider_ref for a in uncertain)
    # Results were written back with the raw provider fields.
    answered = [a for a in attempts if a.outcome is not None and a.outcome.value == "ANSWER"]
    raw = stored_raw(store)
    assert answered and all(a.agent and raw[a.id]["callSid"] == a.call_sid for a in answered)
    assert all(raw[a.id]["ended"] is True and raw[a.id]["outcome"] == a.raw_outcome for a in attempts if a.provider_ref)
    assert all(a.was_missed is not None for a in attempts if a.provider_ref)
    assert set(Counter(a.correlation for a in attempts if a.provider_ref)) <= {"matched", "direct"}


def test_console_data_carries_the_record_user_data(store: SqlStore, rehearsal: Callable[..., Rehearsal]) -> None:
    c = campaign(store, max_attempts=1)
    add_records(store, c, 3)
    clock = VirtualClock(T0)
    r = rehearsal(clock, faults=Faults())
    ctx, sandbox = r.ctx, r.sandbox
    run_virtual_until_done(ctx, clock)
    for attempt in store.iter_attempts(c.id):
        call = sandbox.centre.call_for_session(attempt.provider_ref or "")
        assert call is not None and call.console_data is not None
        assert '"plan": "Auto Basic"' in call.console_data


def test_the_scheduled_daemon_runs_a_campaign_through_faults_in_accelerated_real_time(
    sqlite_store: SqlStore,
) -> None:
    store = sqlite_store
    c = campaign(store, name="daemon", max_attempts=1, agents=3)
    add_records(store, c, 12)
    clock = SystemClock(start=T0, speed=100.0)  # one clock shared by the dialer and the sandbox
    model = replace(MODEL, talk_mean=40)
    with evo_sandbox(clock=clock, agents=3, model=model, seed=5, faults=FAULTS) as (sandbox, url):
        backend = evo_backend(url, timeout=0.3)
        ctx = build_context(load_settings(tick_seconds=0.05), clock=clock, store=store, telephony=backend)
        result = Daemon(ctx, until_done=True, install_signals=False).run()
        backend.close()
    assert result.done
    statuses = store.count_records(c.id)
    assert sum(statuses.values()) == 12 and all(RecordStatus(s).is_final for s in statuses)
    assert_no_double_dials(store, sandbox, c.id)


def test_a_login_without_a_dialing_role_refuses_to_run(store: SqlStore, rehearsal: Callable[..., Rehearsal]) -> None:
    c = campaign(store)
    add_records(store, c, 2)
    clock = VirtualClock(T0)
    r = rehearsal(clock, faults=Faults(), user=("agent@sandbox.test", "sandbox"))
    ctx, sandbox = r.ctx, r.sandbox
    with pytest.raises(TelephonyAuthError) as caught:
        run_once(ctx)
    assert "Manager or SystemAdministrator" in str(caught.value) and "DIALER_EVOVOICE_USERNAME" in str(caught.value)
    assert sandbox.placements == [] and store.in_flight() == []


def test_a_campaign_with_a_caller_id_the_account_does_not_own_does_not_dial(
    store: SqlStore, rehearsal: Callable[..., Rehearsal]
) -> None:
    bad = campaign(store, name="bad-caller-id", caller_ids=(NOT_OWNED,))
    add_records(store, bad, 2)
    per_record = campaign(store, name="bad-record-caller-id")
    store.insert_records(
        per_record.id,
        [
            NewRecord(
                handle="X-1",
                phone="+12125559001",
                caller_id=NOT_OWNED,
                user_data={},
                next_dial_at=T0,
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
            )
        ],
        now=T0,
    )
    good = campaign(store, name="good")
    add_records(store, good, 1)
    clock = VirtualClock(T0)
    r = rehearsal(clock, faults=Faults())
    ctx, sandbox = r.ctx, r.sandbox
    report = preflight.check(ctx, now=clock.now())
    assert set(report.paused) == {"bad-caller-id", "bad-record-caller-id"}
    paused = store.get_campaign("bad-caller-id")
    assert paused.status is CampaignStatus.PAUSED
    assert NOT_OWNED in (paused.pause_reason or "") and "campaign caller ID" in (paused.pause_reason or "")
    assert "dialer campaign resume bad-caller-id" in (paused.pause_reason or "")
    assert "1 record" in (store.get_campaign("bad-record-caller-id").pause_reason or "")
    tick.run_tick(ctx, now=clock.now())
    assert [p.number for p in sandbox.placements] == ["+12125551000"]  # only the good campaign dialed


def test_a_provider_refusal_of_the_caller_id_pauses_the_campaign(
    store: SqlStore, rehearsal: Callable[..., Rehearsal]
) -> None:
    # The number passed preflight, then the account lost it: the 400 on callerId stops dialing.
    c = campaign(store, name="lost-number", caller_ids=(OWNED[1],))
    add_records(store, c, 3)
    clock = VirtualClock(T0)
    r = rehearsal(clock, faults=Faults())
    ctx, sandbox = r.ctx, r.sandbox
    object.__setattr__(sandbox, "_owned", {})
    report = tick.run_tick(ctx, now=clock.now())
    paused = store.get_campaign("lost-number")
    assert paused.status is CampaignStatus.PAUSED and "CallerId" in (paused.pause_reason or "")
    assert report.placed == 0 and sandbox.placements == []
    assert store.count_records(c.id) == {"ready": 3}


def test_an_uncertain_placement_is_settled_by_its_session_and_never_reposted(
    store: SqlStore, rehearsal: Callable[..., Rehearsal]
) -> None:
    c = campaign(store, max_attempts=1, agents=1)
    add_records(store, c, 1)
    clock = VirtualClock(T0)
    r = rehearsal(clock, faults=Faults(commit_timeout_rate=1.0, hang_seconds=0.6), agents=1)
    ctx, sandbox = r.ctx, r.sandbox
    tick.run_tick(ctx, now=clock.now())
    (attempt,) = store.in_flight()
    assert attempt.state is AttemptState.UNCERTAIN and len(sandbox.placements) == 1
    clock.advance(1)
    tick.run_tick(ctx, now=clock.now())  # reconciled: the session the timed-out POST created
    settled = store.get_attempt(attempt.id)
    assert settled.provider_ref == sandbox.placements[0].session_id and settled.correlation == "matched"
    clock.advance(tick.RECONCILE_AFTER.total_seconds() * 2)
    run_virtual_until_done(ctx, clock)
    assert len(sandbox.placements) == 1  # dialed once, followed to the end
    assert store.get_attempt(attempt.id).state is AttemptState.ENDED


def test_the_attempts_left_in_flight_by_a_crash_are_reconciled_by_a_new_process(
    store: SqlStore, rehearsal: Callable[..., Rehearsal]
) -> None:
    c = campaign(store, max_attempts=1, agents=2)
    add_records(store, c, 2)
    clock = VirtualClock(T0)
    r = rehearsal(clock, faults=Faults())
    ctx, sandbox = r.ctx, r.sandbox
    tick.run_tick(ctx, now=clock.now())  # two calls placed; their sessions not yet correlated
    assert {a.provider_ref for a in store.in_flight()} == {None}
    # The process dies. A new one, with a fresh client, reconciles before dialing.
    restarted = build_context(load_settings(), clock=clock, store=store, telephony=evo_backend(r.url, timeout=1.0))
    clock.advance(timedelta(seconds=3).total_seconds())
    tick.reconcile_in_flight(restarted, now=clock.now())
    refs = {a.provider_ref for a in store.in_flight()}
    assert refs == {p.session_id for p in sandbox.placements}
    run_virtual_until_done(restarted, clock)
    assert len(sandbox.placements) == 2
    assert_no_double_dials(store, sandbox, c.id)
    restarted.telephony.close()


def test_the_realistic_model_is_the_sandbox_default() -> None:
    assert EvoSandbox().config.model == REALISTIC

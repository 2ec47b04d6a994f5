"""The tick against the simulated call centre, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from dialer.context import Context, build_context
from dialer.daemon import tick
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord, Record, RecordStatus
from dialer.domain.results import CallResult
from dialer.errors import PlacementUncertain, TelephonyAuthError, TelephonyRejected, TelephonyUnavailable
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.base import CallRequest, Placement, TelephonyBackend
from dialer.telephony.simulated import SimulatedTelephony

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]


def context(store: SqlStore, clock: VirtualClock, telephony: TelephonyBackend | None = None, **model: float) -> Context:
    settings = load_settings()
    if telephony is None:

        def agents(name: str) -> int:
            return store.get_campaign(name).agents

        telephony = SimulatedTelephony(agents_for=agents, model=CallModel(**model), seed=1)  # type: ignore[arg-type]
    return build_context(settings, clock=clock, store=store, telephony=telephony)


def add_records(record_factory: RecordFactory, campaign: Campaign, n: int, **overrides: object) -> list[NewRecord]:
    return [record_factory(campaign, **overrides) for _ in range(n)]


def test_progressive_places_one_call_per_idle_agent(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=3)
    add_records(record_factory, c, 10)
    ctx = context(store, clock)
    first = tick.run_tick(ctx, now=clock.now())
    assert first.placed == 3
    assert "3 idle of 3 agents" in first.campaigns[0].reason
    again = tick.run_tick(ctx, now=clock.now())
    assert again.placed == 0  # three calls are ringing for three idle agents
    assert again.in_flight == 3
    attempts = store.in_flight(c.id)
    assert {a.state for a in attempts} == {AttemptState.RINGING}  # seen ringing by the second poll
    assert all(a.pacing_reason.startswith("progressive") for a in attempts)


def test_a_campaign_runs_to_completion_within_its_limits(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=4, max_attempts=3)
    add_records(record_factory, c, 30)
    ctx = context(store, clock, hit_rate=0.3, busy_share=0.2, machine_share=0.2)
    result = run_virtual_until_done(ctx, clock)
    assert result.done, result.stopped_reason
    by_status = store.count_records(c.id)
    assert sum(by_status.values()) == 30
    assert set(by_status) <= {"completed", "exhausted", "bad_number"}
    records = list(store.iter_records(c.id))
    assert max(r.attempts for r in records) <= 3
    attempts = list(store.iter_attempts(c.id))
    assert all(a.state is AttemptState.ENDED and a.outcome is not None for a in attempts)
    assert sum(1 for r in records if r.status is RecordStatus.COMPLETED) == sum(
        1 for a in attempts if a.outcome is CallResult.ANSWER
    )
    # Every placed call was inside the callee's window (New York, 08:00-21:00).
    for a in attempts:
        local = (a.placed_at or a.created_at).astimezone(ZoneInfo("America/New_York"))
        assert 8 <= local.hour < 21


def test_a_number_added_to_dnc_mid_campaign_is_never_dialed_again(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=2)
    records = add_records(record_factory, c, 8)
    ctx = context(store, clock, hit_rate=0.0)
    tick.run_tick(ctx, now=clock.now())  # two calls out, six waiting
    target = records[-1].phone
    added_at = clock.now()
    store.add_dnc([target], source="test", now=added_at)
    run_virtual_until_done(ctx, clock)
    record = store.get_record(c.id, records[-1].handle)
    assert record.status is RecordStatus.DO_NOT_CALL and record.blocked_reason == "dnc_internal"
    assert store.attempts_for_record(record.id) == []


def test_records_outside_their_window_wait_with_a_reason(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=5)
    record_factory(c, handle="ny", phone="+12125550100")
    record_factory(
        c, handle="la", phone="+12135550100", timezone="America/Los_Angeles", tz_candidates=("America/Los_Angeles",)
    )
    ctx = context(store, clock)
    report = tick.run_tick(ctx, now=clock.now())  # 10:00 New York, 07:00 Los Angeles
    assert report.placed == 1
    assert report.campaigns[0].blocked == {"outside_window": 1}
    la = store.get_record(c.id, "la")
    assert la.status is RecordStatus.READY and la.blocked_reason == "outside_window"
    assert la.next_dial_at == clock.now() + timedelta(hours=1)  # 08:00 in Los Angeles
    assert "America/Los_Angeles" in (la.blocked_detail or "")
    assert store.waiting_breakdown(c.id, now=clock.now()) == {"outside_window": 1}


def test_retries_are_clamped_into_the_window(campaign_factory: CampaignFactory, clock: VirtualClock) -> None:
    c = campaign_factory()
    late = clock.now().replace(hour=1, minute=30) + timedelta(days=1)  # 20:30 in New York
    record = Record(
        id=1,
        campaign_id=c.id,
        handle="R",
        phone="+12125550100",
        caller_id=None,
        user_data={},
        status=RecordStatus.DIALING,
        next_dial_at=late,
        attempts=1,
        result_counts={"NO_ANSWER": 1},
        timezone="America/New_York",
        tz_candidates=("America/New_York",),
    )
    decision = tick.decide_next(c, record, CallResult.NO_ANSWER, now=late)
    assert decision.retry_at == late.replace(hour=13, minute=0)  # 08:00 EST the next morning
    assert "calling window opens" in decision.reason


class Scripted:
    """The simulated backend, with placement failures scripted per number."""

    def __init__(self, inner: SimulatedTelephony, failures: dict[str, Exception]) -> None:
        self.inner = inner
        self.failures = failures
        self.name = "simulated"
        self.placed: list[str] = []

    def place_call(self, request: CallRequest, *, now: object) -> Placement:
        failure = self.failures.get(request.number)
        if failure is not None:
            raise failure
        self.placed.append(request.number)
        return self.inner.place_call(request, now=now)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def scripted(store: SqlStore, clock: VirtualClock, failures: dict[str, Exception]) -> tuple[Context, Scripted]:
    inner = SimulatedTelephony(agents_for=lambda name: store.get_campaign(name).agents, seed=2)
    backend = Scripted(inner, failures)
    return context(store, clock, telephony=backend), backend  # type: ignore[arg-type]


def test_auth_errors_pause_the_campaign_with_the_fix(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=2)
    a, _b = add_records(record_factory, c, 2)
    ctx, _ = scripted(store, clock, {a.phone: TelephonyAuthError("Evo Voice refused the login (HTTP 401)")})
    report = tick.run_tick(ctx, now=clock.now())
    paused = store.get_campaign(c.name)
    assert paused.status is CampaignStatus.PAUSED
    assert "401" in (paused.pause_reason or "") and "dialer campaign resume" in (paused.pause_reason or "")
    assert report.placed == 0
    # Nothing was counted against the records and nothing is left leased or in flight.
    assert {r.status for r in store.iter_records(c.id)} == {RecordStatus.READY}
    assert all(r.attempts == 0 for r in store.iter_records(c.id))
    assert store.in_flight() == []


def test_a_rejected_number_ends_bad_without_retry(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=1)
    (a,) = add_records(record_factory, c, 1)
    ctx, _ = scripted(store, clock, {a.phone: TelephonyRejected("numberToDial is invalid", bad_number=True)})
    tick.run_tick(ctx, now=clock.now())
    record = store.get_record(c.id, a.handle)
    assert record.status is RecordStatus.BAD_NUMBER and record.last_outcome is CallResult.SIT_INVALID_NUM
    (attempt,) = store.attempts_for_record(record.id)
    assert attempt.error == "numberToDial is invalid"


def test_provider_outage_backs_off_without_counting(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=1)
    (a,) = add_records(record_factory, c, 1)
    ctx, _ = scripted(store, clock, {a.phone: TelephonyUnavailable("HTTP 503")})
    report = tick.run_tick(ctx, now=clock.now())
    assert report.campaigns[0].blocked == {"provider_unavailable": 1}
    record = store.get_record(c.id, a.handle)
    assert record.status is RecordStatus.READY and record.attempts == 0
    assert record.next_dial_at == clock.now() + tick.UNAVAILABLE_BACKOFF


def test_an_uncertain_placement_is_not_redialed_until_reconciled(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=1)
    (a,) = add_records(record_factory, c, 1)
    ctx, backend = scripted(store, clock, {a.phone: PlacementUncertain("timed out after sending")})
    tick.run_tick(ctx, now=clock.now())
    (attempt,) = store.in_flight()
    assert attempt.state is AttemptState.UNCERTAIN
    backend.failures.clear()
    for _ in range(5):  # while the placement is in doubt the record is not dialed again
        clock.advance(10)
        tick.run_tick(ctx, now=clock.now())
    assert backend.placed == []
    clock.advance(tick.RECONCILE_AFTER.total_seconds())
    tick.run_tick(ctx, now=clock.now())  # the provider has no such call: settled, then dialed afresh
    ended = store.get_attempt(attempt.id)
    assert ended.outcome is CallResult.CANCELLED and ended.correlation == "not_found"
    assert backend.placed == [a.phone]


def test_attempts_left_in_flight_by_a_crash_are_reconciled_first(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=2)
    add_records(record_factory, c, 2)
    first = context(store, clock)
    tick.run_tick(first, now=clock.now())
    assert len(store.in_flight()) == 2
    # The process dies; a new one starts with a fresh provider view.
    second = context(store, clock)
    settled = tick.reconcile_in_flight(second, now=clock.now())
    assert settled == 2
    assert store.in_flight() == []
    assert {r.status for r in store.iter_records(c.id)} == {RecordStatus.READY}
    assert all(r.attempts == 0 for r in store.iter_records(c.id))


@pytest.mark.parametrize("mode", ["preview"])
def test_preview_campaigns_are_not_dialed_by_the_pacer(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock, mode: str
) -> None:
    c = campaign_factory(mode=DialMode(mode))
    add_records(record_factory, c, 3)
    report = tick.run_tick(context(store, clock), now=clock.now())
    assert report.placed == 0 and "preview" in report.campaigns[0].reason


def test_the_provider_accounts_cps_caps_the_pacer(campaign_factory: CampaignFactory) -> None:
    from dialer.daemon.pacing_state import caps_for

    assert caps_for(campaign_factory(), tick_seconds=1.0, backend_cps=1.0).max_cps == 1.0
    assert caps_for(campaign_factory(max_cps=0.5), tick_seconds=1.0, backend_cps=1.0).max_cps == 0.5
    assert caps_for(campaign_factory(max_cps=5), tick_seconds=1.0, backend_cps=2.0).max_cps == 2.0
    assert caps_for(campaign_factory(), tick_seconds=1.0, backend_cps=None).max_cps is None


def test_a_batch_of_placements_is_written_in_two_transactions(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=6)
    add_records(record_factory, c, 6)
    ctx = context(store, clock)
    statements: list[str] = []
    writes: list[set[str]] = []  # the kinds of write of each committed transaction that wrote

    def executed(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    def committed(conn: object) -> None:
        if kinds := {"INSERT", "UPDATE", "DELETE"}.intersection(statements):
            writes.append(kinds)
        statements.clear()

    event.listen(store.engine, "before_cursor_execute", executed)
    event.listen(store.engine, "commit", committed)
    try:
        placed, blocked, errors = tick.dial_records(
            ctx, store.get_campaign(c.name), 6, reason="test", now=clock.now(), worker="w"
        )
    finally:
        event.remove(store.engine, "before_cursor_execute", executed)
        event.remove(store.engine, "commit", committed)
    assert (placed, dict(blocked), errors) == (6, {}, [])
    # the claim, the six attempts before the first call, the six providers' answers after the last
    assert writes == [{"UPDATE"}, {"UPDATE", "INSERT"}, {"UPDATE"}]
    in_flight = store.in_flight(c.id)
    assert len(in_flight) == 6 and {a.state for a in in_flight} == {AttemptState.PLACED}
    assert all(a.provider_ref for a in in_flight)


def test_a_refused_caller_id_mid_batch_withdraws_the_calls_not_yet_placed(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=4)
    records = add_records(record_factory, c, 4)
    refusal = TelephonyRejected("caller ID +12125550100 is not verified", bad_caller_id=True)
    ctx, backend = scripted(store, clock, {records[1].phone: refusal})
    report = tick.run_tick(ctx, now=clock.now())
    assert report.placed == 1 and backend.placed == [records[0].phone]
    assert store.get_campaign(c.name).status is CampaignStatus.PAUSED
    for new in records[2:]:  # never sent: no attempt kept, ready again as before
        record = store.get_record(c.id, new.handle)
        assert record.status is RecordStatus.READY and record.last_attempt_at is None and record.lease_owner is None
        assert store.attempts_for_record(record.id) == []
    assert [a.number_dialed for a in store.in_flight(c.id)] == [records[0].phone]


def test_one_number_twice_in_a_batch_is_dialed_once(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=3)
    first = record_factory(c, phone="+12125550177")
    second = record_factory(c, phone="+12125550177")
    record_factory(c)
    report = tick.run_tick(context(store, clock), now=clock.now())
    assert report.placed == 2 and report.campaigns[0].blocked == {"in_flight_same_number": 1}
    assert [a.record_handle for a in store.in_flight(c.id)].count(first.handle) == 1
    held = store.get_record(c.id, second.handle)
    assert held.status is RecordStatus.READY and held.blocked_reason == "in_flight_same_number"


def test_a_young_pending_attempt_left_by_a_crash_is_not_declared_never_placed_at_start_up(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    """The crash came between writing the attempt and learning what the provider did: a search
    that finds no call yet is not proof (the request may still be on its way, the provider's
    search may lag), so the record is not redialed until RECONCILE_AFTER has passed."""
    c = campaign_factory(agents=1)
    (a,) = add_records(record_factory, c, 1)
    first = context(store, clock)
    (claim,) = store.claim_records(c.id, limit=1, worker="daemon", lease_seconds=300, now=clock.now())
    store.begin_attempt(
        claim.record, attempt_id="crashed", backend="simulated", mode="progressive", caller_id=None,
        pacing_reason="test", now=clock.now(),
    )  # fmt: skip
    del first  # the process dies before the provider's answer is written
    second = context(store, clock)
    clock.advance(5)
    assert tick.reconcile_in_flight(second, now=clock.now()) == 0
    (left,) = store.in_flight()
    assert left.id == "crashed" and left.state is AttemptState.PENDING
    assert tick.run_tick(second, now=clock.now()).placed == 0  # the record is not dialed again meanwhile
    clock.advance(tick.RECONCILE_AFTER.total_seconds())
    tick.run_tick(second, now=clock.now())
    crashed, *_ = store.attempts_for_record(store.get_record(c.id, a.handle).id)
    assert crashed.id == "crashed" and crashed.correlation == "not_found" and crashed.outcome is CallResult.CANCELLED


def test_a_provider_that_refuses_calls_gets_one_try_per_tick_and_the_other_claims_go_back(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=3)
    records = add_records(record_factory, c, 3)
    down = TelephonyUnavailable("Evo Voice is unreachable (connection refused); no call was placed")
    ctx, _ = scripted(store, clock, {r.phone: down for r in records})
    report = tick.run_tick(ctx, now=clock.now())
    assert report.campaigns[0].blocked == {"provider_unavailable": 3}
    after = list(store.iter_records(c.id))
    # One attempt tried and closed uncounted; the other two claims were never sent to the provider.
    assert sum(len(store.attempts_for_record(r.id)) for r in after) == 1
    assert {r.status for r in after} == {RecordStatus.READY} and all(r.attempts == 0 for r in after)
    assert {r.next_dial_at for r in after} == {clock.now() + tick.UNAVAILABLE_BACKOFF}
    assert store.waiting_breakdown(c.id, now=clock.now()) == {"provider_unavailable": 3}

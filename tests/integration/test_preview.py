"""The preview desk (dialer.preview) against the simulated call centre, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from dialer import preview
from dialer.context import Context, build_context
from dialer.daemon import tick
from dialer.domain.campaigns import Campaign, DialMode
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord, RecordStatus, RecordType
from dialer.domain.results import CallResult
from dialer.errors import InvalidTransition, NotFound
from dialer.reports.metrics import campaign_metrics
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.status import explain_record
from dialer.store.repository import SqlStore
from dialer.telephony.simulated import SimulatedTelephony

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]


# A callee who always picks up. The model releases a live answer drawn later than its ring
# timeout (25 s by default) as a no-answer, and a preview-desk call is seeded from its random
# attempt id, so ``hit_rate=1.0`` alone leaves about 1 call in 100 unanswered. With a 600 s ring
# timeout the answer time (2 s + Gamma(3, 8/3 s)) never reaches it.
ALWAYS_ANSWERED: dict[str, float] = {"hit_rate": 1.0, "ring_timeout": 600.0}


def context(store: SqlStore, clock: VirtualClock, **model: float) -> Context:
    def agents(name: str) -> int:
        return store.get_campaign(name).agents

    telephony = SimulatedTelephony(agents_for=agents, model=CallModel(**model), seed=1)  # type: ignore[arg-type]
    return build_context(load_settings(), clock=clock, store=store, telephony=telephony)


def preview_campaign(campaign_factory: CampaignFactory, **overrides: object) -> Campaign:
    return campaign_factory(mode=DialMode.PREVIEW, **overrides)


def until_ended(ctx: Context, clock: VirtualClock, attempt_id: str) -> None:
    """Let the simulated call run and collect its result, as the daemon's tick does."""
    for _ in range(200):
        if ctx.store.get_attempt(attempt_id).state is AttemptState.ENDED:
            return
        nxt = ctx.telephony.next_event_at(now=clock.now())
        clock.advance_to(nxt if nxt is not None else clock.now() + timedelta(seconds=1))
        tick.collect(ctx, now=clock.now())
    raise AssertionError("the call never ended")


# ----------------------------------------------------------------------- locks
def test_a_record_is_locked_to_the_agent_who_requested_it(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    first = record_factory(c, user_data={"name": "Zoë", "account": "000123"})
    second = record_factory(c)
    ctx = context(store, clock)
    now = clock.now()

    alice = preview.next_record(ctx, c.name, "alice", now=now)
    assert alice is not None and alice.handle == first.handle
    assert alice.user_data == {"name": "Zoë", "account": "000123"}
    assert alice.caller_id == "+12125550100" and alice.state == "locked"
    assert alice.locked_until == now + timedelta(minutes=15)
    # Asking again returns the same record, with the lock renewed.
    clock.advance(60)
    again = preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert again is not None and again.handle == first.handle
    assert again.locked_until == clock.now() + timedelta(minutes=15)
    # Another agent never gets it.
    bob = preview.next_record(ctx, c.name, "bob", now=clock.now())
    assert bob is not None and bob.handle == second.handle
    assert preview.next_record(ctx, c.name, "carol", now=clock.now()) is None
    with pytest.raises(preview.RecordLocked, match="locked by agent 'alice'"):
        preview.dial(ctx, first.handle, "bob", now=clock.now())
    with pytest.raises(preview.RecordLocked):
        preview.skip(ctx, first.handle, "carol", now=clock.now())
    assert store.locked_by_agents(c.id) == {"alice": 1, "bob": 1}


def test_an_expired_lock_returns_the_record_to_the_pool(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, options={"preview_lock_seconds": 120})
    only = record_factory(c)
    ctx = context(store, clock)
    assert preview.next_record(ctx, c.name, "alice", now=clock.now()) is not None
    assert preview.next_record(ctx, c.name, "bob", now=clock.now()) is None
    clock.advance(121)
    bob = preview.next_record(ctx, c.name, "bob", now=clock.now())
    assert bob is not None and bob.handle == only.handle
    with pytest.raises(preview.RecordLocked, match="bob"):
        preview.dial(ctx, only.handle, "alice", now=clock.now())


def test_the_desk_refuses_what_it_cannot_do(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    progressive = campaign_factory()
    record_factory(progressive, handle="P-1")
    c = preview_campaign(campaign_factory)
    record_factory(c, handle="V-1")
    ctx = context(store, clock)
    with pytest.raises(preview.NotPreviewCampaign, match="--mode preview"):
        preview.next_record(ctx, progressive.name, "alice", now=clock.now())
    with pytest.raises(preview.NotPreviewCampaign):
        preview.dial(ctx, "P-1", "alice", now=clock.now())
    with pytest.raises(NotFound):
        preview.dial(ctx, "nope", "alice", now=clock.now())
    with pytest.raises(preview.NotOnDesk, match="dialer preview next"):
        preview.dial(ctx, "V-1", "alice", now=clock.now())
    with pytest.raises(preview.PreviewError, match="invalid agent name"):
        preview.next_record(ctx, c.name, "al ice", now=clock.now())
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    with pytest.raises(preview.PreviewError, match="unknown disposition 'maybe'; use one of ANSWER"):
        preview.complete(ctx, "V-1", "alice", "maybe", now=clock.now())
    with pytest.raises(preview.PreviewError, match="has not been dialed"):
        preview.complete(ctx, "V-1", "alice", "ANSWER", now=clock.now())


# ----------------------------------------------------------------------- gates
def test_gates_run_when_a_record_is_handed_out(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    blocked = record_factory(c)
    late = record_factory(
        c, timezone="America/Los_Angeles", tz_candidates=("America/Los_Angeles",)
    )  # 07:00 in Los Angeles
    fine = record_factory(c)
    store.add_dnc([blocked.phone], source="test", now=clock.now())
    ctx = context(store, clock)
    got = preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert got is not None and got.handle == fine.handle
    assert store.get_record(c.id, blocked.handle).status is RecordStatus.DO_NOT_CALL
    held = store.get_record(c.id, late.handle)
    assert held.status is RecordStatus.READY and held.blocked_reason == "outside_window"
    assert held.next_dial_at == clock.now() + timedelta(hours=1)


def test_gates_run_again_at_dial_time(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock)
    assert preview.next_record(ctx, c.name, "alice", now=clock.now()) is not None
    store.add_dnc([record.phone], source="opt-out", now=clock.now())  # between next and dial
    with pytest.raises(preview.DialRefused, match="do-not-call") as refused:
        preview.dial(ctx, record.handle, "alice", now=clock.now())
    assert refused.value.rule == "dnc_internal"
    stored = store.get_record(c.id, record.handle)
    assert stored.status is RecordStatus.DO_NOT_CALL
    assert store.attempts_for_record(stored.id) == []


# ------------------------------------------------------------------------ calls
def test_dial_then_complete_with_a_final_disposition(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, agents=2)
    record = record_factory(c)
    ctx = context(store, clock, **ALWAYS_ANSWERED)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    dialed = preview.dial(ctx, record.handle, "alice", now=clock.now())
    assert dialed.placed and dialed.caller_id == "+12125550100"
    attempt = store.get_attempt(dialed.attempt_id)
    assert attempt.preview and attempt.agent == "alice" and attempt.pacing_reason == "preview: dialed by agent alice"
    with pytest.raises(preview.PreviewError, match="already been dialed"):
        preview.dial(ctx, record.handle, "alice", now=clock.now())
    with pytest.raises(preview.PreviewError, match="still in progress"):
        preview.complete(ctx, record.handle, "alice", "ANSWER", now=clock.now())

    until_ended(ctx, clock, dialed.attempt_id)
    held = store.get_record(c.id, record.handle)
    assert held.status is RecordStatus.DIALING and held.lease_owner == "agent:alice"  # waits for the agent
    desk = preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert desk is not None and desk.state == "awaiting_disposition" and desk.call_outcome == "ANSWER"
    assert store.locked_by_agents(c.id) == {"alice": 1}
    explained = explain_record(ctx, record.handle, campaign=c.name, now=clock.now())
    assert explained["verdict"].startswith("called from alice's preview desk: waiting for the agent's disposition")

    done = preview.complete(ctx, record.handle, "alice", "answer", now=clock.now())
    assert done.status == "completed" and done.disposition == "ANSWER"
    ended = store.get_attempt(dialed.attempt_id)
    assert ended.disposition == "ANSWER" and ended.outcome is CallResult.ANSWER and ended.agent == "alice"
    final = store.get_record(c.id, record.handle)
    assert final.status is RecordStatus.COMPLETED and final.lease_owner is None and final.attempts == 1
    assert store.locked_by_agents(c.id) == {}


def test_a_disposition_replaces_the_provider_result_and_drives_the_retry(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock, hit_rate=0.0, busy_share=1.0)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    dialed = preview.dial(ctx, record.handle, "alice", now=clock.now())
    until_ended(ctx, clock, dialed.attempt_id)
    assert store.get_attempt(dialed.attempt_id).outcome is CallResult.BUSY
    now = clock.now()
    done = preview.complete(ctx, record.handle, "alice", "NO_ANSWER", now=now)
    assert done.status == "ready" and done.next_dial_at == now + timedelta(hours=3)
    assert "the provider reported BUSY" in done.notes[0]
    after = store.get_record(c.id, record.handle)
    assert after.status is RecordStatus.READY and after.next_dial_at == now + timedelta(hours=3)
    assert dict(after.result_counts) == {"NO_ANSWER": 1} and after.attempts == 1
    assert after.last_outcome is CallResult.NO_ANSWER and after.lease_owner is None


def test_a_lock_that_expires_after_the_call_applies_the_calls_own_result(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, options={"preview_lock_seconds": 300})
    record = record_factory(c)
    ctx = context(store, clock, hit_rate=0.0, busy_share=1.0)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    dialed = preview.dial(ctx, record.handle, "alice", now=clock.now())
    until_ended(ctx, clock, dialed.attempt_id)
    ended_at = store.get_attempt(dialed.attempt_id).ended_at
    assert ended_at is not None
    clock.advance_to(ended_at + timedelta(seconds=301))
    tick.run_tick(ctx, now=clock.now())  # the daemon's lease sweep settles it
    after = store.get_record(c.id, record.handle)
    assert after.status is RecordStatus.READY and after.lease_owner is None
    assert after.next_dial_at == clock.now() + timedelta(minutes=30)  # BUSY: retry in 30 min
    assert store.get_attempt(dialed.attempt_id).disposition is None
    with pytest.raises(preview.NotOnDesk):
        preview.complete(ctx, record.handle, "alice", "ANSWER", now=clock.now())


def test_preview_calls_are_not_abandonment_candidates(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, agents=0)  # nobody takes the answered call: ABANDONED
    record = record_factory(c)
    ctx = context(store, clock, **ALWAYS_ANSWERED)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    dialed = preview.dial(ctx, record.handle, "alice", now=clock.now())
    until_ended(ctx, clock, dialed.attempt_id)
    assert store.get_attempt(dialed.attempt_id).outcome is CallResult.ABANDONED
    counts = store.outcome_counts(c.id)
    assert counts.attempts == 1 and counts.preview_attempts == 1
    assert counts.abandoned == 0 and counts.live_answers == 0 and counts.abandon_rate is None
    metrics = campaign_metrics(store, c)
    assert metrics.preview_attempts == 1 and metrics.abandoned == 0 and metrics.abandon_rate is None
    with store.report_snapshot(zone="America/New_York", now=clock.now()) as reader:
        totals = reader.outcome_totals(c.id)
        previews = reader.preview_totals(c.id)
        days = reader.period_counts(c.id, unit="day")
    assert totals == {"ABANDONED": (1, 1)} and previews == {"ABANDONED": 1}
    assert [(d.outcome, d.attempts, d.preview) for d in days] == [("ABANDONED", 1, 1)]


def test_predictive_abandons_still_count_next_to_preview_calls(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=0)
    record_factory(c)
    ctx = context(store, clock, **ALWAYS_ANSWERED)
    # A progressive campaign with no agents places nothing; write one abandoned call by hand.
    claim = store.claim_records(c.id, limit=1, worker="daemon", lease_seconds=60, now=clock.now())[0]
    assert tick.place(ctx, c, claim.record, caller_id="+12125550100", reason="test", now=clock.now()) == "placed"
    attempt = store.in_flight(c.id)[0]
    until_ended(ctx, clock, attempt.id)
    counts = store.outcome_counts(c.id)
    assert counts.preview_attempts == 0
    assert counts.abandoned == 1 and counts.live_answers == 1


# ------------------------------------------------------- skip and reschedule
def test_skip_returns_the_record_with_the_reason_recorded(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    result = preview.skip(ctx, record.handle, "alice", now=clock.now(), reason="customer in a meeting")
    assert result.status == "ready"
    after = store.get_record(c.id, record.handle)
    assert after.status is RecordStatus.READY and after.lease_owner is None and after.attempts == 0
    assert after.blocked_detail == "skipped by agent alice: customer in a meeting"
    assert store.attempts_for_record(after.id) == []
    assert any("customer in a meeting" in message for _, _, message in store.campaign_events(c.id))
    bob = preview.next_record(ctx, c.name, "bob", now=clock.now())
    assert bob is not None and bob.handle == record.handle


def test_reschedule_is_validated_and_clamped_into_the_window(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    with pytest.raises(preview.PreviewError, match="in the past"):
        preview.reschedule(ctx, record.handle, "alice", clock.now() - timedelta(minutes=1), now=clock.now())
    with pytest.raises(preview.PreviewError, match="cannot read the time"):
        preview.parse_time(ctx, record.handle, "tomorrow")
    # 23:00 in New York (the campaign's zone, given without one) is outside 08:00-21:00.
    at = preview.parse_time(ctx, record.handle, "2026-03-02T23:00")
    assert at == datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
    result = preview.reschedule(ctx, record.handle, "alice", at, now=clock.now())
    assert result.next_dial_at == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 EST the next morning
    assert "calling window" in result.notes[0]
    after = store.get_record(c.id, record.handle)
    assert after.status is RecordStatus.READY and after.record_type is RecordType.CAMPAIGN_CALLBACK
    assert after.next_dial_at == datetime(2026, 3, 3, 13, 0, tzinfo=UTC) and after.lease_owner is None
    assert preview.next_record(ctx, c.name, "bob", now=clock.now()) is None


def test_reschedule_after_a_call_is_the_agents_disposition(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock, hit_rate=0.0)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    dialed = preview.dial(ctx, record.handle, "alice", now=clock.now())
    until_ended(ctx, clock, dialed.attempt_id)
    at = clock.now() + timedelta(hours=2)
    result = preview.reschedule(ctx, record.handle, "alice", at, now=clock.now())
    assert result.next_dial_at == at and result.disposition == "RESCHEDULED" and result.notes == []
    assert store.get_attempt(dialed.attempt_id).disposition == "RESCHEDULED"
    assert store.get_record(c.id, record.handle).status is RecordStatus.READY


def test_do_not_call_without_a_call_ends_the_record_and_lists_the_number(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    result = preview.complete(ctx, record.handle, "alice", "DO_NOT_CALL", now=clock.now())
    assert result.status == "do_not_call"
    assert store.get_record(c.id, record.handle).status is RecordStatus.DO_NOT_CALL
    assert store.dnc_hits([record.phone], campaign_id=c.id) == {record.phone}


def test_a_record_is_dialed_once_even_if_dial_races_itself(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    new = record_factory(c)
    ctx = context(store, clock)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    record = store.get_record(c.id, new.handle)  # what both clicks read before either wrote
    assert tick.place(ctx, c, record, caller_id=None, reason="one", now=clock.now(), preview=True, agent="alice")
    with pytest.raises(InvalidTransition, match="no longer leased to agent:alice"):
        tick.place(ctx, c, record, caller_id=None, reason="two", now=clock.now(), preview=True, agent="alice")
    assert len(store.attempts_for_record(record.id)) == 1
    assert store.get_record(c.id, new.handle).status is RecordStatus.DIALING


# ------------------------------------------------- personal callbacks, auto-dial
def test_a_personal_callback_is_reserved_for_its_agent_then_falls_back_to_the_pool(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, options={"personal_callback_grace_seconds": 1800})
    record = record_factory(c)
    other = record_factory(c)
    ctx = context(store, clock)
    assert preview.next_record(ctx, c.name, "alice", now=clock.now()).handle == record.handle  # type: ignore[union-attr]
    result = preview.reschedule(
        ctx, record.handle, "alice", clock.now() + timedelta(minutes=10), now=clock.now(), personal=True
    )
    assert "personal callback for agent alice" in result.message
    stored = store.get_record(c.id, record.handle)
    assert stored.record_type is RecordType.PERSONAL_CALLBACK and stored.reserved_for == "alice"
    due = result.next_dial_at
    assert due is not None and stored.reserved_until == due + timedelta(minutes=30)
    clock.advance_to(due + timedelta(seconds=1))
    # Due: bob gets the other record, never alice's callback; alice gets hers first.
    bob = preview.next_record(ctx, c.name, "bob", now=clock.now())
    assert bob is not None and bob.handle == other.handle
    preview.skip(ctx, other.handle, "bob", now=clock.now())
    carol = preview.next_record(ctx, c.name, "carol", now=clock.now())
    assert carol is not None and carol.handle == other.handle  # still not alice's
    mine = preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert mine is not None and mine.handle == record.handle and mine.record_type == "personal_callback"
    assert store.get_record(c.id, record.handle).reserved_for is None  # taken: the reservation ends


def test_a_personal_callback_goes_to_any_agent_when_its_agent_is_away(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)  # default grace: 1 hour
    record = record_factory(c)
    ctx = context(store, clock)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    result = preview.reschedule(
        ctx, record.handle, "alice", clock.now() + timedelta(minutes=5), now=clock.now(), personal=True
    )
    assert result.next_dial_at is not None
    clock.advance_to(result.next_dial_at + timedelta(minutes=59))
    assert preview.next_record(ctx, c.name, "bob", now=clock.now()) is None
    clock.advance(61)
    bob = preview.next_record(ctx, c.name, "bob", now=clock.now())
    assert bob is not None and bob.handle == record.handle


def test_the_auto_dial_timer_dials_a_previewed_record_unless_the_agent_acts(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, options={"preview_auto_dial_seconds": 20})
    first = record_factory(c)
    second = record_factory(c)
    ctx = context(store, clock)
    shown = preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert shown is not None and shown.auto_dial_at == clock.now() + timedelta(seconds=20)
    clock.advance(19)
    assert tick.run_tick(ctx, now=clock.now()).in_flight == 0  # not yet
    clock.advance(1)
    tick.run_tick(ctx, now=clock.now())
    attempts = store.attempts_for_record(store.get_record(c.id, first.handle).id)
    assert len(attempts) == 1 and attempts[0].preview and attempts[0].pacing_reason == "preview: dialed by agent alice"
    desk = preview.on_desk(ctx, c.name, "alice", now=clock.now())
    assert desk is not None and desk.state in ("dialing", "awaiting_disposition") and desk.auto_dial_at is None
    assert any("auto-dialed for agent alice" in message for *_, message in store.campaign_events(c.id))
    # A record the agent skips in time is never dialed.
    until_ended(ctx, clock, attempts[0].id)
    preview.complete(ctx, first.handle, "alice", "ANSWER", now=clock.now())
    nxt = preview.next_record(ctx, c.name, "bob", now=clock.now())
    assert nxt is not None and nxt.handle == second.handle
    preview.skip(ctx, second.handle, "bob", now=clock.now())
    clock.advance(30)
    tick.run_tick(ctx, now=clock.now())
    assert store.attempts_for_record(store.get_record(c.id, second.handle).id) == []


def test_without_the_option_nothing_dials_itself(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory)
    record = record_factory(c)
    ctx = context(store, clock)
    shown = preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert shown is not None and shown.auto_dial_at is None
    clock.advance(600)
    tick.run_tick(ctx, now=clock.now())
    assert store.attempts_for_record(store.get_record(c.id, record.handle).id) == []


class ClosingFence:
    """The process holds the campaign's pacer lease, with ``left`` seconds before its fence closes."""

    def __init__(self, left: float) -> None:
        self.left = left

    def owns(self, campaign_id: int) -> bool:
        return self.left > 0

    def remaining(self, campaign_id: int) -> float | None:
        return self.left


def test_no_preview_call_is_sent_when_the_pacer_lease_is_about_to_run_out(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = preview_campaign(campaign_factory, agents=2)
    record = record_factory(c)
    ctx = context(store, clock, **ALWAYS_ANSWERED)
    ctx.fence = ClosingFence(tick.MIN_PLACEMENT_WAIT / 2)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    with pytest.raises(preview.PreviewError, match="pacer lease on the campaign is about to run out"):
        preview.dial(ctx, record.handle, "alice", now=clock.now())
    assert store.in_flight() == [] and store.get_record(c.id, record.handle).status is RecordStatus.READY
    ctx.fence = ClosingFence(5.0)
    preview.next_record(ctx, c.name, "alice", now=clock.now())
    assert preview.dial(ctx, record.handle, "alice", now=clock.now()).placed

"""The compliance gates and retry treatments through the real tick and the simulated call
centre, in virtual time, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.daemon import pacing_state, tick
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain import pacing
from dialer.domain.campaigns import Campaign, DialMode
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.status import campaign_status
from dialer.store.repository import AttemptEnding, SqlStore
from tests.integration.test_tick import context

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]

#: One callee per zone: Eastern, Central, Mountain, Arizona (no DST), Pacific, Hawaii, UK.
CALLEES = {
    "ny": ("+12125550101", "America/New_York"),
    "chi": ("+13125550102", "America/Chicago"),
    "den": ("+13035550103", "America/Denver"),
    "phx": ("+16025550104", "America/Phoenix"),
    "la": ("+12135550105", "America/Los_Angeles"),
    "hnl": ("+18085550106", "Pacific/Honolulu"),
    "ldn": ("+442071230107", "Europe/London"),
}


def add_callees(record_factory: RecordFactory, c: Campaign, copies: int) -> dict[str, str]:
    """``copies`` records per zone; returns handle → zone."""
    zones = {}
    for key, (phone, zone) in CALLEES.items():
        for n in range(copies):
            handle = f"{key}-{n}"
            record_factory(
                c, handle=handle, phone=f"{phone[:-2]}{n:02d}", timezone=zone, tz_candidates=(zone,), tz_source="record"
            )
            zones[handle] = zone
    return zones


def end(
    store: SqlStore, c: Campaign, phone: str, outcome: CallResult, *, at: datetime, mode: str = "progressive"
) -> None:
    """Write one finished attempt to ``phone`` (a record of its own) that ended at ``at``."""
    handle = f"past-{phone}-{at.isoformat()}-{mode}"
    store.insert_records(
        c.id,
        [NewRecord(handle=handle, phone=phone, caller_id=None, user_data={}, next_dial_at=at, timezone="UTC")],
        now=at,
    )
    (claim,) = store.claim_records(c.id, limit=1, worker="test", lease_seconds=60, now=at)
    record = claim.record
    assert record.handle == handle
    attempt_id = f"a-{abs(hash(handle))}"[:36]
    store.begin_attempt(
        record,
        attempt_id=attempt_id,
        backend="test",
        mode=mode,
        caller_id=None,
        pacing_reason="t",
        now=at,
        preview=mode == "preview",
    )
    store.finish_attempt(
        attempt_id,
        AttemptEnding(outcome=outcome, ended_at=at),
        decide=lambda r, res: RetryDecision(status=RecordStatus.COMPLETED, retry_at=None, reason="test"),
        now=at,
    )


def test_a_multi_zone_campaign_never_dials_outside_any_callees_local_window(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    """Seven zones, a Friday start, the US clock change on Sunday 8 March, retries for days."""
    clock.advance_to(datetime(2026, 3, 6, 12, 0, tzinfo=ZoneInfo("UTC")))  # Fri 07:00 New York
    c = campaign_factory(agents=3, max_attempts=5)
    zones = add_callees(record_factory, c, copies=4)
    # Toll-free numbers say nothing about where the callee is: the safe window across US zones.
    safe = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles")
    for n in range(3):
        record_factory(c, handle=f"tollfree-{n}", phone=f"+1800555{n:04d}", timezone=None, tz_candidates=safe)
    ctx = context(store, clock, hit_rate=0.15, busy_share=0.3, machine_share=0.2)
    result = run_virtual_until_done(ctx, clock)
    assert result.done, result.stopped_reason
    attempts = list(store.iter_attempts(c.id))
    records = {r.id: r for r in store.iter_records(c.id)}
    assert len(attempts) > 2 * len(zones)  # plenty of retries, over several days
    placed_days = set()
    for a in attempts:
        handle = records[a.record_id].handle
        for zone in safe if handle.startswith("tollfree") else (zones[handle],):
            local = (a.placed_at or a.created_at).astimezone(ZoneInfo(zone))
            assert 8 <= local.hour < 21, (handle, zone, local)
            placed_days.add(local.date())
    assert date(2026, 3, 8) in placed_days or date(2026, 3, 9) in placed_days  # crossed the clock change
    assert all(r.status.is_final for r in records.values())


def test_a_campaign_schedule_holds_calls_to_its_own_days_and_hours(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(
        agents=3,
        max_attempts=4,
        timezone="America/New_York",
        options={"schedule_hours": "10:00-16:00", "schedule_days": "mon-fri", "start_date": "2026-03-03"},
    )
    zones = add_callees(record_factory, c, copies=2)
    ctx = context(store, clock, hit_rate=0.2, busy_share=0.3)
    first = tick.run_tick(ctx, now=clock.now())  # Monday 2 March: before the start date
    assert first.placed == 0
    assert first.campaigns[0].blocked == {"outside_schedule": len(zones)}
    held = store.get_record(c.id, "ny-0")
    assert held.blocked_reason == "outside_schedule"
    assert held.next_dial_at == datetime(2026, 3, 3, 15, 0, tzinfo=ZoneInfo("UTC"))  # Tue 10:00 EST
    result = run_virtual_until_done(ctx, clock)
    assert result.done, result.stopped_reason
    ny = ZoneInfo("America/New_York")
    records = {r.id: r for r in store.iter_records(c.id)}
    for a in store.iter_attempts(c.id):
        placed = a.placed_at or a.created_at
        campaign_local = placed.astimezone(ny)
        assert campaign_local.date() >= date(2026, 3, 3)
        assert campaign_local.weekday() < 5 and 10 <= campaign_local.hour < 16, campaign_local
        callee_local = placed.astimezone(ZoneInfo(zones[records[a.record_id].handle]))
        assert 8 <= callee_local.hour < 21


def test_an_ended_campaign_places_nothing_and_says_why(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=3, options={"start_date": "2026-02-01", "end_date": "2026-03-01"})
    record_factory(c)
    report = tick.run_tick(context(store, clock), now=clock.now())
    assert report.placed == 0
    assert report.campaigns[0].reason.startswith("campaign_ended:")
    assert "2026-03-01" in report.campaigns[0].reason


def test_uk_profile_does_not_redial_within_72_hours_of_an_abandoned_call(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    now = clock.now()  # 15:00 in London
    c = campaign_factory(agents=3, region="GB", options={"compliance_profile": "uk"})
    other = campaign_factory(agents=3, region="GB", options={"compliance_profile": "uk"})
    london = {"timezone": "Europe/London", "tz_candidates": ("Europe/London",)}
    record_factory(c, handle="abandoned", phone="+442071230001", **london)
    record_factory(c, handle="machine", phone="+442071230002", **london)
    record_factory(c, handle="old-machine", phone="+442071230003", **london)
    record_factory(c, handle="fresh", phone="+442071230004", **london)
    # Earlier calls to these numbers, from another campaign of the same call centre.
    end(store, other, "+442071230001", CallResult.ABANDONED, at=now - timedelta(hours=48))
    end(store, other, "+442071230002", CallResult.ANSWERING_MACHINE, at=now - timedelta(hours=20))
    end(store, other, "+442071230003", CallResult.ANSWERING_MACHINE, at=now - timedelta(hours=30))
    ctx = context(store, clock, hit_rate=0.0)
    report = tick.run_tick(ctx, now=now, campaigns=[c.name])
    assert report.placed == 2
    assert report.campaigns[0].blocked == {"repeat_lockout": 2}
    abandoned = store.get_record(c.id, "abandoned")
    assert abandoned.blocked_reason == "repeat_lockout"
    assert abandoned.next_dial_at == now + timedelta(hours=24)  # 72 h after the abandoned call
    assert "abandoned call" in (abandoned.blocked_detail or "")
    machine = store.get_record(c.id, "machine")
    assert machine.next_dial_at == now + timedelta(hours=4)
    assert "answering machine" in (machine.blocked_detail or "")
    dialed = {store.get_record_by_id(a.record_id).handle for a in store.in_flight(c.id)}
    assert dialed == {"old-machine", "fresh"}


def test_us_profile_has_no_repeat_lockout(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=3)
    end(store, c, "+12125550001", CallResult.ABANDONED, at=clock.now() - timedelta(hours=2))
    record_factory(c, handle="abandoned", phone="+12125550001")
    report = tick.run_tick(context(store, clock, hit_rate=0.0), now=clock.now())
    assert report.placed == 1 and not report.campaigns[0].blocked


def test_a_number_put_on_dnc_between_retries_is_never_dialed_again(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(agents=2, max_attempts=6)
    target = record_factory(c, handle="target")
    record_factory(c)
    ctx = context(store, clock, hit_rate=0.0)  # nobody answers: everything is retried
    tick.run_tick(ctx, now=clock.now())
    # Let the first calls end as no-answers, then opt the number out mid-campaign.
    clock.advance(60)
    tick.run_tick(ctx, now=clock.now())
    first = store.attempts_for_record(store.get_record(c.id, "target").id)
    assert len(first) == 1 and first[0].state is AttemptState.ENDED
    store.add_dnc([target.phone], source="test", now=clock.now())
    run_virtual_until_done(ctx, clock)
    record = store.get_record(c.id, "target")
    assert record.status is RecordStatus.DO_NOT_CALL and record.blocked_reason == "dnc_internal"
    assert len(store.attempts_for_record(record.id)) == 1  # never dialed after the opt-out


class Overdial:
    """A stand-in predictive policy that always wants eight calls."""

    def decide(self, snap: pacing.PacingSnapshot) -> pacing.PacingDecision:
        return pacing.PacingDecision(calls_to_place=8, reason="predictive: overdial 8", mode="predictive")


def test_abandon_budget_forces_progressive_for_a_predictive_campaign(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    record_factory: RecordFactory,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = clock.now()
    c = campaign_factory(agents=3, mode=DialMode.PREDICTIVE, options={"compliance_profile": "uk"})
    for i in range(97):
        end(store, c, f"+4420712{i:05d}", CallResult.ANSWER, at=now - timedelta(hours=2))
    for i in range(3):
        end(store, c, f"+4420713{i:05d}", CallResult.ABANDONED, at=now - timedelta(hours=3))
    # Older than the UK profile's 24 h window, and agent-dialed preview calls: neither counts.
    for i in range(20):
        end(store, c, f"+4420714{i:05d}", CallResult.ABANDONED, at=now - timedelta(hours=30))
        end(store, c, f"+4420715{i:05d}", CallResult.ABANDONED, at=now - timedelta(hours=1), mode="preview")
    meter = tick.abandon_budget(context(store, clock), c, now=now)
    assert (meter.live_answers, meter.abandoned) == (100, 3)
    assert meter.force_progressive
    for _ in range(10):
        record_factory(c)
    monkeypatch.setattr(pacing_state, "policy_for", lambda campaign, ctx=None: Overdial())
    report = tick.run_tick(context(store, clock), now=now, campaigns=[c.name])
    reason = report.campaigns[0].reason
    assert reason.startswith("abandon_budget: abandon rate 3.00% (3 of 100 live answers, last 24 h)")
    assert "progressive: 3 idle of 3 agents" in reason
    assert report.placed == 3  # one line per idle agent, not the predictive policy's eight
    assert all(a.pacing_reason.startswith("abandon_budget") for a in store.in_flight(c.id))
    # `dialer status` says why the other seven wait.
    assert campaign_status(context(store, clock), store.get_campaign(c.name), now=now)["not_dialing"] == {
        "abandon_budget": 7
    }


def test_abandon_budget_leaves_a_campaign_within_its_cap_alone(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    record_factory: RecordFactory,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = clock.now()
    c = campaign_factory(agents=3, mode=DialMode.PREDICTIVE)  # US: 30-day window
    for i in range(200):
        end(store, c, f"+1212777{i:04d}", CallResult.ANSWER, at=now - timedelta(days=10))
    end(store, c, "+12127779999", CallResult.DROPPED, at=now - timedelta(days=20))
    meter = tick.abandon_budget(context(store, clock), c, now=now)
    assert not meter.force_progressive and meter.rule == "ok"
    assert "last 30 days" in meter.reason
    for _ in range(10):
        record_factory(c)
    monkeypatch.setattr(pacing_state, "policy_for", lambda campaign, ctx=None: Overdial())
    report = tick.run_tick(context(store, clock), now=now, campaigns=[c.name])
    assert report.campaigns[0].reason == "predictive: overdial 8"
    assert report.placed == 8

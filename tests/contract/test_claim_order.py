"""The claim query walks an index in claim order, on SQLite and on PostgreSQL.

At a million records a sort of every due record (what ``ORDER BY CASE record_type …`` forced)
costs a second per tick; these tests pin the plan that avoids it and the order it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text

from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord, RecordStatus, RecordType
from dialer.store.repository import SqlStore

CampaignFactory = Callable[..., Campaign]


def _records(n: int, clock: VirtualClock, *, offset: int = 0) -> list[NewRecord]:
    return [
        NewRecord(
            handle=f"R-{offset + i}",
            phone=f"+1212{5550000 + offset + i:07d}",
            caller_id=None,
            user_data={},
            next_dial_at=clock.now() - timedelta(seconds=n - i),
            timezone="America/New_York",
            tz_candidates=("America/New_York",),
            tz_source="number",
        )
        for i in range(n)
    ]


def test_claim_plan_reads_the_claim_index_without_sorting(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    store.insert_records(c.id, _records(3000, clock), now=clock.now())
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE records"))
            conn.execute(text("ANALYZE attempts"))
    plan = "\n".join(store.explain_claim(c.id, now=clock.now()))
    assert "ix_records_claim" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    if store.engine.dialect.name == "sqlite":
        # the in-flight check is one index lookup per record (number, open), never a scan
        (attempts,) = [line for line in plan.splitlines() if "attempts" in line]
        assert attempts.startswith("SEARCH attempts"), plan
        lookups = ("uq_attempts_in_flight_number (number_dialed=?)", "(number_dialed=? AND ended_at=?)")
        assert any(lookup in attempts for lookup in lookups), plan


def test_callbacks_come_first_then_the_oldest_due(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    store.insert_records(c.id, _records(6, clock), now=clock.now())
    # R-5 (the newest) becomes a callback: a change of record_type moves it to the front.
    r5 = store.get_record(c.id, "R-5")
    (leased,) = store.claim_records(c.id, limit=1, worker="w", lease_seconds=60, now=clock.now())
    assert leased.record.handle == "R-0"
    store.release_record(leased.record.id, now=clock.now())
    store.set_record_status(r5.id, RecordStatus.LEASED, now=clock.now())
    store.reschedule_record(
        r5.id, at=clock.now(), record_type=RecordType.CAMPAIGN_CALLBACK.value, reason="call back", now=clock.now()
    )
    claims = store.claim_records(c.id, limit=3, worker="w", lease_seconds=60, now=clock.now())
    assert [cl.record.handle for cl in claims] == ["R-5", "R-0", "R-1"]
    # Not yet due callbacks wait; the general records keep their order.
    r2 = store.get_record(c.id, "R-2")
    store.set_record_status(r2.id, RecordStatus.LEASED, now=clock.now())
    store.reschedule_record(
        r2.id,
        at=clock.now() + timedelta(hours=1),
        record_type=RecordType.CAMPAIGN_CALLBACK.value,
        reason="later",
        now=clock.now(),
    )
    claims = store.claim_records(c.id, limit=5, worker="w", lease_seconds=60, now=clock.now())
    assert [cl.record.handle for cl in claims] == ["R-3", "R-4"]
    later = store.claim_records(c.id, limit=5, worker="w", lease_seconds=60, now=clock.now() + timedelta(hours=1))
    assert [cl.record.handle for cl in later] == ["R-2"]


def test_the_lease_sweep_reads_only_the_leased_records(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    store.insert_records(c.id, _records(3000, clock), now=clock.now())
    with store.engine.begin() as conn:  # statistics of a campaign all ready: status looks unselective
        conn.execute(text("ANALYZE"))
    store.claim_records(c.id, limit=5, worker="w", lease_seconds=60, now=clock.now())
    plan = "\n".join(store.explain_lease_sweep([c.id], now=clock.now()))
    assert "SCAN records" not in plan and "Seq Scan" not in plan, plan
    if store.engine.dialect.name == "sqlite":
        assert "ix_records_leased" in plan, plan
    else:  # PostgreSQL's statistics know 'leased' is rare: any index seeking to it will do
        assert "ix_records_leased" in plan or "status)::text = 'leased'" in plan, plan
    later = clock.now() + timedelta(minutes=2)
    assert store.release_expired_leases([c.id], now=later) == 5
    assert store.count_records(c.id) == {"ready": 3000}

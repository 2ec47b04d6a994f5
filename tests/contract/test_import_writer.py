"""The import's bulk paths store exactly what the ordinary ones store, on every database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.imports import PreparedRecord, RejectedRow
from dialer.domain.records import NewRecord
from dialer.store.repository import SqlStore


def prepared(line: int, handle: str, phone: str, data: dict[str, str]) -> PreparedRecord:
    return PreparedRecord(
        line, b"", handle, phone, "+13125550100", json.dumps(data), "America/Chicago", '["America/Chicago"]', "number"
    )


def test_prepared_rows_are_stored_like_new_records(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    campaign = campaign_factory()
    data = {"name": "Zoë", "notes": "line one\nline two", "zero": "000123"}
    with store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer:
        writer.insert_prepared([prepared(2, "P-1", "+12125550101", data)])
        writer.insert(
            [
                NewRecord(
                    handle="N-1",
                    phone="+12125550102",
                    caller_id="+13125550100",
                    user_data=data,
                    next_dial_at=clock.now(),
                    timezone="America/Chicago",
                    tz_candidates=("America/Chicago",),
                    tz_source="number",
                )
            ]
        )
        assert writer.existing(["P-1", "N-1", "X"], ["+12125550101", "+19999999999"]) == (
            {"P-1", "N-1"},
            {"+12125550101": "P-1"},
        )
    bulk, ordinary = store.get_record(campaign.id, "P-1"), store.get_record(campaign.id, "N-1")
    same = ("caller_id", "user_data", "status", "record_type", "attempts", "next_dial_at", "timezone")
    assert {k: getattr(bulk, k) for k in same} == {k: getattr(ordinary, k) for k in same}
    assert (bulk.tz_candidates, bulk.tz_source, bulk.import_id) == (
        ordinary.tz_candidates,
        "number",
        ordinary.import_id,
    )
    assert list(bulk.user_data) == ["name", "notes", "zero"]
    # Both are due now, and the claim query sees them in the order they were written.
    claims = store.claim_records(campaign.id, limit=5, worker="w", lease_seconds=60, now=clock.now())
    assert [c.record.handle for c in claims] == ["P-1", "N-1"]
    assert store.claim_records(campaign.id, limit=5, worker="w", lease_seconds=60, now=clock.now()) == []
    later = clock.now() + timedelta(seconds=1)
    assert store.due_records(campaign.id, now=later) == 0


def test_prepared_updates_keep_dialing_state(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    campaign = campaign_factory()
    with store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer:
        writer.insert_prepared([prepared(2, "P-1", "+12125550101", {"v": "1"})])
    clock.advance(60)
    with store.import_batch(campaign.id, source_name="b.csv", sha256=None, options={}, now=clock.now()) as writer:
        writer.update_prepared([prepared(2, "P-1", "+12125550109", {"v": "2"})])
        writer.remember({"mapping": {"phoneNumber": "Cell"}})
        second = writer.import_id
    record = store.get_record(campaign.id, "P-1")
    assert (record.phone, dict(record.user_data), record.import_id) == ("+12125550109", {"v": "2"}, second)
    assert record.attempts == 0 and record.status.value == "ready"
    assert store.get_campaign_by_id(campaign.id).options["mapping"] == {"phoneNumber": "Cell"}


def test_dnc_hits_within_the_import(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    campaign = campaign_factory()
    store.add_dnc(["+12125550101"], source="t", now=clock.now())
    store.add_dnc(["+12125550102"], scope=f"campaign:{campaign.id}", source="t", now=clock.now())
    store.add_dnc(["+12125550103"], scope="campaign:999", source="t", now=clock.now())
    with store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer:
        assert writer.dnc_hits(["+12125550101", "+12125550102", "+12125550103"]) == {"+12125550101", "+12125550102"}
        assert not writer.has_records()


def _records_indexes(store: SqlStore) -> set[str]:
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        return {i["name"] for i in inspect(conn).get_indexes("records")}


def test_deferred_indexes_are_rebuilt_or_restored(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dialer.store import records as records_module

    monkeypatch.setattr(records_module, "DEFER_INDEXES_FROM", 1)
    campaign = campaign_factory()
    before = _records_indexes(store)
    assert {"ix_records_campaign_phone", "ix_records_dialable", "ix_records_handle"} <= before
    with (
        pytest.raises(RuntimeError),
        store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer,
    ):
        deferred = writer.defer_indexes(expected_rows=10)
        writer.insert_prepared([prepared(2, "P-1", "+12125550101", {})])
        raise RuntimeError("the import failed half way")
    assert _records_indexes(store) == before and store.count_records(campaign.id) == {}
    with store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer:
        assert writer.defer_indexes(expected_rows=10) is deferred
        writer.insert_prepared([prepared(2, "P-1", "+12125550101", {}), prepared(3, "P-2", "+12125550102", {})])
    assert _records_indexes(store) == before
    assert store.count_records(campaign.id) == {"ready": 2}
    # Deferred only on SQLite, and only for an import as large as the table.
    assert deferred is (store.dialect == "sqlite")
    with store.import_batch(campaign.id, source_name="b.csv", sha256=None, options={}, now=clock.now()) as writer:
        assert writer.defer_indexes(expected_rows=1) is False


@pytest.mark.parametrize("held", [1, 10_000])
def test_batches_and_rejects_interleaved_are_all_stored(
    store: SqlStore,
    campaign_factory: Callable[..., Campaign],
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    held: int,
) -> None:
    """Records and rejects written batch after batch (on PostgreSQL: rejects held back while
    one COPY stays open, or written at once, ending it) all arrive, each record once."""
    from dialer.store import records as records_module

    monkeypatch.setattr(records_module, "REJECTS_HELD", held)
    campaign = campaign_factory()
    with store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer:
        for batch in range(3):
            first = 10 * batch
            writer.insert_prepared(
                [prepared(first + i, f"P-{first + i}", f"+1212555{first + i:04d}", {"b": str(batch)}) for i in range(5)]
            )
            writer.reject([RejectedRow(line=first + 9, reason="invalid_phone", message="bad", raw=("x", "ü"))])
            writer.update_prepared([])
        import_id = writer.import_id
    assert store.count_records(campaign.id) == {"ready": 15}
    assert store.get_record(campaign.id, "P-24").phone == "+12125550024"
    assert [r.line for r in store.import_rejects(import_id)] == [9, 19, 29]
    assert store.import_rejects(import_id)[0].raw == ("x", "ü")


def test_a_failure_while_records_stream_leaves_nothing_and_the_store_usable(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock
) -> None:
    campaign = campaign_factory()
    with (
        pytest.raises(RuntimeError),
        store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer,
    ):
        writer.insert_prepared([prepared(2, "P-1", "+12125550101", {})])
        writer.reject([RejectedRow(line=3, reason="invalid_phone", message="bad", raw=("x",))])
        raise RuntimeError("the import failed half way")
    assert store.count_records(campaign.id) == {}
    assert store.imports(campaign.id) == []
    with store.import_batch(campaign.id, source_name="a.csv", sha256=None, options={}, now=clock.now()) as writer:
        writer.insert_prepared([prepared(2, "P-1", "+12125550101", {})])
    assert store.count_records(campaign.id) == {"ready": 1}

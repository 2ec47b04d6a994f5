"""The store's view of the caller IDs records carry (for the start-up ownership check)."""

from __future__ import annotations

from collections.abc import Callable

from dialer.domain.campaigns import Campaign
from dialer.domain.records import NewRecord, RecordStatus
from dialer.store.repository import SqlStore
from tests.conftest import T0


def test_record_caller_ids_counts_the_records_still_to_dial(
    store: SqlStore, campaign_factory: Callable[..., Campaign], record_factory: Callable[..., NewRecord]
) -> None:
    c = campaign_factory()
    other = campaign_factory()
    record_factory(c, caller_id="+13125550100")
    record_factory(c, caller_id="+13125550100")
    done = record_factory(c, caller_id="+12135550100")
    record_factory(c)  # uses the campaign's caller ID
    record_factory(other, caller_id="+14155550100")
    finished = store.get_record(c.id, done.handle)
    store.finalize_record(finished.id, RecordStatus.CANCELLED, reason="test", detail="cancelled", now=T0)
    assert store.record_caller_ids(c.id) == {"+13125550100": 2}
    assert store.record_caller_ids(other.id) == {"+14155550100": 1}

"""write_back: what a tick collected, written as one transaction, on SQLite and on PostgreSQL.

It must leave the store exactly as the same progress and endings written one at a time would
(progress_attempt, finish_attempt), fail as they would, and never make a durable write non-durable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.records import AttemptState, NewRecord, Record, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision
from dialer.errors import InvalidTransition, NotFound
from dialer.store.repository import AttemptEnding, AttemptProgress, SqlStore
from tests.conftest import T0

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]


def ready_in(hours: float) -> Callable[[Record, CallResult], RetryDecision]:
    def decide(record: Record, result: CallResult) -> RetryDecision:
        return RetryDecision(status=RecordStatus.READY, retry_at=T0 + timedelta(hours=hours), reason=f"{result}")

    return decide


def in_flight(store: SqlStore, campaign: Campaign, clock: VirtualClock, n: int) -> list[str]:
    """``n`` attempts placed (``placed``, with a provider reference), one per record."""
    claims = store.claim_records(campaign.id, limit=n, worker="w", lease_seconds=60, now=clock.now())
    assert len(claims) == n
    ids = [f"a-{i}" for i in range(n)]
    refused = store.begin_attempts(
        [(c.record, aid, None) for c, aid in zip(claims, ids, strict=True)],
        backend="simulated",
        mode="progressive",
        pacing_reason="test",
        now=clock.now(),
    )
    assert refused == set()
    store.progress_attempts(
        [
            (aid, AttemptProgress(state=AttemptState.PLACED, provider_ref=f"s-{aid}", placed_at=clock.now()))
            for aid in ids
        ],
        now=clock.now(),
    )
    return ids


def test_progress_and_endings_in_one_write(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory(caller_ids=())
    for i in range(4):
        record_factory(c, handle=f"R-{i}")
    a0, a1, a2, a3 = in_flight(store, c, clock, 4)
    later = clock.now() + timedelta(seconds=40)
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    event.listen(store.engine, "commit", count)
    finished = store.write_back(
        [
            (a0, AttemptProgress(state=AttemptState.CONNECTED, connected_at=later, caller_id="+12125550177")),
            (a1, AttemptProgress(state=AttemptState.PENDING, call_sid="CA-1")),  # late: the state stays
        ],
        [
            (
                a2,
                AttemptEnding(outcome=CallResult.ANSWER, ended_at=later, duration_s=30.0, was_missed=False),
                ready_in(1),
            ),
            (a3, AttemptEnding(outcome=CallResult.NO_ANSWER, ended_at=later, raw_outcome="no-answer"), ready_in(2)),
        ],
        now=later,
    )
    event.remove(store.engine, "commit", count)
    assert len(commits) == 1  # one transaction for the whole batch
    assert [f.attempt.id if f else None for f in finished] == [a2, a3]
    first, second = (store.get_attempt(a) for a in (a0, a1))
    assert (first.state, first.connected_at, first.caller_id, first.provider_ref) == (
        AttemptState.CONNECTED,
        later,
        "+12125550177",
        f"s-{a0}",
    )
    assert (second.state, second.call_sid) == (AttemptState.PLACED, "CA-1")
    ended = store.get_attempt(a3)
    assert (ended.state, ended.outcome, ended.raw_outcome, ended.provider_ref) == (
        AttemptState.ENDED,
        CallResult.NO_ANSWER,
        "no-answer",
        f"s-{a3}",  # kept: the ending did not say
    )
    answered = store.get_record_by_id(store.get_attempt(a2).record_id)
    assert (answered.status, answered.attempts, answered.next_dial_at) == (
        RecordStatus.READY,
        1,
        T0 + timedelta(hours=1),
    )
    assert answered.result_counts == {CallResult.ANSWER.value: 1}
    assert store.count_in_flight(c.id) == 2
    # A repeated report is harmless: the attempts already ended come back as None.
    again = store.write_back(
        [(a3, AttemptProgress(state=AttemptState.RINGING))],
        [(a2, AttemptEnding(outcome=CallResult.BUSY, ended_at=later), ready_in(3))],
        now=later,
    )
    assert again == [None]
    assert store.get_attempt(a2).outcome is CallResult.ANSWER
    assert store.get_record_by_id(answered.id).next_dial_at == T0 + timedelta(hours=1)


def test_a_batch_that_cannot_be_written_as_one_fails_as_one_by_one(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    for i in range(3):
        record_factory(c, handle=f"R-{i}")
    a0, a1, a2 = in_flight(store, c, clock, 3)
    now = clock.now()
    ending = AttemptEnding(outcome=CallResult.BUSY, ended_at=now)
    with pytest.raises(NotFound, match="no attempt nope"):
        store.write_back([], [(a0, ending, ready_in(1)), ("nope", ending, ready_in(1))], now=now)
    # One at a time, as finish_attempt: the ending before the unknown attempt is written.
    assert store.get_attempt(a0).state is AttemptState.ENDED

    record = store.get_attempt(a1).record_id
    store.write_back([], [(a1, ending, ready_in(1))], now=now)
    assert store.get_record_by_id(record).status is RecordStatus.READY
    with pytest.raises(InvalidTransition):
        store.write_back(
            [],
            [(a2, ending, lambda r, res: RetryDecision(status=RecordStatus.LEASED, retry_at=None, reason="x"))],
            now=now,
        )
    assert store.get_attempt(a2).state is AttemptState.PLACED  # nothing of it written


def test_write_back_leaves_later_commits_durable(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    """The write-back does not wait for its WAL flush (PostgreSQL); the connection it used goes
    back to the pool with synchronous_commit as before, so the attempt row written before the
    next call is placed is flushed before the call."""
    if store.dialect != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    c = campaign_factory()
    record_factory(c, handle="R-1")
    (aid,) = in_flight(store, c, clock, 1)
    with store.engine.connect() as conn:
        default = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    store.write_back([(aid, AttemptProgress(state=AttemptState.RINGING))], [], now=clock.now())
    with store.engine.connect() as conn:  # the pool hands back the same connection (LIFO)
        assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == default != "off"


def test_a_tick_reads_campaigns_and_calls_in_flight_at_once(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c, other = campaign_factory(), campaign_factory()
    for i in range(2):
        record_factory(c, handle=f"R-{i}")
    in_flight(store, c, clock, 2)
    campaigns, calls = store.campaigns_and_calls()
    assert campaigns == store.list_campaigns() and [x.id for x in campaigns] == [c.id, other.id]
    assert calls == store.in_flight_calls() and [x.attempt_id for x in calls] == ["a-0", "a-1"]

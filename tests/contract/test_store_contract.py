"""The repository contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import StatementError

from dialer.domain.campaigns import Campaign, CampaignSpec, CampaignStatus
from dialer.domain.clock import VirtualClock
from dialer.domain.imports import RejectedRow
from dialer.domain.records import AttemptState, NewRecord, RecordStatus
from dialer.domain.results import CallResult
from dialer.domain.treatments import RetryDecision, RetryPolicy
from dialer.errors import AlreadyExists, InvalidTransition, NotFound
from dialer.store.repository import AttemptEnding, AttemptProgress, PacingNote, SqlStore, campaign_scope
from tests.conftest import T0

CampaignFactory = Callable[..., Campaign]
RecordFactory = Callable[..., NewRecord]


def claim_one(store: SqlStore, campaign: Campaign, clock: VirtualClock, worker: str = "w1") -> list:
    return store.claim_records(campaign.id, limit=10, worker=worker, lease_seconds=60, now=clock.now())


def start_attempt(store: SqlStore, campaign: Campaign, clock: VirtualClock, attempt_id: str = "a-1") -> str:
    (claim,) = claim_one(store, campaign, clock)
    store.begin_attempt(
        claim.record,
        attempt_id=attempt_id,
        backend="simulated",
        mode="progressive",
        caller_id="+12125550100",
        pacing_reason="test",
        now=clock.now(),
    )
    return attempt_id


def retry() -> Callable[..., RetryDecision]:
    """A treatment that puts the record back to ready, due again in an hour."""

    def decide(record: object, result: CallResult) -> RetryDecision:
        return RetryDecision(status=RecordStatus.READY, retry_at=T0 + timedelta(hours=1), reason="test")

    return decide


# ------------------------------------------------------------------ campaigns
def test_campaigns_round_trip(store: SqlStore, clock: VirtualClock) -> None:
    spec = CampaignSpec(
        name="renewals",
        flow_id="flow-9",
        caller_ids=("+12125550100", "+13125550100"),
        agents=7,
        max_attempts=4,
        max_cps=2.5,
    )
    created = store.create_campaign(spec, now=clock.now())
    again = store.get_campaign("renewals")
    assert again == created
    assert again.caller_ids == ("+12125550100", "+13125550100")
    assert again.default_caller_id == "+12125550100"
    assert again.timezone == "America/New_York" and again.max_cps == 2.5
    assert [c.name for c in store.list_campaigns()] == ["renewals"]


def test_campaign_names_are_unique_and_misses_name_the_fix(store: SqlStore, clock: VirtualClock) -> None:
    store.create_campaign(CampaignSpec(name="a", flow_id="f"), now=clock.now())
    with pytest.raises(AlreadyExists, match="already exists"):
        store.create_campaign(CampaignSpec(name="a", flow_id="f"), now=clock.now())
    with pytest.raises(NotFound, match="dialer campaign create b"):
        store.get_campaign("b")


def test_pause_and_resume_are_logged(store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock) -> None:
    c = campaign_factory()
    paused = store.set_campaign_status(c.name, CampaignStatus.PAUSED, reason="auth failed", now=clock.now())
    assert paused.status is CampaignStatus.PAUSED and paused.pause_reason == "auth failed"
    store.set_campaign_status(c.name, CampaignStatus.ACTIVE, reason=None, now=clock.now())
    kinds = [kind for _, kind, _ in store.campaign_events(c.id)]
    assert kinds == ["resumed", "paused"]


# -------------------------------------------------------------------- records
def test_user_data_round_trips_byte_exact(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory
) -> None:
    c = campaign_factory()
    data = {
        "zeta": "first key stays first",
        "account": "000123",
        "date": "03/01/2026",
        "name": "Zoë Núñez-Søren",
        "note": 'line one\nline two, with "quotes"',
        "formula": '=HYPERLINK("http://example.com")',
        "blank": "",
        "alpha": "last key stays last",
    }
    record_factory(c, handle="R-1", user_data=data)
    got = store.get_record(c.id, "R-1").user_data
    assert got == data
    assert list(got) == list(data)  # key order preserved (json, not jsonb)


def test_datetimes_are_aware_utc(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c, handle="R-1")
    record = store.get_record(c.id, "R-1")
    assert record.next_dial_at == clock.now()
    assert record.next_dial_at.tzinfo is not None and record.next_dial_at.utcoffset() == timedelta(0)


def test_a_record_is_claimed_once(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c)
    first = claim_one(store, c, clock, "a")
    second = claim_one(store, c, clock, "b")
    assert len(first) == 1 and second == []
    assert first[0].record.status is RecordStatus.LEASED and first[0].record.lease_owner == "a"


def test_claims_take_due_records_oldest_first(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c, handle="later", next_dial_at=clock.now() - timedelta(minutes=1))
    record_factory(c, handle="oldest", next_dial_at=clock.now() - timedelta(minutes=5))
    record_factory(c, handle="future", next_dial_at=clock.now() + timedelta(minutes=5))
    claims = store.claim_records(c.id, limit=1, worker="w", lease_seconds=60, now=clock.now())
    assert [cl.record.handle for cl in claims] == ["oldest"]
    rest = claim_one(store, c, clock)
    assert [cl.record.handle for cl in rest] == ["later"]


def test_dnc_is_read_in_the_claim(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    other = campaign_factory()
    record_factory(c, handle="global", phone="+12125550101")
    record_factory(c, handle="mine", phone="+12125550102")
    record_factory(c, handle="theirs", phone="+12125550103")
    record_factory(c, handle="clean", phone="+12125550104")
    store.add_dnc(["+12125550101"], source="test", now=clock.now())
    store.add_dnc(["+12125550102"], scope=campaign_scope(c.id), source="test", now=clock.now())
    store.add_dnc(["+12125550103"], scope=campaign_scope(other.id), source="test", now=clock.now())
    flags = {cl.record.handle: cl.on_dnc for cl in claim_one(store, c, clock)}
    assert flags == {"global": True, "mine": True, "theirs": False, "clean": False}
    assert store.add_dnc(["+12125550101"], source="again", now=clock.now()) == 0  # already there


def test_one_call_in_flight_per_number(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c1, c2 = campaign_factory(), campaign_factory()
    record_factory(c1, handle="a", phone="+12125550150")
    record_factory(c2, handle="b", phone="+12125550150")
    start_attempt(store, c1, clock)
    assert claim_one(store, c2, clock) == []  # the number is being called by another campaign
    assert store.skipped_for_in_flight(c2.id, now=clock.now()) == 1
    # The database itself refuses a second call in flight to the same number.
    record_factory(c1, handle="c", phone="+12125550151")
    (claim,) = claim_one(store, c1, clock)
    with pytest.raises(AlreadyExists, match="in flight"):
        store.begin_attempt(
            replace(claim.record, phone="+12125550150"),
            attempt_id="c-1",
            backend="simulated",
            mode="progressive",
            caller_id=None,
            pacing_reason="",
            now=clock.now(),
        )


def test_attempt_lifecycle(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c, handle="R-1")
    attempt_id = start_attempt(store, c, clock)
    assert store.get_record(c.id, "R-1").status is RecordStatus.DIALING
    assert [a.id for a in store.in_flight(c.id)] == [attempt_id]
    store.progress_attempt(
        attempt_id,
        AttemptProgress(state=AttemptState.PLACED, provider_ref="s-1", placed_at=clock.now()),
        now=clock.now(),
    )
    store.progress_attempt(
        attempt_id, AttemptProgress(state=AttemptState.CONNECTED, connected_at=clock.now()), now=clock.now()
    )
    store.progress_attempt(attempt_id, AttemptProgress(state=AttemptState.RINGING), now=clock.now())  # late, ignored
    attempt = store.get_attempt(attempt_id)
    assert attempt.state is AttemptState.CONNECTED and attempt.provider_ref == "s-1"
    later = clock.now() + timedelta(minutes=2)
    policy = RetryPolicy(max_attempts=3)
    finished = store.finish_attempt(
        attempt_id,
        AttemptEnding(
            outcome=CallResult.ANSWER,
            ended_at=later,
            raw_outcome="Completed",
            was_missed=False,
            duration_s=120.0,
            raw={"id": "s-1", "outcome": "Completed"},
        ),
        decide=lambda r, result: policy.next_attempt(
            result=result, attempts=r.attempts, occurrences=r.result_counts[result.value], now=later
        ),
        now=later,
    )
    assert finished is not None
    assert finished.attempt.outcome is CallResult.ANSWER and finished.attempt.ended_at == later
    record = store.get_record(c.id, "R-1")
    assert record.status is RecordStatus.COMPLETED and record.attempts == 1
    assert record.last_outcome is CallResult.ANSWER and record.result_counts == {"ANSWER": 1}
    assert store.in_flight(c.id) == []
    # A repeated report of the same ending changes nothing.
    assert (
        store.finish_attempt(
            attempt_id, AttemptEnding(outcome=CallResult.BUSY, ended_at=later), decide=retry(), now=later
        )
        is None
    )
    assert store.get_attempt(attempt_id).outcome is CallResult.ANSWER


def test_cancelled_calls_do_not_count_as_attempts(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c, handle="R-1")
    attempt_id = start_attempt(store, c, clock)
    store.finish_attempt(
        attempt_id, AttemptEnding(outcome=CallResult.CANCELLED, ended_at=clock.now()), decide=retry(), now=clock.now()
    )
    record = store.get_record(c.id, "R-1")
    assert record.attempts == 0 and record.status is RecordStatus.READY


def test_record_moves_follow_the_state_machine(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c, handle="R-1")
    record = store.get_record(c.id, "R-1")
    with pytest.raises(InvalidTransition, match="R-1"):
        store.set_record_status(record.id, RecordStatus.COMPLETED, now=clock.now())
    store.finalize_record(
        record.id, RecordStatus.DO_NOT_CALL, reason="dnc_internal", detail="on the list", now=clock.now()
    )
    with pytest.raises(InvalidTransition):
        store.set_record_status(record.id, RecordStatus.READY, now=clock.now())


def test_expired_leases_return_to_ready(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c)
    claim_one(store, c, clock)
    assert store.release_expired_leases([c.id], now=clock.now() + timedelta(seconds=30)) == 0
    assert store.release_expired_leases([c.id], now=clock.now() + timedelta(seconds=61)) == 1
    assert len(claim_one(store, c, clock)) == 1


def test_due_summary(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    record_factory(c, handle="now")
    record_factory(c, handle="later", next_dial_at=clock.now() + timedelta(hours=2))
    summary = store.due_summary([c.id])
    assert summary.unfinished == 2 and summary.ready == 2 and summary.next_due_at == clock.now()
    assert store.next_due_at([c.id]) == clock.now()
    assert store.waiting_breakdown(c.id, now=clock.now()) == {"waiting_for_retry": 1}


def test_outcome_counts(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    outcomes = [
        CallResult.ANSWER,
        CallResult.ANSWER,
        CallResult.ABANDONED,
        CallResult.NO_ANSWER,
        CallResult.ANSWERING_MACHINE,
    ]
    for i in range(len(outcomes)):
        record_factory(c, handle=f"R-{i}", phone=f"+1212555{i:04d}")
    claims = claim_one(store, c, clock)
    for i, (claim, outcome) in enumerate(zip(claims, outcomes, strict=True)):
        store.begin_attempt(
            claim.record,
            attempt_id=f"a-{i}",
            backend="simulated",
            mode="progressive",
            caller_id=None,
            pacing_reason="",
            now=clock.now(),
        )
        store.finish_attempt(
            f"a-{i}",
            AttemptEnding(outcome=outcome, ended_at=clock.now(), was_missed=outcome is CallResult.ABANDONED),
            decide=retry(),
            now=clock.now(),
        )
    counts = store.outcome_counts(c.id)
    assert counts.attempts == 5 and counts.live_answers == 3 and counts.abandoned == 1 and counts.connects == 2
    assert counts.abandon_rate == pytest.approx(1 / 3) and counts.missed == 1
    assert store.outcome_counts(c.id, since=clock.now() + timedelta(seconds=1)).attempts == 0


def test_outcome_counts_amd_and_message_played(
    store: SqlStore, campaign_factory: CampaignFactory, record_factory: RecordFactory, clock: VirtualClock
) -> None:
    """The AMD class and the information-message flag are stored on the attempt and counted:
    abandoned calls that heard the message separately from silent ones, machines by AMD class,
    and the campaign's AMD false-positive estimate added to the abandonment rate."""
    c = campaign_factory()
    endings = [
        AttemptEnding(outcome=CallResult.ANSWER, ended_at=clock.now(), amd="human"),
        AttemptEnding(outcome=CallResult.ANSWER, ended_at=clock.now(), amd="human"),
        AttemptEnding(outcome=CallResult.DROPPED, ended_at=clock.now(), amd="human", message_played=True),
        AttemptEnding(outcome=CallResult.ABANDONED, ended_at=clock.now(), amd="human", message_played=False),
        *(AttemptEnding(outcome=CallResult.ANSWERING_MACHINE, ended_at=clock.now(), amd="machine") for _ in range(6)),
    ]
    for i in range(len(endings)):
        record_factory(c, handle=f"R-{i}", phone=f"+1212555{i:04d}")
    claims = claim_one(store, c, clock)
    for i, (claim, ending) in enumerate(zip(claims, endings, strict=True)):
        store.begin_attempt(
            claim.record,
            attempt_id=f"a-{i}",
            backend="simulated",
            mode="predictive",
            caller_id=None,
            pacing_reason="",
            now=clock.now(),
        )
        store.finish_attempt(f"a-{i}", ending, decide=retry(), now=clock.now())
    stored = store.get_attempt("a-2")
    assert stored is not None and stored.amd == "human" and stored.message_played is True
    counts = store.outcome_counts(c.id)
    assert (counts.live_answers, counts.abandoned) == (4, 2)
    figures = counts.abandonment
    assert figures.message_played == 1 and figures.silent == 1 and figures.amd_machines == 6
    # A reasoned estimate: 1 in 6 machines was a person, counted as an abandoned live answer.
    estimated = store.outcome_counts(c.id, amd_false_positive_rate=1 / 6)
    assert (estimated.live_answers, estimated.abandoned) == (5, 3)
    assert estimated.abandonment.amd_false_positives == 1 and estimated.abandonment.silent == 1


# -------------------------------------------------------------------- imports
def test_an_import_is_atomic(store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock) -> None:
    c = campaign_factory()
    record = NewRecord(handle="R-1", phone="+12125550100", caller_id=None, user_data={}, next_dial_at=clock.now())
    with (
        pytest.raises(RuntimeError),
        store.import_batch(c.id, source_name="x.csv", sha256=None, options={}, now=clock.now()) as writer,
    ):
        writer.insert([record])
        writer.reject([RejectedRow(line=3, reason="invalid_phone", message="bad", raw=("x",))])
        raise RuntimeError("the file broke half way")
    assert store.count_records(c.id) == {}
    assert store.imports(c.id) == []


def test_import_records_and_rejects(store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock) -> None:
    c = campaign_factory()
    record = NewRecord(
        handle="R-1", phone="+12125550100", caller_id=None, user_data={"a": "1"}, next_dial_at=clock.now()
    )
    with store.import_batch(
        c.id, source_name="list.csv", sha256="ab", options={"region": "US"}, now=clock.now()
    ) as writer:
        writer.insert([record])
        writer.reject([RejectedRow(line=3, reason="invalid_phone", message="bad", raw=("R-2", "555", "é"))])
        writer.finish(
            rows_read=2,
            imported=1,
            updated=0,
            skipped_duplicates=0,
            by_reason={"invalid_phone": 1},
            finished_at=clock.now(),
            duration_s=0.1,
        )
    (summary,) = store.imports(c.id)
    assert summary.imported == 1 and summary.rejected == 1 and summary.by_reason == {"invalid_phone": 1}
    assert store.import_rejects(summary.id) == [
        RejectedRow(line=3, reason="invalid_phone", message="bad", raw=("R-2", "555", "é"))
    ]
    assert store.get_record(c.id, "R-1").import_id == summary.id
    assert store.record_keys(c.id) == ({"R-1": store.get_record(c.id, "R-1").id}, {"+12125550100": "R-1"})


def test_provider_events_are_idempotent(store: SqlStore, clock: VirtualClock) -> None:
    assert store.add_provider_event(
        provider_ref="CA1", kind="status", sequence=1, payload={"s": "ringing"}, now=clock.now()
    )
    assert not store.add_provider_event(
        provider_ref="CA1", kind="status", sequence=1, payload={"s": "x"}, now=clock.now()
    )
    store.add_provider_event(provider_ref="CA1", kind="status", sequence=0, payload={"s": "initiated"}, now=clock.now())
    assert [seq for _, seq, _ in store.provider_events("CA1")] == [0, 1]


def test_naive_datetimes_never_reach_the_store(store: SqlStore, campaign_factory: CampaignFactory) -> None:
    c = campaign_factory()
    record = NewRecord(
        handle="R-1", phone="+12125550100", caller_id=None, user_data={}, next_dial_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    object.__setattr__(record, "next_dial_at", datetime(2026, 1, 1))  # bypass the value object's own check
    with pytest.raises(StatementError, match="naive"):
        store.insert_records(c.id, [record], now=datetime(2026, 1, 1, tzinfo=UTC))


def test_the_newest_pacing_decision_is_kept_per_campaign(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock
) -> None:
    c = campaign_factory()
    assert store.pacing_note(c.id) is None
    store.note_pacing(
        c.id, PacingNote(decided_at=T0, wanted=3, placed=2, capped_by=None, reason="2 idle", blocked={"dnc": 1})
    )
    later = T0 + timedelta(seconds=5)
    store.note_pacing(
        c.id, PacingNote(decided_at=later, wanted=4, placed=0, capped_by="CPS cap 1/s", reason="capped", blocked={})
    )
    note = store.pacing_note(c.id)
    assert note is not None
    assert (note.decided_at, note.wanted, note.placed, note.capped_by, note.reason) == (
        later,
        4,
        0,
        "CPS cap 1/s",
        "capped",
    )
    assert note.blocked == {} and note.last_placed_at == T0  # when calls were last placed survives
    assert store.pacing_note(campaign_factory(name="other").id) is None

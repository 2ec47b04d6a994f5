"""The preview desk's pure rules, and preview calls left out of the abandonment figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.domain import preview
from dialer.domain.records import RecordStatus
from dialer.domain.results import CallResult
from dialer.reports.figures import Tally
from dialer.store.types import OutcomeCounts


def test_agent_leases_are_told_apart_from_the_daemons() -> None:
    assert preview.desk_owner("alice") == "agent:alice"
    assert preview.agent_of("agent:alice") == "alice"
    assert preview.agent_of("daemon") is None and preview.agent_of(None) is None


def test_lock_length_comes_from_the_campaign_option() -> None:
    assert preview.lock_length({}) == preview.DEFAULT_LOCK
    assert preview.lock_length({"preview_lock_seconds": 90}) == timedelta(seconds=90)
    assert preview.lock_length({"preview_lock_seconds": 0}) == preview.DEFAULT_LOCK
    assert preview.lock_length({"preview_lock_seconds": True}) == preview.DEFAULT_LOCK


@pytest.mark.parametrize(
    ("text", "result"),
    [("ANSWER", CallResult.ANSWER), ("no answer", CallResult.NO_ANSWER), ("do-not-call", CallResult.DO_NOT_CALL)],
)
def test_dispositions_by_name(text: str, result: CallResult) -> None:
    assert preview.parse_disposition(text) is result


def test_dispositions_by_ocs_code_and_refusals() -> None:
    assert preview.parse_disposition("6") is CallResult.BUSY
    with pytest.raises(ValueError, match="use one of ANSWER"):
        preview.parse_disposition("ABANDONED")  # not something an agent reports


def test_the_hold_after_a_call_keeps_the_record_on_the_desk() -> None:
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    decision = preview.hold_after_call("alice", CallResult.BUSY, now=now, lock=timedelta(minutes=5))
    assert decision.status is RecordStatus.DIALING and decision.retry_at == now + timedelta(minutes=5)
    assert "alice" in decision.reason


def test_outcome_counts_leave_preview_calls_out_of_the_abandonment_rate() -> None:
    counts = OutcomeCounts(
        by_outcome={"ANSWER": 10, "ABANDONED": 3, "NO_ANSWER": 5},
        preview={"ANSWER": 4, "ABANDONED": 2},
    )
    assert counts.attempts == 18 and counts.preview_attempts == 6 and counts.preview_live_answers == 6
    assert counts.live_answers == 7 and counts.abandoned == 1 and counts.connects == 6
    assert counts.abandon_rate == pytest.approx(1 / 7)
    assert counts.non_live == 5


def test_report_tallies_leave_preview_calls_out_of_the_abandonment_rate() -> None:
    predictive = Tally(by_outcome={"ANSWER": 40, "DROPPED": 1, None: 2})
    desk = Tally(by_outcome={"ANSWER": 5, "ABANDONED": 2}, preview={"ANSWER": 5, "ABANDONED": 2})
    both = predictive + desk
    assert both.attempts == 50 and both.preview_attempts == 7 and both.in_flight == 2
    # 1 of 41 is under the 3 % cap; counting the desk's calls would make it 3 of 48 (over it).
    assert both.live_answers == 41 and both.abandoned == 1 and not both.over_cap
    of = Tally.of({"ANSWER": (3, 0), "ABANDONED": (1, 1)}, preview={"ABANDONED": 1})
    assert of.abandoned == 0 and of.live_answers == 3 and of.abandon_rate == 0

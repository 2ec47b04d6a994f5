"""The report snapshot of the store, on SQLite and PostgreSQL: local times, grouping, order."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.domain.campaigns import Campaign
from dialer.domain.imports import RejectedRow
from dialer.domain.results import CallResult
from dialer.errors import StoreError
from dialer.reports import sheets
from dialer.reports.csvfile import csv_kinds, write_csv, write_csv_lines
from dialer.reports.safety import PLAIN_TEXT, TRIGGERS, csv_text
from dialer.store import reporting
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.report_history import add_attempts, add_records, attempt

CampaignFactory = Callable[..., Campaign]
NEW_YORK = ZoneInfo("America/New_York")

# Around the 2026 DST changes in New York (07:00 UTC on 8 March, 06:00 UTC on 1 November),
# local midnight, and a value with microseconds (which local text truncates).
INSTANTS = [
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 8, 7, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 9, 3, 59, 59, 999_999, tzinfo=UTC),
    datetime(2026, 3, 9, 4, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
]


def local_text(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def test_times_come_back_as_local_wall_clock_text(
    store: SqlStore, campaign_factory: CampaignFactory, zone: str
) -> None:
    camp = campaign_factory(timezone=zone)
    (rid,) = add_records(store, camp, 1, now=T0)
    history = [attempt(camp, rid, at, CallResult.ANSWER) for at in INSTANTS]
    add_attempts(store, history)
    tz = ZoneInfo(zone)
    with store.report_snapshot(zone=zone, now=T0) as reader:
        lines = [line for batch in reader.attempt_lines(camp.id, batch=3) for line in batch]
    assert [line.attempt_id for line in lines] == [a.id for a in history]  # placement order
    for line, a in zip(lines, history, strict=True):
        assert line.placed_at == local_text(a.created_at, tz)
        assert line.answered_at == local_text(a.answered_at, tz)  # type: ignore[arg-type]
        assert line.ended_at == local_text(a.ended_at, tz)  # type: ignore[arg-type]
        assert line.was_missed is False and line.outcome == "ANSWER" and line.record_handle == "H-00000"


def test_periods_are_local_days_and_hours(store: SqlStore, campaign_factory: CampaignFactory) -> None:
    camp = campaign_factory(timezone="America/New_York")
    rids = add_records(store, camp, 3, now=T0)
    outcomes = [CallResult.ANSWER, CallResult.ABANDONED, CallResult.NO_ANSWER, None]
    history = [
        attempt(camp, rids[i % 3], at + timedelta(minutes=i), outcomes[i % 4]) for i, at in enumerate(INSTANTS * 2)
    ]
    add_attempts(store, history)
    with store.report_snapshot(zone="America/New_York", now=T0) as reader:
        days = reader.period_counts(camp.id, unit="day")
        hours = reader.period_counts(camp.id, unit="hour")
        totals = reader.outcome_totals(camp.id)
    expected_days = Counter(
        (a.created_at.astimezone(NEW_YORK).strftime("%Y-%m-%d"), a.outcome.value if a.outcome else None)
        for a in history
    )
    assert {(p.period, p.outcome): p.attempts for p in days} == dict(expected_days)
    expected_hours = Counter(a.created_at.astimezone(NEW_YORK).strftime("%Y-%m-%d %H") for a in history)
    by_hour: Counter[str] = Counter()
    for p in hours:
        by_hour[p.period] += p.attempts
    assert by_hour == expected_hours
    assert [p.period for p in days] == sorted(p.period for p in days)
    assert sum(m for _, m in totals.values()) == sum(1 for a in history if a.was_missed)
    assert totals[None][0] == sum(1 for a in history if a.outcome is None)


def test_attempts_are_selected_by_when_they_were_placed(store: SqlStore, campaign_factory: CampaignFactory) -> None:
    camp = campaign_factory()
    other = campaign_factory()
    (rid,) = add_records(store, camp, 1, now=T0)
    (orid,) = add_records(store, other, 1, now=T0, prefix="O")
    history = [attempt(camp, rid, T0 + timedelta(hours=h), CallResult.BUSY) for h in range(10)]
    add_attempts(store, [*history, attempt(other, orid, T0, CallResult.BUSY)])
    since, until = T0 + timedelta(hours=2), T0 + timedelta(hours=5)
    with store.report_snapshot(zone=camp.zone, now=T0) as reader:
        picked = [
            line.attempt_id for batch in reader.attempt_lines(camp.id, since=since, until=until) for line in batch
        ]
        span = reader.placed_span(camp.id, since=since, until=until)
        last = reader.last_placed_at(camp.id)
        nothing = reader.placed_span(camp.id, since=T0 - timedelta(days=9), until=T0 - timedelta(days=8))
    assert picked == [a.id for a in history[2:5]]  # [since, until)
    assert span == (local_text(history[2].created_at, NEW_YORK), local_text(history[4].created_at, NEW_YORK))
    assert last == history[-1].created_at and nothing is None


def test_records_user_data_keys_and_rejects(store: SqlStore, campaign_factory: CampaignFactory) -> None:
    from dialer.domain.records import NewRecord

    camp = campaign_factory(timezone="Europe/Paris")
    store.insert_records(
        camp.id,
        [
            NewRecord(
                handle="A", phone="+33140000001", caller_id=None, user_data={"b": "1", "a": "2"}, next_dial_at=T0
            ),
            NewRecord(handle="B", phone="+33140000002", caller_id="+33140000099", user_data={}, next_dial_at=T0),
            NewRecord(
                handle="C", phone="+33140000003", caller_id=None, user_data={"c": "=x", "a": ""}, next_dial_at=T0
            ),
        ],
        now=T0,
    )
    with store.import_batch(camp.id, source_name="list.csv", sha256=None, options={}, now=T0) as writer:
        writer.reject([RejectedRow(line=7, reason="invalid_phone", message="too short", raw=("Zoë", "555", "=1+2"))])
        writer.finish(
            rows_read=1,
            imported=0,
            updated=0,
            skipped_duplicates=0,
            by_reason={"invalid_phone": 1},
            finished_at=T0,
            duration_s=0.1,
        )
    with store.report_snapshot(zone="Europe/Paris", now=T0) as reader:
        keys = reader.user_data_keys(camp.id)
        records = [r for batch in reader.record_lines(camp.id, batch=2) for r in batch]
        rejects = [r for batch in reader.reject_lines(camp.id) for r in batch]
        counts = reader.record_counts(camp.id)
    assert keys == ["b", "a", "c"]  # first seen, then new ones in order
    assert [r.handle for r in records] == ["A", "B", "C"]
    assert records[0].user_data == {"b": "1", "a": "2"} and list(records[0].user_data) == ["b", "a"]
    assert records[1].caller_id == "+33140000099" and records[0].next_dial_at == local_text(
        T0, ZoneInfo("Europe/Paris")
    )
    assert counts == {"ready": 3}
    (reject,) = rejects
    assert (reject.line, reject.reason, reject.raw, reject.source_name) == (
        7,
        "invalid_phone",
        ("Zoë", "555", "=1+2"),
        "list.csv",
    )
    assert reject.imported_at == "2026-03-02 16:00:00"


def test_a_report_reads_one_snapshot(store: SqlStore, campaign_factory: CampaignFactory) -> None:
    """Writes committed while a report is being read do not show up half-way through it."""
    camp = campaign_factory()
    (rid,) = add_records(store, camp, 1, now=T0)
    add_attempts(store, [attempt(camp, rid, T0, CallResult.ANSWER)])
    with store.report_snapshot(zone=camp.zone, now=T0) as reader:
        before = reader.outcome_totals(camp.id)
        add_attempts(store, [attempt(camp, rid, T0 + timedelta(minutes=5), CallResult.ANSWER)])  # another connection
        during = reader.outcome_totals(camp.id)
        lines = [a for batch in reader.attempt_lines(camp.id) for a in batch]
    with store.report_snapshot(zone=camp.zone, now=T0) as reader:
        after = reader.outcome_totals(camp.id)
    assert before == during == {"ANSWER": (1, 0)} and len(lines) == 1
    assert after == {"ANSWER": (2, 0)}


def test_an_unknown_zone_is_refused(store: SqlStore) -> None:
    with pytest.raises(Exception, match="Mars/Olympus"), store.report_snapshot(zone="Mars/Olympus", now=T0):
        pass


# ---------------------------------------------------------------------- CSV lines
#: Text from outside the dialer: formulas, quotes, separators, line breaks, accents.
AWKWARD = {
    "agent": '=HYPERLINK("http://x","y")',
    "error": 'Failed: "busy", here\nand there',
    "raw_outcome": "@SUM(A1)",
    "provider_ref": "+12125550100",  # a plain number: kept as it is
    "call_sid": "-2+3",
    "pacing_reason": "Zoë, José; \t tab, C:\\dir\\n\r\x0b\x0c\x08",  # COPY escapes these
}


def _awkward_history(store: SqlStore, camp: Campaign) -> None:
    rids = add_records(store, camp, 4, now=T0, prefix="=H")  # handles that begin with a trigger
    outcomes = [CallResult.ANSWER, CallResult.ABANDONED, CallResult.NO_ANSWER, None, CallResult.BUSY]
    history = []
    for k in range(20):
        a = attempt(camp, rids[k % 4], T0 + timedelta(minutes=k, microseconds=k * 123_457), outcomes[k % 5])
        if k % 3 == 0:
            a = dataclasses.replace(a, **AWKWARD)  # type: ignore[arg-type]
        if k % 4 == 1:
            a = dataclasses.replace(a, duration_s=k / 7 if a.duration_s is not None else None)
        history.append(a)
    add_attempts(store, history)


@pytest.mark.parametrize("handles_in_memory", [True, False])
def test_the_database_renders_the_lines_the_csv_module_writes(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    handles_in_memory: bool,
) -> None:
    if not handles_in_memory:  # a campaign with more records than an export holds handles for
        monkeypatch.setattr(reporting, "HANDLES_IN_MEMORY", 3)
    camp = campaign_factory(timezone="America/New_York")
    _awkward_history(store, camp)
    _awkward_history(store, campaign_factory())  # another campaign's attempts stay out
    columns = sheets.attempt_columns(camp.zone)
    kinds = csv_kinds(columns)
    assert kinds[:2] == ["free", "text"] and kinds[10] == "number" and kinds[13] == "flag"
    written, rendered = tmp_path / "written.csv", tmp_path / "rendered.csv"
    with store.report_snapshot(zone=camp.zone, now=T0) as reader:
        durations = [line.duration_s for batch in reader.attempt_lines(camp.id) for line in batch]
        assert durations[1] == 0.143 and durations[0] == 55.0  # to the millisecond (1/7 s was stored)
        assert reader.renders_csv
        for bounds in ({}, {"since": T0 + timedelta(minutes=3), "until": T0 + timedelta(minutes=11)}):
            n = write_csv(written, columns, reader.attempt_lines(camp.id, **bounds))
            lines = reader.attempt_csv_lines(camp.id, kinds, csv_text, TRIGGERS, plain=PLAIN_TEXT, batch=3, **bounds)
            assert write_csv_lines(rendered, columns, lines) == n == (8 if bounds else 20)
            assert rendered.read_bytes() == written.read_bytes()
            if not bounds:
                text = rendered.read_text("utf-8-sig")
        if store.dialect == "postgresql":  # the neutralisation runs in SQL there: it needs the plain pattern
            with pytest.raises(StoreError, match="plain="):
                next(reader.attempt_csv_lines(camp.id, kinds, csv_text, TRIGGERS))
    assert '"\'=H-00000"' in text and '"\'=HYPERLINK(""http://x"",""y"")"' in text  # neutralised, quotes doubled
    assert '"+12125550100"' in text and '"Failed: ""busy"", here\nand there"' in text
    assert ",True," in text and ",False," in text and ',"",' in text and ",0.143," in text

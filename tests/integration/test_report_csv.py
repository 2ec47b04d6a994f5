"""The attempts CSV: on SQLite the database renders the lines; the file is byte for byte
what the csv module writes, on either database, with formula injection neutralised."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from dialer.domain.campaigns import Campaign
from dialer.domain.results import CallResult
from dialer.reports import sheets
from dialer.reports.csvfile import write_csv
from dialer.reports.export import export
from dialer.store.repository import SqlStore
from tests.conftest import T0
from tests.report_history import add_attempts, add_records, attempt

CampaignFactory = Callable[..., Campaign]
OUTCOMES = [CallResult.ANSWER, CallResult.ABANDONED, CallResult.NO_ANSWER, CallResult.BUSY, None]
#: Text from outside the dialer that a spreadsheet would run, in the free columns.
HOSTILE = {"agent": '=HYPERLINK("http://x")', "error": "-2+3", "raw_outcome": "@SUM(A1)"}
NOW = T0 + timedelta(days=1)


@pytest.fixture
def history(store: SqlStore, campaign_factory: CampaignFactory) -> Campaign:
    """300 attempts, two to an instant, one in seven carrying hostile text."""
    camp = campaign_factory(timezone="America/Chicago")
    rids = add_records(store, camp, 30, now=T0)
    attempts = []
    for k in range(300):
        a = attempt(camp, rids[k % 30], T0 + timedelta(minutes=k // 2), OUTCOMES[k % 5])
        if k % 7 == 0:
            a = dataclasses.replace(a, **HOSTILE)  # type: ignore[arg-type]
        attempts.append(a)
    add_attempts(store, attempts)
    return camp


def test_the_attempts_csv_is_what_the_csv_module_writes(store: SqlStore, history: Campaign, tmp_path: Path) -> None:
    result = export(store, history, tmp_path / "out" / "attempts.csv", now=NOW, sheet="attempts")
    assert result.sheets == {"Attempts": 300}
    with store.report_snapshot(zone=history.zone, now=NOW) as reader:
        lines = reader.attempt_lines(history.id, until=NOW)
        write_csv(tmp_path / "typed.csv", sheets.attempt_columns(history.zone), lines)
    data = result.path.read_bytes()
    assert data == (tmp_path / "typed.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    with result.path.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    header, rows = table[0], table[1:]
    assert header[0] == "record_handle" and "placed_at (America/Chicago)" in header and len(rows) == 300
    column = {name: header.index(name) for name in ("agent", "error", "raw_outcome", "was_missed", "duration_s")}
    assert sum(row[column["agent"]] == "'" + HOSTILE["agent"] for row in rows) == 43
    assert sum(row[column["raw_outcome"]] == "'@SUM(A1)" for row in rows) == 43
    assert all(row[column["error"]] in ("", "'-2+3") for row in rows)
    assert {row[column["was_missed"]] for row in rows} == {"True", "False", ""}
    assert {row[column["duration_s"]] for row in rows} == {"", "25.0", "55.0"}
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["attempts.csv"]  # no temporary file left


def test_a_period_of_the_attempts_csv(store: SqlStore, history: Campaign, tmp_path: Path) -> None:
    since, until = T0 + timedelta(minutes=100), T0 + timedelta(minutes=130)
    result = export(store, history, tmp_path / "p.csv", now=NOW, sheet="attempts", since=since, until=until)
    assert result.sheets == {"Attempts": 60}
    with result.path.open(encoding="utf-8-sig", newline="") as handle:
        placed = [row[6] for row in list(csv.reader(handle))[1:]]
    assert placed[0] == "2026-03-02 10:40:00" and placed[-1] == "2026-03-02 11:09:00"  # Chicago, CST

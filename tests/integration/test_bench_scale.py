"""scripts/bench_scale.py at toy sizes: every section runs and prints its rows with their
baselines and the claim plan. No timing is asserted (timings belong to the benchmark)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # imported by name, so that the spawned child processes of the bench find it too
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    return importlib.import_module("bench_scale")


def test_the_scale_bench_prints_every_row_with_its_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pg = os.environ.get("DIALER_TEST_POSTGRES_URL", "")
    args = ["--quick", "--data-dir", str(tmp_path), "--pg-url", pg, "--ticks", "8"]
    args += ["--pg-sizes", "300,600", "--sqlite-sizes", "300,600", "--placements", "40"]
    args += ["--import-rows", "400", "--export-attempts", "400", "--daemons", "1", "--window", "1"]
    args += ["--daemon-records", "100"]
    assert _bench(monkeypatch).main(args) == 0
    out = capsys.readouterr().out
    assert "| sqlite | 300 |" in out and "| sqlite | 600 |" in out
    assert "SEARCH records USING INDEX ix_records_claim" in out and "TEMP B-TREE" not in out
    assert "| raw sqlite3, 2 transactions per placement |" in out
    assert "| pandas read_csv + to_sql → SQLite |" in out and "| dialer import → SQLite |" in out
    assert "CPU s per 100k rows (importer + workers)" in out and "load average before:" in out
    assert "| dialer export → CSV (sqlite) |" in out
    if pg:
        assert "| postgresql | 300 |" in out and "Index Scan using ix_records_claim" in out
        assert "| bare COPY FROM STDIN → PostgreSQL |" in out
        assert "| COPY of the imported records into `records` (its indexes and foreign keys" in out
        assert "| bare COPY (SELECT …) TO STDOUT (postgresql) |" in out
        assert "PostgreSQL export / SQLite export" in out
        assert "| bare Evo Voice client, 1 thread |" in out and "| 1 daemon" in out
        assert "| bare Evo Voice client, 8 threads (sandbox ceiling) |" in out

"""`dialer demo` as a user runs it: the installed package in a subprocess, fresh data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from dialer.demo import CAMPAIGNS

FINAL = {"completed", "exhausted", "bad_number", "do_not_call", "cancelled"}


@pytest.mark.slow
def test_demo_accounts_for_every_record(tmp_path: Path) -> None:
    env = {**os.environ, "DIALER_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "outcomes.xlsx"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dialer",
            "demo",
            "--json",
            "--out",
            str(out),
            "--start",
            "2026-03-02T14:00",
            "--campaign-file",
            str(CAMPAIGNS / "demo.toml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["checks"] == {
        "records_accounted_for": True,
        "attempts_within_limit": True,
        "spreadsheet_rereads": True,
    }
    imported = summary["import"]["imported"]
    assert imported >= 1000
    assert set(summary["records_by_status"]) <= FINAL
    assert sum(summary["records_by_status"].values()) == imported == summary["records"]
    assert summary["max_attempts_seen"] <= summary["max_attempts"]
    assert summary["import"]["rejected"] > 0 and "invalid_phone" in summary["import"]["rejected_by_reason"]
    assert summary["import"]["rejected_by_reason"].get("dnc", 0) >= 1
    assert summary["abandoned"] == 0  # progressive never abandons
    assert 0 < summary["occupancy"] < 1
    # The workbook re-read independently: same counts as the summary.
    book = openpyxl.load_workbook(out, read_only=True)
    assert book["Records"].max_row - 1 == summary["records"]
    assert book["Attempts"].max_row - 1 == summary["attempts"]
    # Reproducible: the same seed and start give the same outcome.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "dialer",
            "demo",
            "--json",
            "--out",
            str(tmp_path / "again.xlsx"),
            "--start",
            "2026-03-02T14:00",
            "--campaign-file",
            str(CAMPAIGNS / "demo.toml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    second = json.loads(again.stdout)
    assert (second["attempts"], second["records_by_status"]) == (summary["attempts"], summary["records_by_status"])

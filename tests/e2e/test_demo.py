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


def demo(tmp_path: Path, name: str) -> subprocess.Popen[str]:
    """`dialer demo --json` in a subprocess with its own data directory."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dialer",
            "demo",
            "--json",
            "--out",
            str(tmp_path / f"{name}.xlsx"),
            "--start",
            "2026-03-02T14:00",
            "--campaign-file",
            str(CAMPAIGNS / "demo.toml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DIALER_DATA_DIR": str(tmp_path / name)},
    )


@pytest.mark.slow
def test_demo_accounts_for_every_record(tmp_path: Path) -> None:
    # Two runs side by side, each in a fresh data directory: the second shows the outcome is
    # reproducible (the same seed and start give the same outcome).
    runs = [demo(tmp_path, "outcomes"), demo(tmp_path, "again")]
    try:
        (stdout, stderr), (again, again_err) = (run.communicate(timeout=300) for run in runs)
    finally:
        for run in runs:
            run.kill()  # only one still running after a timeout; a no-op otherwise
    assert runs[0].returncode == 0, stderr
    assert runs[1].returncode == 0, again_err
    out = tmp_path / "outcomes.xlsx"
    summary = json.loads(stdout)
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
    second = json.loads(again)
    assert (second["attempts"], second["records_by_status"]) == (summary["attempts"], summary["records_by_status"])

"""Bad places and interruptions get a clear error naming the fix, never a traceback."""

from __future__ import annotations

import gc
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from dialer.importer import rows
from tests.integration.conftest import CliResult
from tests.integration.test_cli import ROWS, write_csv

Dialer = Callable[..., CliResult]


@pytest.fixture
def campaign(dialer: Dialer, tmp_path: Path) -> str:
    assert dialer("campaign", "create", "spring", "--flow-id", "f", "--caller-id", "+12125550100").code == 0
    assert dialer("import", str(write_csv(tmp_path / "list.csv", ROWS)), "--campaign", "spring").code == 0
    return "spring"


def clear(result: CliResult, *needles: str) -> None:
    """Exit 1 with an `Error:` line holding every needle, and no traceback."""
    assert result.code == 1, (result.out, result.err)
    assert result.err.startswith("Error: "), result.err
    assert "Traceback" not in result.err and "this is a bug" not in result.err
    for needle in needles:
        assert needle in result.err, result.err


# ------------------------------------------------------------------- reports
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_report_to_a_folder_nobody_can_write(dialer: Dialer, campaign: str, suffix: str) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc, a folder where even root cannot create files")
    result = dialer("report", "--campaign", campaign, "--out", f"/proc/outcomes{suffix}")
    clear(result, "cannot write the report /proc/outcomes", "Nothing was written", "--out")


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_report_under_a_file_or_onto_a_folder(dialer: Dialer, campaign: str, tmp_path: Path, suffix: str) -> None:
    (tmp_path / "notes").write_text("a file, not a folder")
    clear(dialer("report", "--campaign", campaign, "--out", f"notes/out{suffix}"), "notes is a file, not a folder")
    folder = tmp_path / f"taken{suffix}"
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    result = dialer("report", "--campaign", campaign, "--out", str(folder))
    assert result.code != 0 and "Traceback" not in result.err
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    assert not list(tmp_path.glob(".taken*"))  # no temporary file left behind


# ------------------------------------------------------------------ database
def test_database_in_a_folder_that_cannot_exist(dialer: Dialer, tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("a file")
    result = dialer("--database-url", f"sqlite:///{tmp_path / 'notes' / 'dialer.db'}", "status")
    clear(result, "notes is a file, not a folder", "DIALER_DATABASE_URL")


def test_database_that_is_a_folder(dialer: Dialer, tmp_path: Path) -> None:
    (tmp_path / "dbdir").mkdir()
    clear(dialer("--database-url", f"sqlite:///{tmp_path / 'dbdir'}", "status"), "is a folder", "dialer.db")


@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"], ["campaign", "list"]])
def test_database_that_is_not_sqlite(dialer: Dialer, tmp_path: Path, command: list[str]) -> None:
    other = tmp_path / "notes.db"
    other.write_text("recordHandle,phoneNumber\nR-1,+12125550101\n" * 50)
    before = other.read_bytes()
    result = dialer("--database-url", f"sqlite:///{other}", *command)
    clear(result, "notes.db is not a dialer database", "file is not a database", "DIALER_DATABASE_URL")
    assert other.read_bytes() == before  # nothing changed


# ----------------------------------------------------------------------- dnc
def test_dnc_remove_names_numbers_not_on_the_list(dialer: Dialer, campaign: str) -> None:
    assert dialer("dnc", "add", "+12125550188").code == 0
    result = dialer("dnc", "remove", "212-555-0188", "+12125550177")
    clear(result, "not on the global do-not-call list: +12125550177", "--campaign")
    assert "Removed 1 number(s)" in result.out
    assert "+12125550188" not in dialer("dnc", "list").out
    clear(dialer("dnc", "remove", "+12125550177", "--campaign", campaign), "campaign spring's do-not-call list")


def test_dnc_remove_of_something_that_is_no_number(dialer: Dialer) -> None:
    assert dialer("dnc", "add", "+12125550188").code == 0
    clear(dialer("dnc", "remove", "+12125550188", "n/a"), "'n/a'", "E.164")
    assert "+12125550188" in dialer("dnc", "list").out  # refused as a whole: nothing removed


# -------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_during_an_import_says_nothing_was_imported(dialer: Dialer, tmp_path: Path) -> None:
    assert dialer("campaign", "create", "big", "--flow-id", "f", "--caller-id", "+12125550100").code == 0
    source = write_csv(tmp_path / "list.csv", ROWS)
    interrupted = _run_interrupted(dialer, source)
    assert interrupted.code == 130, interrupted.err
    assert interrupted.err.startswith("Error: interrupted: nothing from list.csv was imported"), interrupted.err
    assert "Traceback" not in interrupted.err and "bug" not in interrupted.err
    shown = json.loads(dialer("campaign", "show", "big", "--json").out)
    assert shown["metrics"]["records"] == 0 and not shown["imports"]
    again = dialer("import", str(source), "--campaign", "big", "--json")
    assert again.code == 0 and json.loads(again.out)["imported"] == 3


def _run_interrupted(dialer: Dialer, source: Path) -> CliResult:
    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RECORDS"):
            raise KeyboardInterrupt

    event.listen(Engine, "before_cursor_execute", before)
    try:
        return dialer("import", str(source), "--campaign", "big")
    finally:
        event.remove(Engine, "before_cursor_execute", before)


def test_import_workers_leave_ctrl_c_to_the_importing_process() -> None:
    previous = signal.getsignal(signal.SIGINT)
    try:
        rows.start_worker(rows.RowRules(width=2, phone=1))
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
        gc.enable()

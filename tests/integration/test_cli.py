"""The CLI end to end, in-process through its real entry point, on the embedded default."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from tests.integration.conftest import CliResult

Dialer = Callable[..., CliResult]

HEADER = ["recordHandle", "phoneNumber", "outboundCallerId", "first_name", "account", "notes"]
ROWS = [
    ["R-1", "(212) 555-0101", "", "Zoë", "000123", "=SUM(A1:A2)"],
    ["R-2", "212-555-0102", "+13125550100", "José", "000124", "line one\nline two"],
    ["R-3", "555-0103", "", "Short", "000125", ""],  # invalid: too short
    ["R-4", "", "", "Nobody", "000126", ""],  # missing phone
    ["R-5", "+1 213 555 0105", "+19995550100", "Wrong", "000127", ""],  # caller ID not the campaign's
    ["R-1", "(212) 555-0199", "", "Dup", "000128", ""],  # duplicate handle
    ["R-7", "212.555.0107", "", "Ann", "000129", "-2+3"],
    ["R-8", "1-312-555-0108", "", "Bob", "000130", "@mention"],
]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def campaign(dialer: Dialer) -> str:
    result = dialer(
        "campaign",
        "create",
        "spring",
        "--flow-id",
        "flow-1",
        "--caller-id",
        "+12125550100",
        "--caller-id",
        "(312) 555-0100",
        "--agents",
        "3",
        "--max-attempts",
        "3",
    )
    assert result.code == 0, result.err
    return "spring"


def test_campaign_lifecycle(dialer: Dialer, campaign: str) -> None:
    listed = json.loads(dialer("campaign", "list", "--json").out)
    assert listed[0]["name"] == "spring" and listed[0]["caller_ids"] == ["+12125550100", "+13125550100"]
    assert dialer("campaign", "pause", "spring", "--reason", "list review").code == 0
    shown = json.loads(dialer("campaign", "show", "spring", "--json").out)
    assert shown["status"] == "paused" and shown["pause_reason"] == "list review"
    assert shown["events"][0]["kind"] == "paused"
    assert dialer("campaign", "resume", "spring").code == 0
    assert json.loads(dialer("campaign", "show", "spring", "--json").out)["status"] == "active"


def test_import_reports_every_row(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "list.csv", ROWS)
    rejects = tmp_path / "rejects.csv"
    result = dialer("import", str(source), "--campaign", campaign, "--rejects", str(rejects), "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["imported"] == 4 and summary["rejected"] == 4
    assert summary["rejected_by_reason"] == {
        "duplicate_in_file": 1,
        "invalid_caller_id": 1,
        "invalid_phone": 1,
        "missing_phone": 1,
    }
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "reason", "message", *HEADER]
    by_line = {int(r[0]): r for r in rows[1:]}
    # Line numbers as a spreadsheet shows them: header = 1, and R-2's quoted field with a
    # newline in it is one row, so R-3 is on line 4 (line 5 of the text file).
    assert by_line[4][1] == "invalid_phone" and by_line[4][3:] == ROWS[2]
    assert by_line[5][1] == "missing_phone"
    assert by_line[7][1] == "duplicate_in_file"
    again = json.loads(dialer("import", str(source), "--campaign", campaign, "--json").out)
    assert again["imported"] == 0 and again["skipped_duplicates"] == 4  # idempotent
    shown = json.loads(dialer("campaign", "show", campaign, "--json").out)
    assert shown["imports"][-1]["rejected_by_reason"]["invalid_phone"] == 1
    assert shown["imports"][-1]["first_rejects"][0] == {
        "line": 4,
        "reason": "invalid_phone",
        "message": shown["imports"][-1]["first_rejects"][0]["message"],
    }


def test_dnc_numbers_are_scrubbed_at_import(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    assert dialer("dnc", "add", "212 555 0101", "+12125550107").code == 0
    source = write_csv(tmp_path / "list.csv", ROWS)
    summary = json.loads(dialer("import", str(source), "--campaign", campaign, "--json").out)
    assert summary["rejected_by_reason"]["dnc"] == 2 and summary["imported"] == 2
    assert json.loads(dialer("dnc", "list", "--json").out) == ["+12125550101", "+12125550107"]


def test_run_report_and_status(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    dialer("import", str(write_csv(tmp_path / "list.csv", ROWS)), "--campaign", campaign)
    result = dialer("run", "--until-done", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["records"] == 4 and summary["done"] is True
    assert sum(summary["records_by_status"].values()) == 4
    assert set(summary["records_by_status"]) <= {"completed", "exhausted", "bad_number", "do_not_call"}
    assert summary["attempts"] >= 4 and 0 <= summary["occupancy"] <= 1
    assert summary["abandon_rate"] is None or summary["abandon_rate"] <= 0.03

    out = tmp_path / "outcomes.xlsx"
    report = dialer("report", "--campaign", campaign, "--out", str(out), "--json")
    assert report.code == 0, report.err
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Summary", "Records", "Attempts", "Abandonment", "Rejects"]
    records = list(book["Records"].iter_rows(values_only=True))
    header = list(records[0])
    assert header[:9] == [
        "record_handle",
        "phone_number",
        "caller_id",
        "status",
        "attempts",
        "last_outcome",
        "was_missed",
        "last_attempt_at",
        "next_attempt_at",
    ]
    assert header[9:] == ["first_name", "account", "notes"]
    assert len(records) - 1 == 4
    row = {r[0]: dict(zip(header, r, strict=True)) for r in records[1:]}
    assert row["R-1"]["phone_number"] == "+12125550101"  # text, not a number
    assert row["R-1"]["account"] == "000123"  # leading zeros kept
    assert row["R-1"]["notes"] == "=SUM(A1:A2)"  # written as text...
    assert book["Records"]["L2"].data_type == "s"  # ...not as a formula
    attempts = list(book["Attempts"].iter_rows(values_only=True))
    assert len(attempts) - 1 == summary["attempts"]
    assert "placed_at (America/New_York)" in attempts[0]

    status = json.loads(dialer("status", "--json").out)
    assert status["campaigns"][0]["records_by_status"] == summary["records_by_status"]
    explained = json.loads(dialer("status", "--record", "R-1", "--json").out)
    assert explained["status"] in ("completed", "exhausted", "bad_number")
    assert explained["verdict"].startswith("final")
    assert len(explained["history"]) >= 1


def test_status_explains_why_nothing_dials(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    dialer("import", str(write_csv(tmp_path / "list.csv", ROWS)), "--campaign", campaign)
    dialer("campaign", "pause", campaign, "--reason", "waiting for legal")
    status = json.loads(dialer("status", "--campaign", campaign, "--json").out)["campaigns"][0]
    assert status["not_dialing"] == {"campaign_paused": 4}
    assert status["pause_reason"] == "waiting for legal"
    text = dialer("status").out
    assert "campaign_paused" in text and "the campaign is paused" in text
    record = json.loads(dialer("status", "--record", "R-2", "--json").out)
    assert record["verdict"] == "campaign paused: waiting for legal"


def test_status_says_when_no_dialer_is_running_and_shows_the_last_pacing_decision(
    dialer: Dialer, campaign: str, tmp_path: Path
) -> None:
    dialer("import", str(write_csv(tmp_path / "list.csv", ROWS)), "--campaign", campaign)
    before = json.loads(dialer("status", "--campaign", campaign, "--json").out)["campaigns"][0]
    assert before["pacing"] is None
    assert before["not_dialing"] == {"no_dialer_running": 4}
    assert "start one" in dialer("status").out

    ran = json.loads(dialer("run", "--once", "--json").out)
    after = json.loads(dialer("status", "--campaign", campaign, "--json").out)["campaigns"][0]
    assert after["pacing"]["reason"]  # the decision the tick made, in words
    assert after["pacing"]["placed"] == ran["placed"]
    assert "no_dialer_running" not in after["not_dialing"]
    assert "pacing" in dialer("status").out


def test_run_once_on_the_simulated_backend(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    dialer("import", str(write_csv(tmp_path / "list.csv", ROWS)), "--campaign", campaign)
    summary = json.loads(dialer("run", "--once", "--json").out)
    assert summary["placed"] <= 3  # three agents, one line each
    assert summary["attempts"] == summary["placed"]
    assert "progressive" in summary["decisions"]["spring"] or "outside" in summary["decisions"]["spring"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["campaign", "show", "nope"], 1, "no campaign named 'nope'"),
        (["run", "--once", "--until-done"], 2, "use just one of --once and --until-done"),
        (["report", "--campaign", "spring", "--out", "x.pdf"], 1, "use a .xlsx or .csv"),
        (["campaign", "create", "x", "--flow-id", "f", "--caller-id", "12"], 1, "E.164"),
        (["campaign", "create", "spring", "--flow-id", "f"], 1, "already exists"),
        (["campaign", "create", "y", "--flow-id", "f", "--ring-timeout", "10"], 2, "10 is not in the range x>=15"),
        (["dnc", "add", "hello"], 1, "E.164"),
    ],
)
def test_errors_name_the_fix(dialer: Dialer, campaign: str, args: list[str], code: int, message: str) -> None:
    result = dialer(*args)
    assert result.code == code
    assert message in result.err
    if code == 1:
        assert result.err.startswith("Error: ")
        assert "Traceback" not in result.err


def test_file_level_import_errors_change_nothing(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "nophone.csv", [["R-1", "Ann"]], header=["id", "name"])
    result = dialer("import", str(source), "--campaign", campaign)
    assert result.code == 1
    assert "no phone column found; columns are: id, name; pass --map phoneNumber=COLUMN" in result.err
    assert json.loads(dialer("campaign", "show", campaign, "--json").out)["imports"] == []
    mapped = dialer(
        "import",
        str(write_csv(tmp_path / "m.csv", [["R-1", "2125550101"]], header=["id", "Cell"])),
        "--campaign",
        campaign,
        "--map",
        "phoneNumber=Cell",
        "--json",
    )
    assert json.loads(mapped.out)["imported"] == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes("phoneNumber,name\n2125550102,Jos\xe9\n".encode("latin-1"))
    # Detected (Windows-1252 reads it the same); forcing the wrong encoding names the fix.
    bad = dialer("import", str(latin), "--campaign", campaign, "--encoding", "utf-8")
    assert bad.code == 1 and "--encoding latin-1" in bad.err
    assert json.loads(dialer("campaign", "show", campaign, "--json").out)["imports"][0]["rows"] == 1
    detected = json.loads(dialer("import", str(latin), "--campaign", campaign, "--json").out)
    assert detected["imported"] == 1 and detected["format"]["encoding"] == "cp1252"


def test_config_show_redacts_secrets(dialer: Dialer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALER_EVOVOICE_PASSWORD", "hunter2")
    monkeypatch.setenv("DIALER_TWILIO_AUTH_TOKEN", "tok")
    result = dialer("config", "show", "--json")
    data = json.loads(result.out)
    assert data["evovoice_password"] == "**********" and data["twilio_auth_token"] == "**********"
    assert "hunter2" not in result.out


def test_db_upgrade(dialer: Dialer) -> None:
    first = dialer("db", "upgrade")
    assert first.code == 0 and "upgraded from empty" in first.out
    second = dialer("db", "upgrade")
    assert "already at" in second.out

"""`dialer import` and `dialer dnc import` through the real CLI entry point."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import CliResult

Dialer = Callable[..., CliResult]
DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def campaign(dialer: Dialer) -> str:
    result = dialer("campaign", "create", "spring", "--flow-id", "f", "--caller-id", "+12125550100")
    assert result.code == 0, result.err
    return "spring"


def test_dnc_import_normalises_and_reports_bad_lines(dialer: Dialer, campaign: str) -> None:
    result = dialer("dnc", "import", str(DATA / "dnc_optouts.txt"), "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["numbers"] == 6 and summary["added"] == 6 and summary["rows"] == 9
    assert [(b["line"], b["value"]) for b in summary["bad_lines"]] == [(8, "n/a"), (9, "555-0166")]
    listed = json.loads(dialer("dnc", "list", "--json").out)
    assert listed == sorted(
        ["+12125550161", "+12125550162", "+12125550163", "+12125550164", "+12125550165", "+442079460999"]
    )
    again = dialer("dnc", "import", str(DATA / "dnc_optouts.txt"))
    assert "added 0" in again.out and "6 already there" in again.out
    assert "line 8:" in again.out and "contains letters" in again.out
    # ... and the import scrubs them.
    source = Path("list.csv")
    source.write_text("phone\n(212) 555-0161\n(212) 555-0170\n", encoding="utf-8")
    imported = json.loads(dialer("import", str(source), "--campaign", campaign, "--json").out)
    assert imported["imported"] == 1 and imported["rejected_by_reason"] == {"dnc": 1}


def test_import_json_summary(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    result = dialer(
        "import", str(DATA / "vicidial_leads.txt"), "--campaign", campaign, "--rejects", str(rejects), "--json"
    )
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert {k: summary[k] for k in ("rows_read", "imported", "updated", "skipped_duplicates", "rejected")} == {
        "rows_read": 7,
        "imported": 5,
        "updated": 0,
        "skipped_duplicates": 0,
        "rejected": 2,
    }
    assert summary["rejected_by_reason"] == {"duplicate_in_file": 1, "invalid_country": 1}
    assert summary["format"] == {"format": "csv", "encoding": "utf-8", "delimiter": "tab"}
    assert summary["seconds"] >= 0 and summary["rejects_file"] == str(rejects) and rejects.exists()
    shown = json.loads(dialer("campaign", "show", campaign, "--json").out)
    (imported,) = shown["imports"]
    assert imported["file"] == "vicidial_leads.txt" and imported["rejected_by_reason"]["invalid_country"] == 1
    assert [r["line"] for r in imported["first_rejects"]] == [7, 8]
    text = dialer("campaign", "show", campaign).out
    assert "line 7: invalid_country" in text and "line 8: duplicate_in_file" in text


def test_import_text_summary_and_options(dialer: Dialer, campaign: str) -> None:
    result = dialer("import", str(DATA / "spreadsheet_export.xlsx"), "--campaign", campaign, "--sheet", "Leads (March)")
    assert result.code == 0, result.err
    # Bob Ray's caller ID (312) 555-0100 is not one of this campaign's.
    assert "spreadsheet_export.xlsx → spring: 5 rows, 3 imported" in result.out
    assert "invalid_caller_id: 1" in result.out and "invalid_phone: 1" in result.out
    assert "Pass --rejects" in result.out
    again = dialer("import", str(DATA / "spreadsheet_export.xlsx"), "--campaign", campaign, "--sheet", "Leads (March)")
    assert "imported before (import #1)" in again.out
    headerless = dialer(
        "import", str(DATA / "no_header.csv"), "--campaign", campaign, "--no-header", "--map", "phoneNumber=A", "--json"
    )
    assert json.loads(headerless.out)["imported"] == 2
    dry = dialer("import", str(DATA / "preview_records.csv"), "--campaign", campaign, "--dry-run")
    assert "would be imported" in dry.out and "Dry run: nothing was stored." in dry.out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--no-header"], 2, "--no-header needs --map phoneNumber=N"),
        (["--map", "phoneNumber"], 2, "use FIELD=COLUMN"),
        (["--encoding", "klingon"], 1, "unknown encoding 'klingon'"),
        (["--on-duplicate", "merge"], 2, "'merge' is not one of 'skip', 'update'"),
    ],
)
def test_import_usage_errors(dialer: Dialer, campaign: str, args: list[str], code: int, message: str) -> None:
    result = dialer("import", str(DATA / "preview_records.csv"), "--campaign", campaign, *args)
    assert result.code == code and message in result.err


@pytest.mark.parametrize("workers", [[], ["--workers", "1"]], ids=["default", "one_worker"])
def test_a_large_file_with_a_20_million_character_field(
    dialer: Dialer, campaign: str, tmp_path: Path, workers: list[str]
) -> None:
    """≥ 4 MiB, so worker processes check it: the huge field rejects its row, with line and
    reason, the other rows are imported, and there is no traceback."""
    source = tmp_path / "big.csv"
    with source.open("w", encoding="utf-8") as handle:
        handle.write("handle,phone,note\n")
        handle.writelines(f"R{i},+1212{5550000 + i},plain note {i}\n" for i in range(2, 30_000))
        handle.write("BIG,+13125550199," + "x" * 20_000_000 + "\n")
        handle.write("AFTER,+13125550198,after\n")
    assert source.stat().st_size >= 4 * 1024 * 1024
    rejects = tmp_path / "rejects.csv"
    result = dialer("import", str(source), "--campaign", campaign, "--rejects", str(rejects), "--json", *workers)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["imported"] == 29_999 and summary["rejected_by_reason"] == {"field_too_long": 1}
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        csv.field_size_limit(30_000_000)
        (_, (line, reason, message, handle_, _, note)) = list(csv.reader(handle))
    assert (line, reason, handle_) == ("30000", "field_too_long", "BIG") and len(note) == 20_000_000
    assert "column 'note' is 20,000,000 characters long; a field may hold 131,072" in message
    assert "Fix the quoting" not in message and "bug" not in result.err


def test_an_unclosed_quote_refuses_the_file_with_its_line(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    rows = [f"R{i},+1212{5550000 + i},note {i}" for i in range(2, 400)]
    rows[48] = 'R50,+12125550050,"he said'  # line 50
    source.write_text("handle,phone,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = dialer("import", str(source), "--campaign", campaign, "--workers", "1")
    assert result.code == 1 and "bug" not in result.err
    assert "Error: list.csv line 50: a quoted value opens on that line and is never closed" in result.err
    assert "Close the quote on line 50" in result.err

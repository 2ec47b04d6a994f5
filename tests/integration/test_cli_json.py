"""`--json` on every command a script drives, errors as JSON, and progress on long work."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from tests.integration.conftest import CliResult
from tests.integration.test_cli import ROWS, write_csv

Dialer = Callable[..., CliResult]


@pytest.fixture
def campaign(dialer: Dialer, tmp_path: Path) -> str:
    assert dialer("campaign", "create", "spring", "--flow-id", "f", "--caller-id", "+12125550100").code == 0
    assert dialer("import", str(write_csv(tmp_path / "list.csv", ROWS)), "--campaign", "spring").code == 0
    return "spring"


def as_json(result: CliResult) -> dict[str, object]:
    data = json.loads(result.out)
    assert isinstance(data, dict)
    return data


def test_dnc_commands_speak_json(dialer: Dialer, campaign: str) -> None:
    added = dialer("dnc", "add", "212-555-0188", "+12125550189", "--json")
    assert added.code == 0 and as_json(added) == {
        "scope": "global",
        "numbers": ["+12125550188", "+12125550189"],
        "added": 2,
        "already_listed": 0,
    }
    again = as_json(dialer("dnc", "add", "+12125550188", "--campaign", campaign, "--json"))
    assert again["scope"] == campaign and again["added"] == 1
    removed = dialer("dnc", "remove", "+12125550188", "+12125550177", "--json")
    assert removed.code == 1  # one was not listed
    assert as_json(removed) == {"scope": "global", "removed": ["+12125550188"], "not_listed": ["+12125550177"]}
    assert dialer("dnc", "remove", "+12125550189", "--json").code == 0
    assert json.loads(dialer("dnc", "list", "--json").out) == []


def test_pause_resume_and_db_upgrade_speak_json(dialer: Dialer, campaign: str) -> None:
    paused = as_json(dialer("campaign", "pause", campaign, "--reason", "list review", "--json"))
    assert paused["campaign"] == campaign and paused["status"] == "paused" and paused["pause_reason"] == "list review"
    assert isinstance(paused["at"], str) and "T" in paused["at"]
    resumed = as_json(dialer("campaign", "resume", campaign, "--json"))
    assert resumed["status"] == "active" and resumed["pause_reason"] is None
    upgraded = as_json(dialer("db", "upgrade", "--json"))
    assert upgraded["upgraded"] is False and upgraded["after"] == upgraded["head"] and upgraded["before"]
    assert str(upgraded["database"]).startswith("sqlite:///")


@pytest.mark.parametrize(
    ("args", "code", "fix"),
    [
        (["campaign", "pause", "nope", "--json"], "not_found", "dialer campaign create nope"),
        (["dnc", "remove", "n/a", "--json"], "dialer_error", "E.164"),
        (["report", "--campaign", "spring", "--out", "x.pdf", "--json"], "dialer_error", None),
        (["dnc", "remove", "--json"], "usage", "dialer dnc remove --help"),
        (["status", "--campaign", "nope", "--json"], "not_found", "dialer campaign create"),
    ],
)
def test_errors_under_json_are_one_json_object(
    dialer: Dialer, campaign: str, args: list[str], code: str, fix: str | None
) -> None:
    result = dialer(*args)
    assert result.code in (1, 2)
    error = as_json(result)["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "fix"}
    assert error["code"] == code and error["message"]
    if fix is None:
        assert error["fix"] is None or isinstance(error["fix"], str)
    else:
        assert fix in str(error["fix"])
    assert result.err  # people still read it on stderr


def test_errors_without_json_stay_text(dialer: Dialer) -> None:
    result = dialer("campaign", "pause", "nope")
    assert result.code == 1 and result.out == "" and result.err.startswith("Error: no campaign named 'nope'")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal, so progress shows (it is off when stderr is a pipe or a file)."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160)
    for module in ("dialer.cli.app", "dialer.cli.dialing"):
        monkeypatch.setattr(f"{module}.err", console)
    return screen


def test_report_shows_its_progress(dialer: Dialer, campaign: str, tmp_path: Path, terminal: io.StringIO) -> None:
    assert dialer("report", "--campaign", campaign, "--out", str(tmp_path / "r.xlsx")).code == 0
    shown = terminal.getvalue()
    assert "writing r.xlsx" in shown and "Records" in shown and "rows" in shown


def test_run_until_done_shows_its_progress(dialer: Dialer, campaign: str, terminal: io.StringIO) -> None:
    assert dialer("run", "--until-done", "--campaign", campaign).code == 0
    shown = terminal.getvalue()
    assert "records final" in shown and "virtual" in shown and "calls" in shown


def test_progress_stays_off_under_json(dialer: Dialer, campaign: str, tmp_path: Path, terminal: io.StringIO) -> None:
    assert dialer("report", "--campaign", campaign, "--out", str(tmp_path / "r.xlsx"), "--json").code == 0
    assert dialer("run", "--until-done", "--campaign", campaign, "--json").code == 0
    assert "rows" not in terminal.getvalue() and "records final" not in terminal.getvalue()


def test_status_after_a_virtual_time_run_is_not_in_negative_time(dialer: Dialer, campaign: str, tmp_path: Path) -> None:
    """`run --until-done` on the simulated backend runs ahead of the wall clock; status then says
    so instead of "pacing -76460.5 s ago", and does not take that run for a live dialer."""
    first = as_json(dialer("run", "--until-done", "--campaign", campaign, "--json"))
    status = as_json(dialer("status", "--campaign", campaign, "--json"))["campaigns"]
    assert isinstance(status, list)
    pacing = status[0]["pacing"]
    assert pacing["seconds_ago"] is None and pacing["ahead_of_clock_s"] > 0
    assert "ahead of this clock (a virtual-time run" in pacing["when"]
    text = dialer("status", "--campaign", campaign).out
    assert "ahead of this clock" in text and " s ago" not in text and "-" not in text.split("pacing", 1)[1][:3]

    # A second virtual run continues from where the first left the database, never before it.
    more = write_csv(tmp_path / "more.csv", [["R-90", "212-555-0190", "", "New", "000190", ""]])
    assert dialer("import", str(more), "--campaign", campaign).code == 0
    assert dialer("run", "--once", "--campaign", campaign).code == 0
    record = as_json(dialer("status", "--record", "R-90", "--json"))
    history = record["history"]
    assert isinstance(history, list) and history
    assert history[0]["placed_at"] >= str(first["virtual_end"])[:19]

"""`dialer preview …` end to end through the real entry point, on the embedded default."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.integration.conftest import CliResult
from tests.integration.test_cli import write_csv

Dialer = Callable[..., CliResult]

HEADER = ["recordHandle", "phoneNumber", "outboundCallerId", "first_name", "account"]
ROWS = [
    ["R-1", "(212) 555-0101", "", "Zoë", "000123"],
    ["R-2", "212-555-0102", "", "José", "000124"],
]


@pytest.fixture
def desk(dialer: Dialer, tmp_path: Path) -> str:
    created = dialer(
        "campaign",
        "create",
        "desk",
        "--flow-id",
        "flow-1",
        "--mode",
        "preview",
        "--caller-id",
        "+12125550100",
        "--hours",
        "00:00-23:59:59",  # the CLI runs on the real clock: keep the window open all day,
        "--allow-relaxing",  # which is wider than the US profile's legal 08:00-21:00
    )
    assert created.code == 0, created.err
    imported = dialer("import", str(write_csv(tmp_path / "list.csv", ROWS, HEADER)), "--campaign", "desk")
    assert imported.code == 0, imported.err
    return "desk"


def test_the_preview_desk_from_the_command_line(dialer: Dialer, desk: str) -> None:
    got = dialer("preview", "next", "--campaign", desk, "--agent", "alice", "--json")
    assert got.code == 0, got.err
    record = json.loads(got.out)["record"]
    assert record["recordHandle"] == "R-1" and record["phoneNumber"] == "+12125550101"
    assert record["outboundCallerId"] == "+12125550100" and record["attempts"] == 0 and record["last_outcome"] is None
    assert record["otherFields"] == {"first_name": "Zoë", "account": "000123"}
    assert not {"handle", "phone", "caller_id", "user_data"} & set(record)
    assert record["state"] == "locked" and record["agent"] == "alice"

    human = dialer("preview", "next", "--campaign", desk, "--agent", "alice")
    assert human.code == 0 and "R-1" in human.out and "Zoë" in human.out
    assert "dialer preview dial R-1 --agent alice" in human.out

    bob = json.loads(dialer("preview", "next", "--campaign", desk, "--agent", "bob", "--json").out)["record"]
    assert bob["recordHandle"] == "R-2"
    none = dialer("preview", "next", "--campaign", desk, "--agent", "carol", "--json")
    assert json.loads(none.out) == {"record": None}

    refused = dialer("preview", "dial", "R-1", "--agent", "bob")
    assert refused.code == 1 and "locked by agent 'alice'" in refused.err

    status = json.loads(dialer("status", "--campaign", desk, "--json").out)["campaigns"][0]
    assert status["not_dialing"]["locked_by_agent"] == 2
    assert status["locked_by_agent"] == {"alice": 1, "bob": 1}
    assert "on agents' desks: alice 1, bob 1" in dialer("status", "--campaign", desk).out
    explained = json.loads(dialer("status", "--record", "R-1", "--json").out)
    assert explained["verdict"].startswith("on alice's preview desk until ")

    skipped = dialer("preview", "skip", "R-2", "--agent", "bob", "--reason", "bad time", "--json")
    assert skipped.code == 0, skipped.err
    assert json.loads(skipped.out)["status"] == "ready"

    # A time without a zone is in the campaign's zone (New York for a US campaign).
    later = (datetime.now(UTC) + timedelta(days=2)).astimezone(ZoneInfo("America/New_York"))
    at = later.replace(hour=12, minute=0, second=0, microsecond=0, tzinfo=None)
    moved = dialer("preview", "reschedule", "R-1", "--agent", "alice", "--at", at.isoformat(), "--json")
    assert moved.code == 0, moved.err
    expected = at.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    assert datetime.fromisoformat(json.loads(moved.out)["next_dial_at"]) == expected
    bad = dialer("preview", "reschedule", "R-2", "--agent", "alice", "--at", "soon")
    assert bad.code == 1 and "ISO 8601" in bad.err

    carol = json.loads(dialer("preview", "next", "--campaign", desk, "--agent", "carol", "--json").out)["record"]
    assert carol["recordHandle"] == "R-2"
    early = dialer("preview", "complete", "R-2", "--agent", "carol", "--disposition", "ANSWER")
    assert early.code == 1 and "has not been dialed" in early.err
    dialed = dialer("preview", "dial", "R-2", "--agent", "carol", "--json")
    assert dialed.code == 0, dialed.err
    assert json.loads(dialed.out)["placed"] is True
    busy = dialer("preview", "complete", "R-2", "--agent", "carol", "--disposition", "ANSWER")
    assert busy.code == 1 and "still in progress" in busy.err
    calling = json.loads(dialer("status", "--record", "R-2", "--json").out)
    assert calling["verdict"] == "being dialed now from carol's preview desk"


def test_do_not_call_from_the_desk(dialer: Dialer, desk: str) -> None:
    dialer("preview", "next", "--campaign", desk, "--agent", "alice")
    done = dialer("preview", "complete", "R-1", "--agent", "alice", "--disposition", "do-not-call")
    assert done.code == 0, done.err
    assert "complete → do_not_call" in done.out and "+12125550101 added to the do-not-call list" in done.out
    assert json.loads(dialer("dnc", "list", "--json").out) == ["+12125550101"]


def test_preview_commands_refuse_other_modes(dialer: Dialer) -> None:
    dialer("campaign", "create", "auto", "--flow-id", "flow-1", "--caller-id", "+12125550100")
    result = dialer("preview", "next", "--campaign", "auto", "--agent", "alice")
    assert result.code == 1 and "progressive mode" in result.err and "--mode preview" in result.err


def test_the_seed_sample_record_with_its_region(dialer: Dialer, tmp_path: Path) -> None:
    """Genesys' own sample outboundRecord: recordHandle 431, phoneNumber "5001", outboundCallerId
    "410004343". Neither has a country code; both are national numbers in Luxembourg, so a LU
    campaign takes them (as +3525001 and +352410004343) and speaks the seed's names back. In a
    US campaign "5001" is what it is in the sample — a four-digit internal extension — and the
    reject says so."""
    sample = write_csv(tmp_path / "sample.csv", [["431", "5001", "410004343", "Renewal"]],
                       ["recordHandle", "phoneNumber", "outboundCallerId", "campaign_note"])  # fmt: skip
    created = dialer(
        "campaign", "create", "lux", "--flow-id", "flow-1", "--mode", "preview", "--region", "LU",
        "--caller-id", "410004343", "--hours", "00:00-23:59:59", "--allow-relaxing",
    )  # fmt: skip
    assert created.code == 0, created.err
    imported = json.loads(dialer("import", str(sample), "--campaign", "lux", "--json").out)
    assert imported["imported"] == 1 and imported["rejected"] == 0
    record = json.loads(dialer("preview", "next", "--campaign", "lux", "--agent", "alice", "--json").out)["record"]
    assert {k: record[k] for k in ("recordHandle", "phoneNumber", "outboundCallerId", "otherFields")} == {
        "recordHandle": "431",
        "phoneNumber": "+3525001",
        "outboundCallerId": "+352410004343",
        "otherFields": {"campaign_note": "Renewal"},
    }
    skipped = json.loads(dialer("preview", "skip", "431", "--agent", "alice", "--json").out)
    assert skipped["recordHandle"] == "431" and "handle" not in skipped

    refused = dialer("campaign", "create", "us", "--flow-id", "f", "--caller-id", "410004343")
    assert refused.code != 0 and "it is a valid number in AU, CH" in refused.err and "--region" in refused.err
    assert dialer("campaign", "create", "us", "--flow-id", "f", "--caller-id", "+352410004343").code == 0
    rejects = tmp_path / "rejects.csv"
    us = json.loads(dialer("import", str(sample), "--campaign", "us", "--rejects", str(rejects), "--json").out)
    assert us["rejected_by_reason"] == {"invalid_phone": 1}
    message = rejects.read_text(encoding="utf-8-sig").splitlines()[1]
    assert "'5001' is not a valid US number (too short): 4 digits is the length of an internal extension" in message
    assert "it is a valid number in LU, NU" in message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_call_dialed_from_the_desk_is_collected_by_another_process(
    dialer: Dialer, desk: str, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """On the simulated backend `dialer preview dial` places the call and exits; `dialer run
    --once` (a process of its own: a fresh context) collects it instead of cancelling it as
    never placed, and the agent then gives the disposition."""
    monkeypatch.setenv("DIALER_SIM_SEED", str(seed))
    assert dialer("preview", "next", "--campaign", desk, "--agent", "alice").code == 0
    dialed = dialer("preview", "dial", "R-1", "--agent", "alice", "--json")
    assert dialed.code == 0, dialed.err
    assert json.loads(dialed.out)["placed"] is True
    refused = dialer("preview", "complete", "R-1", "--agent", "alice", "--disposition", "ANSWER")
    assert refused.code == 1 and "still in progress" in refused.err

    ran = dialer("run", "--once", "--campaign", desk, "--json")
    assert ran.code == 0, ran.err
    record = json.loads(dialer("status", "--record", "R-1", "--json").out)
    assert record["status"] == "dialing", record  # still on alice's desk, waiting for her disposition
    (attempt,) = record["history"]
    assert attempt["outcome"] not in ("CANCELLED", "placed", "ringing", "answered", "connected"), attempt
    assert "never placed" not in json.dumps(record)

    done = dialer("preview", "complete", "R-1", "--agent", "alice", "--disposition", "WRONG_PARTY", "--json")
    assert done.code == 0, done.err
    result = json.loads(done.out)
    assert result["action"] == "complete" and result["disposition"] == "WRONG_PARTY"
    after = json.loads(dialer("status", "--record", "R-1", "--json").out)
    assert after["status"] not in ("dialing", "leased", "ready"), after
    assert len(after["history"]) == 1


def test_a_personal_callback_from_the_command_line(dialer: Dialer, desk: str) -> None:
    got = dialer("preview", "next", "--campaign", desk, "--agent", "alice", "--json")
    assert got.code == 0, got.err
    assert json.loads(got.out)["record"]["recordHandle"] == "R-1"
    at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    moved = dialer("preview", "reschedule", "R-1", "--agent", "alice", "--at", at, "--personal", "--json")
    assert moved.code == 0, moved.err
    assert "personal callback for agent alice" in json.loads(moved.out)["message"]
    time.sleep(2.5)
    bob = json.loads(dialer("preview", "next", "--campaign", desk, "--agent", "bob", "--json").out)["record"]
    assert bob["recordHandle"] != "R-1"
    alice = json.loads(dialer("preview", "next", "--campaign", desk, "--agent", "alice", "--json").out)["record"]
    assert alice["recordHandle"] == "R-1" and alice["record_type"] == "personal_callback"

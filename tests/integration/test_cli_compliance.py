"""Compliance options through `dialer campaign create`, campaign files, `campaign show` and `status`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dialer.campaignfile import load_campaign_file
from dialer.errors import ConfigError
from tests.integration.conftest import CliResult

Dialer = Callable[..., CliResult]


def test_create_with_compliance_schedule_and_treatment_flags(dialer: Dialer) -> None:
    result = dialer(
        "campaign", "create", "uk-spring", "--flow-id", "f", "--caller-id", "+442071234567", "--region", "GB",
        "--compliance", "uk", "--abandon-target", "0.02", "--min-agents-predictive", "8",
        "--schedule-hours", "09:00-17:00", "--schedule-days", "mon-fri",
        "--start-date", "2026-03-03", "--end-date", "2026-04-30",
        "--treatment", "busy=retry_in 20m +5m x2", "--treatment", "ANSWERING_MACHINE=retry_at 10:00 after 20h x2",
    )  # fmt: skip
    assert result.code == 0, result.err
    shown = json.loads(dialer("campaign", "show", "uk-spring", "--json").out)
    assert shown["compliance_profile"] == "uk"
    assert shown["abandon_target"] == 0.02 and shown["abandon_window"] == "24h"
    assert shown["min_agents_predictive"] == 8
    assert shown["schedule"] == "09:00–17:00 mon-fri Europe/London, from 2026-03-03, until 2026-04-30"
    assert shown["treatment_overrides"] == {
        "BUSY": "retry_in 20m +5m x2",
        "ANSWERING_MACHINE": "retry_at 10:00 after 20h x2",
    }
    assert shown["treatments"]["BUSY"] == "retry 2× every 20m +5m/cycle"
    assert shown["treatments"]["SIT_VACANT"] == "final (bad_number)"
    text = dialer("campaign", "show", "uk-spring").out
    assert "Retry treatments" in text and "campaign override" in text
    assert "cap 2.0% per 24h" in text
    relaxed = dialer("campaign", "create", "late", "--flow-id", "f", "--hours", "07:00-22:00", "--allow-relaxing")
    assert relaxed.code == 0, relaxed.err
    assert json.loads(dialer("campaign", "show", "late", "--json").out)["effective_calling_window"] == (
        "07:00–22:00 mon-sun"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--abandon-target", "0.04"], "legal 3% cap"),
        (["--compliance", "fr"], "Invalid value for '--compliance'"),
        (["--treatment", "DO_NOT_CALL=retry_in 1h"], "never retried"),
        (["--treatment", "BUSY"], "RESULT=SPEC"),
        (["--start-date", "2026-05-01", "--end-date", "2026-04-01"], "before its start date"),
        (["--schedule-days", "weekdays"], "weekdays"),
        (["--hours", "07:00-22:00"], "allows calls only 08:00–21:00 in the callee's local time"),
    ],
)
def test_bad_compliance_flags_name_the_fix(dialer: Dialer, args: list[str], message: str) -> None:
    result = dialer("campaign", "create", "bad", "--flow-id", "f", *args)
    assert result.code != 0
    assert message in result.err
    assert "Traceback" not in result.err


def test_status_shows_the_rules_and_counts_records_by_reason(dialer: Dialer, tmp_path: Path) -> None:
    assert dialer(
        "campaign", "create", "later", "--flow-id", "f", "--caller-id", "+12125550100", "--start-date", "2099-01-01",
    ).code == 0  # fmt: skip
    source = tmp_path / "list.csv"
    source.write_text("recordHandle,phoneNumber\nR-1,+12125550101\nR-2,+12125550102\n", encoding="utf-8")
    assert dialer("import", str(source), "--campaign", "later").code == 0
    status = json.loads(dialer("status", "--campaign", "later", "--json").out)["campaigns"][0]
    assert status["not_dialing"] == {"outside_schedule": 2}
    assert status["reasons"]["outside_schedule"].startswith("outside the campaign's own days")
    comp = status["compliance"]
    assert comp["profile"] == "us" and comp["abandon_window_hours"] == 720
    assert comp["ring_timeout"] == {"rule": "ok", "seconds": 25, "minimum": 15}
    assert comp["schedule"]["rule"] == "outside_schedule" and "2099-01-01" in comp["schedule"]["reason"]
    assert comp["abandon_budget"]["rule"] == "too_few_answers"  # no live answers yet: nothing to judge
    assert comp["abandon_budget"]["force_progressive"] is False  # a progressive campaign is not affected
    text = dialer("status").out
    assert "compliance: us profile" in text and "ring timeout 25 s" in text
    record = json.loads(dialer("status", "--record", "R-1", "--json").out)
    assert record["gates_now"]["rule"] == "outside_schedule"
    assert record["verdict"].startswith("blocked by outside_schedule: the campaign starts on 2099-01-01")


def test_campaign_file_reads_compliance_keys_and_a_treatments_table(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[campaign]
name = "uk"
flow_id = "f"
region = "GB"
compliance_profile = "uk"
abandon_target = 0.025
min_agents_predictive = 6
schedule_hours = "09:00-20:00"
schedule_days = "mon-sat"
start_date = 2026-03-02
end_date = "2026-03-31"

[treatments]
BUSY = "retry_in 15m x4"
NO_ANSWER = { steps = [ { interval = "2h", cycles = 2 }, { interval = "26h", increment = "1h", cycles = 2 } ] }
ANSWERING_MACHINE = { action = "retry_at", at = "11:00", interval = "20h", increment = "2h", cycles = 2 }
FAX = { action = "final" }
""",
        encoding="utf-8",
    )
    spec = load_campaign_file(path).spec
    assert spec.options["compliance_profile"] == "uk"
    assert spec.options["start_date"] == "2026-03-02" and spec.options["end_date"] == "2026-03-31"
    assert spec.options["treatments"] == {
        "BUSY": "retry_in 15m x4",
        "NO_ANSWER": "retry_in 2h x2, retry_in 26h +1h x2",
        "ANSWERING_MACHINE": "retry_at 11:00 after 20h +2h x2",
        "FAX": "final bad_number",
    }
    path.write_text('[campaign]\nname = "x"\nflow_id = "f"\nabandon_target = 0.3\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="legal 3% cap"):
        load_campaign_file(path)


@pytest.mark.parametrize("mode", ["preview", "progressive", "predictive"])
def test_a_new_campaign_never_says_its_abandon_budget_leaves_no_room(dialer: Dialer, mode: str) -> None:
    created = dialer("campaign", "create", "fresh", "--flow-id", "f", "--caller-id", "+12125550100", "--mode", mode)
    assert created.code == 0, created.err
    status = json.loads(dialer("status", "--campaign", "fresh", "--json").out)["campaigns"][0]
    budget = status["compliance"]["abandon_budget"]
    assert budget["rule"] == ("not_applicable" if mode == "preview" else "too_few_answers")
    text = dialer("status", "--campaign", "fresh").out + dialer("campaign", "show", "fresh").out
    for words in ("no room", "abandon_budget", "is over", "until it recovers"):
        assert words not in budget["reason"] and words not in text
    if mode == "preview":
        assert "not abandonment candidates" in budget["reason"]
    else:
        assert "too few live answers yet" in budget["reason"]

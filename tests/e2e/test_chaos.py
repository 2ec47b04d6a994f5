"""scripts/chaos.py: its accounting, and a short run (``--quick``, few kills) on both providers.

The short run SIGKILLs `dialer run` processes dialing the Evo Voice sandbox on SQLite and the
Twilio sandbox on PostgreSQL (on SQLite too without DIALER_TEST_POSTGRES_URL), on loopback,
and must report 0 double dials, 0 lost outcomes and 0 records stuck.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from dialer.domain.records import Attempt, AttemptState
from dialer.domain.results import CallResult

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "chaos.py"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def attempt(aid: str, number: str, ref: str | None, *, ended: bool = True) -> Attempt:
    return Attempt(
        id=aid,
        record_id=1,
        campaign_id=1,
        backend="evovoice",
        mode="progressive",
        state=AttemptState.ENDED if ended else AttemptState.PLACED,
        number_dialed=number,
        caller_id=None,
        created_at=NOW,
        ended_at=NOW if ended else None,
        provider_ref=ref,
        outcome=CallResult.ANSWER if ended else None,
    )


def test_the_tally_counts_double_dials_and_lost_outcomes(chaos: ModuleType) -> None:
    calls = [("s1", "+1"), ("s2", "+2"), ("s3", "+2"), ("s4", "+3")]
    clean = [attempt("a1", "+1", "s1"), attempt("a2", "+2", "s2"), attempt("a3", "+2", "s3"), attempt("a4", "+3", "s4")]
    assert chaos.tally(calls, clean) == (1, 0)  # +2 was called twice
    # s3 has no attempt, s4's attempt never ended, s1 is claimed twice: three lost outcomes.
    broken = [attempt("a1", "+1", "s1"), attempt("a1b", "+1", "s1"), attempt("a2", "+2", "s2")]
    broken.append(attempt("a4", "+3", "s4", ended=False))
    assert chaos.tally(calls, broken) == (1, 3)
    assert chaos.tally([("s1", "+1")], [attempt("a1", "+1", "s1")]) == (0, 0)


def test_a_quick_chaos_run_on_both_providers_meets_the_goal() -> None:
    """Each provider, and each database, is crashed in one run; the two runs go side by side
    (their sandboxes, ports and databases are their own). The full grid is the README's run."""
    databases = ("sqlite", "postgresql") if os.environ.get("DIALER_TEST_POSTGRES_URL") else ("sqlite", "sqlite")
    cells = list(zip(("evovoice", "twilio"), databases, strict=True))
    quick = ["--quick", "--records", "12", "--kills", "3", "--max-gap", "6"]
    runs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), *quick, "--providers", provider, "--databases", database],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for provider, database in cells
    ]
    try:
        outputs = [run.communicate(timeout=900) for run in runs]
    finally:
        for run in runs:
            run.kill()  # only those still running after a timeout; a no-op otherwise
    rows = []
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
        assert "goal met (0/0/0)" in out
        rows += [line.split() for line in out.splitlines() if line.startswith(("evovoice ", "twilio "))]
    assert sorted((r[0], r[1]) for r in rows) == sorted(cells)
    for row in rows:
        kills, double, lost, stuck = int(row[2]), int(row[4]), int(row[5]), int(row[6])
        assert kills >= 1 and (double, lost, stuck) == (0, 0, 0), row

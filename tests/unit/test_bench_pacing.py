"""The bench-v1 harness: short simulated runs (seconds of CPU), no timing assertions."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from dialer.sim import bench

ROOT = Path(__file__).resolve().parents[2]


def test_progressive_occupancy_is_near_h_over_h_plus_w() -> None:
    cell = bench.Cell(name="N=20 p=0.35", agents=20, hit_rate=0.35, hours=4.0)
    r = bench.run(cell, "progressive", seed=3)
    h, w = 130.0, (0.65 / 0.35) * 25.0 + 10.0
    assert r["occupancy"] == pytest.approx(h / (h + w), abs=0.03)
    assert r["abandon"] == 0.0
    assert r["peak_lines"] <= 20


def test_predictive_beats_progressive_on_the_same_seed() -> None:
    cell = bench.Cell(name="N=20 p=0.35", agents=20, hit_rate=0.35, hours=3.0)
    prog = bench.run(cell, "progressive", seed=1)
    pred = bench.run(cell, "predictive", seed=1)
    assert pred["occupancy"] > prog["occupancy"] + 0.1
    assert pred["abandon"] < 0.05
    assert pred["live_answers"] > prog["live_answers"]


def test_common_random_numbers_make_runs_repeatable() -> None:
    cell = bench.Cell(name="N=5 p=0.20", agents=5, hit_rate=0.2, hours=1.0)
    assert bench.run(cell, "vicidial-adaptive", seed=2) == bench.run(cell, "vicidial-adaptive", seed=2)


def test_summary_statistics_and_pass_rule() -> None:
    results = []
    for seed, (occ_prog, occ_pred, ab) in enumerate([(0.54, 0.74, 0.024), (0.55, 0.73, 0.026), (0.54, 0.75, 0.025)]):
        common = {"cell": "N=5 p=0.20", "seed": seed, "agents": 5, "hit_rate": 0.2}
        extra = {"connects_per_agent_hour": 20.0, "dials_per_connect": 5.0, "peak_lines": 12, "max_hour_abandon": 0.06}
        results.append({**common, **extra, "policy": "progressive", "occupancy": occ_prog, "abandon": 0.0})
        results.append({**common, **extra, "policy": "predictive", "occupancy": occ_pred, "abandon": ab})
    summaries = {s.policy: s for s in bench.summarise(results)}
    pred = summaries["predictive"]
    assert pred.occupancy == pytest.approx(0.74)
    assert pred.abandon == pytest.approx(0.025)
    assert pred.abandon < pred.abandon_upper < 0.03
    assert pred.vs_progressive is not None and pred.vs_progressive[1] > 0.15
    assert pred.goal == 0.72 and pred.passed is True
    assert summaries["progressive"].passed is None


def _script() -> object:
    spec = importlib.util.spec_from_file_location("bench_pacing", ROOT / "scripts" / "bench_pacing.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_script_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    args = ["--seeds", "1", "--hours-scale", "0.02", "--cells", "N=5 p=0.35", "--jobs", "1", "--out", str(tmp_path)]
    if importlib.util.find_spec("matplotlib") is None:
        args.append("--no-chart")
    assert script.main(args) == 0  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    for column in ("Occupancy %", "Abandon 95 % UB", "Connects/agent-h", "Dials/connect", "Peak lines", "Pass"):
        assert column in out
    for policy in bench.POLICIES:
        assert f"| N=5 p=0.35 | {policy} |" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["policy"] for r in results} == set(bench.POLICIES)
    assert all(0.0 < r["occupancy"] <= 1.0 for r in results)
    table = (tmp_path / "table.md").read_text()
    assert table.count("| N=5 p=0.35 |") == 6  # the main table and the details table
    assert "First hour occupancy %" in table
    if "matplotlib" in sys.modules or importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "pacing.png").stat().st_size > 1000


def test_stress_scenarios_change_the_model() -> None:
    cells = {c.scenario: c for c in bench.stress_cells()}
    assert set(cells) == {"drift", "talkstep", "agents", "coldstart", "fastfail", "amd", "exp"}
    assert bench.cell_model(cells["amd"]).amd_false_positive == 0.02
    assert bench.cell_model(cells["exp"]).talk_distribution == "exponential"
    cc = bench.BenchCentre(agents=20, seed=0)
    bench._stress_update(cc, cells["agents"], 2.5 * 3600, cc.model)
    assert cc.logged_in == 12
    bench._stress_update(cc, cells["talkstep"], 2.5 * 3600, cc.model)
    assert cc.model.talk_mean == 180.0
    bench._stress_update(cc, cells["drift"], 4 * 3600, cc.model)
    assert cc.model.hit_rate == pytest.approx(0.25)


def test_amd_floor_note_states_the_days_no_pacing_can_keep_under_the_cap() -> None:
    assert bench.poisson_tail(1.0, 0.0) == pytest.approx(1.0 - math.exp(-1.0))
    exact = 1.0 - sum(math.exp(-16.0) * 16.0**k / math.factorial(k) for k in range(25))
    assert bench.poisson_tail(16.0, 24.0) == pytest.approx(exact)
    assert bench.poisson_tail(16.0, 24.5) == pytest.approx(exact)  # more than 24.5 means 25 or more
    run = {"policy": "predictive", "cell": "stress: AMD", "live_per_day": 800.0, "occupancy": 0.7}
    results = [
        {**run, "seed": 0, "amd_false_positive_share": 0.02, "days_over_cap": 0.1},
        {**run, "seed": 1, "amd_false_positive_share": 0.02, "days_over_cap": 0.0},
        {**run, "cell": "N=5 p=0.35", "seed": 0, "amd_false_positive_share": 0.0, "days_over_cap": 0.0},
    ]
    notes = bench.amd_floor_notes(results, ["N=5 p=0.35", "stress: AMD"])
    assert notes.count("\n") == 0 and notes.startswith("- stress: AMD: 2.00 %")
    floor = 100 * bench.poisson_tail(16.0, 24.0)
    assert f"put {floor:.1f} % of days above 3 %" in notes and "held 5.0 % of days above 3 % at 70.0 %" in notes

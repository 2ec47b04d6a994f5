#!/usr/bin/env python3
"""bench-v1 of pacing.md §5: progressive, VICIdial adaptive and the production predictive policy.

    scripts/bench_pacing.py                       # the full grid, 10 seeds, 2 processes
    scripts/bench_pacing.py --hours-scale 0.1 --seeds 2 --cells core   # a quick look

Prints a Markdown table (occupancy, abandonment mean and 95 % upper bound, connects per
agent-hour, dials per connect, peak lines, paired occupancy difference vs the baselines,
goal and pass) and writes ``results.json``, ``table.md`` and ``pacing.png`` to ``--out``.
Stress cells (§5.2) run the production policy only, from a cold start, and report the whole
run's abandonment and the worst 1-hour window.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from dialer.sim import bench


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds per cell (default 10)")
    ap.add_argument("--hours-scale", type=float, default=1.0, help="scale the run lengths (default 1.0 = bench-v1)")
    ap.add_argument(
        "--cells",
        default="core,stress",
        help="comma-separated: core, stress, or cell filters like N=20 or 'N=5 p=0.35' (default core,stress)",
    )
    ap.add_argument(
        "--policies",
        default=",".join(bench.POLICIES),
        help=f"comma-separated, from {', '.join(bench.ALL_POLICIES)} (default {', '.join(bench.POLICIES)})",
    )
    ap.add_argument("--overflow-epsilon", type=float, default=0.008, help="ε for the overflow reference")
    ap.add_argument(
        "--profile", choices=("us", "uk"), default="us", help="compliance profile of the predictive policy (default us)"
    )
    ap.add_argument("--from-json", help="re-summarise a previous run's results.json instead of simulating")
    ap.add_argument("--ratio-level", type=float, default=1.5, help="level for vicidial-ratio")
    ap.add_argument("--out", default="bench-pacing-out", help="output directory")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    args = ap.parse_args(argv)

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for p in policies:
        if p not in bench.ALL_POLICIES:
            ap.error(f"unknown policy {p!r}")
    wanted = [c.strip() for c in args.cells.split(",") if c.strip()]
    cells: list[bench.Cell] = []
    for c in bench.core_cells():
        if "core" in wanted or any(w in c.name and w not in ("stress",) for w in wanted):
            cells.append(c)
    stress = bench.stress_cells() if "stress" in wanted else []

    kw: dict[str, dict[str, Any] | None] = {
        "overflow": {"epsilon": args.overflow_epsilon},
        "vicidial-ratio": {"level": args.ratio_level},
        "predictive": {"compliance_profile": args.profile} if args.profile != "us" else None,
    }
    tasks: list[bench.Task] = [
        (cell, pol, seed, args.hours_scale, kw.get(pol))
        for cell in cells
        for pol in policies
        for seed in range(args.seeds)
    ]
    if "predictive" in policies:
        tasks += [
            (cell, "predictive", seed, args.hours_scale, kw["predictive"])
            for cell in stress
            for seed in range(args.seeds)
        ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = [0]

    def progress(r: dict[str, Any]) -> None:
        done[0] += 1
        print(
            f"[{done[0]}/{len(tasks)} {time.monotonic() - started:6.0f}s] {r['cell']} {r['policy']} seed {r['seed']}: "
            f"occupancy {100 * r['occupancy']:.1f} %, abandon {100 * r['abandon']:.2f} %",
            file=sys.stderr,
            flush=True,
        )

    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        names = {r["cell"] for r in results}
        cells = [c for c in cells if c.name in names]
        stress = [c for c in stress if c.name in names]
        policies = [p for p in policies if any(r["policy"] == p for r in results)]
        tasks = [t for t in tasks if t[0].name in names]
    else:
        results = bench.run_all(tasks, jobs=args.jobs, progress=progress)
    wall = time.monotonic() - started
    summaries = bench.summarise(results)
    order = [c.name for c in cells] + [c.name for c in stress]
    policy_order = [p for p in bench.ALL_POLICIES if p in policies]
    table = bench.markdown(summaries, order, policy_order)
    table += "\n\n" + bench.details_markdown(results, order, policy_order)
    notes = bench.amd_floor_notes(results, order)
    if notes:
        table += "\n\nAMD false positives (the abandonment no pacing can avoid):\n" + notes
    header = (
        f"bench-v1: {args.seeds} seeds, hours scale {args.hours_scale:g}, profile {args.profile}, {len(results)} runs, "
        + (f"re-summarised from {args.from_json}" if args.from_json else f"{wall:.0f} s wall on {args.jobs} processes")
    )
    print(header)
    print()
    print(table)
    (out / "table.md").write_text(f"{header}\n\n{table}\n")
    if not args.from_json:
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if not args.no_chart:
        try:
            bench.chart(summaries, str(out / "pacing.png"))
        except ImportError:
            print("matplotlib is not installed (pip install -e '.[dev]'); no chart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

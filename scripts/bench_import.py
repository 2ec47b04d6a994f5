#!/usr/bin/env python
"""Benchmark the campaign loader against a no-validation baseline, in the same run.

Generates a deterministic CSV (default 1,000,000 rows: realistic US phone formats, about 2 %
invalid numbers of every kind, about 1 % duplicates, a caller-ID column and 5 user-data
columns with accents, leading zeros, dates, quotes and newlines), then, each in a fresh
process and a fresh SQLite database:

* **baseline** — ``pandas.read_csv(dtype=str)`` and one bulk ``executemany`` of the raw rows
  into a plain table: no validation, no de-duplication, no indexes;
* **dialer** — :func:`dialer.importer.import_file` into a new campaign: everything a real
  import does (E.164, caller IDs, zones, duplicates, DNC, rejects, atomic write).

It prints wall time, rows/s, the ratio to the baseline, the peak RSS of the importing process
and the peak total memory (PSS) of the process and its workers, and checks the goal:
≥ 50,000 rows/s and ≤ 400 MB.

    .venv/bin/python scripts/bench_import.py                # 1,000,000 rows
    .venv/bin/python scripts/bench_import.py --rows 200000  # quicker
    .venv/bin/python scripts/bench_import.py --phones 50000 # also: normaliser vs phonenumbers
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

GOAL_ROWS_PER_S = 50_000
GOAL_MB = 400
SEED = 20260302
HEADER = ["recordHandle", "phoneNumber", "outboundCallerId", "first_name", "last_name", "account", "signup", "notes"]
CALLER_ID = "+12125550100"
FIRST = ["Ann", "Bob", "Zoë", "José", "Chloé", "Mary-Jane", "Li", "Renée", "Ólafur", "Søren", "D'Angelo", "Kim"]
LAST = ["Smith", "García", "O'Brien", "Nguyễn", "Müller", "Johnson", "Brown", "Łukasz", "Dubois", "Lee"]
NOTES = ["", "", "", "", "call after 5pm", 'said "maybe", call back', "line one\nline two", "=SUM(A1:A2)", "VIP, gold"]


def us_area_codes() -> list[str]:
    """Area codes libphonenumber accepts for ordinary US numbers (deterministic)."""
    import phonenumbers

    codes = []
    for npa in range(201, 990):
        number = phonenumbers.parse(f"+1{npa}2345678", None)
        if phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == "US":
            codes.append(str(npa))
    return codes


def render(rng: random.Random, digits: str) -> str:
    a, b, c = digits[:3], digits[3:6], digits[6:]
    style = rng.random()
    if style < 0.25:
        return f"({a}) {b}-{c}"
    if style < 0.45:
        return f"{a}-{b}-{c}"
    if style < 0.60:
        return f"{a}{b}{c}"
    if style < 0.72:
        return f"+1 {a} {b} {c}"
    if style < 0.82:
        return f"1-{a}-{b}-{c}"
    if style < 0.90:
        return f"+1{a}{b}{c}"
    if style < 0.97:
        return f"{a}.{b}.{c}"
    return f"({a}) {b}-{c} x{rng.randint(1, 999)}"


def invalid(rng: random.Random, digits: str) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"{digits[3:6]}-{digits[6:]}"  # no area code
    if kind == 1:
        return f"(999) {digits[3:6]}-{digits[6:]}"  # no such area code
    if kind == 2:
        return ""  # missing
    if kind == 3:
        return f"{digits[0]}.{digits[1:6]}E+09"  # a spreadsheet's scientific notation
    if kind == 4:
        return rng.choice(["n/a", "CALL ME", "unknown", "TBD"])
    return digits + "99"  # too long


def generate(path: Path, rows: int) -> None:
    rng = random.Random(SEED)
    codes = us_area_codes()
    earlier: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            digits = (
                rng.choice(codes) + str(rng.randint(2, 9)) + f"{rng.randrange(100):02d}" + f"{rng.randrange(10000):04d}"
            )
            roll = rng.random()
            if roll < 0.02:
                phone = invalid(rng, digits)
            elif roll < 0.03 and earlier:
                phone = rng.choice(earlier)  # the same number again, in whatever format it had
            else:
                phone = render(rng, digits)
                if len(earlier) < 50_000:
                    earlier.append(phone)
                elif rng.random() < 0.01:
                    earlier[rng.randrange(len(earlier))] = phone
            writer.writerow(
                [
                    f"LN-{i:07d}",
                    phone,
                    CALLER_ID if rng.random() < 0.3 else "",
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    f"{rng.randrange(1_000_000):07d}",
                    f"20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    rng.choice(NOTES),
                ]
            )


class MemorySampler:
    """Peak summed PSS of a process and its descendants (workers), sampled from outside (a
    thread inside the importing process would change how it starts its workers)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(self.pid)))


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_baseline(path: Path, workdir: Path) -> dict[str, object]:
    import pandas as pd

    database = workdir / "baseline.db"
    started = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    conn = sqlite3.connect(database)
    columns = ", ".join(f'"{c}" TEXT' for c in frame.columns)
    conn.execute(f"CREATE TABLE raw ({columns})")
    marks = ", ".join("?" for _ in frame.columns)
    with conn:
        conn.executemany(f"INSERT INTO raw VALUES ({marks})", frame.itertuples(index=False, name=None))
    conn.close()
    return {"rows": len(frame), "seconds": time.perf_counter() - started}


def run_dialer(path: Path, workdir: Path, workers: int | None) -> dict[str, object]:
    from dialer.domain.campaigns import CampaignSpec
    from dialer.importer import ImportOptions, import_file
    from dialer.store.repository import SqlStore

    store = SqlStore.open(f"sqlite:///{workdir / 'dialer.db'}")
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    campaign = store.create_campaign(
        CampaignSpec(name="bench", flow_id="flow-1", caller_ids=(CALLER_ID, "+13125550100")), now=now
    )
    store.add_dnc([f"+1212555{n:04d}" for n in range(1000)], source="bench", now=now)
    options = ImportOptions(rejects_path=workdir / "rejects.csv", workers=workers)
    started = time.perf_counter()
    report = import_file(store, campaign, path, options, now=now)
    seconds = time.perf_counter() - started
    records = sum(store.count_records(campaign.id).values())
    store.close()
    return {
        "rows": report.rows_read,
        "seconds": seconds,
        "imported": report.imported,
        "rejected": report.rejected,
        "by_reason": dict(report.by_reason),
        "records_in_db": records,
    }


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def calibrate() -> float:
    """CPU microseconds for a fixed pure-Python workload: how fast this machine's cores run
    right now (under load, CPU time stretches too: caches and memory bandwidth are shared)."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(500):
            sum(range(1000))
        best = min(best, (time.process_time() - started) / 500 * 1e6)
    return best


def bench_phones(path: Path, count: int) -> None:
    """Per-number time of the fast normaliser and of the phonenumbers reference, on the
    file's phone cells (the second half of them, after the first half warmed the caches)."""
    from dialer.domain import phones
    from dialer.domain.numbering import PhoneNormaliser

    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        cells = [row[1] for _, row in zip(range(2 * count), reader, strict=False)]
    warm, timed = cells[:count], cells[count:]
    fast = PhoneNormaliser()
    results = []
    for normalise, sample in ((fast.normalise, warm), (fast.normalise, timed), (phones.normalise, timed)):
        started = time.process_time()
        for cell in sample:
            try:
                normalise(cell, "US")
            except phones.PhoneError:
                pass
        results.append((time.process_time() - started) / max(len(sample), 1) * 1e6)
    print(
        f"phones ({len(timed):,} numbers, CPU µs each): fast {results[1]:.1f} (cold caches {results[0]:.1f}), "
        f"phonenumbers {results[2]:.1f}: {results[2] / results[1]:.0f}x"
    )


def child(mode: str, path: Path, workdir: Path, workers: int | None) -> None:
    main, workers_cpu = cpu_seconds(resource.RUSAGE_SELF), cpu_seconds(resource.RUSAGE_CHILDREN)
    result = run_baseline(path, workdir) if mode == "baseline" else run_dialer(path, workdir, workers)
    result["cpu_main"] = cpu_seconds(resource.RUSAGE_SELF) - main
    result["cpu_workers"] = cpu_seconds(resource.RUSAGE_CHILDREN) - workers_cpu
    result["cpu_seconds"] = result["cpu_main"] + result["cpu_workers"]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "dialer-bench")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: automatic)")
    parser.add_argument("--phones", type=int, default=0, help="also time N numbers: normaliser vs phonenumbers")
    parser.add_argument("--child", choices=["baseline", "dialer"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.workdir, args.workers)
        return 0

    args.data_dir.mkdir(parents=True, exist_ok=True)
    source = args.data_dir / f"records-{args.rows}-{SEED}.csv"
    if not source.exists():
        print(f"generating {source} …", file=sys.stderr)
        partial = source.with_suffix(".partial")
        generate(partial, args.rows)
        partial.replace(source)
    size_mb = source.stat().st_size / 1e6
    print(f"file: {source} ({args.rows:,} rows, {size_mb:.0f} MB); cores: {os.cpu_count()}")
    if args.phones:
        bench_phones(source, args.phones)
    speed = calibrate()
    load = os.getloadavg()[0]
    print(f"machine: sum(range(1000)) takes {speed:.1f} µs of CPU (it grows with the machine's load), load {load:.1f}")
    results = {}
    for mode in ("baseline", "dialer"):
        with tempfile.TemporaryDirectory(dir=args.data_dir) as workdir:
            command = [sys.executable, __file__, "--child", mode, "--file", str(source), "--workdir", workdir]
            if args.workers is not None:
                command += ["--workers", str(args.workers)]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            with MemorySampler(process.pid) as memory:
                stdout, stderr = process.communicate()
            if process.returncode != 0:
                print(stderr, file=sys.stderr)
                return 1
            results[mode] = json.loads(stdout.strip().splitlines()[-1])
            results[mode]["peak_total_pss_mb"] = memory.peak_kb / 1024
    base, ours = results["baseline"], results["dialer"]
    print(f"{'':10} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'CPU s':>7} {'peak RSS':>9} {'peak PSS (all)':>15}")
    for name, r in (("baseline", base), ("dialer", ours)):
        rate = r["rows"] / r["seconds"]
        print(
            f"{name:10} {r['rows']:>10,} {r['seconds']:>8.2f} {rate:>9,.0f} {r['cpu_seconds']:>7.1f} "
            f"{r['peak_rss_mb']:>6.0f} MB {r['peak_total_pss_mb']:>12.0f} MB"
        )
    per = 100_000 / max(ours["rows"], 1)
    print(
        f"dialer CPU: {ours['cpu_main']:.1f} s in the importing process, {ours['cpu_workers']:.1f} s in its workers "
        f"(wall time on an idle machine is about the larger of the first and half the total); per 100,000 rows: "
        f"{ours['cpu_seconds'] * per:.2f} s ({ours['cpu_main'] * per:.2f} + {ours['cpu_workers'] * per:.2f}), "
        f"baseline {base['cpu_seconds'] * 100_000 / max(base['rows'], 1):.2f} s"
    )
    print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)")
    rate = ours["rows"] / ours["seconds"]
    print(f"dialer / baseline time: {ours['seconds'] / base['seconds']:.2f}x")
    print(
        f"dialer: {ours['imported']:,} imported, {ours['rejected']:,} rejected {ours['by_reason']}; "
        f"{ours['records_in_db']:,} records in the database"
    )
    memory = max(ours["peak_rss_mb"], ours["peak_total_pss_mb"])
    ok = rate >= GOAL_ROWS_PER_S and memory <= GOAL_MB
    print(
        f"goal ≥ {GOAL_ROWS_PER_S:,} rows/s and ≤ {GOAL_MB} MB: {'met' if ok else 'NOT met'} "
        f"({rate:,.0f} rows/s, {memory:.0f} MB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Benchmark the outcome reports against plain writers, in one run.

Generates a deterministic call history into a fresh SQLite database (two campaigns), then:

* **CSV** — ``export(..., sheet="attempts")`` of a 1,000,000-attempt campaign (SQLite
  renders each line), next to ``DataFrame.to_csv`` of the same rows already in memory (the
  raw serialisation cost) and to the same sheet written through the csv module from the
  store's rows (the path of a database that does not render lines; the two files must be the same bytes);
* **XLSX** — ``export(...)`` of the whole workbook of a 100,000-record campaign (Summary,
  Records, Attempts, Abandonment, Rejects), next to a plain xlsxwriter ``write_row`` of the
  same Records and Attempts rows, already in memory, in the same constant-memory mode.

Each export runs in a fresh child process so that its peak memory (``VmHWM``, and how far
it rose above the RSS at the start of the export) is its own. Targets (issue 6): CSV ≤ 10 s;
workbook ≤ 15 s with bounded memory. Timings on a shared machine are noisy: compare the ratios.

    python scripts/bench_report.py                        # the full sizes
    python scripts/bench_report.py --attempts 100000 --records 10000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.domain.records import Attempt, AttemptState, NewRecord
from dialer.domain.results import CallResult
from dialer.reports import sheets
from dialer.reports.csvfile import write_csv
from dialer.reports.export import export
from dialer.store import bulk
from dialer.store.repository import SqlStore

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # a Monday, 09:00 in New York
NOW = T0 + timedelta(days=40)

# (outcome, share, raw provider outcome)
OUTCOMES = [
    (CallResult.NO_ANSWER, 40, "No Answer"),
    (CallResult.ANSWER, 28, "Completed"),
    (CallResult.ANSWERING_MACHINE, 15, "Machine"),
    (CallResult.BUSY, 10, "Busy"),
    (CallResult.DIAL_ERROR, 3, "Failed"),
    (CallResult.ABANDONED, 2, "Completed"),
    (CallResult.SIT_VACANT, 2, "Failed: 404"),
]
FIRST = ["Zoë", "José", "Lucía", "Søren", "Ann", "Bob", "Wei", "Jürgen", "Léa", "Kai"]
LAST = ["Lefèvre", "Müller", "Rossi", "Smith", "García", "Dubois", "Nakamura", "O'Brien"]
NOTES = ["", "call after 5pm", "Asked about bundle discount, call back", '=HYPERLINK("http://x")', "-2+3", "@SUM(A1)"]


def campaign(store: SqlStore, name: str) -> Campaign:
    spec = CampaignSpec(name=name, flow_id="flow-1", caller_ids=("+12125550100", "+13125550100"), agents=20)
    return store.create_campaign(spec, now=T0)


def new_records(n: int, prefix: str, rng: random.Random) -> Iterator[NewRecord]:
    for i in range(n):
        yield NewRecord(
            handle=f"{prefix}-{i:07d}",
            phone=f"+1212{i % 10_000_000:07d}",
            caller_id=None if i % 3 else "+13125550100",
            user_data={
                "first_name": rng.choice(FIRST),
                "last_name": rng.choice(LAST),
                "account": f"{rng.randrange(10**8):08d}",
                "plan": rng.choice(["Auto Basic", "Home Plus", "Life 20-Year"]),
                "premium": f"{rng.uniform(100, 4000):,.2f}",
                "notes": NOTES[i % len(NOTES)] if i % 50 == 0 else rng.choice(NOTES[:3]),
            },
            next_dial_at=T0,
            timezone="America/New_York",
        )


def attempts(
    camp: Campaign, record_ids: list[int], per_record: list[int], total: int, rng: random.Random
) -> Iterator[Attempt]:
    """``total`` attempts spread evenly over 30 days; record ``k`` gets ``per_record[k]`` of them."""
    step = timedelta(days=30) / max(total, 1)
    weights = [w for _, w, _ in OUTCOMES]
    order = [k for k, n in enumerate(per_record) for _ in range(n)]
    rng.shuffle(order)
    for i, k in enumerate(order[:total]):
        rid = record_ids[k]
        outcome, _, raw = rng.choices(OUTCOMES, weights)[0]
        placed = T0 + i * step
        answered = placed + timedelta(seconds=rng.uniform(4, 20))
        live = outcome.is_live
        connected = answered + timedelta(seconds=1) if outcome is CallResult.ANSWER else None
        ended = (
            (connected or answered) + timedelta(seconds=rng.uniform(20, 300))
            if live
            else placed + timedelta(seconds=25)
        )
        yield Attempt(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            record_id=rid,
            campaign_id=camp.id,
            backend="evovoice",
            mode="progressive",
            state=AttemptState.ENDED,
            number_dialed=f"+1212{(rid % 10_000_000):07d}",
            caller_id="+12125550100",
            created_at=placed,
            placed_at=placed,
            answered_at=answered if live or outcome is CallResult.ANSWERING_MACHINE else None,
            connected_at=connected,
            ended_at=ended,
            provider_ref=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            call_sid=f"CA{rng.getrandbits(128):032x}",
            outcome=outcome,
            raw_outcome=raw,
            was_missed=outcome.is_abandoned,
            duration_s=round((ended - placed).total_seconds(), 1),
            agent=f"Agent {rng.randrange(1, 21)}" if connected else None,
            pacing_reason="progressive: 8 idle of 20 agents, 0 waiting, 2 ringing → 6",
        )


def generate(store: SqlStore, *, n_attempts: int, n_records: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    started = time.perf_counter()
    csv_camp = campaign(store, "csv-campaign")
    csv_records = max(1, n_attempts // 4)
    bulk.insert_records(store, csv_camp.id, new_records(csv_records, "C", rng), now=T0)
    ids = list(store.record_keys(csv_camp.id)[0].values())
    bulk.insert_attempts(store, attempts(csv_camp, ids, [4] * len(ids), n_attempts, rng))

    book_camp = campaign(store, "book-campaign")
    bulk.insert_records(store, book_camp.id, new_records(n_records, "B", rng), now=T0)
    ids = list(store.record_keys(book_camp.id)[0].values())
    per_record = [rng.choice([1, 1, 2, 2, 2, 3, 4]) for _ in ids]
    book_attempts = bulk.insert_attempts(store, attempts(book_camp, ids, per_record, sum(per_record), rng))
    return {
        "csv_attempts": n_attempts,
        "csv_records": csv_records,
        "book_records": n_records,
        "book_attempts": book_attempts,
        "seconds": time.perf_counter() - started,
    }


# ------------------------------------------------------------------ measuring
def _status_kb(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, from /proc (Linux)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _export_child(url: str, name: str, out: str, sheet: str, queue: Any) -> None:
    store = SqlStore.open(url, migrate_schema=False)
    camp = store.get_campaign(name)
    before = _status_kb("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    result = export(store, camp, Path(out), now=NOW, sheet=sheet)  # type: ignore[arg-type]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _status_kb("VmHWM")  # not ru_maxrss: Linux carries that over from the parent across exec
    queue.put(
        {
            "seconds": seconds,
            "cpu_s": cpu,
            "sheets": result.sheets,
            "rss_before_mb": before / 1024,
            "peak_mb": peak / 1024,
        }
    )


def _module_child(url: str, name: str, out: str, sheet: str, queue: Any) -> None:
    """The attempts sheet through the csv module (the path of a database that does not render lines)."""
    store = SqlStore.open(url, migrate_schema=False)
    camp = store.get_campaign(name)
    before = _status_kb("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    with store.report_snapshot(zone=camp.zone, now=NOW) as reader:
        lines = reader.attempt_lines(camp.id, until=NOW + timedelta(days=1))
        rows = write_csv(Path(out), sheets.attempt_columns(camp.zone), lines)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _status_kb("VmHWM")
    queue.put(
        {
            "seconds": seconds,
            "cpu_s": cpu,
            "sheets": {"Attempts": rows},
            "rss_before_mb": before / 1024,
            "peak_mb": peak / 1024,
        }
    )


def timed_export(url: str, name: str, out: Path, sheet: str = "records", *, module: bool = False) -> dict[str, Any]:
    """Run one export in a fresh child process; its time, rows and memory."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    target = _module_child if module else _export_child
    child = ctx.Process(target=target, args=(url, name, str(out), sheet, queue))
    child.start()
    result: dict[str, Any] = queue.get()
    child.join()
    result["growth_mb"] = result["peak_mb"] - result["rss_before_mb"]
    return result


def csv_baseline(exported: Path, target: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of ``DataFrame.to_csv`` of the exported rows, already in memory."""
    frame = pd.read_csv(exported, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    started, cpu = time.perf_counter(), time.process_time()
    frame.to_csv(target, index=False, encoding="utf-8-sig")
    return time.perf_counter() - started, time.process_time() - cpu


def xlsx_baseline(store: SqlStore, name: str, target: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain xlsxwriter write of the same rows, already in memory."""
    camp = store.get_campaign(name)
    with store.report_snapshot(zone=camp.zone, now=NOW) as reader:
        keys = reader.user_data_keys(camp.id)
        records = sheets.record_batches(reader.record_lines(camp.id), camp, keys)
        record_rows = [list(r) for batch in records for r in batch]
        attempt_rows = [list(r) for batch in reader.attempt_lines(camp.id) for r in batch]
    tables = [
        ("Records", [c.name for c in sheets.record_columns(keys)], record_rows),
        ("Attempts", [c.name for c in sheets.attempt_columns(camp.zone)], attempt_rows),
    ]
    started, cpu = time.perf_counter(), time.process_time()
    book = xlsxwriter.Workbook(
        str(target), {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    for title, header, rows in tables:
        ws = book.add_worksheet(title)
        ws.write_row(0, 0, header)
        for n, row in enumerate(rows, start=1):
            ws.write_row(n, 0, row)
    book.close()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1_000_000, help="attempts in the CSV campaign")
    parser.add_argument("--records", type=int, default=100_000, help="records in the workbook campaign")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--workdir", type=Path, help="keep the database and files here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse --workdir's database if made with these sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-report-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "bench.db"
    stamp = workdir / "bench.json"
    wanted = {"attempts": args.attempts, "records": args.records, "seed": args.seed}
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))
    url = f"sqlite:///{database}"
    if args.reuse and stamp.exists() and json.loads(stamp.read_text())["params"] == wanted:
        data = json.loads(stamp.read_text())["data"]
        store = SqlStore.open(url)
        say(f"reusing {database}")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        store = SqlStore.open(url)
        say(f"generating {args.attempts:,} + {args.records:,}-record campaigns into {database} …")
        data = generate(store, n_attempts=args.attempts, n_records=args.records, seed=args.seed)
        stamp.write_text(json.dumps({"params": wanted, "data": data}))
        say(f"generated in {data['seconds']:.1f} s; measuring …")

    csv_out = workdir / "attempts.csv"
    csv_run = timed_export(url, "csv-campaign", csv_out, sheet="attempts")
    module_out = workdir / "attempts-module.csv"
    csv_module = timed_export(url, "csv-campaign", module_out, sheet="attempts", module=True)
    same = module_out.read_bytes() == csv_out.read_bytes()
    csv_base = csv_baseline(csv_out, workdir / "baseline.csv")
    book_out = workdir / "book.xlsx"
    book_run = timed_export(url, "book-campaign", book_out)
    book_base = xlsx_baseline(store, "book-campaign", workdir / "baseline.xlsx")
    store.close()

    csv_ratio = csv_run["seconds"] / csv_base[0]
    book_ratio = book_run["seconds"] / book_base[0]
    report = {
        "data": data,
        "csv": {
            **csv_run,
            "baseline_to_csv_s": csv_base[0],
            "baseline_cpu_s": csv_base[1],
            "ratio": csv_ratio,
            "cpu_ratio": csv_run["cpu_s"] / csv_base[1],
            "csv_module_s": csv_module["seconds"],
            "csv_module_ratio": csv_module["seconds"] / csv_base[0],
            "same_bytes": same,
            "target_s": 10,
        },
        "xlsx": {
            **book_run,
            "baseline_plain_write_s": book_base[0],
            "baseline_cpu_s": book_base[1],
            "ratio": book_ratio,
            "cpu_ratio": book_run["cpu_s"] / book_base[1],
            "target_s": 15,
        },
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        c, x = report["csv"], report["xlsx"]
        print(
            f"CSV  {data['csv_attempts']:,} attempts: export {c['seconds']:.2f} s (CPU {c['cpu_s']:.2f} s), "
            f"peak RSS {c['peak_mb']:.0f} MB (+{c['growth_mb']:.0f} MB during the export); "
            f"DataFrame.to_csv of the same rows {c['baseline_to_csv_s']:.2f} s (CPU {c['baseline_cpu_s']:.2f} s); "
            f"ratio {c['ratio']:.2f} (CPU {c['cpu_ratio']:.2f}); "
            f"through the csv module (PostgreSQL's path) {c['csv_module_s']:.2f} s, ratio {c['csv_module_ratio']:.2f}, "
            f"{'the same bytes' if c['same_bytes'] else 'DIFFERENT BYTES'}; "
            f"target ≤ {c['target_s']} s: {'met' if c['seconds'] <= c['target_s'] else 'NOT met'} here"
        )
        print(
            f"XLSX {data['book_records']:,} records + {data['book_attempts']:,} attempts: export {x['seconds']:.2f} s "
            f"(CPU {x['cpu_s']:.2f} s), peak RSS {x['peak_mb']:.0f} MB (+{x['growth_mb']:.0f} MB during the export); "
            f"plain xlsxwriter write of the same rows {x['baseline_plain_write_s']:.2f} s "
            f"(CPU {x['baseline_cpu_s']:.2f} s); ratio {x['ratio']:.2f} (CPU {x['cpu_ratio']:.2f}); "
            f"target ≤ {x['target_s']} s: {'met' if x['seconds'] <= x['target_s'] else 'NOT met'} here"
        )
        m = report["machine"]
        print(f"python {m['python']}, {m['cpus']} CPUs, load average {m['load_average']}; files in {workdir}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""How the dialer's costs grow with campaign size, each next to a baseline from the same run.

Sections (``--sections``, comma-separated; all by default):

* **tick** — ``run_tick`` called directly (progressive, 8 agents, the simulated call centre,
  every record due, a call history of one attempt per ten records): p50 and p99 of every
  tick and of the ticks that placed calls, at 100k, 1M and 10M records on PostgreSQL and
  10k, 100k and 1M on SQLite. Baselines: the smallest size (goal: tick(largest)/tick(smallest)
  ≤ 1.5 at p99, and p99 ≤ 20 ms) and the claim query the store used before (``ORDER BY
  CASE record_type …`` with ``NOT IN`` the open attempts), timed once per size. The plan
  of today's claim query is printed for each size (it must walk ``ix_records_claim``).
* **placements** — with PostgreSQL: placements per second by 1, 2 and 4 ``dialer run``
  daemons (``--daemons``) sharing four campaigns of one database, against the Evo Voice
  sandbox over loopback (goal ≥ 100/s with one, near-linear up to the CPS cap), beside two
  baselines from the same run: bare ``POST /sessions/outgoing`` from the real client in one
  thread, and in eight (the sandbox's own ceiling: one uvicorn worker). Then simulated
  placements per second through ``dial_records`` on SQLite, against raw sqlite3 doing the two
  transactions of a placement (record to ``dialing`` plus the attempt; then the provider's
  answer) per call.
* **import** — 1M CSV rows into SQLite (the dialer's import vs ``pandas.read_csv`` +
  ``to_sql``; goal ≥ 50k rows/s and peak RSS ≤ 400 MB) and into PostgreSQL (vs a bare
  ``COPY … FROM STDIN`` of the same file into a table of text columns, and vs the server's
  floor: ``COPY`` of the records the import stored into ``records`` itself, with its indexes
  and foreign keys). Each row gives CPU seconds per 100k rows (importing process + workers;
  for PostgreSQL also the server's backends, from /proc) beside wall time, and the load
  average is printed before and after.
* **export** — the attempts CSV of a 1M-attempt campaign from PostgreSQL (vs ``COPY (SELECT
  …) TO STDOUT`` of the same rows) and from SQLite (goal: PostgreSQL at least as fast).

Each import and export runs in a fresh child process, so its time and peak memory are its own.

    nice -n 10 scripts/bench_scale.py                 # the full sizes (the 10M database takes minutes)
    scripts/bench_scale.py --quick                    # small sizes, a minute or two
    scripts/bench_scale.py --sections tick --keep     # keep (and reuse) the generated databases

PostgreSQL comes from ``--pg-url`` (default ``$DIALER_TEST_POSTGRES_URL``); the script creates
its own databases there (``dialer_bench_scale_*``) and drops them unless ``--keep``. Timings on
a shared machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import multiprocessing
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import psycopg

from dialer.context import build_context
from dialer.daemon import tick
from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.domain.clock import SystemClock, VirtualClock
from dialer.domain.records import NewRecord
from dialer.errors import NotFound
from dialer.sandbox.evovoice import EvoSandbox, SandboxConfig
from dialer.sandbox.evovoice_app import create_app
from dialer.sandbox.server import bind, serve, url_of
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.evo_voice import EvoVoiceApi
from dialer.telephony.simulated import SimulatedTelephony

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York: inside the calling window
CAMPAIGN = "bench"
AGENTS = 8
CALLER_ID = "+12125550100"
AREA_CODES = "212312415617202646718404305503"  # 10 area codes × 8M numbers each
SCRIPTS = Path(__file__).resolve().parent


# ------------------------------------------------------------------ helpers
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def human(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def libpq(url: str) -> str:
    """A SQLAlchemy URL for psycopg as a libpq one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _child_main(target: Callable[..., dict[str, Any]], args: tuple[Any, ...], queue: Any) -> None:
    started = time.perf_counter()
    main, workers = _cpu_seconds(resource.RUSAGE_SELF), _cpu_seconds(resource.RUSAGE_CHILDREN)
    result = target(*args)
    result.setdefault("seconds", time.perf_counter() - started)
    result["peak_mb"] = _status_kb("VmHWM") / 1024
    # CPU of this process and of the worker processes it started (and waited for).
    result["cpu_main"] = _cpu_seconds(resource.RUSAGE_SELF) - main
    result["cpu_workers"] = _cpu_seconds(resource.RUSAGE_CHILDREN) - workers
    queue.put(result)


def in_child(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``target(*args)`` in a fresh process; its result, with ``peak_mb`` (VmHWM)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_main, args=(target, args, queue))
    child.start()
    result: dict[str, Any] = queue.get()
    child.join()
    return result


class Databases:
    """Fresh (or, with ``keep``, reused) SQLite files and PostgreSQL databases for the bench."""

    def __init__(self, *, pg_url: str | None, data_dir: Path, keep: bool, prefix: str = "dialer_bench_scale_") -> None:
        self.pg_url = pg_url
        self.data_dir = data_dir
        self.keep = keep
        self.created: list[str] = []
        # kept databases have fixed names (to be reused); others are this run's own
        self.prefix = prefix if keep else f"{prefix}{uuid.uuid4().hex[:8]}_"

    def sqlite(self, name: str, *, fresh: bool = False) -> str:
        path = self.data_dir / f"{name}.db"
        if fresh or not self.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"

    def postgres(self, name: str, *, fresh: bool = False) -> str:
        assert self.pg_url is not None
        db = f"{self.prefix}{name}"
        with psycopg.connect(libpq(self.pg_url), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
            if exists and (fresh or not self.keep):
                conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{db}"')
        if not self.keep:
            self.created.append(db)
        base, _, _ = self.pg_url.rpartition("/")
        return f"{base}/{db}"

    def close(self) -> None:
        if self.pg_url is None:
            return
        with psycopg.connect(libpq(self.pg_url), autocommit=True) as conn:
            for db in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def bench_campaign(store: SqlStore, *, agents: int = AGENTS) -> Campaign:
    try:
        return store.get_campaign(CAMPAIGN)
    except NotFound:
        spec = CampaignSpec(name=CAMPAIGN, flow_id="flow-1", caller_ids=(CALLER_ID,), agents=agents)
        return store.create_campaign(spec, now=T0)


# ------------------------------------------------------------------ generating records
def _pg_generate(url: str, campaign_id: int, n: int) -> None:
    """``n`` due records and a finished attempt for one in ten, generated by the server itself."""
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('records', 'attempts') "
            "AND indexname NOT LIKE 'pk_%' AND indexname NOT LIKE 'uq_records_%'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        conn.execute(
            """
            INSERT INTO records (campaign_id, handle, phone, user_data, status, record_type, attempts,
                                 next_dial_at, timezone, tz_candidates, tz_source, result_counts,
                                 created_at, updated_at)
            SELECT %(cid)s, 'R-' || g,
                   '+1' || substr(%(areas)s, 1 + 3 * (g / 8000000), 3) || (2000000 + g %% 8000000),
                   '{"name": "Contact"}'::json, 'ready', 'general', 0,
                   %(t0)s::timestamptz - (%(n)s - g) * interval '1 millisecond',
                   'America/New_York', '["America/New_York"]'::json, 'number', '{}'::json, %(t0)s, %(t0)s
            FROM generate_series(0, %(n)s - 1) AS g
            """,
            {"cid": campaign_id, "areas": AREA_CODES, "t0": T0 - timedelta(days=1), "n": n},
        )
        conn.execute(
            """
            INSERT INTO attempts (id, record_id, campaign_id, backend, mode, state, number_dialed,
                                  created_at, placed_at, ended_at, outcome, category, preview,
                                  pacing_reason, updated_at)
            SELECT 'h-' || r.id, r.id, r.campaign_id, 'simulated', 'progressive', 'ended', r.phone,
                   %(t)s, %(t)s, %(t)s + interval '30 seconds', 'NO_ANSWER', 'no_contact', false, 'history', %(t)s
            FROM records r WHERE r.campaign_id = %(cid)s AND r.id %% 10 = 0
            """,
            {"cid": campaign_id, "t": T0 - timedelta(days=2)},
        )
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE records")
        conn.execute("VACUUM ANALYZE attempts")


def _sqlite_generate(url: str, campaign_id: int, n: int) -> None:
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA cache_size = -262144")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('records', 'attempts') "
        "AND sql IS NOT NULL AND name NOT LIKE 'uq_records_%'"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    t0 = (T0 - timedelta(days=1)).replace(tzinfo=None)
    conn.execute(
        """
        INSERT INTO records (campaign_id, handle, phone, user_data, status, record_type, attempts,
                             next_dial_at, timezone, tz_candidates, tz_source, result_counts, created_at, updated_at)
        WITH RECURSIVE c(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM c WHERE g < :n - 1)
        SELECT :cid, 'R-' || g, '+1' || substr(:areas, 1 + 3 * (g / 8000000), 3) || (2000000 + g % 8000000),
               '{"name": "Contact"}', 'ready', 'general', 0,
               strftime('%Y-%m-%d %H:%M:%S', :t0, '-' || (:n - g) || ' seconds') || '.000000',
               'America/New_York', '["America/New_York"]', 'number', '{}', :t0s, :t0s
        FROM c
        """,
        {
            "cid": campaign_id,
            "areas": AREA_CODES,
            "t0": t0.isoformat(" "),
            "t0s": t0.isoformat(" ", "microseconds"),
            "n": n,
        },
    )
    t = (T0 - timedelta(days=2)).replace(tzinfo=None)
    conn.execute(
        """
        INSERT INTO attempts (id, record_id, campaign_id, backend, mode, state, number_dialed, created_at,
                              placed_at, ended_at, outcome, category, preview, pacing_reason, updated_at)
        SELECT 'h-' || id, id, campaign_id, 'simulated', 'progressive', 'ended', phone, :t, :t, :e,
               'NO_ANSWER', 'no_contact', 0, 'history', :t
        FROM records WHERE campaign_id = :cid AND id % 10 = 0
        """,
        {
            "cid": campaign_id,
            "t": t.isoformat(" ", "microseconds"),
            "e": (t + timedelta(seconds=30)).isoformat(" ", "microseconds"),
        },
    )
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _reset(url: str, campaign_id: int) -> None:
    """Undo a previous run's dialing on a kept database: every record ready, only the history."""
    statements = [
        "DELETE FROM attempts WHERE id NOT LIKE 'h-%'",
        "DELETE FROM pacing_log",
        "DELETE FROM pacing_history",
        f"UPDATE records SET status = 'ready', lease_owner = NULL, lease_until = NULL "
        f"WHERE campaign_id = {campaign_id} AND status <> 'ready'",
    ]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        with conn:
            for sql in statements:
                conn.execute(sql)
        conn.close()
    else:
        with psycopg.connect(libpq(url)) as pg:
            for sql in statements:
                pg.execute(sql)


def campaign_of_size(url: str, n: int) -> tuple[SqlStore, Campaign]:
    store = SqlStore.open(url)
    campaign = bench_campaign(store)
    have = sum(store.count_records(campaign.id).values())
    if have != n:
        if have:
            raise SystemExit(f"{url} holds {have} records, not {n}: run without --keep, or drop it")
        print(f"  generating {n:,} records …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if url.startswith("sqlite"):
            _sqlite_generate(url, campaign.id, n)
        else:
            _pg_generate(url, campaign.id, n)
        print(f"  … in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    else:
        _reset(url, campaign.id)
    return store, campaign


# ------------------------------------------------------------------ tick
_OLD_CLAIM = {
    "sqlite": "SELECT id FROM records WHERE campaign_id = ? AND status = 'ready' AND next_dial_at <= ? "
    "AND phone NOT IN (SELECT number_dialed FROM attempts WHERE ended_at IS NULL) "
    "ORDER BY CASE WHEN record_type = 'general' THEN 1 ELSE 0 END, next_dial_at, id LIMIT 8",
    "postgresql": "SELECT id FROM records WHERE campaign_id = %s AND status = 'ready' AND next_dial_at <= %s "
    "AND phone NOT IN (SELECT number_dialed FROM attempts WHERE ended_at IS NULL) "
    "ORDER BY CASE WHEN record_type = 'general' THEN 1 ELSE 0 END, next_dial_at, id LIMIT 8 "
    "FOR UPDATE SKIP LOCKED",
}


def old_claim_ms(url: str, campaign_id: int) -> float:
    """The claim query as it was before ix_records_claim (ORDER BY CASE, NOT IN), in ms, rolled back."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        now = T0.replace(tzinfo=None).isoformat(" ", "microseconds")
        started = time.perf_counter()
        conn.execute(_OLD_CLAIM["sqlite"], (campaign_id, now)).fetchall()
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed * 1000
    with psycopg.connect(libpq(url)) as pg:
        started = time.perf_counter()
        pg.execute(_OLD_CLAIM["postgresql"], (campaign_id, T0)).fetchall()
        elapsed = time.perf_counter() - started
        pg.rollback()
    return elapsed * 1000


def commit_ms(url: str, n: int = 200) -> tuple[float, float]:
    """p50 and p99 of a bare one-row INSERT + COMMIT, in ms: the disk's sync cost, which every
    durable write pays, and (p99) how long the machine stalls a round trip now and then."""
    times: list[float] = []
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit (x INTEGER)")
        for _ in range(n):
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO bench_commit VALUES (1)")
            conn.execute("COMMIT")
            times.append((time.perf_counter() - started) * 1000)
        conn.execute("DROP TABLE bench_commit")
        conn.close()
        return statistics.median(times), pct(times, 0.99)
    with psycopg.connect(libpq(url)) as pg:
        pg.execute("CREATE TABLE IF NOT EXISTS bench_commit (x integer)")
        pg.commit()
        for _ in range(n):
            started = time.perf_counter()
            pg.execute("INSERT INTO bench_commit VALUES (1)")
            pg.commit()
            times.append((time.perf_counter() - started) * 1000)
        pg.execute("DROP TABLE bench_commit")
        pg.commit()
    return statistics.median(times), pct(times, 0.99)


class TickProbe:
    """Counts and times the statements, commits and connection checkouts of each tick, through
    the engine's dialect (``do_execute``, ``do_commit``, ``do_ping``), to show where a slow tick
    spends its time."""

    def __init__(self, store: SqlStore) -> None:
        self.dialect = store.engine.dialect
        self.reset()
        self._saved = {name: getattr(self.dialect, name) for name in self._WRAPPED}
        for name, kind in self._WRAPPED.items():
            setattr(self.dialect, name, self._timed(self._saved[name], kind))

    _WRAPPED: ClassVar[dict[str, str]] = {
        "do_execute": "statement",
        "do_execute_no_params": "statement",
        "do_executemany": "statement",
        "do_commit": "commit",
        "do_ping": "ping",
        "do_rollback": "rollback",
    }

    def reset(self) -> None:
        self.count: dict[str, int] = {}
        self.ms: dict[str, float] = {}
        self.statements: list[tuple[float, str]] = []

    def _timed(self, method: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                self.count[kind] = self.count.get(kind, 0) + 1
                self.ms[kind] = self.ms.get(kind, 0.0) + elapsed
                if kind == "statement":
                    self.statements.append((elapsed, " ".join(str(args[1]).split())[:90]))

        return wrapper

    def close(self) -> None:
        for name, method in self._saved.items():
            setattr(self.dialect, name, method)

    def breakdown(self, total_ms: float) -> str:
        parts = [f"{kind} {self.count[kind]}× {self.ms[kind]:.1f} ms" for kind in sorted(self.count)]
        rest = total_ms - sum(self.ms.values())
        slow = sorted(self.statements, reverse=True)[:3]
        top = "; ".join(f"{ms:.1f} ms {sql}" for ms, sql in slow)
        return f"{total_ms:.1f} ms: {', '.join(parts)}, python {rest:.1f} ms — slowest: {top}"


def time_ticks(store: SqlStore, *, ticks: int, warmup: int = 5, show_slowest: int = 0) -> dict[str, Any]:
    def agents(name: str) -> int:
        return AGENTS

    clock = VirtualClock(T0)
    telephony = SimulatedTelephony(agents_for=agents, model=CallModel(), seed=1)
    ctx = build_context(load_settings(), clock=clock, store=store, telephony=telephony)
    every: list[float] = []
    placing: list[float] = []
    commits: list[int] = []
    statements: list[int] = []
    slowest: list[tuple[float, int, str]] = []
    placed = 0
    probe = TickProbe(store)
    try:
        for i in range(warmup + ticks):
            probe.reset()
            started = time.perf_counter()
            report = tick.run_tick(ctx, now=clock.now())
            elapsed = (time.perf_counter() - started) * 1000
            if i >= warmup:
                every.append(elapsed)
                commits.append(probe.count.get("commit", 0))
                statements.append(probe.count.get("statement", 0))
                placed += report.placed
                if report.placed:
                    placing.append(elapsed)
                label = f"placed {report.placed}, ended {report.ended}"
                slowest.append((elapsed, i, f"{label}: {probe.breakdown(elapsed)}"))
                slowest = sorted(slowest, reverse=True)[: max(show_slowest, 1)]
            clock.advance(1.0)
    finally:
        probe.close()
    return {
        "p50": statistics.median(every),
        "p99": pct(every, 0.99),
        "placing_p50": statistics.median(placing) if placing else float("nan"),
        "placing_ticks": len(placing),
        "placed": placed,
        "commits_mean": statistics.fmean(commits),
        "commits_max": max(commits),
        "statements_mean": statistics.fmean(statements),
        "slowest": [text for _, _, text in slowest[:show_slowest]],
    }


def tick_section(args: argparse.Namespace, dbs: Databases) -> None:
    print("\n## tick (run_tick, progressive, 8 agents, simulated call centre, all records due)\n")
    print(
        "| database | records | tick p50 ms | tick p99 ms (goal ≤ 20) | placing tick p50 ms | ticks placing | "
        "ratio p99 vs smallest (goal ≤ 1.5) | commits per tick (mean/max) | statements per tick | "
        "old claim query ms | bare commit ms p50 / p99 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    plans: list[tuple[str, int, list[str]]] = []
    slow: list[tuple[str, int, list[str]]] = []
    for dialect, sizes in (("postgresql", args.pg_sizes), ("sqlite", args.sqlite_sizes)):
        if dialect == "postgresql" and dbs.pg_url is None:
            print("| postgresql | — | skipped: no --pg-url | | | | | | | | |")
            continue
        base: float | None = None
        for n in sizes:
            url = dbs.postgres(f"tick_{n}") if dialect == "postgresql" else dbs.sqlite(f"tick_{n}")
            store, campaign = campaign_of_size(url, n)
            try:
                old = old_claim_ms(url, campaign.id)
                commit = commit_ms(url)
                plans.append((dialect, n, store.explain_claim(campaign.id, now=T0)))
                result = time_ticks(store, ticks=args.ticks, show_slowest=args.show_slowest)
            finally:
                store.close()
            base = base or result["p99"]
            ratio = result["p99"] / base
            slow.append((dialect, n, result["slowest"]))
            print(
                f"| {dialect} | {human(n)} | {result['p50']:.2f} | {result['p99']:.2f} "
                f"{'✓' if result['p99'] <= 20 else '✗'} | {result['placing_p50']:.2f} | {result['placing_ticks']} | "
                f"{ratio:.2f} {'✓' if ratio <= 1.5 else '✗'} | {result['commits_mean']:.1f}/{result['commits_max']} | "
                f"{result['statements_mean']:.1f} | {old:.1f} | {commit[0]:.2f} / {commit[1]:.2f} |",
                flush=True,
            )
    print("\nGoals: p99 ≤ 20 ms; p99 ratio of the largest to the smallest size ≤ 1.5. A tick writes what it")
    print("collected in one transaction and a batch of calls in two (attempts before the first call, answers")
    print("after the last); on PostgreSQL only the attempts before the call wait for the WAL flush (the bare")
    print("commit p50). The bare commit's p99 shows how long this machine stalls a round trip now and then.")
    if args.show_slowest:
        print("\nSlowest ticks (statements, commits, pool pings and the Python around them):\n")
        for dialect, n, lines in slow:
            print(f"{dialect} {human(n)}:")
            for line in lines:
                print(f"    {line}")
    print("\nPlans of the claim query (general records):\n")
    for dialect, n, plan in plans:
        print(f"{dialect} {human(n)}:")
        for line in plan:
            print(f"    {line}")


# ------------------------------------------------------------------ placements
# ------------------------------------------------------------------ placements
#: The sandbox's callees: short calls, so that lines and agents free up quickly and the
#: placement rate is what is measured, not talk time.
SANDBOX_MODEL = CallModel(
    hit_rate=0.3, answer_min=0.2, answer_shape=3.0, answer_scale=0.1, ring_timeout=1.5, talk_mean=0.5, wrap=0.1
)
#: Campaigns the daemons share out, and their pacing: progressive, one line per agent, with
#: enough agents (and a wrap-up of 1 s) that pacing allows far more than 100 calls/s; the
#: account's CPS cap (DIALER_EVOVOICE_MAX_CPS) is set to 1000.
DAEMON_CAMPAIGNS = 4
DAEMON_AGENTS = 200
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/New_York", "Pacific/Honolulu")


def _daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


def _serve_sandbox(agents: int, queue: Any) -> None:
    """Child process: the Evo Voice sandbox (uvicorn, one worker) on a free loopback port."""
    sandbox = EvoSandbox(
        SandboxConfig(agents=agents, model=SANDBOX_MODEL, seed=5, numbers=(CALLER_ID,)), clock=SystemClock()
    )
    sock = bind("127.0.0.1", 0)
    queue.put(url_of(sock))
    serve(create_app(sandbox), sock)


class SandboxProcess:
    """``with SandboxProcess(agents) as url:`` — the sandbox in a process of its own, so that
    its CPU is not the bench's (a client and a server in one process share one GIL)."""

    def __init__(self, agents: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.queue = ctx.Queue()
        self.process = ctx.Process(target=_serve_sandbox, args=(agents, self.queue), daemon=True)

    def __enter__(self) -> str:
        self.process.start()
        url: str = self.queue.get(timeout=60)
        api = EvoVoiceApi(base_url=url, username=MANAGER[0], password=MANAGER[1], read_attempts=20, backoff=0.1)
        try:
            api.auth_status()  # retried until the server is up
        finally:
            api.close()
        return url

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(timeout=10)


MANAGER = ("manager@sandbox.test", "sandbox")


def bare_posts(url: str, *, seconds: float, threads: int) -> float:
    """``POST /sessions/outgoing`` per second from the real Evo Voice client, in ``threads``
    threads sharing one pooled client: with 1, one request at a time (what a strictly
    sequential dialer could reach); with several, the sandbox's own ceiling."""
    api = EvoVoiceApi(base_url=url, username=MANAGER[0], password=MANAGER[1])
    counts = [0] * threads
    began = time.perf_counter()

    def post(k: int) -> None:
        n = 0
        while time.perf_counter() - began < seconds:
            number = f"+1415{555 + k:03d}{n % 10_000:04d}"
            api.new_outgoing_session(flow_id="flow", number_to_dial=number, caller_id=CALLER_ID)
            n += 1
        counts[k] = n

    workers = [threading.Thread(target=post, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    api.close()
    return sum(counts) / elapsed


def _seed_daemon_campaigns(url: str, *, records: int) -> list[int]:
    store = SqlStore.open(url)
    now, zone = SystemClock().now(), _daytime_zone()
    ids = []
    for k in range(DAEMON_CAMPAIGNS):
        spec = CampaignSpec(
            name=f"c{k}",
            flow_id="flow",
            caller_ids=(CALLER_ID,),
            agents=DAEMON_AGENTS,
            wrap_seconds=1,
            max_attempts=1,
        )
        campaign = store.create_campaign(spec, now=now)
        store.insert_records(
            campaign.id,
            [
                NewRecord(
                    handle=f"c{k}-{i}",
                    phone=f"+1{201 + k}55{i:05d}",
                    caller_id=None,
                    user_data={},
                    next_dial_at=now,
                    timezone=zone,
                    tz_candidates=(zone,),
                    tz_source="column",
                )
                for i in range(records)
            ],
            now=now,
        )
        ids.append(campaign.id)
    store.close()
    return ids


def _attempts(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute("SELECT count(*) FROM attempts").fetchone()
    return int(row[0]) if row else 0


def daemons_rate(
    dbs: Databases, evo_url: str, *, daemons: int, records: int, window: float, warmup: float, workdir: Path
) -> tuple[float, bool]:
    """Placements per second by ``daemons`` `dialer run` processes sharing the campaigns of a
    fresh PostgreSQL database: attempts written per second over ``window`` seconds, from
    ``warmup`` seconds after every daemon holds its share (the first burst — every agent idle
    — and the takeover of handed-over campaigns are left out); and whether the records
    lasted the whole window."""
    url = dbs.postgres(f"daemons_{daemons}", fresh=True)
    ids = _seed_daemon_campaigns(url, records=records)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update(
        DIALER_DATABASE_URL=url,
        DIALER_DATA_DIR=str(workdir / "data"),
        DIALER_BACKEND="evovoice",
        DIALER_EVOVOICE_BASE_URL=evo_url,
        DIALER_EVOVOICE_USERNAME=MANAGER[0],
        DIALER_EVOVOICE_PASSWORD=MANAGER[1],
        DIALER_EVOVOICE_MAX_CPS="1000",
        DIALER_EVOVOICE_POLL_INTERVAL="0.5",
        DIALER_TICK_SECONDS="0.5",
        DIALER_SHUTDOWN_GRACE_SECONDS="5",
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "dialer", "run", "--json"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(daemons)
    ]
    store = SqlStore.open(url)
    try:
        deadline = time.monotonic() + 120
        while True:  # started, and the campaigns shared out: every daemon holds its share
            leases = store.pacer_leases()
            if len(leases) == len(ids) and len({lease.owner for lease in leases.values()}) == min(daemons, len(ids)):
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise SystemExit(f"{daemons} daemon(s) did not share the campaigns out within 120 s")
            time.sleep(0.1)
        time.sleep(warmup)
        before, began = _attempts(url), time.perf_counter()
        time.sleep(window)
        placed, elapsed = _attempts(url) - before, time.perf_counter() - began
        lasted = sum(store.count_records(cid).get("ready", 0) for cid in ids) > 0
    finally:
        store.close()
        for p in processes:
            p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    return placed / elapsed, lasted


def daemons_table(args: argparse.Namespace, dbs: Databases) -> None:
    counts = [int(n) for n in args.daemons.split(",")]
    window = args.window
    records = args.daemon_records
    print(
        f"\n## placements: `dialer run` daemons on PostgreSQL against the Evo Voice sandbox ({window:g} s each, "
        f"after {args.warmup:g} s of warm-up)\n"
    )
    print(
        f"{DAEMON_CAMPAIGNS} progressive campaigns of {DAEMON_AGENTS} agents ({records:,} records each), "
        "CPS cap 1000: pacing allows far more than 100 calls/s. The sandbox is one uvicorn worker in a "
        f"process of its own; sandbox, daemons and PostgreSQL share {os.cpu_count()} cores "
        f"(load average {os.getloadavg()[0]:.1f} at the start).\n"
    )
    agents = DAEMON_AGENTS * DAEMON_CAMPAIGNS
    with SandboxProcess(agents) as url:
        one = bare_posts(url, seconds=min(window, 5.0), threads=1)
        ceiling = bare_posts(url, seconds=min(window, 5.0), threads=8)
    rows: list[tuple[str, float, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            with SandboxProcess(agents) as url:  # a fresh call centre: no calls left from the last run
                rate, lasted = daemons_rate(
                    dbs, url, daemons=n, records=records, window=window, warmup=args.warmup, workdir=Path(tmp)
                )
            rows.append((f"{n} daemon{'s' if n > 1 else ''}", rate, lasted))
    single = next((rate for label, rate, _ in rows if label == "1 daemon"), None)
    print("| placements by | per s | vs 1 client thread | vs sandbox ceiling | vs 1 daemon |")
    print("|---|---|---|---|---|")
    print(f"| bare Evo Voice client, 1 thread | {one:,.1f} | 1.00 | {one / ceiling:.2f} | - |")
    print(f"| bare Evo Voice client, 8 threads (sandbox ceiling) | {ceiling:,.1f} | {ceiling / one:.2f} | 1.00 | - |")
    for label, rate, lasted in rows:
        versus = f"{rate / single:.2f}" if single else "-"
        note = "" if lasted else " (ran out of records: raise --daemon-records)"
        print(f"| {label}{note} | {rate:,.1f} | {rate / one:.2f} | {rate / ceiling:.2f} | {versus} |")


def placements_section(args: argparse.Namespace, dbs: Databases) -> None:
    if dbs.pg_url is not None and args.daemons:
        daemons_table(args, dbs)
    n = args.placements
    print(f"\n## placements (SQLite, {n:,} simulated calls)\n")
    url = dbs.sqlite("placements", fresh=True)
    store = SqlStore.open(url)
    campaign = bench_campaign(store, agents=n)
    _sqlite_generate(url, campaign.id, n)

    def agents(name: str) -> int:
        return n

    clock = VirtualClock(T0)
    telephony = SimulatedTelephony(agents_for=agents, model=CallModel(), seed=1)
    ctx = build_context(load_settings(), clock=clock, store=store, telephony=telephony)
    campaign = store.get_campaign(CAMPAIGN)
    started = time.perf_counter()
    placed = 0
    while placed < n:
        done, _, errors = tick.dial_records(ctx, campaign, min(50, n - placed), reason="bench", now=T0, worker="b")
        if errors or not done:
            raise SystemExit(f"placing stopped after {placed}: {errors}")
        placed += done
    dialer_rate = placed / (time.perf_counter() - started)
    store.close()

    raw_path = dbs.data_dir / "placements-raw.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{raw_path}{suffix}").unlink(missing_ok=True)
    shutil_url = f"sqlite:///{raw_path}"
    SqlStore.open(shutil_url).close()  # the dialer's schema, for the same indexes
    bare = SqlStore.open(shutil_url)
    raw_campaign = bench_campaign(bare, agents=n)
    bare.close()
    _sqlite_generate(shutil_url, raw_campaign.id, n)
    conn = sqlite3.connect(raw_path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    ids = [row[0] for row in conn.execute("SELECT id, phone FROM records ORDER BY id")]
    phones = dict(conn.execute("SELECT id, phone FROM records").fetchall())
    now = T0.replace(tzinfo=None).isoformat(" ", "microseconds")
    started = time.perf_counter()
    for rid in ids:
        aid = f"raw-{rid}"
        conn.execute("BEGIN")
        conn.execute(
            "UPDATE records SET status = 'dialing', last_attempt_at = ?, updated_at = ? WHERE id = ?", (now, now, rid)
        )
        conn.execute(
            "INSERT INTO attempts (id, record_id, campaign_id, backend, mode, state, number_dialed, created_at, "
            "preview, pacing_reason, updated_at) VALUES (?, ?, ?, 'simulated', 'progressive', 'pending', ?, ?, 0, "
            "'bench', ?)",
            (aid, rid, raw_campaign.id, phones[rid], now, now),
        )
        conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.execute(
            "UPDATE attempts SET state = 'placed', provider_ref = ?, placed_at = ?, updated_at = ? WHERE id = ?",
            (f"sim-{rid}", now, now, aid),
        )
        conn.execute("COMMIT")
    raw_rate = len(ids) / (time.perf_counter() - started)
    conn.close()
    print("| path | placements/s | vs raw sqlite3 |")
    print("|---|---|---|")
    print(f"| dialer (dial_records, simulated backend) | {dialer_rate:,.0f} | {dialer_rate / raw_rate:.2f} |")
    print(f"| raw sqlite3, 2 transactions per placement | {raw_rate:,.0f} | 1.00 |")


# ------------------------------------------------------------------ import
def _load_bench_import() -> Any:
    spec = importlib.util.spec_from_file_location("bench_import", SCRIPTS / "bench_import.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _import_child(url: str, path: str, workdir: str) -> dict[str, Any]:
    from dialer.importer import ImportOptions, import_file

    store = SqlStore.open(url)
    campaign = bench_campaign(store)
    options = ImportOptions(rejects_path=Path(workdir) / "rejects.csv")
    started = time.perf_counter()
    report = import_file(store, campaign, Path(path), options, now=T0)
    seconds = time.perf_counter() - started
    server = _server_cpu(url) if store.dialect == "postgresql" else None
    store.close()
    result = {"seconds": seconds, "rows": report.rows_read, "imported": report.imported, "rejected": report.rejected}
    return result if server is None else {**result, "cpu_server": server}


def _server_cpu(url: str, pid: int | None = None) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends serving ``url``'s database (the one
    with ``pid`` alone, if given), read from /proc: only for a server on this machine."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        own = conn.execute("SELECT pg_backend_pid()").fetchone()
        if pid is None:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()
            pids = [int(r[0]) for r in rows if own is None or r[0] != own[0]]
        else:
            pids = [pid]
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for backend in pids:
        try:
            with open(f"/proc/{backend}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None  # not a local server (or not ours to read)
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _to_sql_child(path: str, workdir: str) -> dict[str, Any]:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    conn = sqlite3.connect(Path(workdir) / "to_sql.db")
    frame.to_sql("raw", conn, if_exists="replace", index=False, chunksize=50_000)
    conn.close()
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def _copy_child(url: str, path: str) -> dict[str, Any]:
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
    started = time.perf_counter()
    with psycopg.connect(libpq(url)) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(f"CREATE TABLE bench_copy ({columns})")
        with conn.cursor() as cursor, cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER)") as copy:
            with open(path, "rb") as data:
                while block := data.read(1 << 20):
                    copy.write(block)
        rows = conn.execute("SELECT count(*) FROM bench_copy").fetchone()
        seconds = time.perf_counter() - started
        server = _server_cpu(url, backend[0])
        conn.execute("DROP TABLE bench_copy")
    return {"seconds": seconds, "rows": rows[0] if rows else 0, "cpu_server": server}


def _records_copy_child(url: str, dump: str) -> dict[str, Any]:
    """The server's own floor for an import: ``COPY`` of the rows the import stored (dumped
    to ``dump`` as COPY text) into the records table, with its indexes and foreign keys, under
    a second campaign, in one transaction that is then rolled back."""
    with psycopg.connect(libpq(url)) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'campaigns' "
                "AND table_schema = current_schema() AND column_name NOT IN ('id', 'name') AND is_generated = 'NEVER'"
            )
        ]
        listed = ", ".join(f'"{n}"' for n in names)
        campaign = conn.execute(
            f"INSERT INTO campaigns (name, {listed}) SELECT name || '-copy', {listed} FROM campaigns LIMIT 1 "
            "RETURNING id"
        ).fetchone()
        assert campaign is not None
        columns = "campaign_id, " + _RECORD_COLUMNS
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        before = _server_cpu(url, backend[0])
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(f"COPY records ({columns}) FROM STDIN") as copy:
            prefix = f"{campaign[0]}\t".encode()
            with open(dump, "rb") as data:
                for line in data:
                    copy.write(prefix + line)
        seconds = time.perf_counter() - started
        after = _server_cpu(url, backend[0])
        rows = conn.execute("SELECT count(*) FROM records WHERE campaign_id = %s", campaign).fetchone()
        conn.rollback()
    server = after - before if after is not None and before is not None else None
    return {"seconds": seconds, "rows": rows[0] if rows else 0, "cpu_server": server}


_RECORD_COLUMNS = (
    "handle, phone, caller_id, user_data, status, record_type, attempts, next_dial_at, timezone, "
    "tz_candidates, tz_source, result_counts, import_id, created_at, updated_at"
)


def _dump_records(url: str, path: Path) -> None:
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cursor, open(path, "wb") as out:
        with cursor.copy(f"COPY (SELECT {_RECORD_COLUMNS} FROM records) TO STDOUT") as copy:
            for block in copy:
                out.write(block)


def _per_100k(seconds: float | None, rows: int) -> str:
    return "–" if seconds is None else f"{seconds * 100_000 / max(rows, 1):.2f}"


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def import_section(args: argparse.Namespace, dbs: Databases) -> None:
    rows = args.import_rows
    print(f"\n## import ({rows:,} CSV rows: messy numbers, some invalid, duplicates, DNC hits)\n")
    source = dbs.data_dir / f"import-{rows}.csv"
    if not source.exists():
        _load_bench_import().generate(source, rows)
    workdir = tempfile.mkdtemp(dir=dbs.data_dir)
    print(f"load average before: {_load()} (1/5/15 min) on {os.cpu_count()} cores\n")
    results: list[tuple[str, dict[str, Any], str]] = []
    sqlite_url = dbs.sqlite("import", fresh=True)
    SqlStore.open(sqlite_url).close()
    results.append(("dialer import → SQLite", in_child(_import_child, sqlite_url, str(source), workdir), "sqlite"))
    results.append(("pandas read_csv + to_sql → SQLite", in_child(_to_sql_child, str(source), workdir), "sqlite"))
    if dbs.pg_url is not None:
        pg_url = dbs.postgres("import", fresh=True)
        SqlStore.open(pg_url).close()
        results.append(("dialer import → PostgreSQL", in_child(_import_child, pg_url, str(source), workdir), "pg"))
        results.append(("bare COPY FROM STDIN → PostgreSQL", in_child(_copy_child, pg_url, str(source)), "pg"))
        dump = Path(workdir) / "records.copy"
        _dump_records(pg_url, dump)
        floor = in_child(_records_copy_child, pg_url, str(dump))
        dump.unlink()
    print(
        "| path | seconds | rows/s | CPU s per 100k rows (importer + workers) | PostgreSQL server CPU s per 100k "
        "| peak RSS MB | vs baseline |"
    )
    print("|---|---|---|---|---|---|---|")
    for i, (name, result, _) in enumerate(results):
        baseline = results[i + 1 - 2 * (i % 2)][1] if i % 2 == 0 else result
        rate = result["rows"] / result["seconds"]
        ratio = baseline["seconds"] / result["seconds"] if i % 2 == 0 else 1.0
        per = 100_000 / max(result["rows"], 1)
        cpu = f"{(result['cpu_main'] + result['cpu_workers']) * per:.2f} ({result['cpu_main'] * per:.2f} + "
        cpu += f"{result['cpu_workers'] * per:.2f})"
        server = result.get("cpu_server")
        print(
            f"| {name} | {result['seconds']:.1f} | {rate:,.0f} | {cpu} | {_per_100k(server, result['rows'])} | "
            f"{result['peak_mb']:.0f} | {'speed ×' + format(ratio, '.2f') if i % 2 == 0 else 'baseline'} |"
        )
    if dbs.pg_url is not None:
        ours = results[2][1]
        print(
            f"| COPY of the imported records into `records` (its indexes and foreign keys; the server's floor) | "
            f"{floor['seconds']:.1f} | {floor['rows'] / floor['seconds']:,.0f} | – | "
            f"{_per_100k(floor.get('cpu_server'), floor['rows'])} | {floor['peak_mb']:.0f} | "
            f"the import runs at ×{floor['seconds'] / ours['seconds']:.2f} its speed |"
        )
    print(f"\nload average after: {_load()}")
    print("Goals: SQLite ≥ 50,000 rows/s with peak RSS ≤ 400 MB; PostgreSQL close to the bare COPY.")


# ------------------------------------------------------------------ export
def _history_sql(dialect: str) -> str:
    series = (
        "generate_series(0, %(n)s - 1) AS g"
        if dialect == "postgresql"
        else "(WITH RECURSIVE c(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM c WHERE g < :n - 1) SELECT g FROM c)"
    )
    p = "%(" if dialect == "postgresql" else ":"
    q = ")s" if dialect == "postgresql" else ""
    created = (
        f"{p}t{q}::timestamptz + g * interval '1 second'"
        if dialect == "postgresql"
        else f"strftime('%Y-%m-%d %H:%M:%S', {p}t{q}, '+' || g || ' seconds') || '.000000'"
    )
    mod = "%%" if dialect == "postgresql" else "%"
    return f"""
        INSERT INTO attempts (id, record_id, campaign_id, backend, mode, state, number_dialed, caller_id,
                              provider_ref, created_at, placed_at, ended_at, outcome, category, was_missed,
                              duration_s, preview, pacing_reason, updated_at)
        SELECT 'x-' || g, r.id, r.campaign_id, 'evovoice', 'progressive', 'ended', r.phone, '{CALLER_ID}',
               'ses-' || g, {created}, {created}, {created}, 'ANSWER', 'contact', g {mod} 7 = 0,
               round((g {mod} 997) / 7.0, 3), false, 'progressive: 3 idle agents, "3" calls', {created}
        FROM {series} JOIN records r ON r.campaign_id = {p}cid{q} AND r.handle = 'R-' || (g {mod} {p}records{q})
    """


def _export_child(url: str, out: str) -> dict[str, Any]:
    from dialer.reports.export import export

    store = SqlStore.open(url, migrate_schema=False)
    campaign = store.get_campaign(CAMPAIGN)
    started = time.perf_counter()
    result = export(store, campaign, Path(out), now=T0 + timedelta(days=30), sheet="attempts")
    seconds = time.perf_counter() - started
    store.close()
    return {"seconds": seconds, "rows": result.sheets["Attempts"], "bytes": Path(out).stat().st_size}


def _copy_to_child(url: str, out: str, campaign_id: int) -> dict[str, Any]:
    started = time.perf_counter()
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cursor, open(out, "wb") as target:
        query = (
            "COPY (SELECT r.handle, a.number_dialed, a.caller_id, a.backend, a.provider_ref, a.call_sid, "
            "a.placed_at, a.answered_at, a.connected_at, a.ended_at, a.duration_s, a.outcome, a.raw_outcome, "
            "a.was_missed, a.pacing_reason, a.id, a.agent, a.error "
            "FROM attempts a JOIN records r ON r.id = a.record_id "
            f"WHERE a.campaign_id = {int(campaign_id)} ORDER BY a.created_at, a.id) TO STDOUT (FORMAT csv, HEADER)"
        )
        with cursor.copy(query) as copy:
            for data in copy:
                target.write(data)
    return {"seconds": time.perf_counter() - started, "bytes": Path(out).stat().st_size}


def export_section(args: argparse.Namespace, dbs: Databases) -> None:
    n = args.export_attempts
    records = max(n // 10, 1)
    print(f"\n## export (attempts CSV of a campaign with {n:,} attempts, {records:,} records)\n")
    out = Path(tempfile.mkdtemp(dir=dbs.data_dir))
    rows: list[tuple[str, dict[str, Any]]] = []
    targets = [("sqlite", dbs.sqlite("export", fresh=True))]
    if dbs.pg_url is not None:
        targets.insert(0, ("postgresql", dbs.postgres("export", fresh=True)))
    for dialect, url in targets:
        store = SqlStore.open(url)
        campaign = bench_campaign(store)
        store.close()
        params = {"n": n, "records": records, "cid": campaign.id}
        if dialect == "postgresql":
            _pg_generate(url, campaign.id, records)
            with psycopg.connect(libpq(url)) as conn:
                conn.execute("DELETE FROM attempts")
                conn.execute(_history_sql(dialect), {**params, "t": T0})
            with psycopg.connect(libpq(url), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE attempts")
        else:
            _sqlite_generate(url, campaign.id, records)
            conn = sqlite3.connect(url.removeprefix("sqlite:///"))
            with conn:
                conn.execute("DELETE FROM attempts")
                conn.execute(_history_sql(dialect), {**params, "t": T0.replace(tzinfo=None).isoformat(" ")})
            conn.execute("ANALYZE")
            conn.close()
        rows.append((f"dialer export → CSV ({dialect})", in_child(_export_child, url, str(out / f"{dialect}.csv"))))
        if dialect == "postgresql":
            rows.append(
                (
                    "bare COPY (SELECT …) TO STDOUT (postgresql)",
                    in_child(_copy_to_child, url, str(out / "copy.csv"), campaign.id),
                )
            )
    print("| path | seconds | rows/s | MB written | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, result in rows:
        print(
            f"| {name} | {result['seconds']:.2f} | {n / result['seconds']:,.0f} | {result['bytes'] / 1e6:.0f} | "
            f"{result['peak_mb']:.0f} |"
        )
    by_name = {name: result["seconds"] for name, result in rows}
    pg = by_name.get("dialer export → CSV (postgresql)")
    if pg is not None:
        print(
            f"\nPostgreSQL export / SQLite export: {pg / by_name['dialer export → CSV (sqlite)']:.2f} (goal ≤ 1); "
            f"/ bare COPY TO: {pg / by_name['bare COPY (SELECT …) TO STDOUT (postgresql)']:.2f}"
        )


# ------------------------------------------------------------------ main
SECTIONS: dict[str, Callable[[argparse.Namespace, Databases], None]] = {
    "tick": tick_section,
    "placements": placements_section,
    "import": import_section,
    "export": export_section,
}


def sizes(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        out.append(int(float(part.rstrip("km")) * scale))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (a minute or two): for a look, and the tests")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from {', '.join(SECTIONS)}")
    ap.add_argument("--pg-url", default=os.environ.get("DIALER_TEST_POSTGRES_URL"), help="PostgreSQL server URL")
    ap.add_argument("--pg-sizes", type=sizes, default=None, help="tick sizes on PostgreSQL (default 100k,1M,10M)")
    ap.add_argument("--sqlite-sizes", type=sizes, default=None, help="tick sizes on SQLite (default 10k,100k,1M)")
    ap.add_argument("--ticks", type=int, default=None, help="timed ticks per size (default 300)")
    ap.add_argument("--placements", type=int, default=None, help="simulated placements (default 5000)")
    ap.add_argument("--daemons", default=None, help="daemon counts against the sandbox (default 1,2,4; '' skips)")
    ap.add_argument("--window", type=float, default=None, help="seconds measured per daemon count (default 10)")
    ap.add_argument("--daemon-records", type=int, default=None, help="records per daemon campaign (default 4000)")
    ap.add_argument("--warmup", type=float, default=None, help="seconds before each window (default 10)")
    ap.add_argument("--import-rows", type=int, default=None, help="CSV rows to import (default 1M)")
    ap.add_argument("--export-attempts", type=int, default=None, help="attempts to export (default 1M)")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "dialer-bench-scale")
    ap.add_argument("--keep", action="store_true", help="keep the generated databases, and reuse kept ones")
    ap.add_argument("--db-prefix", default="dialer_bench_scale_", help="name prefix of the PostgreSQL databases")
    ap.add_argument("--show-slowest", type=int, default=3, help="print the breakdown of the N slowest ticks per size")
    args = ap.parse_args(argv)
    quick = args.quick
    defaults = {
        "pg_sizes": [2_000, 20_000] if quick else [100_000, 1_000_000, 10_000_000],
        "sqlite_sizes": [2_000, 20_000] if quick else [10_000, 100_000, 1_000_000],
        "ticks": 40 if quick else 300,
        "placements": 300 if quick else 5_000,
        "daemons": "1,2" if quick else "1,2,4",
        "window": 2.0 if quick else 10.0,
        "daemon_records": 600 if quick else 4_000,
        "warmup": 1.0 if quick else 10.0,
        "import_rows": 5_000 if quick else 1_000_000,
        "export_attempts": 5_000 if quick else 1_000_000,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    for name in wanted:
        if name not in SECTIONS:
            ap.error(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
    if args.pg_url:
        args.pg_url = args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    dbs = Databases(pg_url=args.pg_url or None, data_dir=args.data_dir, keep=args.keep, prefix=args.db_prefix)
    print(f"# bench_scale {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores{' (quick)' if quick else ''}")
    try:
        for name in wanted:
            SECTIONS[name](args, dbs)
    finally:
        dbs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Crash chaos: SIGKILL the real-time daemon at random moments and count what went wrong.

For each provider (the Evo Voice sandbox, then the Twilio sandbox) and each database (SQLite,
then PostgreSQL), a campaign of ``--records`` records (one attempt allowed per record) is run
by ``dialer run`` as an operating-system process, which is SIGKILLed ``--kills`` times at
random moments (uniform between ``--min-gap`` and ``--max-gap`` seconds after it started) and
restarted at once each time. Then one last ``dialer run --until-done`` finishes the campaign,
and the provider sandbox's own list of the calls it made is checked against the database:

* **double dials** — calls to a number beyond the first (with one attempt per record, every
  number may be called at most once);
* **lost outcomes** — calls the provider made whose result is not on exactly one ended
  attempt (a call nobody claimed, or one claimed twice);
* **stuck** — records not final when the last run says it is done (or gives up);
* **reconciliation time** — for every attempt a kill left in doubt (no call identified yet:
  pending or uncertain), the seconds from the restart that followed until it was settled
  (its call found, or known never made): p50 and max.

Goal: 0 / 0 / 0. The exit status is 1 when any count is not 0.

    nice -n 10 .venv/bin/python scripts/chaos.py                 # 300 records, 50 kills, 4 runs
    .venv/bin/python scripts/chaos.py --quick                    # 30 records, 4 kills
    .venv/bin/python scripts/chaos.py --providers evovoice --databases sqlite --kills 10 --seed 3

PostgreSQL runs use a fresh database created next to ``--pg-url`` (default: DIALER_TEST_POSTGRES_URL,
else postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.domain.clock import SystemClock
from dialer.domain.records import Attempt, RecordStatus
from dialer.sandbox.evovoice import EvoSandbox, SandboxConfig
from dialer.sandbox.evovoice_app import create_app
from dialer.sandbox.server import BackgroundServer
from dialer.sandbox.twilio import TwilioSandbox
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore

ROOT = Path(__file__).resolve().parent.parent
OWNED = ("+12125550100", "+13125550100")
#: Seconds, not minutes: answers after ~0.5 s, talk ~1 s, no-answers released at 2 s.
FAST = CallModel(
    hit_rate=0.5, answer_min=0.3, answer_shape=3.0, answer_scale=0.1, ring_timeout=2.0, talk_mean=1.0, wrap=0.2
)
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/New_York", "Pacific/Honolulu")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class RunResult:
    provider: str
    database: str
    records: int
    kills: int = 0
    calls: int = 0
    double_dials: int = 0
    lost_outcomes: int = 0
    stuck: int = 0
    reconcile_times: list[float] = field(default_factory=list)
    in_doubt_at_kills: int = 0
    seconds: float = 0.0
    finished: bool = False
    note: str = ""

    @property
    def clean(self) -> bool:
        return self.finished and self.double_dials == self.lost_outcomes == self.stuck == 0


def daytime_zone() -> str:
    """A zone where it is daytime now, so the calling window is open."""
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


# ------------------------------------------------------------------ providers
@contextmanager
def evo_provider(agents: int, seed: int) -> Iterator[tuple[dict[str, str], Any]]:
    sandbox = EvoSandbox(SandboxConfig(agents=agents, model=FAST, seed=seed, numbers=OWNED), clock=SystemClock())
    with BackgroundServer(create_app(sandbox)) as url:
        env = {
            "DIALER_BACKEND": "evovoice",
            "DIALER_EVOVOICE_BASE_URL": url,
            "DIALER_EVOVOICE_USERNAME": "manager@sandbox.test",
            "DIALER_EVOVOICE_PASSWORD": "sandbox",
            "DIALER_EVOVOICE_TIMEOUT": "2",
            "DIALER_EVOVOICE_MAX_CPS": "20",
            "DIALER_EVOVOICE_POLL_INTERVAL": "0.3",
        }
        yield env, sandbox


@contextmanager
def twilio_provider(agents: int, seed: int) -> Iterator[tuple[dict[str, str], Any]]:
    sandbox = TwilioSandbox(numbers=OWNED, agents=agents, model=FAST, seed=seed, clock=SystemClock(), cps=50)
    with BackgroundServer(sandbox.app) as url:
        sandbox.start()
        try:
            env = {
                "DIALER_BACKEND": "twilio",
                "DIALER_TWILIO_API_BASE_URL": url,
                "DIALER_TWILIO_ACCOUNT_SID": sandbox.account_sid,
                "DIALER_TWILIO_AUTH_TOKEN": sandbox.auth_token,
                "DIALER_TWILIO_TIMEOUT": "2",
                "DIALER_TWILIO_MAX_CPS": "20",
            }
            yield env, sandbox
        finally:
            sandbox.stop()


def provider_calls(name: str, sandbox: Any) -> list[tuple[str, str]]:
    """(provider id, number) of every call the sandbox made."""
    if name == "evovoice":
        return [(p.session_id, p.number) for p in list(sandbox.placements)]
    return [(c.sid, c.to) for c in list(sandbox.calls.values())]


# ------------------------------------------------------------------ databases
@contextmanager
def database(kind: str, tmp: Path, pg_url: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'chaos.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pg_url)
    name = f"dialer_chaos_{uuid.uuid4().hex[:10]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------ the run
def cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def prepare(env: dict[str, str], tmp: Path, records: int, agents: int) -> None:
    created = cli(
        env, tmp, "campaign", "create", "chaos", "--flow-id", "sales", "--caller-id", OWNED[0],
        "--agents", str(agents), "--max-attempts", "1",
    )  # fmt: skip
    if created.returncode != 0:
        raise SystemExit(f"campaign create failed: {created.stderr}")
    zone = daytime_zone()
    source = tmp / "records.csv"
    rows = [f"R-{i},+1212555{i:04d},{zone}" for i in range(records)]
    source.write_text("recordHandle,phoneNumber,timezone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    imported = cli(env, tmp, "import", str(source), "--campaign", "chaos")
    if imported.returncode != 0:
        raise SystemExit(f"import failed: {imported.stderr}")


def in_doubt(store: SqlStore) -> set[str]:
    """Attempts whose call is not identified yet (no provider reference, not ended)."""
    return {a.id for a in store.in_flight() if a.provider_ref is None}


def unfinished(store: SqlStore, campaign_id: int) -> int:
    counts = store.count_records(campaign_id)
    return sum(n for status, n in counts.items() if not RecordStatus(status).is_final)


def run_one(provider: str, db: str, args: argparse.Namespace, rng: random.Random) -> RunResult:
    result = RunResult(provider=provider, database=db, records=args.records)
    started = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dialer-chaos-")))
        url = stack.enter_context(database(db, tmp, args.pg_url))
        make = evo_provider if provider == "evovoice" else twilio_provider
        provider_env, sandbox = stack.enter_context(make(args.agents, args.seed))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        env.update(provider_env)
        env.update(
            DIALER_DATABASE_URL=url,
            DIALER_TICK_SECONDS="0.2",
            DIALER_SHUTDOWN_GRACE_SECONDS="30",
            DIALER_LEASE_SECONDS="10",  # records claimed by a killed daemon come back after this
        )
        prepare(env, tmp, args.records, args.agents)
        store = SqlStore.open(url, migrate_schema=False)
        stack.callback(store.close)
        campaign_id = store.get_campaign("chaos").id
        log = (tmp / "daemon.log").open("a", encoding="utf-8")
        stack.callback(log.close)
        doubtful: dict[str, float] = {}  # attempt id → when the restart after its kill began

        def watch(until: float) -> None:
            """Until ``until`` (monotonic): note when each attempt in doubt gets settled."""
            while True:
                if doubtful:
                    still = in_doubt(store)
                    now = time.monotonic()
                    for attempt_id in [a for a in doubtful if a not in still]:
                        result.reconcile_times.append(now - doubtful.pop(attempt_id))
                left = until - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(0.25, left))

        for _ in range(args.kills):
            if unfinished(store, campaign_id) == 0 and not store.in_flight(campaign_id):
                result.note = f"the campaign finished after {result.kills} kills"
                break
            restart = time.monotonic()
            for attempt_id in list(doubtful):
                doubtful[attempt_id] = min(doubtful[attempt_id], restart)
            process = subprocess.Popen(
                [sys.executable, "-m", "dialer", "run"], env=env, cwd=tmp, stdout=log, stderr=log
            )
            watch(restart + rng.uniform(args.min_gap, args.max_gap))
            process.send_signal(signal.SIGKILL)
            process.wait()
            result.kills += 1
            left = in_doubt(store)
            result.in_doubt_at_kills += len(left - set(doubtful))
            for attempt_id in left:
                doubtful.setdefault(attempt_id, float("inf"))
        # The last run, never killed: it reconciles what is left and finishes the campaign.
        restart = time.monotonic()
        for attempt_id in list(doubtful):
            doubtful[attempt_id] = min(doubtful[attempt_id], restart)
        final = subprocess.Popen(
            [sys.executable, "-m", "dialer", "run", "--until-done"], env=env, cwd=tmp, stdout=log, stderr=log
        )
        deadline = restart + args.finish_timeout
        while final.poll() is None and time.monotonic() < deadline:
            watch(time.monotonic() + 0.5)
        if final.poll() is None:
            final.send_signal(signal.SIGTERM)
            final.wait(60)
            result.note = (result.note + "; " if result.note else "") + "the last run did not finish in time"
        else:
            result.finished = final.returncode == 0
            if not result.finished:
                result.note = (result.note + "; " if result.note else "") + f"the last run exited {final.returncode}"
        watch(time.monotonic())
        time.sleep(0.5)  # the sandbox may still be finishing a call the last poll saw ending

        calls = provider_calls(provider, sandbox)
        result.calls = len(calls)
        result.double_dials, result.lost_outcomes = tally(calls, list(store.iter_attempts(campaign_id)))
        result.stuck = unfinished(store, campaign_id)
    result.seconds = time.monotonic() - started
    return result


def tally(calls: list[tuple[str, str]], attempts: list[Attempt]) -> tuple[int, int]:
    """(double dials, lost outcomes) of the provider's ``calls`` (id, number) against the
    dialer's attempts, with one attempt allowed per record: every call beyond the first to a
    number is a double dial; a call not on exactly one ended attempt with an outcome is lost."""
    per_number = Counter(number for _, number in calls)
    double = sum(n - 1 for n in per_number.values() if n > 1)
    claims = Counter(a.provider_ref for a in attempts if a.provider_ref and a.ended_at and a.outcome)
    lost = sum(1 for ref, _ in calls if claims.get(ref, 0) != 1)
    return double, lost


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(results: list[RunResult], args: argparse.Namespace) -> str:
    lines = [
        f"chaos: {args.records} records per run (1 attempt each), SIGKILL at {args.kills} random moments "
        f"({args.min_gap:g}–{args.max_gap:g} s after each start; starting takes ~2-4 s), seed {args.seed}",
        "",
        f"{'provider':<9} {'database':<10} {'kills':>5} {'calls':>5} {'double dials':>12} {'lost outcomes':>13} "
        f"{'stuck':>5} {'in doubt':>8} {'reconcile p50':>13} {'max':>6} {'wall':>6}",
    ]
    for r in results:
        times = r.reconcile_times
        lines.append(
            f"{r.provider:<9} {r.database:<10} {r.kills:>5} {r.calls:>5} {r.double_dials:>12} {r.lost_outcomes:>13} "
            f"{r.stuck:>5} {r.in_doubt_at_kills:>8} {percentile(times, 50):>12.1f}s {max(times, default=0):>5.1f}s "
            f"{r.seconds:>5.0f}s" + (f"  ({r.note})" if r.note else "")
        )
    total = Counter[str]()
    for r in results:
        total.update(double=r.double_dials, lost=r.lost_outcomes, stuck=r.stuck)
    lines += [
        "",
        f"total: double dials {total['double']}, lost outcomes {total['lost']}, records stuck non-final "
        f"{total['stuck']} — {'goal met (0/0/0)' if all(r.clean for r in results) else 'GOAL NOT MET'}",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="A short run: 30 records, 4 kills (for the tests).")
    parser.add_argument("--records", type=int, help="Records per run (default 300; --quick 30).")
    parser.add_argument("--kills", type=int, help="SIGKILLs per run (default 50; --quick 4).")
    parser.add_argument("--seed", type=int, default=1, help="Seed of the kill moments and the sandboxes.")
    parser.add_argument("--min-gap", type=float, default=2.0, help="Shortest time from a start to its kill, s.")
    parser.add_argument("--max-gap", type=float, default=9.0, help="Longest time from a start to its kill, s.")
    parser.add_argument("--agents", type=int, default=4, help="Agents in the campaign and the sandbox.")
    parser.add_argument(
        "--providers", default="evovoice,twilio", help="Comma-separated: evovoice, twilio (default both)."
    )
    parser.add_argument("--databases", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument(
        "--pg-url", default=os.environ.get("DIALER_TEST_POSTGRES_URL", DEFAULT_PG), help="A PostgreSQL server URL."
    )
    parser.add_argument("--finish-timeout", type=float, default=600.0, help="Seconds the last run may take.")
    args = parser.parse_args(argv)
    args.records = args.records or (30 if args.quick else 300)
    args.kills = args.kills if args.kills is not None else (4 if args.quick else 50)
    for name in args.providers.split(","):
        if name not in ("evovoice", "twilio"):
            parser.error(f"--providers: {name!r} is not evovoice or twilio")
    for name in args.databases.split(","):
        if name not in ("sqlite", "postgresql"):
            parser.error(f"--databases: {name!r} is not sqlite or postgresql")
    if not 0 < args.min_gap <= args.max_gap:
        parser.error("--min-gap must be positive and at most --max-gap")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rng = random.Random(args.seed)
    results = []
    for provider in args.providers.split(","):
        for db in args.databases.split(","):
            print(f"… {provider} on {db}", file=sys.stderr, flush=True)
            results.append(run_one(provider, db, args, rng))
    print(report(results, args))
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

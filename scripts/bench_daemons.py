#!/usr/bin/env python3
"""Scale-out benchmark: placements per second with 1, 2 and 4 `dialer run` daemons on one
PostgreSQL database, against the Evo Voice sandbox over loopback HTTP.

For each daemon count: a fresh database with ``--campaigns`` campaigns (the daemons share
them out, one pacer per campaign), started daemons, a wait until every campaign has its
pacer, then placements the sandbox received during ``--window`` seconds. The baseline, in the
same run: bare ``POST /sessions/outgoing`` requests from the real Evo Voice client in one
thread (what the sandbox itself accepts), and the one-daemon rate for the scaling ratios.

    nice -n 10 .venv/bin/python scripts/bench_daemons.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test

:func:`bench_daemons` returns the rows, for a combined scale benchmark to print beside others.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import SystemClock
from dialer.domain.records import NewRecord
from dialer.sandbox.evovoice import EvoSandbox, SandboxConfig
from dialer.sandbox.evovoice_app import create_app
from dialer.sandbox.server import BackgroundServer
from dialer.sim.callcentre import CallModel
from dialer.store.engine import normalise_url
from dialer.store.repository import SqlStore
from dialer.telephony.evo_voice import EvoVoiceApi

CALLER_ID = "+12125550100"
#: Short calls, so that agents free up quickly and placements are not held back by talk time.
MODEL = CallModel(
    hit_rate=0.3, answer_min=0.2, answer_shape=3.0, answer_scale=0.1, ring_timeout=1.5, talk_mean=0.5, wrap=0.1
)
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London", "America/New_York", "Pacific/Honolulu")


@dataclass(frozen=True, kw_only=True)
class Row:
    label: str
    daemons: int
    placements: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.placements / self.seconds if self.seconds else 0.0


def daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19)


def fresh_database(base: str) -> tuple[str, str]:
    url = make_url(normalise_url(base))
    name = f"dialer_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_database(base: str, name: str) -> None:
    admin = create_engine(make_url(normalise_url(base)), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, *, campaigns: int, records: int, agents: int) -> list[int]:
    store = SqlStore.open(url)
    now, zone = SystemClock().now(), daytime_zone()
    ids = []
    for k in range(campaigns):
        spec = CampaignSpec(name=f"c{k}", flow_id="flow", caller_ids=(CALLER_ID,), agents=agents, max_attempts=1)
        campaign = store.create_campaign(spec, now=now)
        store.insert_records(
            campaign.id,
            [
                NewRecord(
                    handle=f"c{k}-{i}",
                    phone=f"+1{201 + k}555{i:04d}",
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


def baseline(url: str, *, seconds: float) -> Row:
    """Bare placements from the Evo Voice client in one thread: the sandbox's own ceiling."""
    api = EvoVoiceApi(base_url=url, username="manager@sandbox.test", password="sandbox", rng=random.Random(1))
    n, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        api.new_outgoing_session(flow_id="flow", number_to_dial=f"+1415555{n % 10000:04d}", caller_id=CALLER_ID)
        n += 1
    elapsed = time.perf_counter() - began
    api.close()
    return Row(label="bare client POSTs (1 thread)", daemons=0, placements=n, seconds=elapsed)


def run_daemons(
    pg: str,
    evo_url: str,
    sandbox: EvoSandbox,
    *,
    daemons: int,
    campaigns: int,
    records: int,
    agents: int,
    window: float,
    workdir: Path,
) -> Row:
    url, name = fresh_database(pg)
    try:
        ids = seed(url, campaigns=campaigns, records=records, agents=agents)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
        env.update(
            DIALER_DATABASE_URL=url,
            DIALER_DATA_DIR=str(workdir / "data"),
            DIALER_BACKEND="evovoice",
            DIALER_EVOVOICE_BASE_URL=evo_url,
            DIALER_EVOVOICE_USERNAME="manager@sandbox.test",
            DIALER_EVOVOICE_PASSWORD="sandbox",
            DIALER_EVOVOICE_MAX_CPS="1000",
            DIALER_EVOVOICE_POLL_INTERVAL="0.5",
            DIALER_TICK_SECONDS="0.2",
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
            # Started, and the campaigns shared out: every daemon holds at least one.
            while True:
                owners = {lease.pid for lease in store.pacer_leases().values()}
                if len(store.pacer_leases()) == campaigns and len(owners) == min(daemons, campaigns):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{daemons} daemons did not share the campaigns out within 120 s")
                time.sleep(0.1)
            before, began = len(sandbox.placements), time.perf_counter()
            time.sleep(window)
            placed, elapsed = len(sandbox.placements) - before, time.perf_counter() - began
            left = sum(store.count_records(cid).get("ready", 0) for cid in ids)
            if left == 0:
                print(f"warning: {daemons} daemon(s) ran out of records; raise --records", file=sys.stderr)
        finally:
            store.close()
            for p in processes:
                p.send_signal(signal.SIGTERM)
            for p in processes:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
        return Row(
            label=f"{daemons} daemon(s), {campaigns} campaigns", daemons=daemons, placements=placed, seconds=elapsed
        )
    finally:
        drop_database(pg, name)


def bench_daemons(
    pg: str,
    *,
    counts: Sequence[int] = (1, 2, 4),
    campaigns: int = 4,
    records: int = 4000,
    agents: int = 60,
    window: float = 10.0,
) -> list[Row]:
    """The baseline and one row per daemon count, all against one sandbox in this process."""
    sandbox = EvoSandbox(
        SandboxConfig(agents=agents * campaigns, model=MODEL, seed=5, numbers=(CALLER_ID,)), clock=SystemClock()
    )
    apart = EvoSandbox(SandboxConfig(agents=agents * campaigns, model=MODEL, seed=5, numbers=(CALLER_ID,)))
    with BackgroundServer(create_app(apart)) as bare_url:  # its calls do not occupy the other's agents
        rows = [baseline(bare_url, seconds=min(window, 5.0))]
    with BackgroundServer(create_app(sandbox)) as evo_url, tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            rows.append(
                run_daemons(
                    pg,
                    evo_url,
                    sandbox,
                    daemons=n,
                    campaigns=campaigns,
                    records=records,
                    agents=agents,
                    window=window,
                    workdir=Path(tmp),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("DIALER_TEST_POSTGRES_URL"), help="PostgreSQL server URL")
    parser.add_argument("--daemons", default="1,2,4", help="daemon counts, comma-separated")
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--records", type=int, default=4000, help="records per campaign")
    parser.add_argument("--agents", type=int, default=60, help="agents per campaign")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per daemon count")
    args = parser.parse_args()
    if not args.pg:
        raise SystemExit("pass --pg postgresql+psycopg://user@host:5432/db (or set DIALER_TEST_POSTGRES_URL)")
    rows = bench_daemons(
        args.pg,
        counts=[int(n) for n in args.daemons.split(",")],
        campaigns=args.campaigns,
        records=args.records,
        agents=args.agents,
        window=args.window,
    )
    one = next((r for r in rows if r.daemons == 1), None)
    print(f"{'run':<34}{'placements':>11}{'seconds':>9}{'per s':>9}{'vs 1 daemon':>13}")
    for r in rows:
        ratio = f"{r.per_second / one.per_second:.2f}x" if one and one.per_second and r.daemons else "-"
        print(f"{r.label:<34}{r.placements:>11}{r.seconds:>9.1f}{r.per_second:>9.1f}{ratio:>13}")
    print(f"machine: {os.cpu_count()} CPUs; sandbox, daemons and PostgreSQL share them")


if __name__ == "__main__":
    main()

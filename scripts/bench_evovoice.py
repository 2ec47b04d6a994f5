#!/usr/bin/env python3
"""Rehearsal benchmark: a campaign through the real Evo Voice client and the sandbox, faults on.

Runs the same campaign twice in this process, in virtual time, on a fresh SQLite database
each time: once on the simulated backend (the baseline: no HTTP) and once through the Evo
Voice client over loopback HTTP against the sandbox with injected faults. Prints the wall
time of each, their ratio, what the faults did, and the no-double-dial accounting from the
sandbox's own session log.

    .venv/bin/python scripts/bench_evovoice.py [--records 40] [--error-rate 0.1] [--ambiguous-rate 0.1]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.context import build_context
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord
from dialer.sandbox.evovoice import EvoSandbox, Faults, SandboxConfig
from dialer.sandbox.evovoice_app import create_app
from dialer.sandbox.server import BackgroundServer
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.base import TelephonyBackend
from dialer.telephony.evo_voice import EvoVoiceApi, EvoVoiceTelephony
from dialer.telephony.simulated import SimulatedTelephony

START = VirtualClock().now().replace(year=2026, month=3, day=2, hour=15)
CALLER_ID = "+12125550100"
MODEL = CallModel(hit_rate=0.35, busy_share=0.15, machine_share=0.2, fail_share=0.03, bad_number_share=0.03)


def campaign_store(directory: Path, records: int) -> tuple[SqlStore, int]:
    store = SqlStore.open(f"sqlite:///{directory / 'bench.db'}")
    campaign = store.create_campaign(
        CampaignSpec(name="bench", flow_id="flow", caller_ids=(CALLER_ID,), agents=4, max_attempts=3), now=START
    )
    store.insert_records(
        campaign.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=f"+1212555{1000 + i:04d}",
                caller_id=None,
                user_data={"n": str(i)},
                next_dial_at=START,
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
            )
            for i in range(records)
        ],
        now=START,
    )
    return store, campaign.id


def run(backend: TelephonyBackend, store: SqlStore, clock: VirtualClock) -> tuple[float, bool]:
    ctx = build_context(load_settings(), clock=clock, store=store, telephony=backend)
    began = time.perf_counter()
    result = run_virtual_until_done(ctx, clock)
    return time.perf_counter() - began, result.done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--error-rate", type=float, default=0.10)
    parser.add_argument("--ambiguous-rate", type=float, default=0.10, help="commit-then-time-out share")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base_dir, evo_dir = Path(tmp, "baseline"), Path(tmp, "evovoice")
        base_dir.mkdir()
        evo_dir.mkdir()

        store, _ = campaign_store(base_dir, args.records)
        clock = VirtualClock(START)
        simulated = SimulatedTelephony(agents_for=lambda name: 4, model=MODEL, seed=args.seed)
        base_wall, base_done = run(simulated, store, clock)
        store.close()

        store, campaign_id = campaign_store(evo_dir, args.records)
        clock = VirtualClock(START)
        faults = Faults(
            error_rate=args.error_rate,
            commit_timeout_rate=args.ambiguous_rate,
            burst_rate=0.01,
            burst_length=3,
            hang_seconds=0.6,
        )
        sandbox = EvoSandbox(
            SandboxConfig(agents=4, model=MODEL, seed=args.seed, numbers=(CALLER_ID,), faults=faults), clock=clock
        )
        with BackgroundServer(create_app(sandbox)) as url:
            api = EvoVoiceApi(
                base_url=url,
                username="manager@sandbox.test",
                password="sandbox",
                timeout=0.3,
                backoff=0.005,
                backoff_cap=0.02,
                rng=random.Random(1),
            )
            evo = EvoVoiceTelephony(api=api, poll_interval=2.0, max_cps=None)  # like the simulated baseline
            evo_wall, evo_done = run(evo, store, clock)
            evo.close()

        attempts = list(store.iter_attempts(campaign_id))
        refs = Counter(a.provider_ref for a in attempts if a.provider_ref)
        sessions = {p.session_id for p in sandbox.placements}
        uncertain = sum(1 for a in attempts if a.error and "no answer came back" in a.error)
        statuses = store.count_records(campaign_id)
        store.close()

    print(f"records                         {args.records}")
    print(f"baseline (simulated) wall       {base_wall:.2f} s   done={base_done}")
    print(f"evovoice + sandbox wall         {evo_wall:.2f} s   done={evo_done}")
    print(f"ratio evovoice / baseline       {evo_wall / base_wall:.1f}x")
    print(f"HTTP requests served            {sandbox.requests}")
    print(f"attempts                        {len(attempts)}")
    print(f"placements the sandbox saw      {len(sandbox.placements)}")
    print(f"  answered too late (ambiguous) {sum(p.answered_late for p in sandbox.placements)}")
    print(f"attempts left uncertain         {uncertain}")
    print(f"records by status               {dict(sorted(statuses.items()))}")
    print(f"sessions claimed twice          {sum(1 for n in refs.values() if n > 1)}")
    print(f"sessions never claimed          {len(sessions - set(refs))}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Provider faults: a campaign through each provider's real client, one fault kind at a time.

For each provider (Evo Voice over httpx, Twilio over the ``twilio`` library, each against its
sandbox on loopback HTTP) and each fault kind the sandbox injects, a campaign of ``--records``
records (one attempt allowed per record) runs to the end in virtual time on a fresh SQLite
database (the clock jumps between events; HTTP, timeouts and hangs are real). The baseline row
(``none``) runs the same campaign with no fault. Printed per run: the faults injected, the calls
the provider made, double dials, lost outcomes and records stuck (as scripts/chaos.py counts
them), placements in doubt that were found again at the provider (``matched``) or settled as
never made (``not placed``), and the wall time with its ratio to the baseline.

    .venv/bin/python scripts/faults.py [--records 40] [--seed 5] [--providers evovoice,twilio]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dialer.context import build_context
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import CampaignSpec
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord, RecordStatus
from dialer.sandbox import evovoice as evo
from dialer.sandbox import twilio as twilio_sandbox
from dialer.sandbox.evovoice_app import create_app
from dialer.sandbox.server import BackgroundServer
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.evo_voice import EvoVoiceApi, EvoVoiceTelephony
from dialer.telephony.twilio_voice import TwilioConfig, TwilioTelephony

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
OWNED = ("+12125550100", "+13125550100")
MODEL = CallModel(hit_rate=0.5, busy_share=0.2, talk_mean=20, ring_timeout=20)

#: Fault kind → (Evo Voice sandbox faults, Twilio sandbox faults, client timeout in seconds).
KINDS: dict[str, tuple[dict[str, Any], dict[str, Any], float]] = {
    "none": ({}, {}, 0.5),
    "5xx 10%": ({"error_rate": 0.10}, {"error_rate": 0.10}, 0.5),
    "timeouts 15%": (
        {"timeout_rate": 0.15, "hang_seconds": 0.6},
        {"timeout_rate": 0.15, "timeout_delay": 0.6},
        0.3,
    ),
    "429 storms": (
        {"burst_rate": 0.06, "burst_length": 4, "retry_after": 3},
        {"burst_429_rate": 0.06, "burst_429_length": 4, "retry_after": 3},
        0.5,
    ),
    "slow 50 ms": ({"latency": 0.05}, {"latency": 0.05}, 1.0),
    "lost answers 25%": ({"lost_response_rate": 0.25}, {"lost_response_rate": 0.25}, 0.5),
    "late answers 20%": (
        {"commit_timeout_rate": 0.2, "hang_seconds": 0.6},
        {"commit_then_timeout": 0.2, "timeout_delay": 0.6},
        0.3,
    ),
}


@dataclass
class Row:
    provider: str
    kind: str
    injected: int
    calls: int
    double: int
    lost: int
    stuck: int
    matched: int
    not_placed: int
    seconds: float


@contextmanager
def backend_for(provider: str, clock: VirtualClock, faults: dict[str, Any], timeout: float, seed: int) -> Iterator[Any]:
    with ExitStack() as stack:
        if provider == "evovoice":
            config = evo.SandboxConfig(agents=4, model=MODEL, seed=seed, numbers=OWNED, faults=evo.Faults(**faults))
            sandbox: Any = evo.EvoSandbox(config, clock=clock)
            url = stack.enter_context(BackgroundServer(create_app(sandbox)))
            api = EvoVoiceApi(
                base_url=url, username="manager@sandbox.test", password="sandbox", timeout=timeout, backoff=0.005,
                backoff_cap=0.02,
            )  # fmt: skip
            backend: Any = EvoVoiceTelephony(api=api, poll_interval=2.0, max_cps=None)
        else:
            sandbox = twilio_sandbox.TwilioSandbox(
                numbers=OWNED, agents=4, model=MODEL, clock=clock, cps=50, seed=seed,
                faults=twilio_sandbox.Faults(**faults),
            )  # fmt: skip
            url = stack.enter_context(BackgroundServer(sandbox.app))
            sandbox.start()
            stack.callback(sandbox.stop)
            backend = TwilioTelephony(
                TwilioConfig(
                    account_sid=sandbox.account_sid, auth_token=sandbox.auth_token, api_base_url=url, max_cps=50,
                    timeout=timeout, poll_interval=0.0,
                )
            )  # fmt: skip
        stack.callback(backend.close)
        yield backend, sandbox


def injected(provider: str, kind: str, sandbox: Any) -> int:
    if kind.startswith("429"):
        return int(sandbox.bursts)
    if kind.startswith("timeouts"):
        return int(sandbox.timeouts)
    if kind.startswith("lost"):
        return len(sandbox.lost_responses)
    if kind.startswith("late"):
        return sum(p.answered_late for p in sandbox.placements) if provider == "evovoice" else len(sandbox.late_answers)
    if kind.startswith("5xx"):
        return int(sandbox.errors)
    if kind.startswith("slow"):
        return int(sandbox.requests)  # every request is slowed
    return 0


def run(provider: str, kind: str, records: int, seed: int) -> Row:
    evo_faults, twilio_faults, timeout = KINDS[kind]
    clock = VirtualClock(START)
    with tempfile.TemporaryDirectory(prefix="dialer-faults-") as tmp:
        store = SqlStore.open(f"sqlite:///{Path(tmp) / 'faults.db'}")
        c = store.create_campaign(
            CampaignSpec(name="faults", flow_id="flow-agents", caller_ids=(OWNED[0],), agents=4, max_attempts=1),
            now=START,
        )
        store.insert_records(
            c.id,
            [
                NewRecord(
                    handle=f"R-{i}", phone=f"+1212555{2000 + i:04d}", caller_id=None, user_data={}, next_dial_at=START,
                    timezone="America/New_York", tz_candidates=("America/New_York",),
                )
                for i in range(records)
            ],
            now=START,
        )  # fmt: skip
        faults = evo_faults if provider == "evovoice" else twilio_faults
        started = time.perf_counter()
        with backend_for(provider, clock, faults, timeout, seed) as (backend, sandbox):
            ctx = build_context(load_settings(), clock=clock, store=store, telephony=backend)
            run_virtual_until_done(ctx, clock)
            seconds = time.perf_counter() - started
            if provider == "evovoice":
                calls = [(p.session_id, p.number) for p in sandbox.placements]
            else:
                calls = [(call.sid, call.to) for call in list(sandbox.calls.values())]
            attempts = list(store.iter_attempts(c.id))
            per_number = Counter(n for _, n in calls)
            claims = Counter(a.provider_ref for a in attempts if a.provider_ref and a.ended_at and a.outcome)
            statuses = store.count_records(c.id)
            row = Row(
                provider=provider,
                kind=kind,
                injected=injected(provider, kind, sandbox),
                calls=len(calls),
                double=sum(n - 1 for n in per_number.values() if n > 1),
                lost=sum(1 for ref, _ in calls if claims.get(ref, 0) != 1),
                stuck=sum(n for s, n in statuses.items() if not RecordStatus(s).is_final),
                matched=sum(1 for a in attempts if a.correlation == "matched"),
                not_placed=sum(1 for a in attempts if a.correlation == "not_found"),
                seconds=seconds,
            )
        store.close()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--providers", default="evovoice,twilio")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for provider in args.providers.split(","):
        for kind in KINDS:
            print(f"… {provider}: {kind}", file=sys.stderr, flush=True)
            rows.append(run(provider, kind, args.records, args.seed))
    print(f"faults: {args.records} records per run (1 attempt each), virtual time, SQLite, seed {args.seed}\n")
    print(
        f"{'provider':<9} {'fault':<17} {'injected':>8} {'calls':>5} {'double':>6} {'lost':>4} {'stuck':>5} "
        f"{'matched':>7} {'not placed':>10} {'wall':>6} {'× none':>6}"
    )
    base = {r.provider: r.seconds for r in rows if r.kind == "none"}
    for r in rows:
        print(
            f"{r.provider:<9} {r.kind:<17} {r.injected:>8} {r.calls:>5} {r.double:>6} {r.lost:>4} {r.stuck:>5} "
            f"{r.matched:>7} {r.not_placed:>10} {r.seconds:>5.1f}s {r.seconds / base[r.provider]:>6.2f}"
        )
    bad = [r for r in rows if r.double or r.lost or r.stuck]
    print(f"\n{'goal met: 0 double dials, 0 lost outcomes, 0 stuck' if not bad else 'GOAL NOT MET'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

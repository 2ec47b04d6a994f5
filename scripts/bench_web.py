#!/usr/bin/env python
"""Benchmark the web app with a 1,000,000-record campaign on SQLite, against baselines in the same run.

Generates a campaign of ``--records`` records (a realistic mix: due, waiting for a retry,
held outside the calling window, completed, exhausted) with ``--attempts`` ended attempts over
the last 30 days, plus a 1,000-record campaign, into a fresh SQLite file; serves the web app
(uvicorn, in this process, no pacer) and measures over HTTP:

* **page render**: ``GET /campaigns/<big>`` with the live figures recomputed every time (the
  cache cleared before each request), p50/p95 over ``--requests`` requests, next to
  ``GET /healthz`` of the same app (the trivial baseline) and the same page of the small
  campaign; the campaign list likewise;
* **SSE update latency**: the campaign is paused or resumed in the store (as another
  process would) while a browser-like client listens to ``/campaigns/<big>/live``; latency is
  the time until an event shows the change, p50/p95 over ``--changes`` changes, next to the
  same measurement on the small campaign. The refresh interval is DIALER_WEB_LIVE_SECONDS
  (default 2 s), so half of it on average is waiting by design;
* **where the time goes**: each query behind the figures, timed alone on the big campaign.

    .venv/bin/python scripts/bench_web.py                   # 1M records, 300k attempts
    .venv/bin/python scripts/bench_web.py --records 100000  # a quick look
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import text

from dialer import accounts, status
from dialer.context import build_context
from dialer.daemon import pacing_state
from dialer.domain.campaigns import Campaign, CampaignSpec, CampaignStatus
from dialer.domain.records import Attempt, AttemptState, NewRecord
from dialer.domain.results import CallResult
from dialer.domain.users import Role
from dialer.settings import load_settings
from dialer.store import bulk
from dialer.store.repository import PacingNote, SqlStore
from dialer.web import live
from dialer.web.app import create_app
from dialer.web.server import WebServer

OUTCOMES = [(CallResult.NO_ANSWER, 45), (CallResult.ANSWER, 28), (CallResult.ANSWERING_MACHINE, 15),
            (CallResult.BUSY, 10), (CallResult.ABANDONED, 2)]  # fmt: skip
PASSWORD = "bench-password-1"


def records(n: int, prefix: str, now: datetime, rng: random.Random) -> Iterator[NewRecord]:
    for i in range(n):
        due = (
            now - timedelta(minutes=rng.randrange(1, 600))
            if i % 10 < 7
            else now + timedelta(hours=rng.randrange(1, 48))
        )
        yield NewRecord(
            handle=f"{prefix}-{i:07d}",
            phone=f"+1{212 + i % 700:03d}{i // 700 % 10_000_000:07d}"[:12],
            caller_id=None,
            user_data={"name": f"Contact {i}", "plan": rng.choice(["Gold", "Silver"]), "account": f"{i:08d}"},
            next_dial_at=due,
            timezone="America/New_York",
            tz_candidates=("America/New_York",),
            tz_source="number",
        )


def attempts(camp: Campaign, ids: list[int], n: int, now: datetime, rng: random.Random) -> Iterator[Attempt]:
    weights = [w for _, w in OUTCOMES]
    step = timedelta(days=30) / max(n, 1)
    for i in range(n):
        outcome = rng.choices([o for o, _ in OUTCOMES], weights)[0]
        placed = now - timedelta(days=30) + i * step
        answered = placed + timedelta(seconds=8) if outcome.is_live else None
        connected = answered + timedelta(seconds=1) if outcome is CallResult.ANSWER and answered else None
        ended = (connected or answered or placed) + timedelta(seconds=rng.uniform(20, 200))
        yield Attempt(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            record_id=ids[i % len(ids)],
            campaign_id=camp.id,
            backend="simulated",
            mode="progressive",
            state=AttemptState.ENDED,
            number_dialed="+12125550100",
            caller_id="+12125550100",
            created_at=placed,
            placed_at=placed,
            answered_at=answered,
            connected_at=connected,
            ended_at=ended,
            outcome=outcome,
            raw_outcome=outcome.value,
            was_missed=outcome.is_abandoned,
            duration_s=round((ended - placed).total_seconds(), 1),
            pacing_reason="progressive: 4 idle of 20 agents, 0 waiting, 2 ringing → 2",
        )


def generate(store: SqlStore, *, big: int, small: int, n_attempts: int, now: datetime) -> dict[str, float]:
    rng = random.Random(7)
    started = time.perf_counter()
    sizes = {}
    for name, n in (("big", big), ("small", small)):
        camp = store.create_campaign(
            CampaignSpec(name=name, flow_id="flow-1", caller_ids=("+12125550100",), agents=20), now=now
        )
        bulk.insert_records(store, camp.id, records(n, name[0].upper(), now, rng), now=now)
        ids = list(store.record_keys(camp.id)[0].values())
        bulk.insert_attempts(store, attempts(camp, ids, n_attempts if name == "big" else n // 3, now, rng))
        # a realistic status mix: final records, and some held by a gate with its reason
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE records SET status = 'completed' WHERE campaign_id = :c AND id % 4 = 0"), {"c": camp.id}
            )
            conn.execute(
                text("UPDATE records SET status = 'exhausted' WHERE campaign_id = :c AND id % 20 = 1"), {"c": camp.id}
            )
            conn.execute(
                text(
                    "UPDATE records SET blocked_reason = 'outside_window' WHERE campaign_id = :c AND id % 10 = 7 "
                    "AND status = 'ready'"
                ),
                {"c": camp.id},
            )
        store.note_pacing(
            camp.id, PacingNote(decided_at=now, wanted=2, placed=2, capped_by=None, reason="progressive: 2 idle → 2")
        )
        sizes[name] = n
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {**sizes, "seconds": time.perf_counter() - started}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p95": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000,
    }


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def sse_latency(
    url: str, cookies: httpx.Cookies, store: SqlStore, campaign: str, changes: int, interval: float
) -> list[float]:
    """Seconds from a change in the store to the event that shows it."""
    events: list[tuple[float, str]] = []
    stop = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=url, cookies=cookies, timeout=None) as client:
            with client.stream("GET", f"/campaigns/{campaign}/live") as stream:
                data: list[str] = []
                for line in stream.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("data:"):
                        data.append(line[5:])
                    elif not line and data:
                        events.append((time.perf_counter(), "\n".join(data)))
                        data = []

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    while not events:
        time.sleep(0.01)
    latencies = []
    now = datetime.now(UTC)
    for i in range(changes):
        pausing = i % 2 == 0
        marker = f"bench pause {i}"
        time.sleep(random.uniform(0.0, interval))  # a random phase against the refresh
        seen = len(events)
        changed_at = time.perf_counter()
        if pausing:
            store.set_campaign_status(campaign, CampaignStatus.PAUSED, reason=marker, now=now)
        else:
            store.set_campaign_status(campaign, CampaignStatus.ACTIVE, reason=None, now=now)
        deadline = changed_at + 60
        while time.perf_counter() < deadline:
            fresh = [(at, body) for at, body in events[seen:] if 'id="lines-in-use"' in body]
            hit = next((at for at, body in fresh if (marker in body) == pausing), None)
            if hit is not None:
                latencies.append(hit - changed_at)
                break
            time.sleep(0.005)
        else:
            raise RuntimeError("no event showed the change within 60 s")
    stop.set()
    return latencies


def breakdown(ctx: Any, name: str) -> list[tuple[str, float]]:
    c = ctx.store.get_campaign(name)
    now = ctx.clock.now()
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("count_records", lambda: ctx.store.count_records(c.id)),
        ("in_flight", lambda: ctx.store.in_flight(c.id)),
        ("outcome_counts 30 d", lambda: ctx.store.outcome_counts(c.id, since=now - timedelta(days=30))),
        ("outcome_counts 24 h", lambda: ctx.store.outcome_counts(c.id, since=now - timedelta(hours=24))),
        ("waiting_breakdown", lambda: ctx.store.waiting_breakdown(c.id, now=now)),
        ("due_records", lambda: ctx.store.due_records(c.id, now=now)),
        ("skipped_for_in_flight", lambda: ctx.store.skipped_for_in_flight(c.id, now=now)),
        ("pacing snapshot", lambda: pacing_state.snapshot(ctx, c, now=now)),
        ("campaign_status (all of it)", lambda: status.campaign_status(ctx, c, now=now)),
        ("agent_figures", lambda: status.agent_figures(ctx, c, now=now)),
        ("list_figures (every campaign)", lambda: live.list_figures(ctx, now=now)),
    ]
    out = []
    for label, fn in steps:
        fn()  # warm
        out.append((label, statistics.median(timed(fn, 5)) * 1000))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--attempts", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--live-seconds", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder")
    args = parser.parse_args()
    accounts.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="dialer-bench-web-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.db"
    settings = load_settings(
        data_dir=folder / "data", database_url=f"sqlite:///{db}", web_live_seconds=args.live_seconds
    )
    now = datetime.now(UTC)
    ctx = build_context(settings)
    try:
        if not ctx.store.list_campaigns():
            made = generate(ctx.store, big=args.records, small=1000, n_attempts=args.attempts, now=now)
            print(f"generated {made['big']:,} + {made['small']:,} records in {made['seconds']:.1f} s ({db})")
            accounts.add_user(ctx.store, "bench", role=Role.MANAGER, password=PASSWORD, now=now)
        app = create_app(ctx)
        cache: live.LiveCache = app.state.web.extras.setdefault("live", live.LiveCache(args.live_seconds * 0.9))
        with WebServer(app) as url, httpx.Client(base_url=url, timeout=120) as client:
            page = client.get("/login").text
            token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"csrf_token": token, "name": "bench", "password": PASSWORD})

            def get(path: str, *, fresh: bool = True) -> Callable[[], Any]:
                def run() -> None:
                    if fresh:
                        cache._values.clear()
                    response = client.get(path)
                    response.raise_for_status()

                return run

            rows = []
            for label, path in (
                ("GET /healthz (baseline)", "/healthz"),
                ("GET /campaigns/small (1,000 records)", "/campaigns/small"),
                (f"GET /campaigns/big ({args.records:,} records)", "/campaigns/big"),
                ("GET /campaigns (list of both)", "/campaigns"),
                ("GET /campaigns/big/pacing.svg", "/campaigns/big/pacing.svg"),
            ):
                get(path)()
                rows.append((label, percentiles(timed(get(path), args.requests))))
            base = rows[0][1]["p95"]
            small = rows[1][1]["p95"]
            print(f"\nPage render over HTTP, {args.requests} requests each, figures recomputed every time:")
            print(f"{'route':44} {'p50 ms':>9} {'p95 ms':>9} {'p95 / healthz':>14} {'p95 / small':>12}")
            for label, p in rows:
                print(f"{label:44} {p['p50']:9.1f} {p['p95']:9.1f} {p['p95'] / base:14.1f} {p['p95'] / small:12.2f}")

            print(f"\nSSE update latency, {args.changes} changes each, refresh every {args.live_seconds:g} s:")
            print(f"{'campaign':44} {'p50 ms':>9} {'p95 ms':>9} {'p95 / small':>12}")
            results = {}
            for name in ("small", "big"):
                results[name] = percentiles(
                    sse_latency(url, client.cookies, ctx.store, name, args.changes, args.live_seconds)
                )
            for name in ("small", "big"):
                p = results[name]
                print(f"{name:44} {p['p50']:9.1f} {p['p95']:9.1f} {p['p95'] / results['small']['p95']:12.2f}")
        print(f"\nWhere the time goes on the {args.records:,}-record campaign (median of 5, in process):")
        for label, ms in breakdown(ctx, "big"):
            print(f"  {label:40} {ms:9.1f} ms")
    finally:
        ctx.close()


if __name__ == "__main__":
    main()

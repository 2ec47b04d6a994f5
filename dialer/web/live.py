"""Live figures: what the campaign pages show, refreshed over server-sent events.

The figures come from the same library calls as `dialer status` (:mod:`dialer.status`).
They are computed at most once per refresh interval per campaign, whatever the number of
browsers watching (:class:`LiveCache`); each event stream sends the newest copy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import StreamingResponse

from dialer import status
from dialer.context import Context
from dialer.domain.campaigns import Campaign

#: The chart's default period.
CHART_PERIOD = timedelta(hours=1)


@dataclass(frozen=True, kw_only=True)
class CampaignFigures:
    campaign: Campaign
    status: dict[str, Any]
    agents: dict[str, Any]
    now: datetime
    computed_ms: float


def campaign_figures(ctx: Context, name: str, *, now: datetime) -> CampaignFigures:
    started = time.perf_counter()
    c = ctx.store.get_campaign(name)
    found = status.campaign_status(ctx, c, now=now)
    agents = status.agent_figures(ctx, c, now=now)
    return CampaignFigures(
        campaign=c, status=found, agents=agents, now=now, computed_ms=(time.perf_counter() - started) * 1000
    )


def list_figures(ctx: Context, *, now: datetime) -> list[dict[str, Any]]:
    """One row per campaign: records by status, lines in use, abandonment (30 days), the pacer's newest words."""
    rows = []
    for c in ctx.store.list_campaigns():
        counts = ctx.store.count_records(c.id)
        month = ctx.store.outcome_counts(c.id, since=now - timedelta(days=30))
        note = ctx.store.pacing_note(c.id)
        fresh = note is not None and -status.CLOCK_SKEW <= now - note.decided_at <= status.DAEMON_SILENT_AFTER
        final = sum(n for s, n in counts.items() if s not in ("ready", "leased", "dialing"))
        rows.append(
            {
                "campaign": c,
                "records": sum(counts.values()),
                "ready": counts.get("ready", 0),
                "final": final,
                "lines_in_use": ctx.store.count_in_flight(c.id),
                "attempts_30d": month.attempts,
                "live_answers_30d": month.live_answers,
                "abandon_rate_30d": month.abandon_rate,
                "pacing": note.reason if note is not None and fresh else None,
            }
        )
    return rows


class LiveCache:
    """Values recomputed at most once per ``ttl`` seconds per key; concurrent readers of a
    stale key wait for one computation instead of each starting their own."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[float, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        hit = self._values.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            value = compute()
            self._values[key] = (time.monotonic(), value)
            return value

    def forget(self, key: str) -> None:
        self._values.pop(key, None)


def sse(event: str, data: str, *, event_id: int | None = None) -> str:
    """One server-sent event; every line of ``data`` gets its own ``data:`` field."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def event_stream(
    request: Request,
    produce: Callable[[], list[tuple[str, str]]],
    *,
    interval: float,
    still_allowed: Callable[[], bool],
) -> StreamingResponse:
    """Send ``produce()``'s events every ``interval`` seconds until the browser goes away or
    the user's session stops being valid."""

    async def events() -> AsyncIterator[str]:
        yield f"retry: {int(max(interval, 1.0) * 1000)}\n\n"
        sequence = 0
        while True:
            if await request.is_disconnected():
                return
            allowed = await to_thread.run_sync(still_allowed)
            if not allowed:
                yield sse("ended", "your session has ended; reload the page")
                return
            for name, html in await to_thread.run_sync(produce):
                sequence += 1
                yield sse(name, html, event_id=sequence)
            await anyio.sleep(interval)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

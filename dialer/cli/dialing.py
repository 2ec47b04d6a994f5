"""`dialer run` and `dialer status`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dialer.cli.app import State, cli, err, out, pass_state, print_json
from dialer.context import Context
from dialer.daemon import ownership
from dialer.daemon.metrics import DaemonMetrics
from dialer.daemon.metrics import serve as serve_metrics
from dialer.daemon.runner import DrainResult, RunResult, drain_virtual, run_once, run_virtual_until_done
from dialer.daemon.scheduler import Daemon
from dialer.daemon.tick import TickReport
from dialer.domain.clock import SystemClock, VirtualClock
from dialer.domain.records import RecordStatus
from dialer.errors import ConfigError
from dialer.reports.metrics import run_summary
from dialer.telephony import BACKENDS

log = logging.getLogger(__name__)


@cli.command()
@click.option("--campaign", "campaigns", multiple=True, help="Only these campaigns (repeatable). Default: all.")
@click.option("--backend", type=click.Choice(BACKENDS), help="Telephony backend. [env: DIALER_BACKEND]")
@click.option("--once", is_flag=True, help="One tick, then exit (simulated: also wait for its calls to end).")
@click.option("--until-done", is_flag=True, help="Run until every record is final (virtual time on simulated).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome summary as one JSON object.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port at /metrics (0: any free port). [env: DIALER_METRICS_PORT]",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    help="Log lines as text or as one JSON object each (secrets masked). [env: DIALER_LOG_FORMAT]",
)
@pass_state
def run(
    state: State,
    campaigns: tuple[str, ...],
    backend: str | None,
    once: bool,
    until_done: bool,
    as_json: bool,
    metrics_port: int | None,
    log_format: str | None,
) -> None:
    """Dial: collect results, pace and place calls on a schedule.

    Without --once or --until-done the daemon runs in real time until SIGTERM/Ctrl-C, after
    which it stops placing calls and collects the results of calls in flight. With
    --metrics-port it serves Prometheus metrics while it runs.
    """
    if once and until_done:
        raise click.UsageError("use just one of --once and --until-done")
    if metrics_port is not None:
        state.overrides["metrics_port"] = metrics_port
    if log_format is not None:
        state.overrides["log_format"] = log_format
    settings = state.settings()
    backend = backend or settings.backend
    names = list(campaigns) or None
    virtual = backend == "simulated" and (once or until_done)
    clock = VirtualClock(virtual_start(state, SystemClock().now())) if virtual else None
    with state.context(clock=clock, backend=backend) as ctx:
        for name in names or []:
            ctx.store.get_campaign(name)  # fail early on a typo
        extra: dict[str, object] = {"backend": backend}
        if virtual and until_done:
            assert clock is not None
            with ownership.holding(ctx, names, every=True), virtual_progress(ctx, names, disable=as_json) as on_tick:
                result: RunResult = run_virtual_until_done(ctx, clock, campaigns=names, on_tick=on_tick)
            extra.update(_run_result(result))
        elif once:
            with ownership.holding(ctx, names, every=False):
                report: TickReport = run_once(ctx, campaigns=names)
                drained = drain_virtual(ctx, clock, campaigns=names) if clock is not None else None
            extra.update({"placed": report.placed, "decisions": {c.campaign: c.reason for c in report.campaigns}})
            if drained is not None:
                extra.update(_drain_result(drained))
        else:
            metrics = DaemonMetrics(backend=backend) if settings.metrics_port is not None else None
            daemon = Daemon(
                ctx,
                campaigns=names,
                until_done=until_done,
                on_tick=None if as_json else _print_tick,
                metrics=metrics,
            )
            if not as_json:
                err.print(f"dialer running ({backend}); Ctrl-C stops placing calls and collects those in flight")
            with webhook_receiver(ctx), metrics_endpoint(ctx, metrics):
                res = daemon.run()
            extra.update(
                {
                    "ticks": res.ticks,
                    "placed": res.placed,
                    "stopped_by_signal": res.stopped_by_signal,
                    "done": res.done,
                    "in_flight_at_exit": res.in_flight_at_exit,
                }
            )
        summary = {**run_summary(ctx.store, ctx.telephony, names, now=ctx.clock.now()), **extra}
    if as_json:
        print_json(summary)
    else:
        print_summary(summary)


def virtual_start(state: State, wall: datetime) -> datetime:
    """Where a virtual-time run starts: now, or where the last one left the database when that
    is later — stored times never go backwards, and each run continues the rehearsal."""
    with state.context() as ctx:
        newest = ctx.store.newest_time()
    return max(wall, newest) if newest is not None else wall


@contextmanager
def virtual_progress(
    ctx: Context, names: list[str] | None, *, disable: bool
) -> Iterator[Callable[[TickReport, int], None]]:
    """A progress bar on stderr for `run --until-done`: records final of all, calls placed,
    and the virtual time reached. Off under --json and when stderr is not a terminal."""
    ids = [ctx.store.get_campaign(n).id for n in names] if names else [c.id for c in ctx.store.list_campaigns()]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[final]:,} of {task.fields[records]:,} records final"),
        TextColumn("· {task.fields[placed]:,} calls · virtual {task.fields[at]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable or not err.is_terminal,
    ) as bar:
        task = bar.add_task("dialing", total=None, placed=0, at="", final=0, records=0)
        last = [0.0]

        def on_tick(report: TickReport, placed: int) -> None:
            wall = time.monotonic()
            if wall - last[0] < 0.2:  # counting records every tick would cost more than the tick
                return
            last[0] = wall
            total = final = 0
            for cid in ids:
                for status, n in ctx.store.count_records(cid).items():
                    total += n
                    final += n if RecordStatus(status).is_final else 0
            at = f"{report.now:%Y-%m-%d %H:%M}"
            bar.update(
                task, total=total, completed=final, final=final, records=total, placed=placed, at=at, refresh=True
            )

        yield on_tick


@contextmanager
def webhook_receiver(ctx: Context) -> Iterator[None]:
    """With the Twilio backend and DIALER_TWILIO_WEBHOOK_PORT set, receive callbacks in-process."""
    settings = ctx.settings
    if settings.backend != "twilio" or settings.twilio_webhook_port is None:
        yield
        return
    from dialer.cli.webhooks import abandon_message
    from dialer.sandbox.server import BackgroundServer
    from dialer.web.twilio_callbacks import create_app

    if settings.twilio_auth_token is None or not settings.twilio_public_base_url:
        raise ConfigError("receiving callbacks needs DIALER_TWILIO_AUTH_TOKEN and DIALER_TWILIO_PUBLIC_BASE_URL")
    app = create_app(
        store=ctx.store,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        public_base_url=settings.twilio_public_base_url,
        now=ctx.clock.now,
        abandon_message=lambda name: abandon_message(ctx.store, name),
    )
    server = BackgroundServer(app, host=settings.twilio_webhook_host, port=settings.twilio_webhook_port)
    err.print(f"receiving Twilio callbacks on {server.start()} for {settings.twilio_public_base_url}")
    try:
        yield
    finally:
        server.stop()


@contextmanager
def metrics_endpoint(ctx: Context, metrics: DaemonMetrics | None) -> Iterator[None]:
    """Serve ``metrics`` on DIALER_METRICS_HOST:DIALER_METRICS_PORT while the daemon runs."""
    if metrics is None or ctx.settings.metrics_port is None:
        yield
        return
    metrics.refresh(ctx, now=ctx.clock.now(), force=True)
    with serve_metrics(metrics, host=ctx.settings.metrics_host, port=ctx.settings.metrics_port) as url:
        err.print(f"serving Prometheus metrics on {url}")
        log.info("serving Prometheus metrics on %s", url, extra={"action": "metrics", "url": url})
        yield


def _run_result(result: RunResult) -> dict[str, object]:
    return {
        "virtual_start": result.started.isoformat(),
        "virtual_end": result.finished.isoformat(),
        "virtual_hours": round((result.finished - result.started).total_seconds() / 3600, 2),
        "ticks": result.ticks,
        "done": result.done,
        "stopped_reason": result.stopped_reason,
    }


def _drain_result(drained: DrainResult) -> dict[str, object]:
    """What the simulated `--once` drain left; calls left in flight are said on stderr too."""
    if drained.stopped_reason is not None:
        err.print(f"[yellow]warning:[/] {drained.stopped_reason}")
        log.warning(
            "drain stopped: %s",
            drained.stopped_reason,
            extra={"action": "drain", "in_flight": drained.left, "virtual_end": drained.finished.isoformat()},
        )
    return {
        "in_flight_at_exit": drained.left,
        "drain_ended": drained.ended,
        "virtual_end": drained.finished.isoformat(),
        **({"drain_stopped_reason": drained.stopped_reason} if drained.stopped_reason else {}),
    }


def _print_tick(report: TickReport) -> None:
    for c in report.campaigns:
        if c.placed or c.errors:
            err.print(f"{report.now:%H:%M:%S} {c.campaign}: placed {c.placed} — {c.reason}")
        for e in c.errors:
            err.print(f"  {e}")


def print_summary(summary: dict[str, object]) -> None:
    table = Table("measure", "value", title="Outcome")
    for key in ("records", "attempts", "live_answers", "connects", "abandoned"):
        table.add_row(key.replace("_", " "), str(summary[key]))
    rate = summary.get("abandon_rate")
    table.add_row("abandon rate", "n/a" if rate is None else f"{float(rate):.2%} (cap 3%)")  # type: ignore[arg-type]
    occ = summary.get("occupancy")
    table.add_row("agent occupancy", "unknown" if occ is None else f"{float(occ):.1%}")  # type: ignore[arg-type]
    by_status = summary.get("records_by_status") or {}
    for status, n in by_status.items():  # type: ignore[attr-defined]
        table.add_row(f"records {status}", str(n))
    out.print(table)
    if summary.get("stopped_reason"):
        out.print(f"Stopped: {summary['stopped_reason']} (virtual {summary.get('virtual_hours')} h)")


@cli.command()
@click.option("--campaign", "campaigns", multiple=True, help="Only these campaigns. Default: all.")
@click.option("--record", "record_handle", help="Explain one record: its status, history and why it is (not) dialing.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def status(state: State, campaigns: tuple[str, ...], record_handle: str | None, as_json: bool) -> None:
    """Per campaign: mode, agents, lines in use, abandon rate vs cap, records by status and why
    records are not being dialed right now."""
    from dialer.cli.explain import campaign_status, explain_record, print_record, print_status

    with state.context() as ctx:
        now = ctx.clock.now()
        if record_handle:
            data = explain_record(ctx, record_handle, campaign=campaigns[0] if campaigns else None, now=now)
            print_json(data) if as_json else print_record(data)
            return
        selected = [ctx.store.get_campaign(n) for n in campaigns] if campaigns else ctx.store.list_campaigns()
        rows = [campaign_status(ctx, c, now=now) for c in selected]
    if as_json:
        print_json({"now": now.isoformat(), "campaigns": rows})
    else:
        print_status(rows)

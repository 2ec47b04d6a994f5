"""`dialer doctor`: is this installation ready to dial? One check per concern, each failure
naming its fix.

===============  ==============================================================================
check            passes when
===============  ==============================================================================
settings         the settings load and the chosen backend has what it needs (login, token)
database         the database answers (an SQLite file must already exist)
migrations       its schema is at the newest migration this dialer knows
campaigns        every campaign's windows, schedule and compliance options parse
telephony        the provider accepts the login, and the login holds a dialing role
caller_ids       every caller ID an active campaign would send is a number the account owns
callback_url     Twilio with a public callback URL: the dialer's receiver answers there
clock            the local clock is within ``max_skew`` of the provider's (its ``Date`` header)
===============  ==============================================================================

A check that cannot run because an earlier one failed, or that does not apply to the chosen
backend, is ``skip`` with the reason. :func:`diagnose` never raises for a failed check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

import httpx

from dialer.context import Context, build_context
from dialer.daemon.preflight import caller_ids_wanted
from dialer.domain.campaigns import CampaignStatus
from dialer.domain.clock import Clock, SystemClock
from dialer.errors import ConfigError, DialerError, TelephonyAuthError, TelephonyError
from dialer.settings import Settings
from dialer.store.repository import SqlStore
from dialer.telephony.twilio_voice import CALLBACK_PATHS

Status = Literal["ok", "fail", "skip"]
CHECKS = (
    "settings",
    "database",
    "migrations",
    "campaigns",
    "telephony",
    "caller_ids",
    "callback_url",
    "clock",
)
#: Clock skew tolerated by default, seconds (a ``Date`` header has one-second resolution).
MAX_SKEW = 10.0


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "checks": [asdict(c) for c in self.checks]}


class _Run:
    def __init__(self) -> None:
        self.checks: list[Check] = []

    def ok(self, name: str, detail: str) -> None:
        self.checks.append(Check(name=name, status="ok", detail=detail))

    def fail(self, name: str, detail: str, fix: str) -> None:
        self.checks.append(Check(name=name, status="fail", detail=detail, fix=fix))

    def skip(self, name: str, detail: str) -> None:
        self.checks.append(Check(name=name, status="skip", detail=detail))

    def passed(self, name: str) -> bool:
        return any(c.name == name and c.status == "ok" for c in self.checks)


def diagnose(
    load: Callable[[], Settings],
    *,
    clock: Clock | None = None,
    max_skew: float = MAX_SKEW,
    http_timeout: float = 5.0,
) -> Diagnosis:
    """Run every check in :data:`CHECKS` order. ``load`` builds the settings (its
    :class:`ConfigError` is the settings check's failure); ``clock`` is the local clock the
    provider's is compared with."""
    run = _Run()
    clock = clock or SystemClock()
    try:
        settings = load()
    except ConfigError as exc:
        run.fail("settings", exc.message, "Fix the setting named above (`dialer config show` shows them all).")
        for name in CHECKS[1:]:
            run.skip(name, "the settings do not load")
        return Diagnosis(checks=tuple(run.checks))
    with _context(settings, clock) as (ctx, problem):
        if problem is not None:
            run.fail("settings", problem.message, "Set what the message names, then run `dialer doctor` again.")
        else:
            run.ok("settings", f"backend {settings.backend}; config file {_config_file(settings)}")
        _database(run, settings, ctx)
        _campaigns(run, ctx)
        if ctx is None:
            for name in ("telephony", "caller_ids", "callback_url", "clock"):
                run.skip(name, "the settings do not build a telephony backend")
        else:
            _telephony(run, ctx)
            _caller_ids(run, ctx)
            _callback_url(run, settings, timeout=http_timeout)
            _clock(run, ctx, now=clock.now(), max_skew=max_skew)
    return Diagnosis(checks=tuple(run.checks))


@contextmanager
def _context(settings: Settings, clock: Clock) -> Iterator[tuple[Context | None, DialerError | None]]:
    """The context without migrating the database (a check must change nothing)."""
    store = SqlStore.open(settings.effective_database_url, migrate_schema=False)
    try:
        ctx = build_context(settings, clock=clock, store=store)
    except DialerError as exc:
        try:
            yield None, exc
        finally:
            store.close()
        return
    try:
        yield ctx, None
    finally:
        ctx.close()


def _config_file(settings: Settings) -> str:
    path = settings._config_path
    return f"{path} ({'read' if path.is_file() else 'not present'})"


def _database(run: _Run, settings: Settings, ctx: Context | None) -> None:
    store = ctx.store if ctx is not None else SqlStore.open(settings.effective_database_url, migrate_schema=False)
    try:
        current, head = store.schema_status()
    except DialerError as exc:
        run.fail(
            "database",
            exc.message,
            "Point DIALER_DATABASE_URL at a reachable database; `dialer db upgrade` creates a new one.",
        )
        run.skip("migrations", "the database cannot be reached")
        return
    finally:
        if ctx is None:
            store.close()
    run.ok("database", store.engine.url.render_as_string(hide_password=True))
    if current == head:
        run.ok("migrations", f"at the newest migration, {head}")
    elif current is None:
        run.fail("migrations", "the database has no dialer schema", "Run `dialer db upgrade` to create it.")
    else:
        run.fail(
            "migrations",
            f"the database is at migration {current}; this dialer's newest is {head}",
            "Run `dialer db upgrade` (if the database's migration is unknown to this dialer, a newer version "
            "migrated it: upgrade the dialer instead).",
        )


def _campaigns(run: _Run, ctx: Context | None) -> None:
    if ctx is None or not run.passed("migrations"):
        run.skip("campaigns", "the database is not ready")
        return
    try:
        campaigns = ctx.store.list_campaigns()
    except DialerError as exc:
        run.fail("campaigns", exc.message, "Correct the campaign the message names, then run doctor again.")
        return
    bad = []
    for c in campaigns:
        try:
            c.effective_window()
            c.schedule()
            c.compliance_options()
        except (ValueError, DialerError) as exc:
            bad.append(f"{c.name}: {exc}")
    if bad:
        run.fail(
            "campaigns",
            "; ".join(bad),
            "Fix the campaign's options (`dialer campaign show NAME`, then `dialer campaign update` or recreate it).",
        )
        return
    active = sum(1 for c in campaigns if c.status is CampaignStatus.ACTIVE)
    run.ok("campaigns", f"{len(campaigns)} campaign(s), {active} active; windows, schedules and options parse")


def _telephony(run: _Run, ctx: Context) -> None:
    try:
        who = ctx.telephony.check_credentials()
    except TelephonyAuthError as exc:
        run.fail("telephony", exc.message, "Fix the credentials or the user's role as the message says.")
    except TelephonyError as exc:
        run.fail(
            "telephony",
            exc.message,
            "Check the provider's base URL setting, the network and the provider's status, then run doctor again.",
        )
    except ConfigError as exc:
        run.fail("telephony", exc.message, "Set what the message names.")
    else:
        run.ok("telephony", who)


def _caller_ids(run: _Run, ctx: Context) -> None:
    if not run.passed("telephony"):
        run.skip("caller_ids", "the provider login is not usable")
        return
    if not run.passed("migrations"):
        run.skip("caller_ids", "the database is not ready")
        return
    try:
        campaigns = ctx.store.list_campaigns(status=CampaignStatus.ACTIVE)
        wanted = {c.name: caller_ids_wanted(ctx, c) for c in campaigns}
        every = sorted({n for numbers in wanted.values() for n in numbers})
        owned = ctx.telephony.check_caller_ids(every) if every else {}
    except DialerError as exc:
        run.fail("caller_ids", exc.message, "Fix what the message names, then run doctor again.")
        return
    if not every:
        run.ok("caller_ids", "no active campaign sends a caller ID")
        return
    bad = []
    for name, numbers in wanted.items():
        missing = sorted(n for n in numbers if not owned.get(n, False))
        if missing:
            bad.append(f"{name}: {', '.join(missing)}")
    if bad:
        run.fail(
            "caller_ids",
            f"not owned by the {ctx.telephony.name} account: {'; '.join(bad)}",
            "A call may only show a number the account owns: add the number to the account, or change the "
            "campaign's --caller-id or the records' outboundCallerId.",
        )
    else:
        run.ok("caller_ids", f"{len(every)} caller ID(s) owned by the {ctx.telephony.name} account")


def _callback_url(run: _Run, settings: Settings, *, timeout: float) -> None:
    if settings.backend != "twilio":
        run.skip("callback_url", f"the {settings.backend} backend receives no callbacks (calls are polled)")
        return
    if not settings.twilio_public_base_url:
        run.skip("callback_url", "DIALER_TWILIO_PUBLIC_BASE_URL is not set: calls are polled over REST")
        return
    url = settings.twilio_public_base_url.rstrip("/") + CALLBACK_PATHS["status"]
    receiver = (
        f"`dialer run` with DIALER_TWILIO_WEBHOOK_PORT={settings.twilio_webhook_port}"
        if settings.twilio_webhook_port is not None
        else "`dialer webhooks serve`"
    )
    try:
        # Unsigned on purpose: the dialer's receiver refuses it with 403, which proves both that
        # the URL reaches it and that it checks Twilio's signature. Nothing is stored.
        response = httpx.post(url, data={"doctor": "probe"}, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        run.fail(
            "callback_url",
            f"{url} cannot be reached ({type(exc).__name__}: {exc})",
            f"Start the receiver ({receiver}) and make DIALER_TWILIO_PUBLIC_BASE_URL route to it.",
        )
        return
    if response.status_code == 403:
        run.ok("callback_url", f"{url} reaches the dialer's receiver (it refused an unsigned request)")
    elif response.is_success:
        run.fail(
            "callback_url",
            f"{url} accepted an unsigned request (HTTP {response.status_code})",
            "Something other than the dialer's receiver answers there, or it does not check signatures: point "
            f"DIALER_TWILIO_PUBLIC_BASE_URL at {receiver}.",
        )
    else:
        run.fail(
            "callback_url",
            f"{url} answered HTTP {response.status_code}, not the dialer's receiver",
            f"Point DIALER_TWILIO_PUBLIC_BASE_URL (and any proxy in front) at {receiver}.",
        )


def _clock(run: _Run, ctx: Context, *, now: datetime, max_skew: float) -> None:
    reader = getattr(ctx.telephony, "provider_time", None)
    if reader is None:
        run.skip("clock", f"the {ctx.telephony.name} backend has no clock of its own")
        return
    theirs = reader()
    if theirs is None:
        run.skip("clock", "the provider sent no Date header (or was not reached)")
        return
    skew = (now - theirs).total_seconds()
    if abs(skew) > max_skew:
        way = "ahead of" if skew > 0 else "behind"
        run.fail(
            "clock",
            f"the local clock is {abs(skew):.0f} s {way} {ctx.telephony.name}'s (its Date header said "
            f"{theirs:%Y-%m-%d %H:%M:%S} UTC); calling windows and retry times depend on it",
            "Synchronise the clock: enable NTP (`timedatectl set-ntp true`, or chrony/ntpd).",
        )
    else:
        run.ok("clock", f"within {max_skew:.0f} s of {ctx.telephony.name}'s ({skew:+.0f} s)")

"""Managers' campaign pages: the list, a new campaign, one campaign live, pause and resume,
the outcome report and the pacing chart."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from dialer.campaignfile import build_spec, campaign_options
from dialer.domain.campaigns import CampaignStatus, DialMode
from dialer.domain.users import Permission
from dialer.errors import ConfigError, DialerError
from dialer.reports.export import export
from dialer.web import charts, live
from dialer.web.base import (
    current_user,
    flash,
    form_value,
    guarded,
    redirect,
    render,
    state_of,
)

MANAGE = Permission.MANAGE_CAMPAIGNS
CHART_HOURS = (1, 6, 24, 168)


def _cache(request: Request) -> live.LiveCache:
    web = state_of(request)
    cache: live.LiveCache = web.extras.setdefault("live", live.LiveCache(web.live_seconds * 0.9))
    return cache


def _list_rows(request: Request) -> list[dict[str, object]]:
    ctx = state_of(request).ctx
    rows: list[dict[str, object]] = _cache(request).get("list", lambda: live.list_figures(ctx, now=ctx.clock.now()))
    return rows


def _figures(request: Request, name: str) -> live.CampaignFigures:
    ctx = state_of(request).ctx
    figures: live.CampaignFigures = _cache(request).get(
        f"campaign:{name}", lambda: live.campaign_figures(ctx, name, now=ctx.clock.now())
    )
    return figures


def campaign_list(request: Request, form: FormData | None) -> Response:
    return render(request, "campaigns.html", rows=_list_rows(request))


async def campaign_list_live(request: Request, form: FormData | None) -> Response:
    web = state_of(request)

    def produce() -> list[tuple[str, str]]:
        rows = _list_rows(request)
        html = web.templates.get_template("_campaign_rows.html").render(rows=rows)
        return [("rows", html)]

    return live.event_stream(request, produce, interval=web.live_seconds, still_allowed=_allowed(request))


def _allowed(request: Request) -> Callable[[], bool]:
    def check() -> bool:
        user = current_user(request)
        return user is not None and user.can(MANAGE)

    return check


# --------------------------------------------------------------------- create
FORM_DEFAULTS = {
    "mode": "progressive",
    "agents": "10",
    "region": "US",
    "max_attempts": "6",
    "hours": "08:00-21:00",
    "days": "mon-sun",
    "ring_timeout": "25",
    "compliance_profile": "us",
    "start_paused": "on",
}


def new_campaign_page(request: Request, form: FormData | None) -> Response:
    return render(request, "campaign_new.html", values=FORM_DEFAULTS, modes=[m.value for m in DialMode])


def _int(values: dict[str, str], key: str, label: str, *, minimum: int, optional: bool = False) -> int | None:
    text = values.get(key, "")
    if not text and optional:
        return None
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(f"{label}: give a whole number") from None
    if number < minimum:
        raise ConfigError(f"{label}: at least {minimum}")
    return number


def _float(values: dict[str, str], key: str, label: str) -> float | None:
    text = values.get(key, "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{label}: give a number, e.g. 0.025") from None


def create_campaign(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    keys = (
        "name flow_id mode caller_ids agents region max_attempts hours days timezone ring_timeout max_cps max_lines "
        "compliance_profile abandon_target min_agents_predictive schedule_hours schedule_days start_date end_date "
        "treatments abandon_message"
    ).split()
    values = {k: form_value(form, k) for k in keys}
    flags = {k: form_value(form, k) == "on" for k in ("allow_random_caller_id", "allow_relaxing", "start_paused")}
    try:
        if not values["name"] or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", values["name"]):
            raise ConfigError("name: 1-80 letters, digits, '.', '_' or '-' (it appears in URLs and file names)")
        if not values["flow_id"]:
            raise ConfigError("flow: give the Evo Voice flow (or TwiML App, URL or queue) run when the callee answers")
        options = campaign_options(
            {
                "compliance_profile": values["compliance_profile"] or "us",
                "abandon_target": _float(values, "abandon_target", "abandon target"),
                "min_agents_predictive": _int(
                    values, "min_agents_predictive", "agents for predictive", minimum=1, optional=True
                ),
                "schedule_hours": values["schedule_hours"],
                "schedule_days": values["schedule_days"],
                "start_date": values["start_date"],
                "end_date": values["end_date"],
                "abandon_message": values["abandon_message"],
            },
            treatments=values["treatments"].splitlines(),
            allow_relaxing=flags["allow_relaxing"],
        )
        spec = build_spec(
            name=values["name"],
            flow_id=values["flow_id"],
            mode=values["mode"] or "progressive",
            caller_ids=[c.strip() for c in re.split(r"[\n,;]+", values["caller_ids"]) if c.strip()],
            allow_random_caller_id=flags["allow_random_caller_id"],
            agents=_int(values, "agents", "agents", minimum=0) or 0,
            region=(values["region"] or "US").upper(),
            max_attempts=_int(values, "max_attempts", "attempts per record", minimum=1) or 1,
            hours=values["hours"] or "08:00-21:00",
            days=values["days"] or "mon-sun",
            timezone=values["timezone"] or None,
            ring_timeout=_int(values, "ring_timeout", "ring timeout", minimum=15) or 25,
            max_cps=_float(values, "max_cps", "calls per second"),
            max_lines=_int(values, "max_lines", "lines", minimum=1, optional=True),
            options=options,
        )
        created = ctx.store.create_campaign(spec, now=ctx.clock.now())
        if flags["start_paused"]:
            created = ctx.store.set_campaign_status(
                created.name,
                CampaignStatus.PAUSED,
                reason="new campaign: resume it to start dialing",
                now=ctx.clock.now(),
            )
    except DialerError as exc:
        return render(
            request,
            "campaign_new.html",
            status_code=400,
            values={**values, **{k: "on" if v else "" for k, v in flags.items()}},
            modes=[m.value for m in DialMode],
            error=exc.message,
        )
    _cache(request).forget("list")
    paused = " It is paused: resume it when its records are loaded." if flags["start_paused"] else ""
    flash(request, f"Created campaign {created.name} ({created.mode.value}, {created.agents} agents).{paused}")
    return redirect(f"/campaigns/{created.name}/import")


# ------------------------------------------------------------------ one page
def campaign_page(request: Request, form: FormData | None) -> Response:
    name = request.path_params["name"]
    ctx = state_of(request).ctx
    figures = _figures(request, name)
    hours = _chart_hours(request)
    return render(
        request,
        "campaign.html",
        f=figures,
        c=figures.campaign,
        imports=ctx.store.imports(figures.campaign.id, limit=5),
        events=ctx.store.campaign_events(figures.campaign.id, limit=10),
        chart=_chart(request, figures.campaign.name, hours),
        hours=hours,
        chart_hours=CHART_HOURS,
    )


def _chart_hours(request: Request) -> int:
    text = request.query_params.get("hours", "1")
    return int(text) if text.isdigit() and int(text) in CHART_HOURS else 1


def _chart(request: Request, name: str, hours: int) -> str:
    ctx = state_of(request).ctx

    def draw() -> str:
        c = ctx.store.get_campaign(name)
        until = ctx.clock.now()
        since = until - timedelta(hours=hours)
        history = ctx.store.pacing_history(c.id, since=since, until=until)
        placed = ctx.store.placed_times(c.id, since=since, until=until)
        period = "hour" if hours == 1 else f"{hours} hours"
        return charts.pacing_svg(history, placed, since=since, until=until, title=f"Pacing of {name}, last {period}")

    svg: str = _cache(request).get(f"chart:{name}:{hours}", draw)
    return svg


async def campaign_live_events(request: Request, form: FormData | None) -> Response:
    web = state_of(request)
    name = request.path_params["name"]
    hours = _chart_hours(request)
    rounds = {"n": 0}

    def produce() -> list[tuple[str, str]]:
        figures = _figures(request, name)
        html = web.templates.get_template("_campaign_figures.html").render(f=figures, c=figures.campaign)
        events = [("figures", html)]
        rounds["n"] += 1
        if rounds["n"] % 5 == 1:
            events.append(("chart", _chart(request, name, hours)))
        return events

    return live.event_stream(request, produce, interval=web.live_seconds, still_allowed=_allowed(request))


def chart_svg(request: Request, form: FormData | None) -> Response:
    svg = _chart(request, request.path_params["name"], _chart_hours(request))
    return Response(svg, media_type="image/svg+xml")


def pause(request: Request, form: FormData | None) -> Response:
    return _set_status(request, form, "pause")


def resume(request: Request, form: FormData | None) -> Response:
    return _set_status(request, form, "resume")


def _set_status(request: Request, form: FormData | None, action: str) -> Response:
    ctx = state_of(request).ctx
    name = request.path_params["name"]
    user = request.state.user
    if action == "pause":
        reason = form_value(form, "reason") or f"paused by {user.name}"
        ctx.store.set_campaign_status(name, CampaignStatus.PAUSED, reason=reason, now=ctx.clock.now())
        flash(request, f"Paused {name}: no new calls; calls in flight finish normally.")
    else:
        ctx.store.set_campaign_status(name, CampaignStatus.ACTIVE, reason=None, now=ctx.clock.now())
        flash(request, f"Resumed {name}.")
    cache = _cache(request)
    cache.forget("list")
    cache.forget(f"campaign:{name}")
    return redirect(f"/campaigns/{name}")


def report(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    name = request.path_params["name"]
    fmt = request.query_params.get("format", "xlsx")
    sheet = request.query_params.get("sheet", "records")
    if fmt not in ("xlsx", "csv") or sheet not in ("records", "attempts"):
        raise DialerError("choose format=xlsx, or format=csv with sheet=records or sheet=attempts")
    campaign = ctx.store.get_campaign(name)
    now = ctx.clock.now()
    with ctx.lock:
        stats = ctx.telephony.centre_stats(campaign.name, now=now)
    folder = Path(tempfile.mkdtemp(prefix="dialer-report-"))
    filename = f"{campaign.name}-{now:%Y%m%d-%H%M}" + (f"-{sheet}.csv" if fmt == "csv" else ".xlsx")
    try:
        result = export(
            ctx.store,
            campaign,
            folder / filename,
            now=now,
            sheet="attempts" if sheet == "attempts" else "records",
            occupancy=stats.occupancy if stats else None,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return FileResponse(
        result.path,
        media_type=media,
        filename=filename,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def routes() -> list[object]:
    return [
        guarded("/campaigns", campaign_list, permission=MANAGE),
        guarded("/campaigns/live", campaign_list_live, permission=MANAGE, asynchronous=True),
        guarded("/campaigns/new", new_campaign_page, permission=MANAGE),
        guarded("/campaigns/new", create_campaign, permission=MANAGE, methods=("POST",)),
        guarded("/campaigns/{name}", campaign_page, permission=MANAGE),
        guarded("/campaigns/{name}/live", campaign_live_events, permission=MANAGE, asynchronous=True),
        guarded("/campaigns/{name}/pacing.svg", chart_svg, permission=MANAGE),
        guarded("/campaigns/{name}/report", report, permission=MANAGE),
        guarded("/campaigns/{name}/pause", pause, permission=MANAGE, methods=("POST",)),
        guarded("/campaigns/{name}/resume", resume, permission=MANAGE, methods=("POST",)),
    ]

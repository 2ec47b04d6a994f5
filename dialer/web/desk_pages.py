"""The agent's preview desk: the next record with its user data, then Dial, Skip, Reschedule
or Complete with a disposition — the functions of :mod:`dialer.preview` that `dialer
preview …` calls, with the logged-in user as the agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dialer import preview
from dialer.domain import preview as rules
from dialer.domain.users import Permission
from dialer.errors import DialerError
from dialer.web.base import flash, form_value, guarded, redirect, render, state_of

DESK = Permission.WORK_DESK


def desk_index(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    campaigns = preview.preview_campaigns(ctx)
    return render(request, "desk_index.html", campaigns=campaigns)


def _desk_values(request: Request, name: str) -> dict[str, Any]:
    ctx = state_of(request).ctx
    agent = request.state.user.name
    now = ctx.clock.now()
    record = preview.on_desk(ctx, name, agent, now=now)
    campaign = ctx.store.get_campaign(name)
    return {
        "c": campaign,
        "record": record,
        "dispositions": [d.value for d in rules.DISPOSITIONS],
        "without_call": [d.value for d in rules.WITHOUT_CALL],
        "zone": campaign.zone,
        "default_callback": now.astimezone(ZoneInfo(campaign.zone)).strftime("%Y-%m-%dT%H:%M"),
    }


def desk_page(request: Request, form: FormData | None) -> Response:
    return render(request, "desk.html", **_desk_values(request, request.path_params["name"]))


def desk_card(request: Request, form: FormData | None) -> Response:
    """The record card alone, polled while a call is in progress."""
    return render(request, "_desk_card.html", **_desk_values(request, request.path_params["name"]))


def _act(request: Request, action: str, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    name = request.path_params["name"]
    handle = request.path_params.get("handle", "")
    agent = request.state.user.name
    now = ctx.clock.now()
    try:
        if action == "next":
            found = preview.next_record(ctx, name, agent, now=now)
            if found is None:
                flash(request, f"No record of {name} is due for an agent now; ask a manager why.", "warn")
        elif action == "dial":
            with ctx.lock:  # the call goes to the provider the pacer polls
                result = preview.dial(ctx, handle, agent, now=now, campaign=name)
            flash(request, result.message if not result.placed else f"Dialing {result.phone}…")
        elif action == "skip":
            desk = preview.skip(ctx, handle, agent, now=now, reason=form_value(form, "reason"), campaign=name)
            flash(request, f"{handle}: {desk.message}")
        elif action == "reschedule":
            at = _callback_time(ctx.store.get_campaign(name).zone, form_value(form, "at"))
            personal = form_value(form, "personal") == "1"
            desk = preview.reschedule(ctx, handle, agent, at, now=now, campaign=name, personal=personal)
            flash(request, " ".join([f"{handle}: {desk.message}.", *desk.notes]))
        elif action == "complete":
            desk = preview.complete(ctx, handle, agent, form_value(form, "disposition"), now=now, campaign=name)
            flash(request, " ".join([f"{handle}: {desk.disposition} — {desk.message}.", *desk.notes]))
    except DialerError as exc:
        flash(request, exc.message, "error")
    return redirect(f"/desk/{name}")


def _callback_time(zone: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise preview.PreviewError(f"cannot read the callback time {text!r}; pick a date and time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(zone))


def next_record(request: Request, form: FormData | None) -> Response:
    return _act(request, "next", form)


def dial(request: Request, form: FormData | None) -> Response:
    return _act(request, "dial", form)


def skip(request: Request, form: FormData | None) -> Response:
    return _act(request, "skip", form)


def reschedule(request: Request, form: FormData | None) -> Response:
    return _act(request, "reschedule", form)


def complete(request: Request, form: FormData | None) -> Response:
    return _act(request, "complete", form)


def routes() -> list[object]:
    return [
        guarded("/desk", desk_index, permission=DESK),
        guarded("/desk/{name}", desk_page, permission=DESK),
        guarded("/desk/{name}/card", desk_card, permission=DESK),
        guarded("/desk/{name}/next", next_record, permission=DESK, methods=("POST",)),
        guarded("/desk/{name}/records/{handle}/dial", dial, permission=DESK, methods=("POST",)),
        guarded("/desk/{name}/records/{handle}/skip", skip, permission=DESK, methods=("POST",)),
        guarded("/desk/{name}/records/{handle}/reschedule", reschedule, permission=DESK, methods=("POST",)),
        guarded("/desk/{name}/records/{handle}/complete", complete, permission=DESK, methods=("POST",)),
    ]

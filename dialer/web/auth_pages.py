"""Log in and out, one's own password, and the SystemAdministrator's user pages."""

from __future__ import annotations

from anyio import to_thread
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from dialer import accounts
from dialer.domain.users import Permission, Role
from dialer.errors import DialerError
from dialer.web import security
from dialer.web.base import (
    current_user,
    error_page,
    flash,
    form_value,
    guarded,
    public,
    read_form,
    redirect,
    render,
    start_session,
    state_of,
)


def _home_for(request: Request) -> str:
    user = request.state.user
    return "/campaigns" if user.can(Permission.MANAGE_CAMPAIGNS) else "/desk"


def _safe_next(value: str | None) -> str | None:
    """Only paths on this site (``/campaigns``), never ``//evil`` or ``https://…``."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


async def login_page(request: Request) -> Response:
    user = await to_thread.run_sync(current_user, request)
    if user is not None:
        request.state.user = user
        return redirect(_home_for(request))
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")) or "", name="")


async def login(request: Request) -> Response:
    web = state_of(request)
    if not security.same_origin(request):
        return error_page(request, 403, "Refused", "The request came from another site.")
    try:
        form = await read_form(request)
    except DialerError as exc:
        return error_page(request, 400, "That did not work", exc.message)
    token = form.get(security.CSRF_FIELD)
    if not security.csrf_valid(request, token if isinstance(token, str) else None):
        return error_page(
            request, 403, "Refused", "The login form's security token is missing or out of date. Reload and try again."
        )
    name = form_value(form, "name")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    target = _safe_next(form_value(form, "next"))
    client = request.client.host if request.client else "unknown"
    wait = web.throttle.retry_after(name, client)
    if wait > 0:
        return render(
            request,
            "login.html",
            status_code=429,
            next=target or "",
            name=name,
            error=f"Too many failed logins. Try again in {int(wait // 60) + 1} minutes.",
        )
    ctx = web.ctx
    user = await to_thread.run_sync(lambda: accounts.authenticate(ctx.store, name, password, now=ctx.clock.now()))
    if user is None:
        web.throttle.failed(name, client)
        return render(
            request, "login.html", status_code=401, next=target or "", name=name, error="Wrong user name or password."
        )
    web.throttle.succeeded(name)
    start_session(request, user)
    request.state.user = user
    return redirect(target or _home_for(request))


def logout(request: Request, form: FormData | None) -> Response:
    request.session.clear()
    return redirect("/login")


def home(request: Request, form: FormData | None) -> Response:
    return redirect(_home_for(request))


def account_page(request: Request, form: FormData | None) -> Response:
    return render(request, "account.html")


def change_own_password(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    user = request.state.user
    current = form_value(form, "current")
    new, again = form_value(form, "password"), form_value(form, "again")
    if accounts.authenticate(ctx.store, user.name, current, now=ctx.clock.now()) is None:
        return render(request, "account.html", status_code=400, error="The current password is wrong.")
    if new != again:
        return render(request, "account.html", status_code=400, error="The two new passwords differ.")
    changed = accounts.change_password(ctx.store, user.name, password=new, now=ctx.clock.now())
    start_session(request, changed)
    flash(request, "Password changed; your other sessions have ended.")
    return redirect("/account")


# --------------------------------------------------------------------- users
def users_page(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    return render(request, "users.html", users=ctx.store.list_users(), roles=list(Role))


def add_user(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    name = form_value(form, "name")
    try:
        role = Role.parse(form_value(form, "role"))
    except ValueError as exc:
        flash(request, str(exc), "error")
        return redirect("/users")
    created = accounts.add_user(ctx.store, name, role=role, password=form_value(form, "password"), now=ctx.clock.now())
    flash(request, f"Created user {created.name} ({created.role.value}).")
    return redirect("/users")


def change_user(request: Request, form: FormData | None) -> Response:
    ctx = state_of(request).ctx
    name = request.path_params["name"]
    action = form_value(form, "action")
    if name == request.state.user.name and action in ("remove", "role"):
        flash(request, "You cannot remove yourself or change your own role; ask another SystemAdministrator.", "error")
        return redirect("/users")
    if action == "remove":
        accounts.remove_user(ctx.store, name)
        flash(request, f"Removed user {name}.")
    elif action == "role":
        try:
            role = Role.parse(form_value(form, "role"))
        except ValueError as exc:
            flash(request, str(exc), "error")
            return redirect("/users")
        accounts.change_role(ctx.store, name, role=role, now=ctx.clock.now())
        flash(request, f"{name} is now {role.value}; their open sessions have ended.")
    elif action == "password":
        accounts.change_password(ctx.store, name, password=form_value(form, "password"), now=ctx.clock.now())
        flash(request, f"Password of {name} changed; their open sessions have ended.")
    else:
        flash(request, "Choose what to change.", "error")
    return redirect("/users")


def routes() -> list[object]:
    return [
        public("/login", login_page),
        public("/login", login, methods=("POST",)),
        guarded("/logout", logout, permission=None, methods=("POST",)),
        guarded("/", home, permission=None),
        guarded("/account", account_page, permission=None),
        guarded("/account/password", change_own_password, permission=None, methods=("POST",)),
        guarded("/users", users_page, permission=Permission.MANAGE_USERS),
        guarded("/users", add_user, permission=Permission.MANAGE_USERS, methods=("POST",)),
        guarded("/users/{name}", change_user, permission=Permission.MANAGE_USERS, methods=("POST",)),
    ]

"""What every page shares: the app's state, guarded routes, rendering and error pages.

Every route is a :class:`GuardedRoute` that names the permission it needs (or says it is
public), so no route can be added without a role check; ``tests/integration/test_web_*``
walks the routes to hold that. The guard, in order: a logged-in user whose session is
still valid (else the login page, or 401 for a fetch), the permission for their role
(else 403), then for every state-changing request a same-site ``Origin`` and the CSRF
token (else 403). Handlers are plain functions run in the thread pool, because the
library below them is synchronous.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from dialer import accounts
from dialer.context import Context
from dialer.domain.users import Permission, User
from dialer.errors import AlreadyExists, DialerError, NotFound
from dialer.web import security
from dialer.web.uploads import UploadError

log = logging.getLogger(__name__)

#: Largest urlencoded form accepted (uploads have their own limit).
MAX_FORM_BYTES = 256 * 1024

Handler = Callable[..., Response]


@dataclass
class WebState:
    ctx: Context
    templates: Environment
    upload_limit: int
    session_seconds: float
    live_seconds: float
    work_dir: Path
    """Uploads and rejects files (under the data directory)."""
    throttle: security.LoginThrottle = field(default_factory=security.LoginThrottle)
    pacing: str = "not running"
    """What paces campaigns: the embedded pacer, or a separate `dialer run`."""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def uploads(self) -> Path:
        return self.work_dir / "uploads"

    @property
    def rejects(self) -> Path:
        return self.work_dir / "rejects"


def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("dialer.web", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v, digits=2: "n/a" if v is None else f"{float(v):.{digits}%}"
    env.filters["when"] = lambda v: "" if v is None else f"{v:%Y-%m-%d %H:%M:%S} UTC"
    env.filters["urlpart"] = lambda v: quote(str(v), safe="")
    return env


def state_of(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


# ------------------------------------------------------------------ rendering
def render(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    web = state_of(request)
    user: User | None = getattr(request.state, "user", None)
    has_session = "session" in request.scope  # not on errors caught outside the session middleware
    flashes = request.session.pop("flash", []) if user is not None and has_session else []
    html = web.templates.get_template(template).render(
        request=request,
        user=user,
        csrf=security.csrf_token(request) if has_session else "",
        flashes=flashes,
        pacing=web.pacing,
        Permission=Permission,
        upload_limit=web.upload_limit,
        **values,
    )
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "message": message})
    request.session["flash"] = request.session["flash"][-5:]


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A readable error page (or fragment for htmx): never a traceback."""
    if request.headers.get("hx-request"):
        web = state_of(request)
        html = web.templates.get_template("_error.html").render(title=title, message=message)
        return HTMLResponse(html, status_code=status_code)
    return render(request, "error.html", status_code=status_code, title=title, message=message)


STATUS_OF = {NotFound: 404, AlreadyExists: 409}


def dialer_error_page(request: Request, exc: DialerError) -> HTMLResponse:
    status = getattr(exc, "status_code", None) or next(
        (code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400
    )
    titles = {404: "Not found", 409: "Already exists", 413: "File too large", 403: "Refused"}
    return error_page(request, status, titles.get(status, "That did not work"), exc.message)


def unexpected_error_page(request: Request, exc: Exception) -> HTMLResponse:
    ref = uuid.uuid4().hex[:12]
    log.error("unexpected error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
    return error_page(
        request,
        500,
        "Something went wrong",
        f"An unexpected error occurred; it has been logged as {ref}. Try again, and report that reference if it "
        "happens again.",
    )


# ---------------------------------------------------------------------- guard
class GuardedRoute(Route):
    """A route with its access rule: ``permission`` (any logged-in user when None) or public."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        permission: Permission | None,
        public: bool = False,
        methods: list[str] | None = None,
        name: str | None = None,
    ) -> None:
        self.permission = permission
        self.public = public
        super().__init__(path, endpoint, methods=methods, name=name)


def current_user(request: Request) -> User | None:
    """The session's user, if the session is valid (not idle too long, user and version current)."""
    uid, version, seen = request.session.get("uid"), request.session.get("ver"), request.session.get("seen")
    if not isinstance(uid, int) or not isinstance(version, int) or not isinstance(seen, int | float):
        return None
    web = state_of(request)
    if time.time() - seen > web.session_seconds:
        request.session.clear()
        return None
    user = accounts.get_user(web.ctx.store, uid)
    if user is None or user.session_version != version:
        request.session.clear()
        return None
    return user


def start_session(request: Request, user: User) -> None:
    """A fresh session for ``user`` (a new CSRF token; nothing carried over from before login)."""
    request.session.clear()
    request.session.update(
        {"uid": user.id, "ver": user.session_version, "seen": int(time.time()), "csrf": secrets.token_urlsafe(32)}
    )


async def read_form(request: Request) -> FormData:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise UploadError("the form is too large")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        return await request.form(max_files=0, max_fields=200, max_part_size=MAX_FORM_BYTES)
    return await request.form(max_files=0, max_fields=200)


def guarded(
    path: str,
    handler: Callable[..., Any],
    *,
    permission: Permission | None,
    methods: tuple[str, ...] = ("GET",),
    asynchronous: bool = False,
    form: bool = True,
) -> GuardedRoute:
    """A route whose ``handler(request, form)`` runs only for a permitted user.

    ``form=False``: a POST handler that reads the body itself (streamed uploads) and checks
    the CSRF token there. ``asynchronous``: the handler is a coroutine (uploads, events)."""

    async def endpoint(request: Request) -> Response:
        try:
            user = await to_thread.run_sync(current_user, request)
            if user is None:
                if request.method == "GET" and not request.headers.get("hx-request"):
                    return redirect(f"/login?next={quote(request.url.path)}")
                return error_page(request, 401, "Please log in", "Your session has ended; log in again.")
            request.state.user = user
            request.session["seen"] = int(time.time())
            if permission is not None and not user.can(permission):
                return error_page(
                    request,
                    403,
                    "Not for your role",
                    f"Your role ({user.role.value}) does not allow this page; ask a Manager or SystemAdministrator.",
                )
            data: FormData | None = None
            if request.method != "GET":
                if not security.same_origin(request):
                    return error_page(request, 403, "Refused", "The request came from another site.")
                if form:
                    data = await read_form(request)
                    submitted = request.headers.get(security.CSRF_HEADER) or data.get(security.CSRF_FIELD)
                    if not security.csrf_valid(request, submitted if isinstance(submitted, str) else None):
                        return error_page(
                            request,
                            403,
                            "Refused",
                            "The form's security token is missing or out of date. Reload the page and try again.",
                        )
            if asynchronous:
                result: Response = await handler(request, data)
                return result
            sync_result: Response = await to_thread.run_sync(handler, request, data)
            return sync_result
        except DialerError as exc:
            return dialer_error_page(request, exc)

    return GuardedRoute(
        path, endpoint, permission=permission, methods=list(methods), name=getattr(handler, "__name__", None)
    )


def public(
    path: str, endpoint: Callable[[Request], Awaitable[Response]], *, methods: tuple[str, ...] = ("GET",)
) -> Route:
    return GuardedRoute(path, endpoint, permission=None, public=True, methods=list(methods))


def form_value(form: FormData | None, key: str, default: str = "") -> str:
    if form is None:
        return default
    value = form.get(key, default)
    return value.strip() if isinstance(value, str) else default


def form_values(form: FormData | None, key: str) -> list[str]:
    if form is None:
        return []
    return [v for v in form.getlist(key) if isinstance(v, str)]


def query(request: Request) -> Mapping[str, str]:
    return request.query_params

"""Web access rules: every route guarded, roles, CSRF, sessions, error pages, no secrets shown."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Mount, Route

from dialer import accounts
from dialer.domain.campaigns import CampaignStatus
from dialer.domain.clock import VirtualClock
from dialer.domain.users import Permission
from dialer.web import security
from dialer.web.base import GuardedRoute
from tests.webapp import PASSWORDS, WebApp, add_campaign, csrf_of, login, web_app


@pytest.fixture
def web(tmp_path: Path, clock: VirtualClock) -> Iterator[WebApp]:
    with web_app(tmp_path, clock=clock) as app:
        add_campaign(app.ctx, "spring")
        yield app


def _routes(web: WebApp) -> list[GuardedRoute]:
    found = []
    for route in web.app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
            continue
        assert isinstance(route, GuardedRoute), f"{route.path} is not a guarded route"  # type: ignore[attr-defined]
        found.append(route)
    return found


def _concrete(path: str) -> str:
    values = {"name": "spring", "token": "a" * 32, "job": "nojob", "import_id": "1", "handle": "R-1"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


def _methods(route: Route) -> list[str]:
    return sorted(m for m in (route.methods or {"GET"}) if m != "HEAD")


def test_every_route_names_its_access_rule(web: WebApp) -> None:
    routes = _routes(web)
    public = sorted(r.path for r in routes if r.public)
    assert public == ["/healthz", "/login", "/login"]
    manager_only = [r for r in routes if r.permission is Permission.MANAGE_CAMPAIGNS]
    assert len(manager_only) >= 15


def test_anonymous_requests_go_to_the_login(web: WebApp) -> None:
    client = web.client(follow_redirects=False)
    for route in _routes(web):
        if route.public:
            continue
        for method in _methods(route):
            response = client.request(method, _concrete(route.path))
            if method == "GET":
                assert response.status_code == 303, route.path
                assert response.headers["location"].startswith("/login?next=")
            else:
                assert response.status_code == 401, (method, route.path)


def test_an_agent_is_refused_every_manager_and_admin_route(web: WebApp) -> None:
    client = web.client(follow_redirects=False)
    token = login(client, "agent")
    checked = 0
    for route in _routes(web):
        if route.permission not in (Permission.MANAGE_CAMPAIGNS, Permission.MANAGE_USERS):
            continue
        for method in _methods(route):
            response = client.request(
                method, _concrete(route.path), data={"csrf_token": token} if method == "POST" else None
            )
            assert response.status_code == 403, (method, route.path, response.status_code)
            if "text/html" in response.headers.get("content-type", ""):
                assert "Not for your role" in response.text and "Agent" in response.text
            checked += 1
    assert checked >= 20
    assert web.ctx.store.get_campaign("spring").status is CampaignStatus.ACTIVE


def test_a_manager_cannot_manage_users(web: WebApp) -> None:
    client = web.client()
    login(client, "manager")
    assert client.get("/users").status_code == 403
    assert client.get("/campaigns").status_code == 200
    assert client.get("/desk").status_code == 200


def test_a_form_without_or_with_a_forged_csrf_token_is_refused(web: WebApp) -> None:
    client = web.client()
    token = login(client, "manager")
    for data in ({}, {"csrf_token": "forged-" + "x" * 40}, {"csrf_token": token[:-2]}):
        response = client.post("/campaigns/spring/pause", data=data)
        assert response.status_code == 403
        assert "security token" in response.text
    other = web.client()
    other_token = login(other, "admin")
    assert client.post("/campaigns/spring/pause", data={"csrf_token": other_token}).status_code == 403
    assert web.ctx.store.get_campaign("spring").status is CampaignStatus.ACTIVE
    cross_site = client.post(
        "/campaigns/spring/pause", data={"csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert web.ctx.store.get_campaign("spring").status is CampaignStatus.ACTIVE
    assert client.post("/campaigns/spring/pause", data={"csrf_token": token}).status_code == 200
    assert web.ctx.store.get_campaign("spring").status is CampaignStatus.PAUSED


def test_the_login_form_needs_its_token_too(web: WebApp) -> None:
    client = web.client()
    client.get("/login")
    response = client.post("/login", data={"name": "manager", "password": PASSWORDS["manager"]})
    assert response.status_code == 403
    assert client.get("/campaigns", follow_redirects=False).status_code == 303


def test_session_cookie_flags_and_logout(tmp_path: Path, clock: VirtualClock) -> None:
    with web_app(tmp_path, clock=clock, web_cookie_secure=True) as web:
        client = web.client(base_url="https://dialer.test")
        page = client.get("/login")
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
        token = login(client, "manager")
        assert client.get("/campaigns").status_code == 200
        client.post("/logout", data={"csrf_token": token})
        assert client.get("/campaigns", follow_redirects=False).status_code == 303


def test_wrong_passwords_say_nothing_specific_and_are_throttled(web: WebApp) -> None:
    client = web.client()
    for name in ("manager", "nobody"):
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"csrf_token": token, "name": name, "password": "wrong-password"})
        assert response.status_code == 401
        assert "Wrong user name or password." in response.text
    for _ in range(4):
        token = csrf_of(client.get("/login").text)
        client.post("/login", data={"csrf_token": token, "name": "manager", "password": "still-wrong"})
    token = csrf_of(client.get("/login").text)
    refused = client.post("/login", data={"csrf_token": token, "name": "manager", "password": PASSWORDS["manager"]})
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.text


def test_changing_a_password_or_removing_a_user_ends_their_sessions(web: WebApp) -> None:
    client = web.client(follow_redirects=False)
    login(client, "manager")
    assert client.get("/campaigns").status_code == 200
    accounts.change_password(web.ctx.store, "manager", password="a-brand-new-password", now=web.ctx.clock.now())
    assert client.get("/campaigns").status_code == 303
    login(client, "manager", "a-brand-new-password")
    assert client.get("/campaigns").status_code == 200
    accounts.remove_user(web.ctx.store, "manager")
    assert client.get("/campaigns").status_code == 303


def test_login_redirects_only_within_the_site(web: WebApp) -> None:
    for target, expected in (("/campaigns/spring", "/campaigns/spring"), ("//evil.example/x", "/campaigns")):
        client = web.client(follow_redirects=False)
        token = csrf_of(client.get("/login").text)
        response = client.post(
            "/login", data={"csrf_token": token, "name": "manager", "password": PASSWORDS["manager"], "next": target}
        )
        assert response.headers["location"] == expected


def test_error_pages_are_readable_and_never_tracebacks(web: WebApp, monkeypatch: pytest.MonkeyPatch) -> None:
    client = web.client(raise_server_exceptions=False)
    login(client, "manager")
    missing = client.get("/campaigns/no-such-campaign")
    assert missing.status_code == 404
    assert "no campaign named 'no-such-campaign'" in html.unescape(missing.text) and "<html" in missing.text
    assert client.get("/no/such/page").status_code == 404

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("internal detail that must stay in the log")

    monkeypatch.setattr(web.ctx.store, "dnc_count", broken)
    response = client.get("/dnc")
    assert response.status_code == 500
    assert "Something went wrong" in response.text and "logged as" in response.text
    assert "Traceback" not in response.text and "internal detail" not in response.text


def test_no_secret_appears_in_pages_cookies_or_logs(
    tmp_path: Path, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    secrets_ = {
        "evovoice_password": "evo-pass-SECRET-1",
        "twilio_auth_token": "twilio-token-SECRET-2",
        "web_secret_key": "web-session-key-SECRET-3-0123456789abcdef",
    }
    with web_app(tmp_path, clock=clock, **secrets_) as web:
        add_campaign(web.ctx, "spring")
        security.install_redaction(web.ctx.settings, [])
        caplog.set_level(logging.INFO)
        client = web.client(raise_server_exceptions=False)
        login(client, "admin")
        bodies = [
            client.get(p).text
            for p in (
                "/campaigns",
                "/campaigns/spring",
                "/campaigns/new",
                "/dnc",
                "/users",
                "/desk",
                "/account",
                "/campaigns/spring/import",
                "/nope",
            )
        ]
        bodies.append(str(client.cookies))
        bodies.extend(PASSWORDS.values())  # (the users' own passwords are checked below, not here)
        logging.getLogger("dialer.test").error("provider said: bad token %s", secrets_["twilio_auth_token"])
        try:
            raise ValueError(f"login failed for password {secrets_['evovoice_password']}")
        except ValueError:
            logging.getLogger("dialer.test").exception("a failure")
        for value in secrets_.values():
            assert all(value not in body for body in bodies[:-3])
            assert value not in caplog.text
        assert "**********" in caplog.text
        for password in PASSWORDS.values():
            assert all(password not in body for body in bodies[:-3])


def test_generated_session_key_is_kept_private_and_reused(tmp_path: Path, clock: VirtualClock) -> None:
    with web_app(tmp_path, clock=clock) as web:
        key_file = web.ctx.settings.data_dir / security.SECRET_FILE
        assert key_file.stat().st_mode & 0o777 == 0o600
        first = security.session_secret(web.ctx.settings)
        assert security.session_secret(web.ctx.settings) == first
        client = web.client(follow_redirects=False)
        login(client, "manager")
    with web_app(tmp_path / "again", clock=clock, data_dir=tmp_path / "data") as again:
        assert security.session_secret(again.ctx.settings) == first

"""Fuzzing the web app's forms: every POST route (and the GET routes' query strings), logged in
with the right role and a valid CSRF token — so requests reach the handlers — with the
forms' own field names and hostile values. The answer is never a 5xx and never shows a
traceback. Uploads get random files.

Routes that would end the fuzzing session itself are left out: logout, and removing or
demoting the fuzzing users (a throwaway user takes those requests)."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from dialer import accounts
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord
from dialer.domain.users import Role
from dialer.web.base import GuardedRoute
from dialer.web.security import CSRF_FIELD
from tests.conftest import T0
from tests.webapp import WebApp, add_campaign, csrf_of, login, web_app

FIELDS = [
    "region", "password", "number", "name", "campaign", "action", "role", "reason", "treatments", "timezone",
    "start_paused", "start_date", "sheet", "schedule_hours", "schedule_days", "ring_timeout", "on_duplicate", "note",
    "no_header", "next", "mode", "min_agents_predictive", "max_lines", "max_cps", "max_attempts", "hours", "flow_id",
    "end_date", "encoding", "disposition", "delimiter", "days", "column", "caller_ids", "at", "allow_relaxing",
    "allow_random_caller_id", "agents", "again", "abandon_target", "abandon_message", "map", "header",
]  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "", "0", "-1", "1e400", "nan", "inf", "99999999999999999999", "3.5", "on", "true",
            "+12125550100", "(212) 555-0199", "2026-02-30", "2026-13-01", "24:00-25:00", "08:00-21:00", "mon-sun",
            "xyz-abc", "progressive", "predictive", "preview", "us", "uk", "mars", "Manager", "Agent",
            "SystemAdministrator", "ANSWER", "NO_ANSWER", "DO_NOT_CALL", "BUSY=+1h", "ANSWER=retry 0 times",
            "\x00", "a\x00b", "utf-16", "bogus-enc", ";", "\t", "💥", "<script>alert(1)</script>", "'; DROP TABLE x;--",
            "x" * 5000, "../../etc/passwd", "R-1", "spring", "temp", "2026-03-02T16:00", "remove", "role", "password",
        ]
    ),
)  # fmt: skip
FORMS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUES, max_size=10)
SEGMENTS = st.one_of(st.sampled_from(["spring", "R-1", "R-2", "temp", "nope", "1"]), st.text(min_size=1, max_size=12))


@dataclass
class Site:
    web: WebApp
    clients: dict[str, TestClient]
    tokens: dict[str, str]
    clock: VirtualClock


def _param_names(path: str) -> list[str]:
    return re.findall(r"{([a-z_]+)(?::[a-z]+)?}", path)


ROUTES: list[GuardedRoute] = []
#: Status codes of the fuzzed POSTs, by route: proof that the handlers were reached.
REACHED: Counter[tuple[str, int]] = Counter()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    clock = VirtualClock(T0)
    with web_app(tmp_path_factory.mktemp("fuzz-web"), clock=clock) as web:
        add_campaign(web.ctx, "spring")
        campaign = web.ctx.store.get_campaign("spring")
        web.ctx.store.insert_records(
            campaign.id,
            [
                NewRecord(
                    handle=f"R-{i}",
                    phone=f"+1212555{i:04d}",
                    caller_id=None,
                    user_data={"name": f"Contact {i}"},
                    next_dial_at=T0,
                    timezone="America/New_York",
                    tz_candidates=("America/New_York",),
                )
                for i in range(1, 30)
            ],
            now=T0,
        )
        clients, tokens = {}, {}
        for who in ("admin", "agent", "anonymous"):
            client = TestClient(web.app, base_url="http://dialer.test", raise_server_exceptions=False)
            client.__enter__()
            clients[who] = client
            if who == "anonymous":  # posts the login form (its failures are throttled per address)
                tokens[who] = csrf_of(client.get("/login").text)
            else:
                tokens[who] = login(client, who)
        ROUTES[:] = [r for r in web.app.routes if isinstance(r, GuardedRoute)]
        try:
            yield Site(web=web, clients=clients, tokens=tokens, clock=clock)
        finally:
            for client in clients.values():
                client.__exit__(None, None, None)


def _ensure_temp_user(site: Site) -> None:
    if "temp" not in {u.name for u in site.web.ctx.store.list_users()}:
        accounts.add_user(site.web.ctx.store, "temp", role=Role.AGENT, password="temp-password-1", now=T0)


def _fill(path: str, values: list[str]) -> str:
    out = path
    for name, value in zip(_param_names(path), values, strict=False):
        if name == "name" and path.startswith("/users/"):
            value = "temp"  # never the fuzzing users themselves
        out = re.sub(r"{" + name + r"(?::[a-z]+)?}", quote(value, safe="") or "x", out, count=1)
    return out


def _assert_handled(status: int, body: str, where: str) -> None:
    assert status < 500, f"{where}: HTTP {status}\n{body[:2000]}"
    assert "Traceback (most recent call last)" not in body, where


def _post_routes() -> list[str]:
    return [
        "/login", "/account/password", "/users", "/users/{name}", "/campaigns/new", "/campaigns/{name}/pause",
        "/campaigns/{name}/resume", "/campaigns/{name}/import", "/campaigns/{name}/import/{token}/run", "/dnc/add",
        "/dnc/remove", "/dnc/upload", "/desk/{name}/next", "/desk/{name}/records/{handle}/dial",
        "/desk/{name}/records/{handle}/skip", "/desk/{name}/records/{handle}/reschedule",
        "/desk/{name}/records/{handle}/complete",
    ]  # fmt: skip


UPLOADS = {"/campaigns/{name}/import", "/dnc/upload"}


def test_the_route_list_is_complete(site: Site) -> None:
    """A new POST route must be added to the fuzzed list (or to the exclusions) explicitly."""
    posts = {r.path for r in ROUTES if "POST" in (r.methods or set())}
    assert posts == {*_post_routes(), "/logout"}


@given(
    path=st.sampled_from(_post_routes()),
    segments=st.lists(SEGMENTS, min_size=3, max_size=3),
    form=FORMS,
    csrf=st.sampled_from(["valid", "valid", "valid", "missing", "wrong"]),
    upload=st.binary(max_size=600),
    filename=st.sampled_from(["records.csv", "records.xlsx", "x", "../../x.csv", "dnc.txt"]),
)
def test_posted_forms(
    site: Site, path: str, segments: list[str], form: dict[str, str], csrf: str, upload: bytes, filename: str
) -> None:
    _ensure_temp_user(site)
    who = "agent" if path.startswith("/desk/") else "anonymous" if path == "/login" else "admin"
    client = site.clients[who]
    data = dict(form)
    if csrf == "valid":
        data[CSRF_FIELD] = site.tokens[who]
    elif csrf == "wrong":
        data[CSRF_FIELD] = "not-the-token"
    if path == "/account/password":
        data.pop("current", None)  # never the real password: the session must survive
    url = _fill(path, segments)
    headers = {"Origin": "http://dialer.test"}
    if path in UPLOADS:
        response = client.post(url, data=data, files={"file": (filename, upload)}, headers=headers)
    else:
        response = client.post(url, data=data, headers=headers)
    _assert_handled(response.status_code, response.text, f"POST {url} {data!r}")
    REACHED[(path, response.status_code)] += 1
    if path == "/login" and response.status_code < 400 and "csrf_token" in response.text:
        site.tokens["anonymous"] = csrf_of(response.text)
    site.clock.advance(timedelta(seconds=1).total_seconds())


NEW_CAMPAIGN_DEFAULTS: dict[str, str] = {}
CAMPAIGN_KEYS = (
    "name flow_id mode caller_ids agents region max_attempts hours days timezone ring_timeout max_cps max_lines "
    "compliance_profile abandon_target min_agents_predictive schedule_hours schedule_days start_date end_date "
    "treatments abandon_message allow_random_caller_id allow_relaxing start_paused"
).split()


@given(
    number=st.integers(min_value=0, max_value=10**9),
    changes=st.dictionaries(st.sampled_from(CAMPAIGN_KEYS), VALUES, min_size=1, max_size=4),
)
def test_a_valid_campaign_form_with_hostile_fields(site: Site, number: int, changes: dict[str, str]) -> None:
    """Mostly-valid forms get past the first checks, into the campaign rules."""
    if not NEW_CAMPAIGN_DEFAULTS:  # the form as the page fills it in
        page = site.clients["admin"].get("/campaigns/new").text
        for tag in re.findall(r"<input [^>]*>", page):
            name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
            if name and value and 'type="checkbox"' not in tag:
                NEW_CAMPAIGN_DEFAULTS[name.group(1)] = html.unescape(value.group(1))
    form = {
        **NEW_CAMPAIGN_DEFAULTS,
        "name": f"fz-{number}",
        "flow_id": "flow-1",
        "mode": "progressive",
        "caller_ids": "+12125550100",
        "agents": "2",
        **changes,
        CSRF_FIELD: site.tokens["admin"],
    }
    response = site.clients["admin"].post("/campaigns/new", data=form, headers={"Origin": "http://dialer.test"})
    _assert_handled(response.status_code, response.text, f"POST /campaigns/new {form!r}")
    REACHED[("/campaigns/new (valid base)", response.status_code)] += 1


@given(
    index=st.integers(min_value=0, max_value=10_000),
    segments=st.lists(SEGMENTS, min_size=3, max_size=3),
    params=st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUES, max_size=5),
)
def test_query_strings(site: Site, index: int, segments: list[str], params: dict[str, str]) -> None:
    gets = [r for r in ROUTES if "GET" in (r.methods or set()) and not r.path.endswith(("/live", "/progress"))]
    route = gets[index % len(gets)]  # server-sent event streams are left out: they do not end
    who = "agent" if route.path.startswith("/desk") else "admin"
    url = _fill(route.path, segments)
    response = site.clients[who].get(url, params=params, follow_redirects=False)
    _assert_handled(response.status_code, response.text, f"GET {url} {params!r}")


def test_the_sessions_survived(site: Site) -> None:
    """The fuzzing stayed logged in (else it would only have exercised the login redirect)."""
    for who in ("admin", "agent"):
        page = site.clients[who].get("/account")
        assert page.status_code == 200, who
        assert csrf_of(page.text) == site.tokens[who]
    past_the_guard = {path for (path, status), _ in REACHED.items() if status not in (401, 403)}
    print(sorted(REACHED.items()))
    assert len(past_the_guard) >= len(_post_routes()) // 2, sorted(REACHED.items())

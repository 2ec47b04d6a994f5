"""Building the web app for tests: a context on a fresh SQLite file (or a given store), one
user per role, and a logged-in TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dialer import accounts
from dialer.campaignfile import build_spec
from dialer.context import Context, build_context
from dialer.daemon.scheduler import Daemon
from dialer.domain.clock import Clock
from dialer.domain.users import Role
from dialer.settings import load_settings
from dialer.store.repository import SqlStore
from dialer.web.app import create_app

PASSWORDS = {
    "manager": "manager-password-1",
    "agent": "agent-password-22",
    "admin": "admin-password-333",
}
ROLES = {"manager": Role.MANAGER, "agent": Role.AGENT, "admin": Role.SYSTEM_ADMINISTRATOR}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

# The same argon2id hashing with small parameters: the suite logs in hundreds of times.
accounts.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass
class WebApp:
    app: Starlette
    ctx: Context

    def client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.app, **{"base_url": "http://dialer.test", **kwargs})


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: TestClient, name: str, password: str | None = None) -> str:
    """Log ``name`` in; returns the session's CSRF token."""
    page = client.get("/login")
    token = csrf_of(page.text)
    response = client.post(
        "/login", data={"csrf_token": token, "name": name, "password": password or PASSWORDS[name], "next": ""}
    )
    assert response.status_code in (200, 303), response.text
    return csrf_of(client.get("/account").text)


@contextmanager
def web_app(
    tmp_path: Path,
    *,
    clock: Clock | None = None,
    store: SqlStore | None = None,
    pacer: bool = False,
    **settings: Any,
) -> Iterator[WebApp]:
    values = {"data_dir": tmp_path / "data", "database_url": f"sqlite:///{tmp_path / 'web.db'}", **settings}
    ctx = build_context(load_settings(**values), clock=clock, store=store)
    try:
        for name, role in ROLES.items():
            accounts.add_user(ctx.store, name, role=role, password=PASSWORDS[name], now=ctx.clock.now())
        daemon = Daemon(ctx, background=True, install_signals=False) if pacer else None
        yield WebApp(app=create_app(ctx, pacer=daemon), ctx=ctx)
    finally:
        ctx.close()


def add_campaign(ctx: Context, name: str = "spring", **overrides: Any) -> None:
    values: dict[str, Any] = {"name": name, "flow_id": "flow-1", "caller_ids": ("+12125550100",), "agents": 4}
    values.update(overrides)
    ctx.store.create_campaign(build_spec(**values), now=ctx.clock.now())

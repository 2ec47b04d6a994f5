"""`dialer user …` through the real entry point."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher

from dialer import accounts
from dialer.settings import load_settings
from dialer.store.repository import SqlStore
from tests.integration.conftest import CliResult

Dialer = Callable[..., CliResult]


@pytest.fixture(autouse=True)
def _cheap_hashing() -> None:
    accounts.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_add_list_passwd_role_remove(dialer: Dialer, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, "alice's long password\n")
    added = dialer("user", "add", "alice", "--role", "manager", "--password-stdin")
    assert added.code == 0, added.err
    assert "Created user alice (Manager)." in added.out
    listed = json.loads(dialer("user", "list", "--json").out)
    assert [(u["name"], u["role"], u["last_login_at"]) for u in listed] == [("alice", "Manager", None)]
    store = SqlStore.open(load_settings().effective_database_url)
    try:
        now = store.get_user("alice").created_at
        assert accounts.authenticate(store, "alice", "alice's long password", now=now) is not None
        _stdin(monkeypatch, "a different password\n")
        assert dialer("user", "passwd", "alice", "--password-stdin").code == 0
        assert accounts.authenticate(store, "alice", "alice's long password", now=now) is None
        assert dialer("user", "role", "alice", "SystemAdministrator").code == 0
        assert store.get_user("alice").role.value == "SystemAdministrator"
    finally:
        store.close()
    assert dialer("user", "remove", "alice").code == 0
    assert "No users yet" in dialer("user", "list").out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["user", "add", "bob", "--role", "Boss", "--password-stdin"], "long enough pw\n", "unknown role 'Boss'"),
        (["user", "add", "bob", "--role", "Agent", "--password-stdin"], "short\n", "too short"),
        (["user", "add", "bob smith", "--role", "Agent", "--password-stdin"], "long enough pw\n", "invalid user name"),
        (["user", "remove", "nobody"], "", "no user named 'nobody'"),
        (["user", "passwd", "nobody", "--password-stdin"], "long enough pw\n", "no user named 'nobody'"),
    ],
)
def test_bad_requests_name_the_fix(
    dialer: Dialer, monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str, message: str
) -> None:
    _stdin(monkeypatch, stdin)
    result = dialer(*args)
    assert result.code != 0
    assert message in result.err
    assert "Traceback" not in result.err

"""How the store names a database that cannot write (the daemon logs it once, see
tests/e2e/test_disk_full.py for a real full disk)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from dialer.errors import StorageFull
from dialer.store.base import storage_full


def _error(message: str, **attributes: object) -> Exception:
    return type("DriverError", (Exception,), attributes)(message)


@pytest.mark.parametrize(
    ("error", "url", "says"),
    [
        (_error("database or disk is full", sqlite_errorcode=13), "sqlite:////data/d.db", "its disk is full"),
        (_error("disk I/O error", sqlite_errorcode=778), "sqlite:////data/d.db", "refused a write"),
        (_error("could not extend file", sqlstate="53100"), "postgresql+psycopg://db/x", "server's disk is full"),
    ],
)
def test_a_write_the_disk_refuses_is_storage_full(error: Exception, url: str, says: str) -> None:
    full = storage_full(error, make_url(url))
    assert isinstance(full, StorageFull) and says in str(full) and "Free space" in str(full)


def test_other_database_errors_are_not() -> None:
    url = make_url("sqlite:////data/d.db")
    assert storage_full(_error("database is locked", sqlite_errorcode=5), url) is None
    assert storage_full(_error("connection refused", sqlstate="08001"), url) is None

"""Engines: SQLite with WAL, busy timeout and foreign keys; PostgreSQL through psycopg 3."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError

from dialer.errors import ConfigError


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them to psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"DIALER_DATABASE_URL {url!r} is not a database URL. Use sqlite:///path/to/dialer.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from exc
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _sqlite_location(Path(database).expanduser())
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # A server that stops answering (a network cut, not a refusal) must not hang the tick:
        # connecting gives up after connect_timeout, and TCP keepalives find a dead peer.
        kwargs.update(
            pool_use_lifo=True,  # the connection used last is warm, and was just seen alive
            pool_size=5,
            max_overflow=5,
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
            },
        )
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "checkout", _ping_if_idle)
        event.listen(engine, "checkin", _note_checkin)
        return engine
    raise ConfigError(
        f"database {parsed.get_backend_name()!r} is not supported; use SQLite or PostgreSQL in DIALER_DATABASE_URL"
    )


#: A pooled PostgreSQL connection idle this long is pinged before it is handed out.
PING_AFTER_IDLE = 1.0


def _note_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pre-ping, for connections that sat idle in the pool: one that was dropped (the server
    restarted, a network cut) is replaced before a transaction starts on it. A connection back
    in the pool for less than :data:`PING_AFTER_IDLE` is handed out without the round trip — a
    tick runs several short transactions in a row — and if it died meanwhile, the statement
    fails as a disconnect, which discards the pool, and the tick is retried."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:  # any failure of the ping: a fresh connection instead
        raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def _sqlite_location(path: Path) -> None:
    """Create the folder of an SQLite database, or say why it cannot be there."""
    if path.is_dir():
        raise ConfigError(
            f"the SQLite database {path} is a folder. Give a file in it, e.g. "
            f"DIALER_DATABASE_URL=sqlite:///{path / 'dialer.db'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker is not None else exc.strerror
        raise ConfigError(
            f"cannot create the folder {path.parent} for the SQLite database: {reason}. "
            "Set DIALER_DATABASE_URL (or --database-url) to sqlite:///PATH in a folder you can write, "
            "or DIALER_DATA_DIR to such a folder"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

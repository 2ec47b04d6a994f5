"""Engines: SQLite with WAL, busy timeout and foreign keys; PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

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
            pool_pre_ping=True,
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
        return create_engine(parsed, **kwargs)
    raise ConfigError(
        f"database {parsed.get_backend_name()!r} is not supported; use SQLite or PostgreSQL in DIALER_DATABASE_URL"
    )


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

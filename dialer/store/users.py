"""Web users: names, roles and password hashes (hashing itself is :mod:`dialer.accounts`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from dialer.domain.users import Role, User
from dialer.errors import AlreadyExists, NotFound
from dialer.store.base import StoreBase, web_users_t

_COLUMNS = (
    web_users_t.c.id,
    web_users_t.c.name,
    web_users_t.c.role,
    web_users_t.c.created_at,
    web_users_t.c.last_login_at,
    web_users_t.c.session_version,
)


def _user(row: Mapping[Any, Any]) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        session_version=row["session_version"],
    )


class UserStore(StoreBase):
    def add_user(self, name: str, *, role: Role, password_hash: str, now: datetime) -> User:
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(web_users_t).values(
                        name=name,
                        role=role.value,
                        password_hash=password_hash,
                        session_version=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExists(
                f"user {name!r} already exists; change the password with `dialer user passwd {name}`"
            ) from exc
        return self.get_user(name)

    def get_user(self, name: str) -> User:
        with self._tx() as conn:
            row = conn.execute(select(*_COLUMNS).where(web_users_t.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no user named {name!r}; `dialer user list` shows the users")
        return _user(row)

    def get_user_by_id(self, user_id: int) -> User | None:
        with self._tx() as conn:
            row = conn.execute(select(*_COLUMNS).where(web_users_t.c.id == user_id)).mappings().first()
        return _user(row) if row is not None else None

    def user_password_hash(self, name: str) -> tuple[User, str] | None:
        """The user and their password hash, for a login check; ``None`` when there is no such user."""
        with self._tx() as conn:
            row = (
                conn.execute(select(*_COLUMNS, web_users_t.c.password_hash).where(web_users_t.c.name == name))
                .mappings()
                .first()
            )
        return (_user(row), str(row["password_hash"])) if row is not None else None

    def list_users(self) -> list[User]:
        with self._tx() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(web_users_t.c.name)).mappings().all()
        return [_user(r) for r in rows]

    def set_user_password_hash(self, name: str, password_hash: str, *, now: datetime) -> User:
        """Store a new hash and void the user's existing sessions."""
        with self._tx() as conn:
            changed = conn.execute(
                update(web_users_t)
                .where(web_users_t.c.name == name)
                .values(
                    password_hash=password_hash,
                    session_version=web_users_t.c.session_version + 1,
                    updated_at=now,
                )
            ).rowcount
        if not changed:
            raise NotFound(f"no user named {name!r}; `dialer user list` shows the users")
        return self.get_user(name)

    def rehash_user_password(self, user_id: int, password_hash: str, *, now: datetime) -> None:
        """Replace the hash with one of stronger parameters after a login (sessions stay valid)."""
        with self._tx() as conn:
            conn.execute(
                update(web_users_t)
                .where(web_users_t.c.id == user_id)
                .values(password_hash=password_hash, updated_at=now)
            )

    def set_user_role(self, name: str, role: Role, *, now: datetime) -> User:
        with self._tx() as conn:
            changed = conn.execute(
                update(web_users_t)
                .where(web_users_t.c.name == name)
                .values(role=role.value, session_version=web_users_t.c.session_version + 1, updated_at=now)
            ).rowcount
        if not changed:
            raise NotFound(f"no user named {name!r}; `dialer user list` shows the users")
        return self.get_user(name)

    def note_login(self, user_id: int, *, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(update(web_users_t).where(web_users_t.c.id == user_id).values(last_login_at=now))

    def remove_user(self, name: str) -> None:
        with self._tx() as conn:
            removed = conn.execute(delete(web_users_t).where(web_users_t.c.name == name)).rowcount
        if not removed:
            raise NotFound(f"no user named {name!r}; `dialer user list` shows the users")

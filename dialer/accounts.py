"""Web user accounts: create, check a login, change a password, remove.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's low-memory
profile) and never stored, logged or shown. A login for a name that does not exist still
spends one hash verification, so response times do not tell which names exist. `dialer user
…` and the web's user pages call these functions.
"""

from __future__ import annotations

import logging
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dialer.domain import users
from dialer.domain.users import Role, User
from dialer.errors import ConfigError, NotFound
from dialer.store.repository import SqlStore

log = logging.getLogger(__name__)

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so that the time taken does not reveal it.
_dummy_hash: str | None = None


def set_hasher(hasher: PasswordHasher) -> None:
    """Use other argon2 parameters (the test suite uses cheap ones; hashes made with other
    parameters still verify, and are re-hashed with these at the next login)."""
    global _hasher, _dummy_hash
    _hasher, _dummy_hash = hasher, None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not a password of anyone")
    return _dummy_hash


class AccountError(ConfigError):
    """The user account request is invalid."""

    exit_code = 2


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(store: SqlStore, name: str, *, role: Role, password: str, now: datetime) -> User:
    try:
        users.check_name(name)
        users.check_password(password, name=name)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    return store.add_user(name, role=role, password_hash=hash_password(password), now=now)


def change_password(store: SqlStore, name: str, *, password: str, now: datetime) -> User:
    """Set a new password; the user's open sessions end."""
    store.get_user(name)
    try:
        users.check_password(password, name=name)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    return store.set_user_password_hash(name, hash_password(password), now=now)


def change_role(store: SqlStore, name: str, *, role: Role, now: datetime) -> User:
    """Give the user another role; their open sessions end."""
    return store.set_user_role(name, role, now=now)


def remove_user(store: SqlStore, name: str) -> None:
    store.remove_user(name)


def authenticate(store: SqlStore, name: str, password: str, *, now: datetime) -> User | None:
    """The user when ``password`` is theirs, else ``None`` (never says which part was wrong)."""
    found = store.user_password_hash(name) if len(name) <= 64 and len(password) <= users.MAX_PASSWORD else None
    if found is None:
        try:
            _hasher.verify(_dummy(), password[: users.MAX_PASSWORD])
        except VerificationError:
            pass
        return None
    user, stored = found
    try:
        _hasher.verify(stored, password)
    except VerifyMismatchError:
        return None
    except (VerificationError, InvalidHashError):
        log.warning("the stored password hash of user %s cannot be checked; reset it with `dialer user passwd`", name)
        return None
    if _hasher.check_needs_rehash(stored):
        store.rehash_user_password(user.id, hash_password(password), now=now)
    store.note_login(user.id, now=now)
    return user


def get_user(store: SqlStore, user_id: int) -> User | None:
    return store.get_user_by_id(user_id)


__all__ = [
    "AccountError",
    "NotFound",
    "add_user",
    "authenticate",
    "change_password",
    "change_role",
    "get_user",
    "hash_password",
    "remove_user",
]

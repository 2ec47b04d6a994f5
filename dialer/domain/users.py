"""Web users and their roles: who may do what in `dialer web`.

The roles mirror Evo Voice's: a **Manager** runs campaigns (create, import, pause, report,
do-not-call list); a **SystemAdministrator** may do everything, user accounts included; an
**Agent** (Evo Voice's ``User``) works the preview desk and nothing else. Every web route
names the permission it needs; :func:`allows` is the one place that says which role has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dialer.domain.clock import ensure_aware


class Role(StrEnum):
    MANAGER = "Manager"
    AGENT = "Agent"
    SYSTEM_ADMINISTRATOR = "SystemAdministrator"

    @classmethod
    def parse(cls, text: str) -> Role:
        """A role from its name, in any case (``manager``, ``SystemAdministrator``, ``sysadmin``)."""
        key = text.strip().lower().replace("_", "").replace("-", "").replace(" ", "")
        for role in cls:
            if role.value.lower() == key:
                return role
        if key in ("admin", "sysadmin", "administrator"):
            return cls.SYSTEM_ADMINISTRATOR
        if key == "user":
            return cls.AGENT
        raise ValueError(f"unknown role {text!r}; roles are {', '.join(r.value for r in cls)}")


class Permission(StrEnum):
    MANAGE_CAMPAIGNS = "manage_campaigns"
    """Campaigns, imports, reports, the do-not-call list."""
    WORK_DESK = "work_desk"
    """The preview desk."""
    MANAGE_USERS = "manage_users"
    """Web user accounts."""


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.WORK_DESK}),
    Role.MANAGER: frozenset({Permission.MANAGE_CAMPAIGNS, Permission.WORK_DESK}),
    Role.SYSTEM_ADMINISTRATOR: frozenset(Permission),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


#: User names: what the preview desk accepts as an agent name (no spaces), up to 64 characters.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def check_name(name: str) -> str:
    """The user name, or ``ValueError`` saying what a name may contain."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid user name {name!r}: 1-64 letters, digits and . _ @ + -, starting with a letter or digit"
        )
    return name


def check_password(password: str, *, name: str) -> str:
    """The password, or ``ValueError`` naming the rule it breaks."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password is too long: use at most {MAX_PASSWORD} characters")
    if password.strip().lower() == name.lower():
        raise ValueError("the password must not be the user name")
    return password


@dataclass(frozen=True, kw_only=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime
    last_login_at: datetime | None = None
    session_version: int = 1
    """Raised on a password change or removal: sessions signed with an older one are void."""

    def __post_init__(self) -> None:
        ensure_aware(self.created_at)
        if self.last_login_at is not None:
            ensure_aware(self.last_login_at)

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)

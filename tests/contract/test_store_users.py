"""Web users and the pacing history on every store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from dialer import accounts
from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.domain.users import Permission, Role
from dialer.errors import AlreadyExists, NotFound
from dialer.store.repository import PacingNote, SqlStore
from dialer.store.stats import PACING_HISTORY_KEEP

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_hashing() -> None:
    accounts.set_hasher(CHEAP)


def test_users_are_stored_hashed_and_checked(store: SqlStore, clock: VirtualClock) -> None:
    user = accounts.add_user(store, "alice", role=Role.MANAGER, password="correct horse battery", now=clock.now())
    assert user.role is Role.MANAGER and user.can(Permission.MANAGE_CAMPAIGNS)
    found = store.user_password_hash("alice")
    assert found is not None and found[1].startswith("$argon2id$") and "correct horse" not in found[1]
    logged_in = accounts.authenticate(store, "alice", "correct horse battery", now=clock.now())
    assert logged_in is not None and logged_in.id == user.id
    assert store.get_user("alice").last_login_at == clock.now()
    assert accounts.authenticate(store, "alice", "wrong password!", now=clock.now()) is None
    assert accounts.authenticate(store, "nobody", "correct horse battery", now=clock.now()) is None
    with pytest.raises(AlreadyExists, match="already exists"):
        accounts.add_user(store, "alice", role=Role.AGENT, password="another password", now=clock.now())


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("bob smith", "long enough password", "invalid user name"),
        ("bob", "short", "too short"),
        ("bobbobbobbob", "BOBBOBBOBBOB", "must not be the user name"),
    ],
)
def test_bad_names_and_passwords_are_refused(
    store: SqlStore, clock: VirtualClock, name: str, password: str, message: str
) -> None:
    with pytest.raises(accounts.AccountError, match=message):
        accounts.add_user(store, name, role=Role.AGENT, password=password, now=clock.now())
    assert store.list_users() == []


def test_password_and_role_changes_raise_the_session_version(store: SqlStore, clock: VirtualClock) -> None:
    first = accounts.add_user(store, "carol", role=Role.AGENT, password="first password!", now=clock.now())
    changed = accounts.change_password(store, "carol", password="second password", now=clock.now())
    assert changed.session_version == first.session_version + 1
    assert accounts.authenticate(store, "carol", "first password!", now=clock.now()) is None
    assert accounts.authenticate(store, "carol", "second password", now=clock.now()) is not None
    promoted = accounts.change_role(store, "carol", role=Role.SYSTEM_ADMINISTRATOR, now=clock.now())
    assert promoted.role is Role.SYSTEM_ADMINISTRATOR and promoted.session_version == changed.session_version + 1
    accounts.remove_user(store, "carol")
    assert store.get_user_by_id(first.id) is None
    with pytest.raises(NotFound):
        accounts.remove_user(store, "carol")


def test_a_hash_with_old_parameters_is_upgraded_at_login(store: SqlStore, clock: VirtualClock) -> None:
    accounts.set_hasher(PasswordHasher(time_cost=1, memory_cost=512, parallelism=1))
    accounts.add_user(store, "dave", role=Role.AGENT, password="dave's password", now=clock.now())
    accounts.set_hasher(CHEAP)
    assert accounts.authenticate(store, "dave", "dave's password", now=clock.now()) is not None
    found = store.user_password_hash("dave")
    assert found is not None and "m=1024" in found[1]


def test_pacing_decisions_are_kept_as_history(store: SqlStore, campaign_factory, clock: VirtualClock) -> None:  # type: ignore[no-untyped-def]
    campaign: Campaign = campaign_factory()
    for i in range(4):
        store.note_pacing(
            campaign.id,
            PacingNote(decided_at=clock.now(), wanted=i, placed=i, capped_by=None, reason=f"progressive: {i}"),
        )
        clock.advance(60)
    history = store.pacing_history(campaign.id, since=clock.now() - timedelta(seconds=150), until=clock.now())
    # the decision in force at `since` comes first, then those inside the window
    assert [n.wanted for n in history] == [1, 2, 3]
    assert store.pacing_note(campaign.id).wanted == 3  # type: ignore[union-attr]
    clock.advance(PACING_HISTORY_KEEP.total_seconds())
    store.note_pacing(
        campaign.id, PacingNote(decided_at=clock.now(), wanted=9, placed=0, capped_by=None, reason="progressive: 9")
    )
    kept = store.pacing_history(campaign.id, since=clock.now() - PACING_HISTORY_KEEP * 3, until=clock.now())
    assert [n.wanted for n in kept] == [9]

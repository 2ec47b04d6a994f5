"""Alembic's migrations produce exactly the schema the table definitions describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dialer.store import migrate
from dialer.store.repository import SqlStore
from dialer.store.tables import Base


def test_migrated_schema_matches_the_models(store: SqlStore) -> None:
    assert store.schema_revision() == migrate.head_revision()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(store: SqlStore) -> None:
    head = migrate.head_revision()
    assert store.upgrade() == (head, head)

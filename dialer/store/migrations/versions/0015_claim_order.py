"""the claim order as an index: a generated priority column on records and
ix_records_claim (campaign, status, priority, next_dial_at, id); ix_records_leased, a partial
index of the leased records for the sweep of expired leases

Revision ID: 0015_claim_order
Revises: 0013_web_users
Create Date: 2026-12-07 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_claim_order"
down_revision = "0014_pacer_lease"
branch_labels = None
depends_on = None

PRIORITY = "CASE WHEN record_type = 'general' THEN 1 ELSE 0 END"


def upgrade() -> None:
    # A generated column is filled for existing rows by the database itself (PostgreSQL stores
    # it; SQLite computes it, and the index below keeps it), and it can never disagree with
    # record_type, whichever statement writes the record.
    # SQLite can only add a VIRTUAL generated column to an existing table.
    stored = op.get_bind().dialect.name != "sqlite"
    op.add_column(
        "records", sa.Column("priority", sa.SmallInteger(), sa.Computed(PRIORITY, persisted=stored), nullable=True)
    )
    op.create_index(
        "ix_records_claim", "records", ["campaign_id", "status", "priority", "next_dial_at", "id"], unique=False
    )
    leased = sa.text("status = 'leased'")
    op.create_index("ix_records_leased", "records", ["lease_until"], sqlite_where=leased, postgresql_where=leased)


def downgrade() -> None:
    op.drop_index("ix_records_leased", table_name="records")
    op.drop_index("ix_records_claim", table_name="records")
    op.drop_column("records", "priority")

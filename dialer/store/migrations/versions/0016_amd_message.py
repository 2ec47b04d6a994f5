"""attempts: the answering-machine detection class and the information-message flag;
records: when the current lease began (preview auto-dial) and personal-callback reservations

Revision ID: 0016_amd_message
Revises: 0013_web_users
Create Date: 2026-12-07 09:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_amd_message"
down_revision = "0015_claim_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("amd", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("message_played", sa.Boolean(), nullable=True))
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("offered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reserved_for", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("reserved_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_column("reserved_until")
        batch.drop_column("reserved_for")
        batch.drop_column("offered_at")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("message_played")
        batch.drop_column("amd")

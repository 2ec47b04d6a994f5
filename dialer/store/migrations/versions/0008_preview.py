"""preview desk: mark attempts dialed by an agent, and keep the agent's disposition

Revision ID: 0008_preview
Revises: 0007_pacing_log
Create Date: 2026-11-21 22:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_preview"
down_revision = "0007_pacing_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("attempts", sa.Column("preview", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("attempts", sa.Column("disposition", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("disposition")
        batch.drop_column("preview")

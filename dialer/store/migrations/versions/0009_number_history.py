"""index attempts by number and end time, for the UK repeat lockouts

Revision ID: 0009_number_history
Revises: 0008_preview
Create Date: 2026-11-21 23:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009_number_history"
down_revision = "0008_preview"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attempts_number_ended", "attempts", ["number_dialed", "ended_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attempts_number_ended", table_name="attempts")

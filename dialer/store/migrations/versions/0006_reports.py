"""index attempts by campaign and placement time, for streamed reports

Revision ID: 0006_reports
Revises: 0001
Create Date: 2026-11-21 20:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0006_reports"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_attempts_campaign_created", "attempts", ["campaign_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attempts_campaign_created", table_name="attempts")

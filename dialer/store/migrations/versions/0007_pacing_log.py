"""the newest pacing decision per campaign, for `dialer status`

Revision ID: 0007_pacing_log
Revises: 0006_reports
Create Date: 2026-11-21 22:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_pacing_log"
down_revision = "0006_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pacing_log",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wanted", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.Column("capped_by", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("blocked", sa.JSON(), nullable=False),
        sa.Column("last_placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_pacing_log_campaign_id_campaigns"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_pacing_log")),
    )


def downgrade() -> None:
    op.drop_table("pacing_log")

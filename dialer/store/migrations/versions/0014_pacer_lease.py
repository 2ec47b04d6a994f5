"""campaign pacer leases: the one process pacing each campaign, with its heartbeat; live daemons

Revision ID: 0014_pacer_lease
Revises: 0013_web_users
Create Date: 2026-12-07 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_pacer_lease"
down_revision = "0013_web_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_pacers",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_pacers_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_pacers")),
    )

    op.create_table(
        "pacer_daemons",
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_pacer_daemons")),
    )


def downgrade() -> None:
    op.drop_table("pacer_daemons")
    op.drop_table("campaign_pacers")

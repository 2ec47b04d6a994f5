"""web users (dialer web logins), the pacing decision history behind the campaign chart, and
covering indexes for the live status figures at a million records

Revision ID: 0013_web_users
Revises: 0009_number_history
Create Date: 2026-12-07 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_web_users"
down_revision = "0009_number_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_users")),
        sa.UniqueConstraint("name", name=op.f("uq_web_users_name")),
    )
    op.create_table(
        "pacing_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wanted", sa.Integer(), nullable=False),
        sa.Column("placed", sa.Integer(), nullable=False),
        sa.Column("capped_by", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_pacing_history_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pacing_history")),
    )
    op.create_index("ix_pacing_history_campaign_decided", "pacing_history", ["campaign_id", "decided_at"])
    # Records by status and by why they wait, and abandon-rate windows, counted from the index alone.
    op.drop_index("ix_records_dialable", table_name="records")
    op.create_index("ix_records_dialable", "records", ["campaign_id", "status", "next_dial_at", "blocked_reason"])
    op.drop_index("ix_attempts_campaign_ended", table_name="attempts")
    op.create_index(
        "ix_attempts_campaign_ended", "attempts", ["campaign_id", "ended_at", "outcome", "preview", "was_missed"]
    )


def downgrade() -> None:
    op.drop_index("ix_attempts_campaign_ended", table_name="attempts")
    op.create_index("ix_attempts_campaign_ended", "attempts", ["campaign_id", "ended_at"])
    op.drop_index("ix_records_dialable", table_name="records")
    op.create_index("ix_records_dialable", "records", ["campaign_id", "status", "next_dial_at"])
    op.drop_index("ix_pacing_history_campaign_decided", table_name="pacing_history")
    op.drop_table("pacing_history")
    op.drop_table("web_users")

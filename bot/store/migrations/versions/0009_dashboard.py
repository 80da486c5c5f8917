"""messages: the dashboard's window of received_at, by channel, decision and sender

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_dashboard",
        "messages",
        ["received_at", "channel", "decision", "identity_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_messages_dashboard", table_name="messages")

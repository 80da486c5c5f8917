"""messages: automated reason, edits, given details, latest message per identity

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("automated", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("edit_of", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.create_index(
            "ix_messages_identity_received", ["identity_id", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_identity_received")
        batch_op.drop_column("details")
        batch_op.drop_column("edit_of")
        batch_op.drop_column("automated")

"""moderation_items.reasons: why the classifier held a message, as it said when deciding

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "moderation_items",
        sa.Column("reasons", sa.JSON(), nullable=False, server_default="[]"),
    )


def downgrade() -> None:
    with op.batch_alter_table("moderation_items") as batch_op:
        batch_op.drop_column("reasons")

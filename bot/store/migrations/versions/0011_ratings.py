"""ratings: the satisfaction question sent with a resolution (its links, hashed) and the
customer's one answer per ticket

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rating_links",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_rating_links_ticket_id_tickets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rating_links"),
        sa.UniqueConstraint("token_hash", name="uq_rating_links_token_hash"),
    )
    op.create_index("ix_rating_links_ticket_id", "rating_links", ["ticket_id"])
    op.create_table(
        "ratings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("rated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_ratings_ticket_id_tickets"),
        sa.PrimaryKeyConstraint("id", name="pk_ratings"),
        sa.UniqueConstraint("ticket_id", name="uq_ratings_ticket_id"),
    )


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_index("ix_rating_links_ticket_id", table_name="rating_links")
    op.drop_table("rating_links")

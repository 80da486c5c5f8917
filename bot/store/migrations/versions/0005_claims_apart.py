"""customers: the customer a new sender only claims to be, kept apart from it;
outbox: the inbox a reply reached, for a daily cap per inbox whatever the channel

Until now a sender whose first message mentioned a known customer's reference,
email or phone joined that customer as an unverified identity, and through it
could read, change and block the customer's complaints. Such identities are
moved to customers of their own that record whom they claimed to be.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "claims_customer_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            "fk_customers_claims_customer_id_customers", "customers", ["claims_customer_id"], ["id"]
        )
    _detach_claims()
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_to", sa.String(length=320), nullable=True))
        batch_op.drop_index("ix_outbox_address_sent")
        batch_op.create_index("ix_outbox_delivered_sent", ["delivered_to", "sent_at"], unique=False)


def _detach_claims() -> None:
    """Each unverified identity becomes a customer of its own, with its messages."""
    bind = op.get_bind()
    claims = bind.execute(
        sa.text(
            "SELECT i.id, i.customer_id, i.created_at, c.display_name, c.language "
            "FROM identities i JOIN customers c ON c.id = i.customer_id "
            "WHERE NOT i.verified"
        )
    ).all()
    customers = sa.table(
        "customers",
        sa.column("id", sa.Integer),
        sa.column("display_name"),
        sa.column("language"),
        sa.column("created_at"),
        sa.column("claims_customer_id"),
    )
    for identity_id, claimed, created_at, name, language in claims:
        new_id = bind.execute(
            sa.insert(customers)
            .values(
                display_name=name,
                language=language,
                created_at=created_at,
                claims_customer_id=claimed,
            )
            .returning(customers.c.id)
        ).scalar_one()
        bind.execute(
            sa.text("UPDATE identities SET customer_id = :c, verified = :v WHERE id = :i"),
            {"c": new_id, "v": True, "i": identity_id},
        )
        bind.execute(
            sa.text("UPDATE messages SET customer_id = :c WHERE identity_id = :i"),
            {"c": new_id, "i": identity_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_delivered_sent")
        batch_op.create_index(
            "ix_outbox_address_sent", ["channel", "address", "sent_at"], unique=False
        )
        batch_op.drop_column("delivered_to")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint("fk_customers_claims_customer_id_customers", type_="foreignkey")
        batch_op.drop_column("claims_customer_id")

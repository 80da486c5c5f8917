"""tickets: several open per customer (one per problem), the clocks' marks, appeals;
outbox: one status answer per state beside the reply to a change, the HUMAN_AGENT tag,
the neutral answer that names no ticket;
ticket_events: notes for staff only; customers: when their data was erased

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OPEN = "status IN ('awaiting_details', 'escalated', 'investigating', 'new', 'waiting_customer')"
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", _WHEN, nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topic", sa.String(200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("at_risk_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("overdue_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("appeal_of_id", _ID, nullable=True))
        batch_op.create_foreign_key(
            "fk_tickets_appeal_of_id_tickets", "tickets", ["appeal_of_id"], ["id"]
        )
        batch_op.add_column(sa.Column("appeal_token", sa.String(64), nullable=True))
        batch_op.create_index("uq_tickets_appeal_token", ["appeal_token"], unique=True)
        batch_op.drop_index("uq_tickets_open_customer")
        batch_op.create_index(
            "uq_tickets_open_topic",
            ["customer_id", "topic"],
            unique=True,
            sqlite_where=sa.text(_OPEN),
            postgresql_where=sa.text(_OPEN),
        )
        batch_op.create_index("ix_tickets_status_progress_due", ["status", "progress_due"])
        batch_op.create_index("ix_tickets_status_resolve_due", ["status", "resolve_due"])
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("told", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topic", sa.String(16), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("human_agent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )
        batch_op.alter_column("ticket_id", existing_type=_ID, nullable=True)
        batch_op.drop_constraint("uq_outbox_ticket_version", type_="unique")
        batch_op.create_unique_constraint(
            "uq_outbox_ticket_version_topic", ["ticket_id", "state_version", "topic"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_ticket_version_topic", type_="unique")
        batch_op.execute("DELETE FROM outbox WHERE topic <> '' OR ticket_id IS NULL")
        batch_op.alter_column("ticket_id", existing_type=_ID, nullable=False)
        batch_op.create_unique_constraint(
            "uq_outbox_ticket_version", ["ticket_id", "state_version"]
        )
        batch_op.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
        batch_op.drop_column("human_agent")
        batch_op.drop_column("topic")
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_column("told")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_resolve_due")
        batch_op.drop_index("ix_tickets_status_progress_due")
        batch_op.drop_index("uq_tickets_open_topic")
        batch_op.create_index(
            "uq_tickets_open_customer",
            ["customer_id"],
            unique=True,
            sqlite_where=sa.text(_OPEN),
            postgresql_where=sa.text(_OPEN),
        )
        batch_op.drop_index("uq_tickets_appeal_token")
        batch_op.drop_column("appeal_token")
        batch_op.drop_constraint("fk_tickets_appeal_of_id_tickets", type_="foreignkey")
        batch_op.drop_column("appeal_of_id")
        batch_op.drop_column("overdue_at")
        batch_op.drop_column("at_risk_at")
        batch_op.drop_column("topic")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("erased_at")

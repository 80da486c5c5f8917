"""tickets: the agents' list, newest change first and paged by keyset, by status, language,
at risk or overdue (partial indexes of open tickets), and by the origin identity's channel

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OPEN = "status IN ('awaiting_details', 'escalated', 'investigating', 'new', 'waiting_customer')"
_AT_RISK = f"at_risk_at IS NOT NULL AND {_OPEN}"
_OVERDUE = f"overdue_at IS NOT NULL AND {_OPEN}"


def upgrade() -> None:
    op.create_index("ix_tickets_activity", "tickets", ["updated_at", "id"])
    op.create_index("ix_tickets_status_activity", "tickets", ["status", "updated_at", "id"])
    op.create_index("ix_tickets_language_activity", "tickets", ["language", "updated_at", "id"])
    for name, where in (
        ("ix_tickets_at_risk_activity", _AT_RISK),
        ("ix_tickets_overdue_activity", _OVERDUE),
    ):
        op.create_index(
            name,
            "tickets",
            ["updated_at", "id"],
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.create_index("ix_tickets_origin_identity_id", "tickets", ["origin_identity_id"])


def downgrade() -> None:
    for name in (
        "ix_tickets_origin_identity_id",
        "ix_tickets_overdue_activity",
        "ix_tickets_at_risk_activity",
        "ix_tickets_language_activity",
        "ix_tickets_status_activity",
        "ix_tickets_activity",
    ):
        op.drop_index(name, table_name="tickets")
